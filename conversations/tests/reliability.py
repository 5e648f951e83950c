"""The figures of the fault tests, and the "Faults and load" table of RELIABILITY.md made from them.

Each fault test calls ``record(name, figures)`` once it has checked the database:
the figures (requests sent, faults injected, messages checked, lost, ...) go to
``test-artifacts/reliability/<name>.json`` (gitignored). Then::

    python -m conversations.tests.reliability        # rewrites the section in RELIABILITY.md

replaces what lies between the ``faults:start`` and ``faults:end`` markers with
a table of the latest figures, the machine and the date (``make reliability``
runs the tests, then this).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIGURES_DIR = ROOT / "test-artifacts" / "reliability"
REPORT = ROOT / "RELIABILITY.md"
START, END = "<!-- faults:start -->", "<!-- faults:end -->"

# name -> (what it does, test)
SCENARIOS: dict[str, tuple[str, str]] = {
    "model_faults_under_load": (
        "concurrent chats while the model fails in every way (500, 429 + Retry-After, cut mid-stream, "
        "malformed chunk, hang before the first token, latency)",
        "test_faults_model_under_load.py",
    ),
    "postgres_restart": (
        "PostgreSQL (a throwaway cluster) restarted twice in the middle of a load run",
        "test_faults_postgres_restart.py",
    ),
    "one_conversation": ("concurrent sends to one conversation", "test_faults_one_conversation.py"),
    "redis_outage": ("Redis killed, then started again, under a running server", "test_faults_redis.py"),
    "worker_killed_http": (
        "kill -9 of the uvicorn worker writing a reply (POST chat), two workers sharing PostgreSQL and Redis",
        "test_faults_worker_killed.py",
    ),
    "worker_killed_socket": (
        "kill -9 of the uvicorn worker running a live reply, watched from a socket on the other worker",
        "test_faults_worker_killed.py",
    ),
    "exactly_once_http_at_once": (
        "POST chat with an Idempotency-Key, the connection closed as soon as the request is written, repeated",
        "test_faults_exactly_once.py",
    ),
    "exactly_once_http_once_the_message_is_saved": (
        "POST chat with an Idempotency-Key, the connection closed once the message is saved, repeated",
        "test_faults_exactly_once.py",
    ),
    "exactly_once_http_while_the_reply_streams": (
        "POST chat with an Idempotency-Key, the connection closed while the reply streams, repeated",
        "test_faults_exactly_once.py",
    ),
    "exactly_once_http_twice_at_once": (
        "the same POST chat (same Idempotency-Key and body) sent twice at once, one copy to each worker",
        "test_faults_exactly_once.py",
    ),
    "exactly_once_socket": (
        "socket send with a client_id, the socket closed at once, sent again on a new socket",
        "test_faults_exactly_once.py",
    ),
    "redis_restart_sockets": (
        "Redis (a throwaway redis-server) stopped and started again during socket sends on two workers",
        "test_faults_sockets_stay_up.py",
    ),
    "postgres_backends_terminated": (
        "the server's PostgreSQL connections terminated again and again during socket sends",
        "test_faults_sockets_stay_up.py",
    ),
    "postgres_long_outage_live_reply": (
        "PostgreSQL refusing the server longer than a live reply's last save keeps trying",
        "test_faults_sockets_stay_up.py",
    ),
    "idle_sockets": ("20 idle sockets on the Redis channel layer held 60 s", "test_faults_sockets_stay_up.py"),
    "deep_json": ("a JSON frame nested 100,000 deep on a socket", "test_faults_sockets_stay_up.py"),
}
COLUMNS = ["requests", "faults", "answered_200", "answered_503", "answered_504", "messages_checked", "lost"]


def record(name: str, figures: dict[str, Any]) -> None:
    """Keep ``figures`` (JSON-able) as the latest run of scenario ``name``."""
    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    body = {
        "name": name,
        "figures": figures,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    (FIGURES_DIR / f"{name}.json").write_text(json.dumps(body, indent=2))


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def section() -> str:
    """The Markdown table of the latest figures (scenarios never run are listed as such)."""
    lines = [
        "| scenario | " + " | ".join(COLUMNS) + " | notes | run |",
        "|---|" + "---|" * len(COLUMNS) + "---|---|",
    ]
    for name, (what, test) in SCENARIOS.items():
        path = FIGURES_DIR / f"{name}.json"
        if not path.exists():
            lines.append(f"| {what} (`{test}`) | " + " | ".join("" for _ in COLUMNS) + " | not run | |")
            continue
        run = json.loads(path.read_text())
        figures = run["figures"]
        notes = figures.get("notes", "")
        cells = " | ".join(_cell(figures.get(column)) for column in COLUMNS)
        lines.append(f"| {what} (`{test}`) | {cells} | {notes} | {run['date']}; {run['machine']} |")
    return "\n".join(lines)


def update_report(report: Path = REPORT) -> None:
    """Replace the text between the markers in ``report`` with ``section()``."""
    text = report.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{report} has no {START} ... {END} markers")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    report.write_text(f"{head}{START}\n{section()}\n{END}{tail}")


if __name__ == "__main__":
    update_report(Path(sys.argv[1]) if len(sys.argv) > 1 else REPORT)
    print(section())
