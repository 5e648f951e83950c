"""Chat with a 2 s model: 500 requests in flight against one ASGI process.

Issue "Real assistant replies", "Many chats at once": one uvicorn process on
PostgreSQL must hold 500 chat requests in flight against a model that takes 2 s,
all completing in about 2 s with no errors.

What it does, in one run:

1. migrates the benchmark database (PostgreSQL, ``DATABASE_URL``);
2. starts the fake OpenAI server (``conversations/tests/fake_openai.py``) in its own
   process, answering after ``--latency`` seconds (2 s);
3. starts ONE uvicorn process serving ``chatsite.asgi:application`` with the
   ``openai`` backend pointed at the fake;
4. baseline: ``--requests`` streamed completions straight to the fake, all at once;
5. the test: ``--requests`` ``POST /api/{user_id}/chat`` all at once (each a new
   conversation of its own user), through httpx with a bounded connection pool;
6. reports completion times (min/median/p95/max), errors, the ratio to the
   baseline and the server's peak RSS; ``--write`` puts the section in BENCHMARKS.md.

Run from the project root::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/chat_bench python bench/concurrency.py --write

``--held 20`` measures the other way (``measure_held``): wrk keeps ``--requests`` chats in
flight for 20 s, each connection sending its next chat when the last is answered.

Without ``DATABASE_URL`` it uses ``postgres://postgres@127.0.0.1:5432/chat_bench``
(created if missing).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx2
import jwt
import psycopg

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script (python bench/concurrency.py): make ``bench`` importable
    sys.path.insert(0, str(ROOT))

from bench.server import cpu_seconds as processes_cpu_seconds  # noqa: E402
from bench.server import read_status_kb, recording  # noqa: E402

if TYPE_CHECKING:
    from bench.stats import LoadResult
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/chat_bench"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
SECTION = "## Chat with a 2 s model: 500 in flight"


@dataclass
class Run:
    name: str
    times: list[float]  # seconds from the common start to each success
    errors: list[str]
    wall: float

    def stats(self) -> dict[str, float]:
        ordered = sorted(self.times)
        if not ordered:
            return {"min": float("nan"), "median": float("nan"), "p95": float("nan"), "max": float("nan")}
        p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
        return {"min": ordered[0], "median": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (PostgreSQL only)."""
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/concurrency.py needs PostgreSQL: DATABASE_URL=postgres://...")
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with code {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not listen on port {port} within {timeout:g} s")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes), from ``/proc``."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            queue.extend(int(child) for child in task.read_text().split())
    return found


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size (VmHWM) of ``pid``'s busiest process (a worker, or the one process), in MiB."""
    return max(read_status_kb(each, "VmHWM") for each in process_tree(pid)) / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time ``pid`` and its descendants have used so far, in seconds."""
    return processes_cpu_seconds(process_tree(pid))


def token(user_id: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")


async def fire(name: str, count: int, request: object, limit: int) -> Run:
    """Start ``count`` calls of ``request(client, i)`` at once; time each from the common start."""
    limits = httpx2.Limits(max_connections=limit, max_keepalive_connections=limit)
    async with httpx2.AsyncClient(limits=limits, timeout=httpx2.Timeout(60.0, pool=60.0)) as client:
        times: list[float] = []
        errors: list[str] = []
        start = time.perf_counter()

        async def one(i: int) -> None:
            try:
                await request(client, i)  # type: ignore[operator]
            except Exception as exc:  # counted and reported
                errors.append(f"{type(exc).__name__}: {exc}"[:200])
            else:
                times.append(time.perf_counter() - start)

        await asyncio.gather(*(one(i) for i in range(count)))
        return Run(name, times, errors, time.perf_counter() - start)


async def baseline(fake_url: str, count: int, limit: int) -> Run:
    """The same number of streamed completions, straight to the fake model."""
    body = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "Hello"}]}

    async def request(client: httpx2.AsyncClient, i: int) -> None:
        async with client.stream("POST", f"{fake_url}/chat/completions", json=body) as response:
            response.raise_for_status()
            text = b"".join([chunk async for chunk in response.aiter_bytes()])
            if b"[DONE]" not in text:
                raise RuntimeError("stream did not finish")

    return await fire("model alone", count, request, limit)


async def chats(app_url: str, count: int, limit: int, prefix: str) -> Run:
    async def request(client: httpx2.AsyncClient, i: int) -> None:
        user = f"{prefix}-{i}"
        response = await client.post(
            f"{app_url}/api/{user}/chat",
            json={"message": f"Hello number {i}"},
            headers={"Authorization": f"Bearer {token(user)}"},
        )
        if response.status_code != 200:
            raise RuntimeError(f"HTTP {response.status_code}: {response.text[:120]}")
        if response.json().get("status") != "complete":
            raise RuntimeError(f"reply not complete: {response.text[:120]}")

    return await fire("chat through the app", count, request, limit)


def describe(run: Run) -> str:
    s = run.stats()
    return (
        f"| {run.name} | {len(run.times)} | {len(run.errors)} | {s['min']:.2f} | {s['median']:.2f} | "
        f"{s['p95']:.2f} | {s['max']:.2f} |"
    )


def machine() -> str:
    cpus = os.cpu_count()
    free = subprocess.run(["free", "-h"], capture_output=True, text=True, check=False).stdout.strip()
    total = free.splitlines()[1].split()[1] if free else "?"
    return f"{platform.system()} {platform.machine()}, `nproc` = {cpus}, `free -h` total memory {total}, Python {platform.python_version()}"


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    return result.stdout.strip() + (" (with uncommitted changes)" if dirty else "")


@dataclass
class SlowModelResult:
    """One measurement: the model alone, the chats through the app, and the server's resources."""

    base: Run
    app: Run
    peak_rss_mib: float
    server_cpu_s: float
    load_before: float
    load_after: float


@contextlib.contextmanager
def serving(
    *, database_url: str, latency: float, extra_env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[tuple[str, str, subprocess.Popen[bytes]]]:
    """The fake model (its own process, answering after ``latency`` s) and uvicorn serving the app against it.

    Yields:
        ``(fake_url, app_url, server)``: the fake's ``/v1`` URL, the app's base URL, the uvicorn process.
    """
    ensure_database(database_url)
    python = sys.executable
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "chatsite.settings",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": "bench-django-secret-key-0123456789abcdefghijklmnopqrstuvwxyz",
        "BETTER_AUTH_SECRET": SECRET,
        "DJANGO_DEBUG": "0",
        "DJANGO_HTTPS": "0",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_LOG_LEVEL": "warning",
        "CHAT_RATE_LIMIT": "",
        "ASSISTANT_BACKEND": "openai",
        "OPENAI_MODEL": "fake-model",
    }
    for name in ("DATABASE_POOL", "DATABASE_CONN_MAX_AGE", "REDIS_URL"):
        env.pop(name, None)
    env.update(extra_env or {})
    fake_port, app_port = free_port(), free_port()
    env["OPENAI_BASE_URL"] = f"http://127.0.0.1:{fake_port}/v1"
    subprocess.run([python, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    fake = subprocess.Popen(
        [python, "-m", "conversations.tests.fake_openai", "--port", str(fake_port), "--latency", str(latency)],
        cwd=ROOT,
        env=env,
    )
    server_command = [
        python, "-m", "uvicorn", "chatsite.asgi:application",
        "--host", "127.0.0.1", "--port", str(app_port),
        "--no-access-log", "--log-level", "warning", "--backlog", "4096",
    ]  # fmt: skip
    if workers > 1:
        server_command += ["--workers", str(workers)]
    server = subprocess.Popen(server_command, cwd=ROOT, env=env)
    try:
        wait_for_port(fake_port, fake, "the fake model")
        wait_for_port(app_port, server, "uvicorn")
        yield f"http://127.0.0.1:{fake_port}/v1", f"http://127.0.0.1:{app_port}", server
    finally:
        for process in (server, fake):
            process.terminate()
        for process in (server, fake):
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


def measure(
    *,
    database_url: str,
    requests: int,
    latency: float = 2.0,
    connections: int | None = None,
    extra_env: dict[str, str] | None = None,
    user_prefix: str = "bench-chat-slow",
    profile: str | None = None,
    workers: int = 1,
) -> SlowModelResult:
    """Start the fake model and uvicorn, fire ``requests`` chats at once; see the module docstring.

    Args:
        database_url: PostgreSQL URL of the bench database (created if missing, migrated).
        requests: chats in flight at once (and streams in the model-alone baseline).
        latency: seconds the fake model waits before answering.
        connections: client connection pool bound (default: ``requests``).
        extra_env: server environment on top of the defaults (e.g. ``DATABASE_POOL=1``).
        user_prefix: the chats' user ids are ``<prefix>-<run>-<i>`` (one new conversation each).
        profile: write py-spy raw stacks of the server during the chat run to this file.
        workers: uvicorn worker processes (1: the one process of the issue; more: the
            production serve command). CPU is summed over them; peak RSS is the largest one's.
    """
    connections = connections or requests
    load_before = os.getloadavg()[0]
    with serving(database_url=database_url, latency=latency, extra_env=extra_env, workers=workers) as (
        fake_url,
        app_url,
        server,
    ):
        run_id = dt.datetime.now().strftime("%H%M%S")
        # Warm-up: imports, first connections, JIT-free but cache-warm.
        warm = asyncio.run(chats(app_url, 5, 5, f"{user_prefix}-warm-{run_id}"))
        if warm.errors:
            raise SystemExit(f"warm-up failed: {warm.errors[0]}")
        base = asyncio.run(baseline(fake_url, requests, connections))
        with recording(server.pid, profile):
            cpu_before = cpu_seconds(server.pid)
            app = asyncio.run(chats(app_url, requests, connections, f"{user_prefix}-{run_id}"))
            cpu_used = cpu_seconds(server.pid) - cpu_before
        rss = peak_rss_mib(server.pid)
    return SlowModelResult(base, app, rss, cpu_used, load_before, os.getloadavg()[0])


@dataclass
class HeldResult:
    """``in_flight`` chats held in flight for a while (wrk), the model alone the same way, and the server's resources."""

    model_alone: LoadResult
    app: LoadResult
    peak_rss_mib: float
    server_cpu_s: float
    load_before: float
    client_floor: LoadResult
    client_floor_cpu_ms: float  # per stream, in the model-client-alone processes


HELD_USERS = 1000


def client_floor(fake_url: str, in_flight: int, seconds: float, processes: int) -> tuple[LoadResult, float]:
    """The model client alone (``bench/client_floor.py``) holding ``in_flight`` streams for ``seconds``.

    As many processes as the server has workers, each holding its share, at the same time:
    what those processes could do with no web server, Django or database in them.

    Returns:
        The merged latencies (every stream finished within the run) and the CPU ms per stream.
    """
    import tempfile

    from bench.stats import from_latencies

    shares = [in_flight // processes + (1 if i < in_flight % processes else 0) for i in range(processes)]
    command = [sys.executable, "-m", "bench.client_floor", "--base-url", fake_url, "--seconds", str(seconds)]
    with tempfile.TemporaryDirectory(prefix="client-floor-") as out_dir:
        # Each process writes its figures to a file of its own: a pipe left unread while
        # the parent waits for another process would fill (tens of KiB of latencies).
        files = [Path(out_dir) / f"{i}.json" for i in range(processes)]
        running = [
            subprocess.Popen([*command, "--in-flight", str(share), "--output", str(file)], cwd=ROOT)
            for share, file in zip(shares, files, strict=True)
        ]
        for process in running:
            if process.wait(timeout=seconds + 120):
                raise RuntimeError(f"bench.client_floor failed (exit status {process.returncode})")
        outputs = [json.loads(file.read_text()) for file in files]
    latencies = [ms for out in outputs for ms in out["latencies_ms"]]
    errors = sum(out["errors"] for out in outputs)
    cpu_ms = 1000 * sum(out["cpu_s"] for out in outputs) / max(sum(out["streams"] for out in outputs), 1)
    return from_latencies(latencies, seconds=seconds, errors=errors), cpu_ms


def measure_held(
    *,
    database_url: str,
    in_flight: int,
    seconds: float,
    work_dir: Path,
    latency: float = 2.0,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    profile: str | None = None,
) -> HeldResult:
    """Hold ``in_flight`` chats in flight for ``seconds``: wrk with that many connections, each
    sending its next chat as soon as the last one is answered (a closed loop), so that after
    the first wave the server always has ``in_flight`` chats open, as a busy service does.

    The model alone: the same wrk load of streamed completions straight to the fake. The
    model client alone (``client_floor``): the app's OpenAI backend in bare processes, one
    per worker, holding the same streams: the most a server process could do.
    Each chat is a new conversation of one of ``HELD_USERS`` users.

    Args:
        database_url: PostgreSQL URL of the bench database.
        in_flight: wrk connections (chats open at any moment).
        seconds: how long each load lasts (the first wave included).
        work_dir: where the request files are written.
        latency: seconds the fake model waits before its first token.
        extra_env: server environment on top of the defaults.
        workers: uvicorn worker processes.
        profile: write py-spy raw stacks of the server during the chat load to this file.
    """
    from bench.wrk import run_wrk, write_requests

    load_before = os.getloadavg()[0]
    stamp = dt.datetime.now().strftime("%H%M%S")
    users = [f"bench-held-{stamp}-{i}" for i in range(HELD_USERS)]
    chat_body = json.dumps({"message": "Hello, how are you today?"})
    chats_file = write_requests(
        work_dir / f"held-chat-{stamp}.tsv", [("POST", f"/api/{u}/chat", token(u), chat_body) for u in users]
    )
    model_body = json.dumps({"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": "Hello"}]})
    with serving(database_url=database_url, latency=latency, extra_env=extra_env, workers=workers) as (
        fake_url,
        app_url,
        server,
    ):
        fake_path = urlsplit(fake_url).path
        model_file = write_requests(
            work_dir / f"held-model-{stamp}.tsv", [("POST", f"{fake_path}/chat/completions", "x", model_body)]
        )
        warm = asyncio.run(chats(app_url, 5, 5, f"bench-held-warm-{stamp}"))
        if warm.errors:
            raise SystemExit(f"warm-up failed: {warm.errors[0]}")
        fake_base = fake_url[: -len(fake_path)]
        model_alone = run_wrk(base_url=fake_base, requests_file=model_file, clients=in_flight, seconds=seconds,
                              timeout_s=60)  # fmt: skip
        floor, floor_cpu_ms = client_floor(fake_url, in_flight, seconds, workers)
        with recording(server.pid, profile):
            cpu_before = cpu_seconds(server.pid)
            app = run_wrk(base_url=app_url, requests_file=chats_file, clients=in_flight, seconds=seconds, timeout_s=60)
            cpu_used = cpu_seconds(server.pid) - cpu_before
        rss = peak_rss_mib(server.pid)
    return HeldResult(model_alone, app, rss, cpu_used, load_before, floor, floor_cpu_ms)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds the fake model takes")
    parser.add_argument(
        "--connections", type=int, default=None, help="client connection pool bound (default: --requests)"
    )
    parser.add_argument(
        "--db-env", action="append", default=[], metavar="NAME=VALUE", help="extra server env, e.g. DATABASE_POOL=1"
    )
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    parser.add_argument("--write", action="store_true", help="put the results in BENCHMARKS.md")
    parser.add_argument("--note", default="", help="a line added under the table (e.g. what changed)")
    parser.add_argument(
        "--profile", metavar="FILE", help="record the server with py-spy during the chat run (raw folded stacks)"
    )
    parser.add_argument(
        "--held",
        type=float,
        metavar="SECONDS",
        help="instead of one burst: hold --requests chats in flight with wrk for SECONDS (measure_held)",
    )
    args = parser.parse_args()
    extra = dict(item.partition("=")[::2] for item in args.db_env)
    if args.held:
        import tempfile

        held = measure_held(
            database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            in_flight=args.requests,
            seconds=args.held,
            work_dir=Path(tempfile.mkdtemp(prefix="bench-held-")),
            latency=args.latency,
            extra_env=extra,
            workers=args.workers,
            profile=args.profile,
        )
        loads = (("model alone (wrk)", held.model_alone), ("model client alone", held.client_floor),
                 ("chat through the app", held.app))  # fmt: skip
        for name, load in loads:
            print(
                f"{name}: {load.throughput:.0f}/s, errors {load.errors}, p50 {load.p50_ms / 1000:.2f} s, "
                f"p95 {load.p95_ms / 1000:.2f} s, p99 {load.p99_ms / 1000:.2f} s"
            )
        per_chat = 1000 * held.server_cpu_s / max(held.app.requests, 1)
        print(f"server CPU {per_chat:.1f} ms per chat (model client alone: {held.client_floor_cpu_ms:.1f} ms"
              f" per stream), peak RSS {held.peak_rss_mib:.0f} MiB")  # fmt: skip
        return
    result = measure(
        database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        requests=args.requests,
        latency=args.latency,
        connections=args.connections,
        extra_env=extra,
        profile=args.profile,
        workers=args.workers,
    )
    base, app, rss, cpu_used = result.base, result.app, result.peak_rss_mib, result.server_cpu_s
    ratio = app.stats()["median"] / base.stats()["median"]
    ratio_p95 = app.stats()["p95"] / base.stats()["p95"]
    server_env = " ".join(args.db_env) or "(defaults: psycopg pool, DATABASE_POOL=1)"
    lines = [
        SECTION,
        "",
        f"- Date: {dt.date.today().isoformat()}; commit {git_commit()}.",
        f"- Machine: {machine()}. PostgreSQL on 127.0.0.1; everything on this one machine"
        f" (load average before/after the run: {result.load_before:.1f} / {result.load_after:.1f}).",
        f"- Setup: one uvicorn process (`python -m uvicorn chatsite.asgi:application`), server env {server_env};"
        f" the fake OpenAI server in its own process answering after {args.latency:g} s;"
        f" {args.requests} `POST /api/{{user_id}}/chat` sent at once by httpx2 (pool bound {args.connections or args.requests}),"
        " each by its own user (new conversation).",
        "",
        "| run | ok | errors | min s | median s | p95 s | max s |",
        "|---|---|---|---|---|---|---|",
        describe(base),
        describe(app),
        "",
        f"- Ratio to the model alone: median {ratio:.2f}x, p95 {ratio_p95:.2f}x. Wall time: model alone {base.wall:.2f} s, "
        f"chat {app.wall:.2f} s.",
        f"- Peak RSS of the uvicorn process (VmHWM): {rss:.0f} MiB. Its CPU time for the chat run: {cpu_used:.2f} s"
        f" ({1000 * cpu_used / args.requests:.1f} ms per chat).",
    ]
    if app.errors:
        lines.append(f"- First error: `{app.errors[0]}`")
    if args.note:
        lines.append(f"- {args.note}")
    lines += [
        "",
        "Rerun: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/chat_bench python bench/concurrency.py --write`"
        " (add `--db-env DATABASE_POOL=1` etc. to try other server settings). `python -m bench --only slow_model`"
        " runs it as part of the suite.",
    ]
    report = "\n".join(lines) + "\n"
    print(report)
    print(
        json.dumps(
            {
                "baseline": base.stats(),
                "chat": app.stats(),
                "errors": len(app.errors),
                "peak_rss_mib": rss,
                "server_cpu_s": cpu_used,
            }
        )
    )
    if args.write:
        write_section(ROOT / "BENCHMARKS.md", report)


def write_section(path: Path, report: str) -> None:
    """Replace this benchmark's section of ``path`` (or append it)."""
    text = (
        path.read_text()
        if path.exists()
        else "# Benchmarks\n\nMeasured by the scripts in `bench/`; ratios are against a baseline from the same run.\n"
    )
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + report
    else:
        following = text.find("\n## ", start + len(SECTION))
        text = text[:start] + report + ("" if following == -1 else text[following:].lstrip("\n").join(["\n", ""]))
    path.write_text(text)


if __name__ == "__main__":
    main()
