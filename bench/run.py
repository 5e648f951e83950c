"""One command for the benchmarks: ``python -m bench [--quick] [--only chat,pages]``.

Creates (or reuses) the bench database, bulk-loads the data that is missing, runs
each scenario against the production serve command, and writes ``BENCHMARKS.md``
(plus the raw figures in ``bench/results/<date>.json``).

Environment: ``BENCH_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/chat_bench_run``;
never point it at a database you care about: the chat rows of bench users are deleted),
``BENCH_WORKERS`` (uvicorn workers, default 2 = the machine's cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import dataset
from bench.context import DEFAULT_DATABASE_URL, Context, ensure_database, issue_tokens, setup_django
from bench.report import Section, machine_facts, read_notes
from bench.server import ROOT


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 run of each figure, 5 s loads")
    parser.add_argument("--runs", type=int, help="repetitions of each figure (default 3, quick 1)")
    parser.add_argument("--seconds", type=float, help="length of each timed load (default 10, quick 5)")
    parser.add_argument("--only", help="comma-separated scenarios to run (default: all)")
    parser.add_argument(
        "--output", help="report file (default BENCHMARKS.md; quick runs: bench/results/BENCHMARKS-quick.md)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.output:
        args.output = str(ROOT / "bench" / "results" / "BENCHMARKS-quick.md" if args.quick else ROOT / "BENCHMARKS.md")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    from bench.scenarios import SCENARIOS

    names = args.only.split(",") if args.only else list(SCENARIOS)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        print(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    work_dir = Path(tempfile.mkdtemp(prefix="bench-"))
    ctx = Context(
        quick=args.quick,
        runs=args.runs or (1 if args.quick else 3),
        seconds=args.seconds or (5.0 if args.quick else 10.0),
        warmup=1.0 if args.quick else 2.0,
        database_url=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        workers=int(os.environ.get("BENCH_WORKERS", "2")),
        work_dir=work_dir,
    )
    began = time.monotonic()
    facts_start = machine_facts()
    print(
        f"bench: {'quick' if ctx.quick else 'full'} run, {ctx.runs} run(s) × {ctx.seconds:g} s, database {ctx.database_url}"
    )
    ensure_database(ctx.database_url)
    setup_django(ctx)
    issue_tokens(ctx)
    dataset.ensure_dataset(ctx.dsn, log=lambda m: print("bench:", m))
    sections: list[Section] = []
    for name in names:
        print(f"bench: scenario {name} ...", flush=True)
        t0 = time.monotonic()
        sections.append(SCENARIOS[name](ctx))
        print(f"bench: scenario {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    facts_end = machine_facts()
    elapsed = time.monotonic() - began
    write_report(Path(args.output), ctx, sections, facts_start, facts_end, elapsed, partial=bool(args.only))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results / f"{stamp}.json").write_text(
        json.dumps(
            {
                "machine": facts_start,
                "quick": ctx.quick,
                "runs": ctx.runs,
                "seconds": ctx.seconds,
                "sections": {s.title: s.data for s in sections},
            },
            indent=2,
            default=str,
        )
    )
    print(f"bench: wrote {args.output} and bench/results/{stamp}.json in {elapsed:.0f} s")
    for section in sections:
        for row in section.targets:
            if row.met is not None:
                print(f"  {'met   ' if row.met else 'MISSED'} {row.scenario}: {row.measured} (target {row.target})")
    return 0


def write_report(
    path: Path,
    ctx: Context,
    sections: list[Section],
    start: dict[str, str],
    end: dict[str, str],
    elapsed: float,
    *,
    partial: bool,
) -> None:
    """Write ``BENCHMARKS.md``: header, summary of targets, each section, notes, how to rerun."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    mark = {True: "met", False: "**missed**", None: "–"}
    summary = ["| scenario | target | measured: median (min–max) | |", "|---|---|---|---|"]
    for section in sections:
        summary += [f"| {r.scenario} | {r.target} | {r.measured} | {mark[r.met]} |" for r in section.targets]
    mode = "quick (1 run of each figure)" if ctx.quick else f"full ({ctx.runs} runs of each figure)"
    text = f"""# Benchmarks

Generated by `make {"bench-quick" if ctx.quick else "bench"}` (`python -m bench{" --quick" if ctx.quick else ""}`); do not edit by hand:
the hand-written analysis lives in `bench/NOTES.md` and is copied at the end.{" **Partial run** (`--only`)." if partial else ""}

- Date: {start["date"]}; commit `{start["commit"]}`; mode: {mode}, {ctx.seconds:g} s per timed load; whole run {elapsed / 60:.1f} min.
- Machine: {start["nproc"]} CPUs ({start["cpu"]}), Linux {start["kernel"]}, Python {start["python"]}, PostgreSQL {pg_version} (same machine).
- Load average (1, 5, 15 min) at start: {start["load"]}; at end: {end["load"]}.
  **The machine is shared with other jobs while this runs: absolute figures are noisy; the ratios against the
  baseline measured in the same run are what to compare.** Figures read "median (min–max)" over the runs.
- Server under test: `uvicorn chatsite.asgi:application --workers {ctx.workers} --no-access-log`, `DJANGO_DEBUG=0`,
  `DJANGO_HTTPS=0`, a secret key, `DATABASE_URL` on a bench database, throttles off (`CHAT_RATE_LIMIT=`,
  `AUTH_RATE_LIMIT=`), the offline assistant. Load tool: wrk {"(Debian package)"} with `bench/lua/replay.lua`.

```
{start["memory"]}
```

## Targets

{chr(10).join(summary)}

"""
    for section in sections:
        text += f"## {section.title}\n\n{section.body}\n\n"
    text += read_notes()
    path.write_text(text.rstrip() + "\n")
