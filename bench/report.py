"""The pieces ``BENCHMARKS.md`` is made of: sections, target rows, tables, machine facts."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.server import ROOT
from bench.stats import LoadResult, Spread, spreads


@dataclass
class TargetRow:
    """One line of the summary: a figure against its target (``met`` is None when only reported)."""

    scenario: str
    target: str
    measured: str
    met: bool | None


@dataclass
class Section:
    """A scenario's part of the report: Markdown body, target rows and raw data for the JSON file."""

    title: str
    body: str
    targets: list[TargetRow] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def load_table(rows: list[tuple[str, list[LoadResult]]], *, with_cpu: dict[str, Spread] | None = None) -> str:
    """A Markdown table of load figures, one row per ``(label, runs)``: median (min–max)."""
    head = "| what | requests/s | p50 ms | p95 ms | p99 ms | max ms | errors |"
    sep = "|---|---|---|---|---|---|---|"
    if with_cpu is not None:
        head += " server CPU ms/request |"
        sep += "---|"
    lines = [head, sep]
    for label, results in rows:
        s = spreads(results)
        line = (
            f"| {label} | {s['throughput'].fmt(0)} | {s['p50_ms'].fmt(1)} | {s['p95_ms'].fmt(1)} | "
            f"{s['p99_ms'].fmt(1)} | {s['max_ms'].fmt(1)} | {int(sum(r.errors for r in results))} |"
        )
        if with_cpu is not None:
            cpu = with_cpu.get(label)
            line += f" {cpu.fmt(2) if cpu else '–'} |"
        lines.append(line)
    return "\n".join(lines)


def _run(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=ROOT).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine_facts() -> dict[str, str]:
    """Machine, software and load facts for the report's header."""
    cpu = "?"
    for line in _run(["lscpu"]).splitlines():
        if line.startswith("Model name:"):
            cpu = line.split(":", 1)[1].strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _run(["git", "rev-parse", "--short", "HEAD"])
        + (" (with uncommitted changes)" if _run(["git", "status", "--porcelain"]) else ""),
        "nproc": _run(["nproc"]),
        "cpu": cpu,
        "memory": _run(["free", "-h"]),
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def read_notes() -> str:
    """The hand-written part of the report (analysis, before/after, scaling): ``bench/NOTES.md``."""
    path = Path(__file__).parent / "NOTES.md"
    return path.read_text() if path.exists() else ""
