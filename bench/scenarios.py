"""The scenarios of issue 6. Each takes the run's ``Context`` and returns a report ``Section``.

To add one: write ``def scenario_x(ctx: Context) -> Section`` and append it to
``SCENARIOS`` (``bench.run --only x`` runs it alone). Figures come from ``run_wrk``
(HTTP load against the real server) or from a small client of your own; repeat
each timed figure ``ctx.runs`` times and report ``Spread`` (min/median/max).
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench import dataset
from bench.baseline import run_baseline
from bench.context import Context
from bench.report import Section, TargetRow, load_table
from bench.server import Server, cpu_seconds, read_status_kb, reset_peak
from bench.stats import LoadResult, spread, spreads
from bench.wrk import run_wrk, write_requests

CHAT_TEXT = "Hello! Could you summarise what we talked about yesterday, in two sentences?"
# The server configuration the main figures use (what `make serve` should run with).
RECOMMENDED = {"DATABASE_POOL": "1"}
RECOMMENDED_LABEL = "psycopg pool (DATABASE_POOL=1, the default)"
CONNECTION_MODES = {
    "new connection per request (DATABASE_POOL=0)": {"DATABASE_POOL": "0"},
    "persistent (DATABASE_POOL=0, DATABASE_CONN_MAX_AGE=60)": {"DATABASE_POOL": "0", "DATABASE_CONN_MAX_AGE": "60"},
    RECOMMENDED_LABEL: RECOMMENDED,
}


def _load(ctx: Context, server: Server, requests_file: Path, clients: int) -> tuple[list[LoadResult], list[float]]:
    """Warm up, then ``ctx.runs`` timed wrk runs; returns the runs and server CPU ms per request."""
    run_wrk(base_url=server.base_url, requests_file=requests_file, clients=clients, seconds=ctx.warmup)
    results, cpu = [], []
    for _ in range(ctx.runs):
        pids = server.worker_pids()
        before = cpu_seconds(pids)
        result = run_wrk(base_url=server.base_url, requests_file=requests_file, clients=clients, seconds=ctx.seconds)
        results.append(result)
        cpu.append((cpu_seconds(pids) - before) * 1000 / max(result.requests, 1))
    return results, cpu


def _chat_requests(ctx: Context) -> Path:
    body = json.dumps({"message": CHAT_TEXT})
    rows = []
    for i in range(dataset.CHAT_USERS):
        user = dataset.chat_user(i)
        rows.append(("POST", f"/api/{user}/chat", ctx.tokens[user], body))
    return write_requests(ctx.work_dir / "chat.tsv", rows)


def _chat_users() -> list[str]:
    return [dataset.chat_user(i) for i in range(dataset.CHAT_USERS)]


def _baseline_runs(ctx: Context, clients: int) -> tuple[list[LoadResult], list[float]]:
    results, cpu = [], []
    for _ in range(ctx.runs):
        before = time.process_time()
        result = run_baseline(dsn=ctx.dsn, clients=clients, seconds=ctx.seconds, user_ids=_chat_users(), text=CHAT_TEXT)
        results.append(result)
        cpu.append((time.process_time() - before) * 1000 / max(result.requests, 1))
    return results, cpu


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "reported"}[met]


# --- (a) + (b): chat POST against the SQL baseline -----------------------------------------


def scenario_chat(ctx: Context) -> Section:
    """Chat POST (offline assistant) at 16, 1 and 64 clients over 1,000 users, against the baseline."""
    dataset.delete_chat_rows(ctx.dsn)
    requests_file = _chat_requests(ctx)
    runs: dict[str, list[LoadResult]] = {}
    cpu: dict[str, list[float]] = {}
    ratios: list[float] = []
    with ctx.server(**RECOMMENDED) as server:
        run_wrk(base_url=server.base_url, requests_file=requests_file, clients=16, seconds=ctx.warmup)
        # Server and baseline runs alternate, so a burst of noise on the shared machine hits both.
        for _ in range(ctx.runs):
            pids = server.worker_pids()
            before = cpu_seconds(pids)
            web = run_wrk(base_url=server.base_url, requests_file=requests_file, clients=16, seconds=ctx.seconds)
            cpu.setdefault("chat, 16 clients", []).append((cpu_seconds(pids) - before) * 1000 / max(web.requests, 1))
            began = time.process_time()
            base = run_baseline(dsn=ctx.dsn, clients=16, seconds=ctx.seconds, user_ids=_chat_users(), text=CHAT_TEXT)
            cpu.setdefault("baseline SQL, 16 connections", []).append(
                (time.process_time() - began) * 1000 / max(base.requests, 1)
            )
            runs.setdefault("chat, 16 clients", []).append(web)
            runs.setdefault("baseline SQL, 16 connections", []).append(base)
            ratios.append(web.throughput / base.throughput if base.throughput else 0.0)
        for clients in (1, 64):
            label = f"chat, {clients} client{'s' if clients > 1 else ''}"
            runs[label], cpu[label] = _load(ctx, server, requests_file, clients)
    runs["baseline SQL, 1 connection"], cpu["baseline SQL, 1 connection"] = _baseline_runs(ctx, 1)
    ratio_1 = [
        w.throughput / b.throughput
        for w, b in zip(runs["chat, 1 client"], runs["baseline SQL, 1 connection"], strict=True)
    ]

    main = spreads(runs["chat, 16 clients"])
    ratio = spread(ratios)
    errors = sum(r.errors for rs in runs.values() for r in rs)
    p95_met = main["p95_ms"].median <= 30
    ratio_met = ratio.median >= 0.70
    order = [
        "chat, 16 clients",
        "baseline SQL, 16 connections",
        "chat, 1 client",
        "baseline SQL, 1 connection",
        "chat, 64 clients",
    ]
    table = load_table([(k, runs[k]) for k in order], with_cpu={k: spread(v) for k, v in cpu.items()})
    body = f"""Server: `uvicorn chatsite.asgi:application --workers {ctx.workers}` with {RECOMMENDED_LABEL}; wrk replays
`POST /api/{{user_id}}/chat` for 1,000 users (a pre-issued token each, round-robin), each request starting a
new conversation. Baseline: `bench/baseline.py`, the same SQL statements with psycopg and one persistent
connection per client, run alternately with the server so that noise hits both. For the baseline rows the
CPU column is the baseline program's own CPU per turn.

{table}

Throughput ratio chat / baseline at 16 clients: **{ratio.fmt(2)}** (target ≥ 0.70); at 1 client: {spread(ratio_1).fmt(2)}.
Errors over all runs: {errors}."""
    return Section(
        title="Chat POST against the SQL baseline (a, b)",
        body=body,
        targets=[
            TargetRow("chat POST, 16 clients: p95", "≤ 30 ms", f"{main['p95_ms'].fmt(1)} ms", p95_met),
            TargetRow(
                "chat POST, 16 clients: throughput vs baseline",
                "≥ 70 %",
                f"{ratio.median:.0%} ({ratio.min:.0%}–{ratio.max:.0%})",
                ratio_met,
            ),
            TargetRow("chat POST, 1/16/64 clients: errors", "0", str(errors), errors == 0),
            TargetRow(
                "chat POST, 1 client: p95", "reported", f"{spreads(runs['chat, 1 client'])['p95_ms'].fmt(1)} ms", None
            ),
            TargetRow(
                "chat POST, 64 clients: p95",
                "reported",
                f"{spreads(runs['chat, 64 clients'])['p95_ms'].fmt(1)} ms",
                None,
            ),
        ],
        data={
            "runs": {k: [r.as_dict() for r in v] for k, v in runs.items()},
            "cpu_ms": cpu,
            "ratios_16": ratios,
            "ratios_1": ratio_1,
        },
    )


def scenario_chat_configs(ctx: Context) -> Section:
    """Chat POST at 16 clients: connection handling and worker count (what helps, what does not)."""
    requests_file = _chat_requests(ctx)
    rows: list[tuple[str, list[LoadResult]]] = []
    cpu: dict[str, list[float]] = {}
    configs = [(f"{label}, {ctx.workers} workers", ctx.workers, env) for label, env in CONNECTION_MODES.items()]
    worker_counts = (1, 4) if not ctx.quick else ()
    configs += [(f"{RECOMMENDED_LABEL}, {n} worker{'s' if n > 1 else ''}", n, RECOMMENDED) for n in worker_counts]
    for label, workers, env in configs:
        with ctx.server(workers=workers, **env) as server:
            results, cpu[label] = _load(ctx, server, requests_file, 16)
        rows.append((label, results))
    body = (
        "Chat POST at 16 clients, one server per line. Under ASGI, Django runs each request's sync parts in a "
        "thread of its own (asgiref `ThreadSensitiveContext`), and the async chat view reaches the database "
        "through `sync_to_async`, so every chat turn makes several thread hand-offs; the CPU column shows what "
        "a request costs the server whatever the load on the machine.\n\n"
        + load_table(rows, with_cpu={k: spread(v) for k, v in cpu.items()})
    )
    return Section(
        title="Chat POST: connections and workers",
        body=body,
        data={"runs": {k: [r.as_dict() for r in v] for k, v in rows}, "cpu_ms": cpu},
    )


# --- (c) + (d): message pages and the conversation list, with their plans -------------------


def _explain(capture: Callable[[], object], *, keep: Callable[[str], bool]) -> list[tuple[str, str]]:
    """Run ``capture`` under ``CaptureQueriesContext``; EXPLAIN ANALYZE each kept statement."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        capture()
    plans = []
    with connection.cursor() as cursor:
        for query in queries.captured_queries:
            sql = query["sql"]
            if not keep(sql):
                continue
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plans.append((sql, "\n".join(row[0] for row in cursor.fetchall())))
    return plans


def _count_queries(method: str, path: str, token: str, body: str | None = None) -> int:
    """SQL statements the view runs for one request (in-process Django test client)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with CaptureQueriesContext(connection) as queries:
        if method == "POST":
            response = client.post(path, data=body, content_type="application/json")
        else:
            response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{method} {path} answered {response.status_code}")
    if response.streaming:
        b"".join(response.streaming_content)
    return len([q for q in queries.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")])


def _plans_md(plans: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"```sql\n{sql}\n```\n\n```\n{plan}\n```" for sql, plan in plans)


def scenario_pages(ctx: Context) -> Section:
    """Newest page and a page 50,000 messages back in a 100,000-message conversation."""
    from conversations import selectors
    from conversations.models import Conversation

    user = dataset.LONG_USER
    token = ctx.tokens[user]
    conv = dataset.long_conversation_id()
    cursor = dataset.long_message_id(dataset.LONG_MESSAGES - 50_000)
    paths = {
        "newest page": f"/api/{user}/conversations/{conv}/messages?limit=50",
        "page 50,000 back": f"/api/{user}/conversations/{conv}/messages?before={cursor}&limit=50",
    }
    rows, cpu, targets = [], {}, []
    with ctx.server(**RECOMMENDED) as server:
        for name, path in paths.items():
            file = write_requests(ctx.work_dir / "page.tsv", [("GET", path, token, "")])
            for clients in (1, 8):
                label = f"{name}, {clients} client{'s' if clients > 1 else ''}"
                results, cpu[label] = _load(ctx, server, file, clients)
                rows.append((label, results))
                if clients == 1:
                    p95 = spreads(results)["p95_ms"]
                    targets.append(
                        TargetRow(
                            f"messages: {name} (100,000-message conversation), p95",
                            "≤ 10 ms",
                            f"{p95.fmt(1)} ms",
                            p95.median <= 10,
                        )
                    )
    conversation = Conversation.objects.get(pk=conv)
    plans = _explain(
        lambda: selectors.message_page(conversation=conversation, before=cursor, limit=50),
        keep=lambda sql: "ORDER BY" in sql,
    )
    page_plan = plans[-1][1]  # the cursor lookup comes first, the page query last
    index_cond = next((line for line in page_plan.splitlines() if "Index Cond" in line), "")
    uses_index = "msg_conv_created_id_idx" in page_plan and "created_at" in index_cond
    queries = {name: _count_queries("GET", path, token) for name, path in paths.items()}
    targets.append(
        TargetRow(
            "messages: page query uses msg_conv_created_id_idx, cursor in the Index Cond",
            "yes",
            "yes" if uses_index else "no",
            uses_index,
        )
    )
    body = f"""`GET .../messages?limit=50` (newest page) and `?before=<id>&limit=50` with the cursor 50,000
messages back, in one conversation of 100,000 messages. The target is read at 1 client (one person paging);
8 clients show the same requests under load. SQL statements per request: newest page {queries["newest page"]},
page 50,000 back {queries["page 50,000 back"]} (ownership check, cursor lookup, page).

{load_table(rows, with_cpu={k: spread(v) for k, v in cpu.items()})}

The page query 50,000 messages back, as the selector sends it, with `EXPLAIN (ANALYZE, BUFFERS)`:

{_plans_md(plans)}"""
    return Section(title="Message pages in a 100,000-message conversation (c)", body=body, targets=targets,
                   data={"runs": {k: [r.as_dict() for r in v] for k, v in rows}, "cpu_ms": cpu, "queries": queries})  # fmt: skip


def scenario_list(ctx: Context) -> Section:
    """The conversation list of a user with 10,000 conversations."""
    from conversations import selectors

    user = dataset.MANY_USER
    path = f"/api/{user}/conversations"
    file = write_requests(ctx.work_dir / "list.tsv", [("GET", path, ctx.tokens[user], "")])
    rows, cpu = [], {}
    floor = write_requests(ctx.work_dir / "floor.tsv", [("GET", path, "not-a-token", "")])
    with ctx.server(**RECOMMENDED) as server:
        for clients in (1, 8):
            label = f"list, {clients} client{'s' if clients > 1 else ''}"
            results, cpu[label] = _load(ctx, server, file, clients)
            rows.append((label, results))
        # The floor: the same URL refused with 401 (no SQL at all): what the framework alone costs.
        label = "floor: same URL answered 401, 1 client (errors = the 401s)"
        results, cpu[label] = _load(ctx, server, floor, 1)
        rows.append((label, results))
    p95 = spreads(rows[0][1])["p95_ms"]
    plans = _explain(lambda: selectors.conversation_list(user_id=user), keep=lambda sql: sql.startswith("SELECT"))
    queries = _count_queries("GET", path, ctx.tokens[user])
    body = f"""`GET /api/{{user_id}}/conversations` (first page of 20, with the total and each conversation's
message count) for a user with 10,000 conversations. Target read at 1 client. SQL statements per request: {queries}.

{load_table(rows, with_cpu={k: spread(v) for k, v in cpu.items()})}

{_plans_md(plans)}"""
    return Section(
        title="Conversation list of a user with 10,000 conversations (d)",
        body=body,
        targets=[TargetRow("list: 10,000 conversations, p95", "≤ 15 ms", f"{p95.fmt(1)} ms", p95.median <= 15)],
        data={"runs": {k: [r.as_dict() for r in v] for k, v in rows}, "cpu_ms": cpu, "queries": queries},
    )


# --- (e): the full detail of a long conversation: time and memory ----------------------------


def _get(port: int, path: str, token: str) -> tuple[int, int, float, float]:
    """GET ``path``; returns (status, body bytes, seconds to the first byte, seconds to the last)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    began = time.perf_counter()
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    first = time.perf_counter() - began
    size = 0
    while chunk := response.read(1 << 16):
        size += len(chunk)
    total = time.perf_counter() - began
    conn.close()
    return response.status, size, first, total


def scenario_detail(ctx: Context) -> Section:
    """``GET /api/{user_id}/conversations/{id}`` for 1,000, 10,000 and 50,000 messages: time and peak memory."""
    user = dataset.DETAIL_USER
    token = ctx.tokens[user]
    warm = f"/api/{user}/conversations/{dataset.detail_conversation_id(dataset.DETAIL_WARMUP)}"
    figures: dict[int, dict[str, list[float]]] = {}
    for size in dataset.DETAIL_SIZES:
        path = f"/api/{user}/conversations/{dataset.detail_conversation_id(size)}"
        for _ in range(ctx.runs):
            # A fresh one-worker server each time: a Python process keeps freed memory, so a
            # second large request in the same process would hide the first one's peak.
            with ctx.server(workers=1, **RECOMMENDED) as server:
                pid = server.worker_pids()[0]
                for _ in range(3):
                    _get(server.port, warm, token)
                time.sleep(0.2)
                rss_before = read_status_kb(pid, "VmRSS")
                if not reset_peak(pid):
                    raise RuntimeError("cannot reset the peak RSS (/proc/<pid>/clear_refs)")
                status, body_bytes, first, total = _get(server.port, path, token)
                if status != 200:
                    raise RuntimeError(f"detail of {size} messages answered {status}")
                peak = read_status_kb(pid, "VmHWM")
            f = figures.setdefault(size, {})
            f.setdefault("seconds", []).append(total)
            f.setdefault("first_byte_s", []).append(first)
            f.setdefault("response_mib", []).append(body_bytes / 2**20)
            f.setdefault("peak_delta_mib", []).append(max(peak - rss_before, 0) / 1024)
            f.setdefault("rss_before_mib", []).append(rss_before / 1024)
    lines = [
        "| messages | response MiB | time ms | first byte ms | worker RSS before MiB | peak RSS growth MiB | growth / response |",
        "|---|---|---|---|---|---|---|",
    ]
    for size, f in figures.items():
        growth = spread(f["peak_delta_mib"])
        ratio = spread([g / r for g, r in zip(f["peak_delta_mib"], f["response_mib"], strict=True)])
        lines.append(
            f"| {size:,} | {spread(f['response_mib']).fmt(2)} | {spread([s * 1000 for s in f['seconds']]).fmt(0)} | "
            f"{spread([s * 1000 for s in f['first_byte_s']]).fmt(0)} | {spread(f['rss_before_mib']).fmt(0)} | "
            f"{growth.fmt(1)} | {ratio.fmt(2)} |"
        )
    small, large = dataset.DETAIL_SIZES[0], dataset.DETAIL_SIZES[-1]
    med = {s: {k: spread(v).median for k, v in f.items()} for s, f in figures.items()}
    slope = (med[large]["peak_delta_mib"] - med[small]["peak_delta_mib"]) / max(
        med[large]["response_mib"] - med[small]["response_mib"], 1e-9
    )
    bounded = slope <= 1.5
    ten_k = figures[10_000]
    body = f"""The contract's detail (every message of the conversation in one JSON body), fetched from a fresh
one-worker server; "peak RSS growth" is the worker's peak resident memory during the request (VmHWM after
resetting it through `/proc/<pid>/clear_refs`) minus its resident memory before. Memory that grows with the
conversation beyond the response itself shows as "growth / response" well above 1.

{chr(10).join(lines)}

Extra peak memory per extra MiB of response, {small:,} → {large:,} messages: **{slope:.2f}**
(≤ 1.5 counts as "does not grow beyond the response")."""
    return Section(
        title="Full detail of a long conversation: time and memory (e)",
        body=body,
        targets=[
            TargetRow(
                "detail: 10,000 messages, time",
                "reported",
                f"{spread([s * 1000 for s in ten_k['seconds']]).fmt(0)} ms",
                None,
            ),
            TargetRow(
                "detail: 10,000 messages, peak RSS growth",
                "reported",
                f"{spread(ten_k['peak_delta_mib']).fmt(1)} MiB for {spread(ten_k['response_mib']).fmt(1)} MiB of JSON",
                None,
            ),
            TargetRow("detail: memory beyond the response (MiB per MiB, 1k → 50k)", "≤ 1.5", f"{slope:.2f}", bounded),
        ],
        data={"figures": {str(k): v for k, v in figures.items()}, "slope": slope},
    )


# --- (f): chat POST with a 2 s model, 500 and 2,000 in flight (bench/concurrency.py) --------

SLOW_MODEL_IN_FLIGHT = (500, 2000)


def scenario_slow_model(ctx: Context) -> Section:
    """Chat POST against the fake OpenAI server answering after 2 s, all sent at once: one process, then ctx.workers."""
    from bench import concurrency

    rows, targets, data = [], [], {}
    # Issue 3's figure is one process; issue 6's is the production serve command (ctx.workers workers).
    configs = [(count, 1) for count in SLOW_MODEL_IN_FLIGHT]
    if ctx.workers > 1:
        configs += [(count, ctx.workers) for count in SLOW_MODEL_IN_FLIGHT]
    for count, workers in configs:
        results = [
            concurrency.measure(
                database_url=ctx.database_url,
                requests=count,
                latency=2.0,
                extra_env=dict(RECOMMENDED),
                workers=workers,
            )
            for _ in range(ctx.runs)
        ]
        dataset.delete_chat_rows(ctx.dsn)
        app = [r.app.stats() for r in results]
        base = [r.base.stats() for r in results]
        errors = sum(len(r.app.errors) for r in results)
        ok = sum(len(r.app.times) for r in results)
        p95 = spread([a["p95"] for a in app])
        cpu = spread([1000 * r.server_cpu_s / count for r in results])
        rss = spread([r.peak_rss_mib for r in results])
        processes = "1 process" if workers == 1 else f"{workers} workers"
        rows.append(
            f"| {count:,} | {processes} | {ok} | {errors} | {spread([a['median'] for a in app]).fmt(2)} | {p95.fmt(2)} | "
            f"{spread([a['max'] for a in app]).fmt(2)} | {spread([b['p95'] for b in base]).fmt(2)} | "
            f"{spread([a['p95'] / b['p95'] for a, b in zip(app, base, strict=True)]).fmt(2)} | {cpu.fmt(1)} | "
            f"{rss.fmt(0)} | {spread([r.load_before for r in results]).fmt(1)} |"
        )
        first_error = next((r.app.errors[0] for r in results if r.app.errors), "")
        measured = f"p95 {p95.fmt(2)} s, {errors} errors, peak RSS {rss.fmt(0)} MiB"
        targets.append(
            TargetRow(
                f"chat POST with a 2 s model (fake OpenAI server), {count:,} in flight, {processes}",
                "p95 ≤ 2.3 s, 0 errors, peak memory",
                measured,
                p95.median <= 2.3 and errors == 0,
            )
        )
        data[f"{count}/{workers}"] = {
            "chat": app,
            "model_alone": base,
            "errors": errors,
            "first_error": first_error,
            "cpu_ms_per_chat": [1000 * r.server_cpu_s / count for r in results],
            "peak_rss_mib": [r.peak_rss_mib for r in results],
        }
    errors_note = "".join(
        f"\nFirst error at {k} (in flight/workers): `{v['first_error']}`" for k, v in data.items() if v["first_error"]
    )
    held_rows = _slow_model_held(ctx, targets, data)
    body = f"""`bench/concurrency.py`: the fake OpenAI server (its own process) answers each streamed completion
after 2 s; ONE uvicorn process (issue 3), then the production serve command with {ctx.workers} workers (issue 6)
(`--backlog 4096`, {RECOMMENDED_LABEL}, the `openai` backend pointed at the fake)
receives N `POST /api/{{user_id}}/chat` sent at once by one httpx client (N connections), each from its own user
(a new conversation). "Model alone" is N streamed completions sent straight to the fake in the same run: what
the client and the machine allow without the app. Times are seconds from the common start to each answer.
Server CPU is summed over the workers; peak RSS is the largest process's.

| in flight | server | ok | errors | median s | p95 s | max s | model alone p95 s | p95 / model alone | server CPU ms per chat | peak RSS MiB | load (1 min) |
|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
{errors_note}

**Held in flight.** The same server, loaded by wrk with N connections for {_held_seconds(ctx):g} s: each sends its next
chat (a new conversation of one of {concurrency.HELD_USERS:,} users) as soon as the last is answered, so after the
first wave N chats are always open, as on a busy service. "Model alone" is the same wrk load of streamed
completions straight to the fake. "Model client alone" (`bench/client_floor.py`) is the baseline for the server:
the app's own OpenAI backend (the official SDK) in bare Python processes, one per worker, with no web server,
Django or database, holding the same N streams the same way; whatever it cannot do, a server process that also
serves the chat cannot either. Latencies are over every chat of the run (the first wave included); throughput is
chats (streams) answered per second.

| in flight | server | chats/s | errors | p50 s | p95 s | p99 s | model alone p95 s | model client alone: streams/s | its p95 s | chats/s ÷ client alone | server CPU ms per chat | client alone CPU ms per stream | peak RSS MiB |
|---|---|---|---|---|---|---|---|---|---|---|---|---|---|
{chr(10).join(held_rows)}"""
    return Section(
        title="Chat POST with a 2 s model: 500 and 2,000 in flight (f)", body=body, targets=targets, data=data
    )


# (in flight, workers or None for ctx.workers) of the held runs: issue 3's one process at 500,
# the production serve command at 500 and 2,000.
SLOW_MODEL_HELD = ((500, 1), (500, None), (2000, None))


def _held_seconds(ctx: Context) -> float:
    return 10.0 if ctx.quick else 20.0


def _slow_model_held(ctx: Context, targets: list[TargetRow], data: dict[str, object]) -> list[str]:
    """wrk holds N chats in flight against the 2 s model; adds target rows and data, returns table rows."""
    from bench import concurrency

    rows = []
    for count, workers_or_none in SLOW_MODEL_HELD:
        workers = workers_or_none or ctx.workers
        if workers_or_none is None and workers == 1:
            continue  # the same as the one-process row
        results = [
            concurrency.measure_held(
                database_url=ctx.database_url,
                in_flight=count,
                seconds=_held_seconds(ctx),
                work_dir=ctx.work_dir,
                extra_env=dict(RECOMMENDED),
                workers=workers,
            )
            for _ in range(ctx.runs)
        ]
        dataset.delete_chat_rows(ctx.dsn)
        processes = "1 process" if workers == 1 else f"{workers} workers"
        errors = sum(r.app.errors for r in results)
        p95 = spread([r.app.p95_ms / 1000 for r in results])
        cpu = spread([1000 * r.server_cpu_s / max(r.app.requests, 1) for r in results])
        rss = spread([r.peak_rss_mib for r in results])
        rows.append(
            f"| {count:,} | {processes} | {spread([r.app.throughput for r in results]).fmt(0)} | {errors} | "
            f"{spread([r.app.p50_ms / 1000 for r in results]).fmt(2)} | {p95.fmt(2)} | "
            f"{spread([r.app.p99_ms / 1000 for r in results]).fmt(2)} | "
            f"{spread([r.model_alone.p95_ms / 1000 for r in results]).fmt(2)} | "
            f"{spread([r.client_floor.throughput for r in results]).fmt(0)} | "
            f"{spread([r.client_floor.p95_ms / 1000 for r in results]).fmt(2)} | "
            f"{spread([r.app.throughput / r.client_floor.throughput for r in results]).fmt(2)} | {cpu.fmt(1)} | "
            f"{spread([r.client_floor_cpu_ms for r in results]).fmt(1)} | {rss.fmt(0)} |"
        )
        targets.append(
            TargetRow(
                f"chat POST with a 2 s model, {count:,} held in flight (wrk), {processes}",
                "p95 ≤ 2.3 s, 0 errors, peak memory",
                f"p95 {p95.fmt(2)} s, {errors} errors, {spread([r.app.throughput for r in results]).fmt(0)} chats/s, "
                f"peak RSS {rss.fmt(0)} MiB",
                p95.median <= 2.3 and errors == 0,
            )
        )
        data[f"held {count}/{workers}"] = {
            "chat": [r.app.as_dict() for r in results],
            "model_alone": [r.model_alone.as_dict() for r in results],
            "model_client_alone": [r.client_floor.as_dict() for r in results],
            "model_client_alone_cpu_ms_per_stream": [r.client_floor_cpu_ms for r in results],
            "cpu_ms_per_chat": [1000 * r.server_cpu_s / max(r.app.requests, 1) for r in results],
            "peak_rss_mib": [r.peak_rss_mib for r in results],
        }
    return rows


# --- (g) + (h): the live WebSocket: time to first token, memory per open socket ---------------


def _live_env(ctx: Context) -> dict[str, str]:
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7")
    env = ctx.server_env(**RECOMMENDED)
    if _redis_answers(redis_url):
        env["REDIS_URL"] = redis_url
    return env


def _redis_answers(url: str) -> bool:
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1).close()
        return True
    except OSError:
        return False


def scenario_live(ctx: Context) -> Section:
    """Time to first token at the WebSocket against the model's own; memory per socket with 1,000 open."""
    from bench import live_sockets

    env = _live_env(ctx)
    layer = "Redis" if "REDIS_URL" in env else "in-memory (no Redis answered)"
    user = dataset.chat_user(0)
    ttfts = [
        live_sockets.measure_ttft(env=env, token=ctx.tokens[user], count=10 if ctx.quick else 30)
        for _ in range(ctx.runs)
    ]
    dataset.delete_chat_rows(ctx.dsn)
    added = spread([t.added_ms for t in ttfts])
    socket_ms = spread([1000 * statistics.median(t.socket_first_delta) for t in ttfts])
    model_ms = spread([1000 * statistics.median(t.model_first_token) for t in ttfts])
    rtt_ms = spread([1000 * statistics.median(t.round_trip) for t in ttfts])
    mems = [live_sockets.measure_sockets(env=env, token=ctx.tokens[user], count=1000) for _ in range(ctx.runs)]
    per_socket = spread([m.kib_per_socket for m in mems])
    body = f"""One uvicorn worker, {RECOMMENDED_LABEL}, channel layer: {layer}.

**Time to first token.** One socket sends messages one after another (3 warm-up, then {10 if ctx.quick else 30}
measured); the `openai` backend streams from the fake OpenAI server, which waits 0.2 s before its first token.
After each message, a direct streamed request to the fake measures the model's own time to first token (the
baseline, same run). The socket round trip is an unknown action answered by an error event.

| what | median ms (min–max over runs) |
|---|---|
| send → first `reply.delta` at the socket | {socket_ms.fmt(1)} |
| the model's own time to first token (direct request) | {model_ms.fmt(1)} |
| **difference: what the live path adds** | **{added.fmt(1)}** |
| socket round trip (for scale) | {rtt_ms.fmt(1)} |

**Memory per open socket.** 1,000 sockets opened to one worker (in batches of 50, each waiting for `ready`,
all kept open); the worker's resident memory (VmRSS) after, minus before, divided by the sockets opened.

| sockets | RSS before MiB | RSS after MiB | KiB per socket |
|---|---|---|---|
""" + "\n".join(
        f"| {m.opened:,} | {m.rss_before_kib / 1024:.0f} | {m.rss_after_kib / 1024:.0f} | {m.kib_per_socket:.0f} |"
        for m in mems
    )
    return Section(
        title="The live WebSocket: time to first token and memory per socket (g, h)",
        body=body,
        targets=[
            TargetRow(
                "streamed reply: time to first token at the WebSocket minus the model's",
                "≤ 50 ms median",
                f"{added.fmt(1)} ms",
                added.median <= 50,
            ),
            TargetRow(
                "one worker with 1,000 open WebSockets", "memory per socket reported", f"{per_socket.fmt(0)} KiB", None
            ),
        ],
        data={
            "ttft": [t.__dict__ for t in ttfts],
            "sockets": [m.__dict__ for m in mems],
            "layer": layer,
        },
    )


# --- The chat page in Chromium: open the 100,000-message conversation (bench/browser.py) ----------


def scenario_browser(ctx: Context) -> Section:
    """Open the 100,000-message conversation in Chromium: time to interactive, message elements, scrolling up."""
    from bench import browser

    browser.collect_static(ctx.server_env(**RECOMMENDED))
    user_id, session_key = browser.sign_in()
    try:
        with browser.long_conversation_lent(ctx.dsn, to=user_id), ctx.server(workers=1, **RECOMMENDED) as server:
            visits = browser.measure(base_url=server.base_url, session_key=session_key, dsn=ctx.dsn, runs=ctx.runs)
    finally:
        browser.sign_out(session_key)

    def ms(name: str) -> str:
        return spread([getattr(v, name) for v in visits]).fmt(0)

    interactive = spread([v.interactive_ms for v in visits])
    max_elements = max(v.max_elements for v in visits)
    scrolls = browser.SCROLLS
    scroll_ok = all(v.scrolls_ok == scrolls and v.oldest_text_matches for v in visits)
    outside = sorted({url for v in visits for url in v.outside_requests})
    errors = sorted({error for v in visits for error in v.page_errors})
    back = spread([v.messages_back for v in visits])
    page_ms = spread([v.page_ms for v in visits])
    body = f"""Debian's Chromium (headless, driven by Playwright, the browser tests' launch flags, host names not
resolved) opens `/chat/<id>` of the 100,000-message conversation, signed in with a Django session, against
`uvicorn chatsite.asgi:application --workers 1` ({RECOMMENDED_LABEL}, collected static files served by
WhiteNoise). One untimed warm-up visit, then {ctx.runs} visit(s), each in a fresh browser context (empty
cache), 1280×800. The conversation belongs to `{dataset.LONG_USER}`, which the page cannot sign in as (its user
id is a Django user's pk): it is lent to the Django user `{browser.BROWSER_USER}` for the visits.

Times are ms from navigation start, read in the page with `performance.now()` (first byte, `DOMContentLoaded`
and `load` from Navigation Timing). **Interactive** is the `input` event of a keystroke Playwright types into the message box
as soon as the page is *ready* (the newest message visible in the pane, `chat.js` has set the pane up, the
box is enabled): an upper bound, since it includes Playwright's round trip between "ready" and the keystroke
(ready → `keydown`). The wall time runs from before `page.goto` to Python reading the typed character back.

| what | ms |
|---|---|
| first byte of the page (`responseStart`) | {ms("ttfb_ms")} |
| `DOMContentLoaded` done | {ms("dom_content_loaded_ms")} |
| ready: newest messages shown, pane set up, box enabled (focused by the probe) | {ms("ready_ms")} |
| the keystroke reaches the page (its `keydown`) | {ms("keydown_ms")} |
| **interactive: the keystroke's `input` event in the box** | **{interactive.fmt(0)}** |
| `load` event done | {ms("load_ms")} |
| wall time, `page.goto` → keystroke read back | {ms("wall_ms")} |

Then the log is scrolled to the top {scrolls} times per visit, each time waiting (up to
{browser.SCROLL_TIMEOUT_MS / 1000:g} s) for the older page of {browser.PAGE_SIZE} to be in the DOM; each time,
the pane must show consecutive messages of the conversation (ids checked against `bench.dataset`) and
reach further back; at the end the oldest message's text is compared with the database's.

| what | value |
|---|---|
| message elements (`#message-log .msg`) after opening | {spread([v.elements_open for v in visits]).fmt(0)} |
| elements in the whole document after opening | {spread([v.dom_nodes_open for v in visits]).fmt(0)} |
| message elements, most seen during the scrolls (all visits) | {max_elements} |
| scrolls that loaded an older page (of {scrolls}) | {spread([v.scrolls_ok for v in visits]).fmt(0)} |
| messages back from the newest, at the end | {back.fmt(0)} |
| oldest message's text equals the database's | {sum(v.oldest_text_matches for v in visits)} of {len(visits)} visits |
| scroll to the top → older page in the DOM, median per visit, ms | {page_ms.fmt(0)} |
| requests to hosts other than 127.0.0.1 | {len(outside)}{": " + ", ".join(outside[:3]) if outside else ""} |
| errors in the page (uncaught, or logged to the console) | {len(errors)}{": " + "; ".join(errors[:3]) if errors else ""} |"""
    return Section(
        title="The chat page: opening a 100,000-message conversation in Chromium",
        body=body,
        targets=[
            TargetRow(
                "browser: open a 100,000-message conversation, time to interactive",
                "≤ 1 s (median)",
                f"{interactive.fmt(0)} ms",
                interactive.median <= 1000,
            ),
            TargetRow(
                f"browser: message elements in the pane (opening, then {scrolls} scrolls to the top)",
                "≤ 500",
                f"{max_elements} at most",
                max_elements <= 500,
            ),
            TargetRow(
                "browser: scrolling to the top keeps loading older messages",
                f"{scrolls} of {scrolls} scrolls",
                f"{min(v.scrolls_ok for v in visits)} of {scrolls}, {back.fmt(0)} messages back "
                f"(text {'matches' if all(v.oldest_text_matches for v in visits) else '**differs**'}), "
                f"{page_ms.fmt(0)} ms per page",
                scroll_ok,
            ),
        ],
        data={"visits": [v.as_dict() for v in visits], "scrolls": scrolls},
    )


SCENARIOS: dict[str, Callable[[Context], Section]] = {
    "chat": scenario_chat,
    "chat_configs": scenario_chat_configs,
    "pages": scenario_pages,
    "list": scenario_list,
    "detail": scenario_detail,
    "slow_model": scenario_slow_model,
    "live": scenario_live,
    "browser": scenario_browser,
}
