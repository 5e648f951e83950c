"""Search over one user's 200,000 messages in 2,000 conversations (issue 15): full-text against ILIKE.

    python -m bench.search [--runs 5]        # BENCH_SEARCH_DATABASE_URL, created and loaded when missing

One user owns 2,000 conversations of 100 messages (text drawn from a fixed vocabulary of 2,000
words, so terms range from common to rare); 100 other users own another 100,000 messages, so the
user filter matters as in a shared database. Each query runs ``--runs`` times after a warm-up:
``conversations.search.search_fulltext`` (the API's PostgreSQL path: GIN index, ranking, escaped
``ts_headline`` snippets) and, in the same run, a plain ``ILIKE '%word%'`` scan of the same user's
messages (newest 20). Prints a Markdown section (p50 and p95 per engine, the plan of a full-text
query) and writes it to ``bench/results/search.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import statistics
import time
import uuid
from pathlib import Path

import psycopg

from bench.context import ensure_database

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/chat_bench_search"
USER = "search-user"
CONVERSATIONS = 2_000
PER_CONVERSATION = 100
OTHERS = 100
OTHER_MESSAGES = 1_000
VOCABULARY = 2_000
SEED = 15
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
# Common, middling and rare words of the vocabulary, a phrase, an exclusion, an "or", a plural.
QUERIES = ("word7", "word150", "word1900", '"word12 word13"', "word40 -word41", "word1500 or word1600", "word9s")


def _vocabulary() -> list[str]:
    return [f"word{i}" for i in range(VOCABULARY)]


def _text(rng: random.Random, words: list[str]) -> str:
    # Zipf-like: low-numbered words are common, high-numbered ones rare.
    picks = [words[min(int(rng.paretovariate(0.9)) - 1, VOCABULARY - 1)] for _ in range(rng.randint(8, 40))]
    return " ".join(picks)


def ensure_data(dsn: str) -> None:
    """Load the dataset unless it is there (about a minute)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        have = conn.execute(
            "SELECT count(*) FROM conversations_message m JOIN conversations_conversation c ON c.id = m.conversation_id"
            " WHERE c.user_id = %s",
            (USER,),
        ).fetchone()[0]
        if have == CONVERSATIONS * PER_CONVERSATION:
            return
        print("loading 300,000 messages ...", flush=True)
        conn.execute(
            "DELETE FROM conversations_conversation WHERE user_id = %s OR user_id LIKE 'search-other-%%'", (USER,)
        )
        rng, words = random.Random(SEED), _vocabulary()
        owners = [(USER, CONVERSATIONS, PER_CONVERSATION)] + [
            (f"search-other-{i}", 10, OTHER_MESSAGES // 10) for i in range(OTHERS)
        ]
        with conn.cursor() as cur:
            for user, conversations, per in owners:
                ids = [uuid.uuid4() for _ in range(conversations)]
                with cur.copy(
                    "COPY conversations_conversation (id, user_id, title, created_at, updated_at) FROM STDIN"
                ) as copy:
                    for index, pk in enumerate(ids):
                        when = EPOCH + dt.timedelta(hours=index)
                        copy.write_row((pk, user, " ".join(rng.sample(words[:300], 3)), when, when))
                with cur.copy(
                    "COPY conversations_message (id, conversation_id, user_id, role, content, status, created_at)"
                    " FROM STDIN"
                ) as copy:
                    for index, pk in enumerate(ids):
                        for n in range(per):
                            role = "user" if n % 2 == 0 else "assistant"
                            when = EPOCH + dt.timedelta(hours=index, seconds=n)
                            copy.write_row((uuid.uuid4(), pk, user, role, _text(rng, words), "complete", when))
        conn.execute("VACUUM ANALYZE conversations_message")
        conn.execute("VACUUM ANALYZE conversations_conversation")


def _timed(call, runs: int) -> list[float]:
    call()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    url = os.environ.get("BENCH_SEARCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    ensure_data(url.replace("postgres://", "postgresql://", 1))
    os.environ.update(DATABASE_URL=url, DJANGO_DEBUG="0", DJANGO_HTTPS="0", DATABASE_POOL="0")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-search-only-0123456789abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.db import connection

    from conversations.models import Message
    from conversations.search import search_fulltext

    def ilike(word: str) -> list[object]:
        return list(
            Message.objects.filter(conversation__user_id=USER, content__icontains=word)
            .order_by("-created_at", "-id")
            .values_list("id", "content")[:20]
        )

    fts: list[float] = []
    scan: list[float] = []
    rows = []
    for query in QUERIES:
        times = _timed(lambda q=query: search_fulltext(user_id=USER, query=q, limit=20), args.runs)
        word = query.strip('"').split()[0].rstrip("s") if query != "word9s" else "word9"
        plain = _timed(lambda w=word: ilike(w), args.runs)
        found = len(search_fulltext(user_id=USER, query=query, limit=20))
        fts += times
        scan += plain
        rows.append(f"| `{query}` | {found} | {statistics.median(times):.1f} | {statistics.median(plain):.1f} |")
    from django.test.utils import CaptureQueriesContext

    # The plan of the API's own message query for a middling word, as it ran.
    with CaptureQueriesContext(connection) as captured:
        search_fulltext(user_id=USER, query="word150", limit=20)
    message_sql = next(q["sql"] for q in captured.captured_queries if "conversations_message" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + message_sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20)[-1]

    report = f"""## Search: one user's 200,000 messages in 2,000 conversations (issue 15)

`python -m bench.search --runs {args.runs}`; {dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores,
Python {platform.python_version()}, PostgreSQL (the suite's); 100 other users own another 100,000 messages.
Times are one search in-process (the API's code path without HTTP), milliseconds, {args.runs} runs of each query after a warm-up.

| engine | p50 ms | p95 ms |
|---|---|---|
| full-text (`conversations.search`: GIN, `ts_rank`, escaped `ts_headline`, titles too) | {statistics.median(fts):.1f} | {p95(fts):.1f} |
| plain `ILIKE '%word%'`, newest 20, no ranking, no snippets | {statistics.median(scan):.1f} | {p95(scan):.1f} |

| query | results | full-text p50 ms | ILIKE p50 ms |
|---|---|---|---|
{chr(10).join(rows)}

The plan of a full-text query (the `msg_content_fts_idx` GIN index finds the matching rows):

```
{plan}
```
"""
    print(report)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "search.md").write_text(report)


if __name__ == "__main__":
    main()
