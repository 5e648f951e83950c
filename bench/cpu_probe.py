"""Server CPU per request, before/after: the same load against two source trees, alternately.

The shared machine makes latencies noisy; the CPU time the server process spends per
request is what a code change moves. This starts a one-worker server (psycopg pool,
offline assistant) from each tree in turn, drives each endpoint with wrk for a few
seconds and reads the worker's CPU time (``/proc/<pid>/stat``) before and after.

    python -m bench.cpu_probe --base /tmp/perf-base [--rounds 3] [--seconds 5] [--clients 4]

``--base`` is another checkout (e.g. ``git worktree add`` or ``git archive main``);
without it only this tree is measured. ``--base-database-url`` gives the base tree a database
of its own, for a change of schema the base code cannot read as fast (issue 14 made the page
index partial): prepare it once by running this probe from the base tree with
``BENCH_DATABASE_URL`` set to it. ``--profile DIR`` records this tree's worker with
py-spy (GIL-held samples, raw folded stacks, one file per endpoint) during each timed load. Uses ``BENCH_DATABASE_URL`` like ``python -m bench``
(the data must have been loaded by a bench run).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import dataset
from bench.context import DEFAULT_DATABASE_URL, Context, ensure_database, issue_tokens, setup_django
from bench.scenarios import CHAT_TEXT, RECOMMENDED
from bench.server import ROOT, Server, cpu_seconds, recording
from bench.wrk import run_wrk, write_requests


def endpoints(ctx: Context) -> dict[str, Path]:
    """One request file per endpoint: chat POST, list GET, newest page GET, deep page GET, 401."""
    import json

    body = json.dumps({"message": CHAT_TEXT})
    chat = [("POST", f"/api/{u}/chat", ctx.tokens[u], body) for u in map(dataset.chat_user, range(dataset.CHAT_USERS))]
    conv = dataset.long_conversation_id()
    cursor = dataset.long_message_id(dataset.LONG_MESSAGES - 50_000)
    long_token = ctx.tokens[dataset.LONG_USER]
    rows = {
        "chat POST": chat,
        "list GET": [("GET", f"/api/{dataset.MANY_USER}/conversations", ctx.tokens[dataset.MANY_USER], "")],
        "newest page GET": [
            ("GET", f"/api/{dataset.LONG_USER}/conversations/{conv}/messages?limit=50", long_token, "")
        ],
        "deep page GET": [
            ("GET", f"/api/{dataset.LONG_USER}/conversations/{conv}/messages?before={cursor}&limit=50", long_token, "")
        ],
        "401 floor": [("GET", f"/api/{dataset.MANY_USER}/conversations", "not-a-token", "")],
    }
    return {name: write_requests(ctx.work_dir / f"{i}.tsv", r) for i, (name, r) in enumerate(rows.items())}


def _dsn(database_url: str) -> str:
    """``database_url`` as a libpq URL for psycopg (as ``Context.dsn``)."""
    return urlunsplit(("postgresql", *urlsplit(database_url)[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="the 'before' source tree")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--only", help="comma-separated endpoint names")
    parser.add_argument("--profile", type=Path, metavar="DIR", help="py-spy raw stacks of this tree per endpoint")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra server env")
    parser.add_argument("--base-database-url", help="the base tree's own database (already loaded)")
    args = parser.parse_args()
    ctx = Context(
        quick=True,
        runs=1,
        seconds=args.seconds,
        warmup=1.0,
        database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        workers=1,
        work_dir=Path(tempfile.mkdtemp(prefix="bench-probe-")),
    )
    ensure_database(ctx.database_url)
    setup_django(ctx)
    issue_tokens(ctx)
    dataset.ensure_dataset(ctx.dsn, log=print)
    files = endpoints(ctx)
    if args.only:
        files = {k: v for k, v in files.items() if k in args.only.split(",")}
    extra = dict(item.split("=", 1) for item in args.env)
    trees = {"after (this tree)": ROOT} | ({"before (--base)": args.base.resolve()} if args.base else {})
    cpu: dict[tuple[str, str], list[float]] = {}
    rps: dict[tuple[str, str], list[float]] = {}
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    own_database = {"DATABASE_URL": args.base_database_url} if args.base_database_url else {}
    for round_ in range(args.rounds):
        for label, root in trees.items():
            database = own_database if root != ROOT else {}
            dataset.delete_chat_rows(_dsn(database.get("DATABASE_URL")) if database else ctx.dsn)
            server = Server(env=ctx.server_env(**RECOMMENDED, **extra, **database), workers=1, root=root)
            with server:
                pid = server.worker_pids()[0]
                for name, file in files.items():
                    run_wrk(base_url=server.base_url, requests_file=file, clients=args.clients, seconds=1)
                    profile = None
                    if args.profile and root == ROOT:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile = args.profile / f"{name.replace(' ', '_')}-{round_ + 1}.raw"
                    with recording(pid, profile, rate=500):
                        before = cpu_seconds([pid])
                        result = run_wrk(
                            base_url=server.base_url, requests_file=file, clients=args.clients, seconds=args.seconds
                        )
                        ms = (cpu_seconds([pid]) - before) * 1000 / max(result.requests, 1)
                    cpu.setdefault((label, name), []).append(ms)
                    rps.setdefault((label, name), []).append(result.throughput)
                    errors = "" if name == "401 floor" else f" errors {result.errors}"
                    print(f"round {round_ + 1} {label:18s} {name:16s} {ms:6.2f} ms CPU/request"
                          f" {result.throughput:6.0f} req/s{errors}", flush=True)  # fmt: skip
    print(f"load average at end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("\n| endpoint | " + " | ".join(f"{t}: CPU ms/request" for t in trees) + " | ratio |")
    print("|---|" + "---|" * (len(trees) + 1))
    for name in files:
        meds = [statistics.median(cpu[(t, name)]) for t in trees]
        cells = [f"{statistics.median(v):.2f} ({min(v):.2f}–{max(v):.2f})" for v in (cpu[(t, name)] for t in trees)]
        ratio = f"{meds[0] / meds[1]:.2f}" if len(meds) == 2 else "–"
        print(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")


if __name__ == "__main__":
    main()
