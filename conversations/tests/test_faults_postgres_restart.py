"""PostgreSQL restarted in the middle of a load run: 503s meanwhile, recovery, nothing inconsistent (issue "Hardening").

Never the shared PostgreSQL: the test makes a throwaway cluster of its own
(``servers.ThrowawayPostgres``: ``initdb`` + ``pg_ctl`` as the ``postgres`` user, on a
free port), migrates it and serves the project from it under uvicorn with
psycopg's pool (``DATABASE_POOL=1``) and the offline assistant. Clients keep
sending chats (new conversations and continued ones) while the cluster is stopped
(``-m fast``: open sessions are cut), kept down 3 s, and started again,
twice. Asserted (contract: Errors; FR-006, FR-014, SC-008):

* every answer is 200 with the reply, or 503 with the contract body
  ``{"error": "Service unavailable", "detail": ...}``; never a 500 or a dropped connection;
* the service recovers by itself: once the cluster is back, every chat succeeds;
* afterwards every conversation is consistent: user, reply, user, reply...; no
  reply without its user message; no message stored twice; each 200's message and
  complete reply stored; no reply left pending or streaming.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx2
import psycopg
import pytest

from conversations.auth import issue_token
from conversations.tests import invariants, reliability
from conversations.tests.servers import migrate, throwaway_postgres, uvicorn_project

CLIENTS = 16
RESTART_AT = (3.0, 8.0)  # seconds into the run
DOWN_SECONDS = 3.0
RECOVERED_WITHIN = 3.0  # seconds after a restart by which every chat must succeed again
AFTER_SECONDS = 4.0  # the load goes on this long after the last recovery deadline
UNAVAILABLE = {"error": "Service unavailable", "detail": "The service is temporarily unavailable. Please try again."}


@pytest.fixture
def cluster(tmp_path: Path):
    with throwaway_postgres() as pg:
        migrate(pg.url, tmp_path / "migrate.log")
        yield pg


@pytest.fixture
def server(cluster, tmp_path: Path):
    env = {
        "DATABASE_URL": cluster.url,
        "DATABASE_POOL": "1",
        "DATABASE_POOL_MAX_SIZE": "8",
        # A request waits at most a second for a connection, then answers 503.
        "DATABASE_POOL_TIMEOUT": "1",
        "ASSISTANT_BACKEND": "offline",
        # About half a second per reply: restarts land in the middle of replies too.
        "OFFLINE_ASSISTANT_CHUNK_DELAY": "0.02",
    }
    with uvicorn_project(env, tmp_path / "uvicorn.log") as port:
        yield f"http://127.0.0.1:{port}"


def test_a_restart_of_postgresql_mid_load_answers_503_then_recovers_with_nothing_inconsistent(
    cluster, server: str
) -> None:
    results: list[dict[str, Any]] = []
    restarts: list[tuple[float, float]] = []  # (down at, up again at), seconds since the start
    stop_at = [float("inf")]  # seconds since the start; set once the last restart is done

    async def send(client: httpx2.AsyncClient, user: str, body: dict[str, Any], started: float) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {issue_token(user_id=user)[0]}"}
        at = time.monotonic() - started
        try:
            response = await client.post(f"/api/{user}/chat", json=body, headers=headers)
            status, payload = response.status_code, response.json()
        except httpx2.HTTPError as exc:  # a dropped connection is a failure of the test
            status, payload = 0, {"exception": repr(exc)}
        result = {
            "text": body["message"],
            "at": at,
            "done": time.monotonic() - started,
            "status": status,
            "body": payload,
        }
        results.append(result)
        return result

    async def client_loop(n: int, client: httpx2.AsyncClient, started: float) -> None:
        user = f"restart-user-{n}"
        conversation_id = None
        sent = 0
        while time.monotonic() - started < stop_at[0]:
            text = f"client {n} message {sent}"
            body = {"message": text, **({"conversation_id": conversation_id} if conversation_id else {})}
            result = await send(client, user, body, started)
            status, payload = result["status"], result["body"]
            if status == 200 and sent % 3 != 2:
                conversation_id = payload["conversation_id"]  # continue it; every third starts a new one
            elif status == 200:
                conversation_id = None
            sent += 1
            await asyncio.sleep(0.05)

    async def restarter(client: httpx2.AsyncClient, started: float) -> None:
        for number, at in enumerate(RESTART_AT):
            await asyncio.sleep(max(0.0, started + at - time.monotonic()))
            down = time.monotonic() - started
            await asyncio.to_thread(cluster.stop, "fast")
            back_at = time.monotonic() + DOWN_SECONDS
            # A chat sent while the database is down. The load's own clients may all be
            # mid-reply then, waiting for their final save, and send nothing new until it is back.
            await send(client, f"restart-probe-{number}", {"message": f"probe {number} while down"}, started)
            await asyncio.sleep(max(0.0, back_at - time.monotonic()))
            await asyncio.to_thread(cluster.start)
            cluster.restarts += 1
            restarts.append((down, time.monotonic() - started))
        stop_at[0] = restarts[-1][1] + RECOVERED_WITHIN + AFTER_SECONDS

    async def load() -> None:
        limits = httpx2.Limits(max_connections=CLIENTS * 2)
        async with httpx2.AsyncClient(base_url=server, timeout=30, limits=limits) as client:
            started = time.monotonic()
            await asyncio.gather(restarter(client, started), *(client_loop(n, client, started) for n in range(CLIENTS)))

    asyncio.run(load())

    # Answers: the reply, or the contract's 503; nothing else.
    statuses = Counter(result["status"] for result in results)
    assert set(statuses) <= {200, 503}, [r for r in results if r["status"] not in (200, 503)][:5]
    assert all(r["body"] == UNAVAILABLE for r in results if r["status"] == 503)
    assert statuses[503] > 0, "no request saw the outage: the restarts did not land mid-load"

    # Recovery by itself: every chat outside the outages (each from going down to
    # RECOVERED_WITHIN seconds after coming back) succeeds, including after the last one.
    def near_an_outage(r: dict[str, Any]) -> bool:
        return any(down <= r["done"] and r["at"] <= up + RECOVERED_WITHIN for down, up in restarts)

    clear = [r for r in results if not near_an_outage(r)]
    assert all(r["status"] == 200 for r in clear), [r for r in clear if r["status"] != 200][:5]
    assert any(r["at"] > restarts[-1][1] + RECOVERED_WITHIN for r in clear)

    # The stored conversations: consistent, nothing stored twice, every 200 stored whole.
    with psycopg.connect(cluster.url.replace("postgres://", "postgresql://")) as db:
        rows = [invariants.Row(*row) for row in db.execute(invariants.ROWS_SQL).fetchall()]
    assert invariants.problems(rows) == []
    replies = invariants.reply_to(rows)
    for result in results:
        if result["status"] == 200:
            reply = replies[result["text"]]
            assert (reply.id, reply.status, reply.content) == (
                result["body"]["message_id"],
                "complete",
                result["body"]["message"],
            )
    stored_after_503 = sum(r["status"] == 503 and r["text"] in replies for r in results)

    reliability.record(
        "postgres_restart",
        {
            "requests": len(results),
            "faults": f"{len(restarts)} restarts ({DOWN_SECONDS} s down each)",
            "answered_200": statuses[200],
            "answered_503": statuses[503],
            "answered_504": statuses[504],
            "messages_checked": len(rows),
            "lost": 0,
            "notes": (
                f"{CLIENTS} clients for {stop_at[0]:.0f} s; {stored_after_503} of the 503s had saved the message "
                f"(and its closed reply) before the cut; all chats 200 again within {RECOVERED_WITHIN:.0f} s"
            ),
        },
    )
