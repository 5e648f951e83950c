"""Real servers for the fault tests: the project under uvicorn, a throwaway PostgreSQL, a throwaway Redis.

House rules: real parts, on loopback only, every wait bounded. Each helper is a
context manager that stops what it started, by process id, even when the test fails.

* ``uvicorn_project(env, log)``: ``uvicorn chatsite.asgi:application`` as a
  subprocess on a free port.
* ``ThrowawayPostgres``: ``initdb`` into a temporary directory owned by the
  ``postgres`` OS user (PostgreSQL refuses to run as root), ``pg_ctl start`` on a
  free port with its socket in that directory; ``restart()`` mid-test; stopped and
  removed at the end. Skips with a reason when the binaries are missing.
* ``ThrowawayRedis``: ``redis-server --port N --save ""`` as a subprocess;
  ``kill()`` and ``start()`` again on the same port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

PG_BIN = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT = 30.0  # seconds for any server to accept connections


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int, *, process: subprocess.Popen[bytes] | None = None, what: str = "server") -> None:
    """Return once 127.0.0.1:``port`` accepts connections; fail after ``START_TIMEOUT`` seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what} on port {port} exited with {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} on port {port} did not start within {START_TIMEOUT} s")


def database_url_of_tests() -> str:
    """The URL of the database the test runs on (pytest-django's ``test_<name>``), for a subprocess."""
    db = connection.settings_dict
    password = f":{urllib.parse.quote(db['PASSWORD'])}" if db.get("PASSWORD") else ""
    user = urllib.parse.quote(db.get("USER") or "")
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def uvicorn_project(env: dict[str, str], log: Path) -> Iterator[int]:
    """The project under uvicorn (one process) on a free loopback port; yields the port.

    Args:
        env: variables added to this process's environment (``DATABASE_URL``, ...).
        log: where the server's output goes (shown when it fails to start).
    """
    port = free_port()
    full_env = {
        **os.environ,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PYTHONUNBUFFERED": "1",
        "LIVE_SWEEP_SECONDS": "5",  # the suite turns it off for its own process (pytest.ini)
        "DJANGO_SETTINGS_MODULE": "conversations.tests.uvicorn_settings",
        **env,
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "chatsite.asgi:application", "--host", "127.0.0.1",
             "--port", str(port), "--lifespan", "off", "--log-level", "warning", "--backlog", "2048"],
            cwd=settings.BASE_DIR, env=full_env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        try:
            wait_listening(port, process=process, what="uvicorn")
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}:\n{log.read_text(errors='replace')}") from None
        yield port
    finally:
        _stop(process)


def migrate(database_url: str, log: Path) -> None:
    """``manage.py migrate`` against ``database_url`` (at most 120 s)."""
    env = {**os.environ, "DATABASE_URL": database_url}
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=settings.BASE_DIR, env=env, capture_output=True, timeout=120,
    )  # fmt: skip
    log.write_bytes(result.stdout + result.stderr)
    if result.returncode:
        raise RuntimeError(f"migrate failed:\n{log.read_text(errors='replace')}")


class ThrowawayPostgres:
    """A PostgreSQL 15 cluster of its own, for tests that stop or restart the server.

    Never the shared server on 5432: other tests use it. The cluster lives in a
    temporary directory owned by ``postgres``; trust authentication on loopback and
    on its socket; no fsync (a test database).
    """

    def __init__(self) -> None:
        for tool in ("initdb", "pg_ctl"):
            if not (PG_BIN / tool).exists():
                pytest.skip(f"needs PostgreSQL 15's {tool} in {PG_BIN} (apt-get install postgresql-15)")
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            pytest.skip("needs runuser to run PostgreSQL as the postgres user")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="chat-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.restarts = 0

    def _as_postgres(self, *command: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *command], capture_output=True, timeout=timeout, cwd=self.root)

    def _check(self, result: subprocess.CompletedProcess[bytes], what: str) -> None:
        if result.returncode:
            log = self.logfile.read_text(errors="replace") if self.logfile.exists() else ""
            raise RuntimeError(f"{what} failed: {result.stdout!r} {result.stderr!r}\n{log}")

    def create(self) -> None:
        """``initdb`` the cluster and start it."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._check(
            self._as_postgres(
                str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust",
                "--no-sync", "-E", "UTF8", "--locale=C.UTF-8",
            ),
            "initdb",
        )  # fmt: skip
        self.start()

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100"
        self._check(
            self._as_postgres(
                str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w", "-t", "30",
                "start",
            ),
            "pg_ctl start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._check(
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop"),
            "pg_ctl stop",
        )

    def restart(self, *, down_seconds: float = 0.0) -> None:
        """Stop (``-m fast``: open sessions are cut), stay down ``down_seconds``, start again."""
        self.stop("fast")
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    """A started ``ThrowawayPostgres``; stopped and deleted afterwards, whatever happens."""
    server = ThrowawayPostgres()
    try:
        server.create()
        yield server
    finally:
        server.destroy()


class ThrowawayRedis:
    """``redis-server`` on a free port, nothing saved to disk; can be killed and started again."""

    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("needs redis-server (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_listening(self.port, process=self.process, what="redis-server")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def throwaway_redis() -> Iterator[ThrowawayRedis]:
    """A started ``ThrowawayRedis``; killed afterwards, whatever happens."""
    server = ThrowawayRedis()
    try:
        server.start()
        yield server
    finally:
        server.kill()
