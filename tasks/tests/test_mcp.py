"""The MCP door (issue 13, "MCP"; tasks/mcp.py): the five task tools over streamable HTTP at ``/mcp``.

Against the real thing: the project under uvicorn in a subprocess (``--lifespan off``, so the
door starts its session manager on its first request), on the test database, reached with the
official SDK's own client. The tokens are the API's (``issue_token``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
import jwt
import mcp_types as types
import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

from conversations.auth import issue_token
from conversations.tests.servers import database_url_of_tests, uvicorn_project
from tasks.models import Task
from tasks.tools import SPECS

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

UNAUTHORIZED = {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}


@pytest.fixture(scope="module")
def server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The project under uvicorn for the whole module; each test's rows are its own (emptied after each)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://... (the CI does)")
    env = {"DATABASE_URL": database_url_of_tests()}
    with uvicorn_project(env, tmp_path_factory.mktemp("mcp") / "uvicorn.log") as port:
        yield f"http://127.0.0.1:{port}/mcp"
    connections.close_all()


@pytest.fixture
async def thread_connections_closed() -> AsyncIterator[None]:
    """The ORM's thread keeps its connection; closed so the test database can be dropped."""
    yield
    await sync_to_async(connections.close_all)()


@asynccontextmanager
async def mcp_session(url: str, user_id: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP session (the initialize handshake) as ``user_id``, with the API's Bearer token."""
    token = issue_token(user_id=user_id)[0]
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        streamable_http_client(url, http_client=http) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


async def call(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[Any, types.CallToolResult]:
    """Call a tool; its result as the JSON of its text content, and the whole MCP result."""
    result = await session.call_tool(name, arguments)
    assert isinstance(result, types.CallToolResult)
    assert len(result.content) == 1 and isinstance(result.content[0], types.TextContent)
    return json.loads(result.content[0].text), result


def rows(user_id: str) -> list[tuple[int, str, str, bool]]:
    return [
        (task.number, task.title, task.description, task.completed)
        for task in Task.objects.filter(user_id=user_id).order_by("number")
    ]


def post(url: str, headers: dict[str, str]) -> tuple[int, httpx2.Headers, Any]:
    """A plain HTTP POST of an MCP ``tools/list`` request: its status, headers and JSON body."""
    headers = {"Accept": "application/json, text/event-stream", **headers}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    response = httpx2.post(url, json=message, headers=headers, timeout=30)
    return response.status_code, response.headers, response.json()


async def test_it_lists_exactly_the_five_tools_with_their_input_schemas(server: str, owner_id: str) -> None:
    async with mcp_session(server, owner_id) as session:
        listed = await session.list_tools()

    assert [tool.name for tool in listed.tools] == [spec.name for spec in SPECS]
    for tool, spec in zip(listed.tools, SPECS, strict=True):
        assert tool.input_schema == spec.parameters
        assert tool.description == spec.description


async def test_each_tool_works_and_changes_the_rows(
    server: str, owner_id: str, thread_connections_closed: None
) -> None:
    async with mcp_session(server, owner_id) as session:
        added, result = await call(session, "add_task", {"title": "Buy milk", "description": "2 litres"})
        assert added == {"task_id": 1, "status": "created", "title": "Buy milk"}
        assert result.structured_content == added and not result.is_error
        await call(session, "add_task", {"title": "Call mum"})
        assert await sync_to_async(rows)(owner_id) == [(1, "Buy milk", "2 litres", False), (2, "Call mum", "", False)]

        completed, _ = await call(session, "complete_task", {"task_id": 1})
        assert completed == {"task_id": 1, "status": "completed", "title": "Buy milk"}
        updated, _ = await call(session, "update_task", {"task_id": 2, "title": "Call mum on Sunday"})
        assert updated == {"task_id": 2, "status": "updated", "title": "Call mum on Sunday"}
        assert await sync_to_async(rows)(owner_id) == [
            (1, "Buy milk", "2 litres", True),
            (2, "Call mum on Sunday", "", False),
        ]

        listed, result = await call(session, "list_tasks", {"status": "pending"})
        assert listed == [{"id": 2, "title": "Call mum on Sunday", "completed": False}]
        assert result.structured_content == {"result": listed}
        everything, _ = await call(session, "list_tasks", {})
        assert [task["id"] for task in everything] == [1, 2]

        deleted, _ = await call(session, "delete_task", {"task_id": 1})
        assert deleted == {"task_id": 1, "status": "deleted", "title": "Buy milk"}
        assert await sync_to_async(rows)(owner_id) == [(2, "Call mum on Sunday", "", False)]


async def test_one_user_cannot_see_or_change_another_users_task(
    server: str, owner_id: str, other_id: str, thread_connections_closed: None
) -> None:
    async with mcp_session(server, other_id) as other:
        await call(other, "add_task", {"title": "Other's secret"})

    async with mcp_session(server, owner_id) as session:
        assert (await call(session, "list_tasks", {}))[0] == []
        for name, arguments in [
            ("complete_task", {"task_id": 1}),
            ("update_task", {"task_id": 1, "title": "Mine now"}),
            ("delete_task", {"task_id": 1}),
        ]:
            answer, result = await call(session, name, arguments)
            assert answer == {"error": "task 1 not found"} and result.is_error
        # A user_id among the arguments is ignored: the token's subject owns the new task.
        added, _ = await call(session, "add_task", {"title": "Injected", "user_id": other_id})
        assert added["status"] == "created"
        assert (await call(session, "complete_task", {"task_id": 1, "user_id": other_id}))[0] == {
            "task_id": 1,
            "status": "completed",
            "title": "Injected",
        }

    assert await sync_to_async(rows)(other_id) == [(1, "Other's secret", "", False)]
    assert await sync_to_async(rows)(owner_id) == [(1, "Injected", "", True)]


async def test_malformed_arguments_are_an_error_result_and_the_session_goes_on(
    server: str, owner_id: str, thread_connections_closed: None
) -> None:
    async with mcp_session(server, owner_id) as session:
        for name, arguments, error in [
            ("add_task", {}, "add_task: title is required"),
            ("add_task", {"title": "   "}, "add_task: Title cannot be empty"),
            ("complete_task", {"task_id": "three"}, "complete_task: task_id must be a task number, such as 3"),
            ("list_tasks", {"status": "someday"}, "list_tasks: status must be one of all, pending, completed"),
            ("update_task", {"task_id": 1}, "update_task: give a new title or description"),
            ("no_such_tool", {}, "no_such_tool: there is no tool named 'no_such_tool'"),
        ]:
            answer, result = await call(session, name, arguments)
            assert result.is_error, name
            assert answer["error"].startswith(error), answer
            assert result.structured_content == answer

        added, result = await call(session, "add_task", {"title": "Still here"})
        assert added == {"task_id": 1, "status": "created", "title": "Still here"} and not result.is_error
    assert await sync_to_async(rows)(owner_id) == [(1, "Still here", "", False)]


async def test_a_client_on_the_newest_protocol_version_is_served_too(
    server: str, owner_id: str, thread_connections_closed: None
) -> None:
    # Client's default mode probes server/discover (2026-07-28: no handshake, one request per call).
    token = issue_token(user_id=owner_id)[0]
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(server, http_client=http)) as client,
    ):
        assert client.protocol_version == "2026-07-28" and client.session.discover_result is not None
        assert len((await client.list_tools()).tools) == len(SPECS)
        result = await client.call_tool("add_task", {"title": "Modern"})
    assert isinstance(result.content[0], types.TextContent)
    assert json.loads(result.content[0].text) == {"task_id": 1, "status": "created", "title": "Modern"}
    assert await sync_to_async(rows)(owner_id) == [(1, "Modern", "", False)]


async def test_the_lifespan_runs_the_session_manager_and_stops_it(owner_id: str) -> None:
    # In process, as uvicorn drives it with lifespan on; tools/list touches no database.
    from chatsite.asgi import application
    from tasks import mcp

    lifespan: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    acknowledged: list[str] = []

    async def lifespan_send(message: dict[str, Any]) -> None:
        acknowledged.append(message["type"])

    running = asyncio.create_task(application({"type": "lifespan"}, lifespan.get, lifespan_send))
    await lifespan.put({"type": "lifespan.startup"})
    while not acknowledged:
        await asyncio.sleep(0.01)
    manager = mcp.door.manager
    assert acknowledged == ["lifespan.startup.complete"] and manager is not None

    token = issue_token(user_id=owner_id)[0]
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://127.0.0.1") as http:
        response = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        )
    assert response.status_code == 200 and len(response.json()["result"]["tools"]) == len(SPECS)
    assert mcp.door.manager is manager  # the request used the lifespan's manager, none of its own

    await lifespan.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(running, 10)
    assert acknowledged == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert mcp.door.manager is None and manager._task_group is None


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-a-jwt", "Basic b3duZXI6cGFzc3dvcmQ=", "Bearer"],
    ids=["no token", "bad token", "another scheme", "empty bearer"],
)
def test_a_request_without_a_valid_token_is_401_with_the_contract_body(server: str, authorization: str | None) -> None:
    status, headers, body = post(server, {"Authorization": authorization} if authorization else {})
    assert status == 401
    assert body == UNAUTHORIZED
    assert headers["www-authenticate"].startswith("Bearer")


def test_an_expired_or_foreign_token_is_401(server: str, owner_id: str) -> None:
    expired = issue_token(user_id=owner_id, lifetime_seconds=-3600)[0]
    status, headers, body = post(server, {"Authorization": f"Bearer {expired}"})
    assert (status, body) == (401, UNAUTHORIZED) and headers["www-authenticate"].startswith("Bearer")

    foreign = jwt.encode(
        {"sub": owner_id, "exp": 4102444800}, "not-our-secret-0123456789abcdef-0123", algorithm="HS256"
    )
    status, _, body = post(server, {"Authorization": f"Bearer {foreign}"})
    assert (status, body) == (401, UNAUTHORIZED)


def test_a_valid_token_over_plain_http_is_answered_in_json(server: str, owner_id: str) -> None:
    token = issue_token(user_id=owner_id)[0]
    status, headers, body = post(server, {"Authorization": f"Bearer {token}"})
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert [tool["name"] for tool in body["result"]["tools"]] == [spec.name for spec in SPECS]


def test_get_and_delete_are_405_since_nothing_lives_between_requests(server: str, owner_id: str) -> None:
    headers = {"Authorization": f"Bearer {issue_token(user_id=owner_id)[0]}", "Accept": "text/event-stream"}
    for method in ("GET", "DELETE"):
        response = httpx2.request(method, server, headers=headers, timeout=30)
        assert response.status_code == 405 and response.headers["allow"] == "POST"
        assert response.json()["error"] == "Method not allowed"


def test_a_host_outside_allowed_hosts_is_refused(server: str, owner_id: str) -> None:
    token = issue_token(user_id=owner_id)[0]
    status, _, body = post(server, {"Authorization": f"Bearer {token}", "Host": "attacker.example"})
    assert status == 400 and body["error"] == "Bad request"


def test_other_paths_are_still_djangos(server: str) -> None:
    for path in ("/api/nothing/here", "/mcpx"):
        assert httpx2.get(server.removesuffix("/mcp") + path, timeout=30).status_code == 404
