"""Drive wrk (Debian package ``wrk``) with ``lua/replay.lua`` and read its JSON figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from bench.stats import LoadResult

SCRIPT = Path(__file__).parent / "lua" / "replay.lua"


def wrk_path() -> str:
    """The wrk binary, installed with apt-get when missing (needs root or sudo).

    Raises:
        RuntimeError: wrk is missing and could not be installed.
    """
    found = shutil.which("wrk")
    if found:
        return found
    as_root = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*as_root, "apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run([*as_root, "apt-get", "install", "-y", "-qq", "wrk"], check=False, env=env)
    found = shutil.which("wrk")
    if not found:
        raise RuntimeError("wrk is not installed and apt-get could not install it (apt-get install wrk)")
    return found


def write_requests(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    """Write ``(method, path, token, body)`` rows for ``replay.lua``; returns ``path``."""
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            if any("\t" in part or "\n" in part for part in row):
                raise ValueError(f"a request field holds a tab or newline: {row!r}")
            out.write("\t".join(row) + "\n")
    return path


def run_wrk(*, base_url: str, requests_file: Path, clients: int, seconds: float, timeout_s: float = 10.0) -> LoadResult:
    """Run wrk for ``seconds`` with ``clients`` connections replaying ``requests_file``.

    Args:
        base_url: ``http://127.0.0.1:PORT``.
        requests_file: TSV written by ``write_requests``.
        clients: concurrent connections (closed loop: each sends its next request on the answer).
        seconds: duration, at least 1.

    Raises:
        RuntimeError: wrk failed or wrote no figures.
    """
    threads = max(1, min(2, clients))
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [
            wrk_path(),
            f"-t{threads}",
            f"-c{clients}",
            f"-d{max(1, round(seconds))}s",
            f"--timeout={timeout_s:g}s",
            "-s",
            str(SCRIPT),
            base_url,
            "--",
            str(requests_file),
        ]
        proc = subprocess.run(
            cmd, env={**os.environ, "WRK_JSON_OUT": str(out)}, capture_output=True, text=True, timeout=seconds + 60
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        data = json.loads(out.read_text())
    lat = data["latency_us"]
    return LoadResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        errors=sum(data["errors"].values()),
        p50_ms=lat["p50"] / 1000,
        p95_ms=lat["p95"] / 1000,
        p99_ms=lat["p99"] / 1000,
        max_ms=lat["max"] / 1000,
    )
