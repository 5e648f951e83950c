"""The production serve command under test: ``uvicorn chatsite.asgi:application --workers N``.

Started as a child process of the bench with the production settings (debug off, a
secret key, PostgreSQL, throttles off) and stopped by its own process id.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def read_status_kb(pid: int, field_name: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field_name} not found for pid {pid}")


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU time the processes ``pids`` have used so far, in seconds (``/proc/<pid>/stat``)."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def recording(pid: int, profile: str | Path | None, *, rate: int = 250) -> Iterator[None]:
    """py-spy records process ``pid`` (GIL-holding samples, ``rate`` Hz, raw folded stacks)
    into ``profile`` while the block runs; nothing when ``profile`` is ``None``. py-spy is
    looked up next to this Python first (``make install-dev`` does not install it:
    ``pip install py-spy``)."""
    if not profile:
        yield
        return
    local = Path(sys.executable).with_name("py-spy")
    spy_command = [
        str(local) if local.exists() else "py-spy", "record", "-p", str(pid), "-o", str(profile), "-f", "raw",
        "-r", str(rate), "--gil", "--nonblocking",
    ]  # fmt: skip
    spy = subprocess.Popen(spy_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file and exits
        spy.wait(timeout=30)


def reset_peak(pid: int) -> bool:
    """Reset ``VmHWM`` (peak RSS) of ``pid`` to its current RSS; ``False`` when the kernel refuses."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class Server:
    """One uvicorn server: ``start()``, use ``base_url``, ``stop()`` (also a context manager).

    Args:
        env: the whole environment of the server (see ``bench.run.server_env``).
        workers: uvicorn worker processes.
        root: the source tree the server runs (another checkout: before/after comparisons).
    """

    env: dict[str, str]
    workers: int = 2
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    root: Path = ROOT

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, timeout_s: float = 60.0) -> Server:
        cmd = [
            sys.executable, "-m", "uvicorn", "chatsite.asgi:application",
            "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(self.workers),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        self.log_path = Path(tempfile.gettempdir()) / f"bench-uvicorn-{self.port}.log"
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            cmd, cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"uvicorn exited with {self.process.returncode}: {self.log_path.read_text()[-2000:]}"
                )
            if len(self.worker_pids()) == self.workers and self._answers():
                # Let every worker finish importing Django before the load starts.
                time.sleep(1.0)
                return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"uvicorn did not answer within {timeout_s:.0f} s")

    def _answers(self) -> bool:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/api/bench/conversations")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the workers, or uvicorn itself with one worker."""
        if self.process is None or self.process.poll() is not None:
            return []
        if self.workers == 1:
            return [self.process.pid]
        children: list[int] = []
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            try:
                children += [int(p) for p in (task / "children").read_text().split()]
            except OSError:
                continue
        # uvicorn's supervisor may also run a resource tracker; workers import Django and are bigger.
        return sorted(children, key=lambda pid: -_rss_or_zero(pid))[: self.workers]

    def rss_kb(self) -> int:
        """Sum of the workers' resident memory, KiB."""
        return sum(_rss_or_zero(pid) for pid in self.worker_pids())

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        self.process = None

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _rss_or_zero(pid: int) -> int:
    try:
        return read_status_kb(pid, "VmRSS")
    except (OSError, RuntimeError):
        return 0
