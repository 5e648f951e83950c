"""The MCP door (issue 13, "MCP"): the five task tools over MCP's streamable HTTP at ``/mcp``.

A thin door, as the API is: the tools, their JSON Schemas and their results are
``tasks.tools``'; this module only speaks the protocol (the official ``mcp`` SDK's
low-level ``Server`` and its ``StreamableHTTPSessionManager``) and checks who is calling.

* **Auth**: the API's Bearer JWT, verified by the API's own ``JWTAuthentication``
  (``conversations.auth.verify_token``). No token, or one that fails, is answered 401
  with the contract's body and ``WWW-Authenticate: Bearer`` before the SDK sees the
  request. The token's subject is the user every tool acts for; a ``user_id`` in the
  arguments is ignored (``tasks.tools.call_tool``). A Django user whose account awaits
  approval is answered 403 (issue 16, ``accounts.approval``).
* **Hosts**: the SDK's DNS-rebinding protection is off in favour of Django's own check:
  the ``Host`` header must match ``ALLOWED_HOSTS`` (``HttpRequest.get_host``, so
  ``USE_X_FORWARDED_HOST`` and the ``DEBUG`` defaults behave as on every other path),
  else 400. A cross-site page cannot use the door either way: it has no token to send.
* **Stateless**: ``stateless=True`` and ``json_response=True``: each POST is answered on
  its own with one JSON body, nothing lives between requests, any worker answers any
  request, and there is no session id to route. GET (a stream for the server to speak
  first) and DELETE (end a session) are 405, as the transport allows.
* **Lifetime**: the session manager's ``run()`` is entered once per worker, in a task of
  its own: from the lifespan's startup (``chatsite.lifespan``) and left at shutdown, or,
  for servers without lifespan events (daphne, ``--lifespan off``), at the first ``/mcp``
  request.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import mcp_types as types
from asgiref.sync import sync_to_async
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPError
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied

from chatsite.handlers import serving_request
from chatsite.limits import send_error
from conversations.api.errors import UNAUTHORIZED_DETAIL
from conversations.auth import JWTAuthentication, TokenUser
from conversations.services import db_async
from tasks.tools import SPECS, ToolCall, call_tool

logger = logging.getLogger(__name__)

PATH = "/mcp"
SERVER_NAME = "chat-tasks"
INSTRUCTIONS = (
    'The signed-in user\'s own task list. Tasks are named by number ("task 3" is task_id 3); '
    "list the tasks to find a task's number."
)
TOOLS = [types.Tool(name=spec.name, description=spec.description, input_schema=spec.parameters) for spec in SPECS]
_SCHEMAS = {spec.name: spec.parameters for spec in SPECS}
BAD_REQUEST_DETAIL = "The request could not be understood. Please check it and try again."


def is_mcp_path(path: str) -> bool:
    """Whether an HTTP request's ``path`` is the MCP door's: ``/mcp`` or under ``/mcp/``."""
    return path == PATH or path.startswith(PATH + "/")


# --- The protocol: tools/list and tools/call ------------------------------------------


async def _list_tools(
    ctx: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    return types.ListToolsResult(tools=TOOLS)


def _user_id(ctx: ServerRequestContext[Any, Any]) -> str:
    # The door put the verified caller in the request's scope (``MCPDoor.__call__``).
    user = ctx.request.scope.get("user") if ctx.request is not None else None
    if not isinstance(user, TokenUser):
        raise MCPError(types.INVALID_REQUEST, "Unauthorized")
    return user.id


def tool_result(call: ToolCall) -> types.CallToolResult:
    """``call``'s result as MCP's: its JSON as text, the same as ``structuredContent``, ``isError`` on failure.

    ``structuredContent`` must be an object before protocol version 2026-07-28, so a list
    (``list_tasks``) is wrapped as ``{"result": [...]}``, as the SDK's ``MCPServer`` does.
    """
    result = call.result
    return types.CallToolResult(
        content=[types.TextContent(text=json.dumps(result, ensure_ascii=False))],
        structured_content=result if isinstance(result, dict) else {"result": result},
        is_error=call.failed,
    )


async def _call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> types.CallToolResult:
    user_id = _user_id(ctx)
    # Off the event loop, on the database threads the API's requests use (db_async).
    with serving_request():
        call = await db_async(call_tool)(user_id=user_id, name=params.name, arguments=params.arguments)
    return tool_result(call)


server: Server[Any] = Server(
    SERVER_NAME,
    instructions=INSTRUCTIONS,
    on_list_tools=_list_tools,
    on_call_tool=_call_tool,
    get_tool_input_schema=_SCHEMAS.get,
)


def session_manager() -> StreamableHTTPSessionManager:
    """A new session manager for ``server`` (each can ``run()`` only once)."""
    return StreamableHTTPSessionManager(
        app=server,
        stateless=True,
        json_response=True,
        # Hosts are checked by the door against ALLOWED_HOSTS (module docstring).
        security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )


# --- The door: the ASGI application at /mcp ---------------------------------------------


def _authenticate(request: ASGIRequest) -> TokenUser | None:
    """The caller of ``request`` by its Bearer JWT, as the API authenticates it; ``None`` when it has none or a bad one."""
    try:
        found = JWTAuthentication().authenticate(request)
    except AuthenticationFailed:
        return None
    return found[0] if found is not None else None


class MCPDoor:
    """The ASGI application for ``/mcp``: the host and the Bearer JWT checked, then the SDK's session manager.

    ``start()`` and ``stop()`` run the session manager for this worker (``chatsite.lifespan``);
    a request that finds it stopped starts it.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._manager: StreamableHTTPSessionManager | None = None
        self._ready: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping: asyncio.Event | None = None

    @property
    def manager(self) -> StreamableHTTPSessionManager | None:
        """The session manager started last (running, or starting), ``None`` once stopped."""
        return self._manager

    async def start(self) -> StreamableHTTPSessionManager:
        """Run the session manager on this event loop, once (idempotent); return it when it is ready.

        ``run()``'s task group lives in a task of its own, so it outlives the request or the
        lifespan step that started it.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            manager, ready, stopping = session_manager(), loop.create_future(), asyncio.Event()

            async def serve() -> None:
                async with manager.run():
                    ready.set_result(None)
                    await stopping.wait()

            # Set before any await, so a request arriving meanwhile waits for this one.
            self._loop, self._manager, self._ready, self._stopping = loop, manager, ready, stopping
            self._task = loop.create_task(serve(), name="mcp-session-manager")
            logger.debug("MCP session manager starting")
        task, ready = self._task, self._ready
        assert ready is not None and self._manager is not None
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            task.result()  # run() failed: raise its error here
        return self._manager

    async def stop(self) -> None:
        """Leave the session manager's ``run()`` (shutdown); requests still in flight are cancelled."""
        task, stopping = self._task, self._stopping
        self._task = self._manager = self._ready = self._stopping = None
        if task is None or stopping is None or self._loop is not asyncio.get_running_loop():
            return
        stopping.set()
        await asyncio.gather(task, return_exceptions=True)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"The MCP door serves HTTP only, not {scope['type']}.")
        request = ASGIRequest(scope, io.BytesIO())  # headers only: the body is the SDK's to read
        try:
            request.get_host()
        except DisallowedHost as exc:
            logger.warning("MCP request refused: %s", exc)
            await send_error(send, 400, "Bad request", BAD_REQUEST_DETAIL)
            return
        # A JWKS fetch may block on the network: not on the event loop.
        try:
            user = await sync_to_async(_authenticate, thread_sensitive=False)(request)
        except PermissionDenied as exc:  # an account awaiting approval (issue 16)
            await send_error(send, 403, "Forbidden", str(exc.detail))
            return
        if user is None:
            await send_error(
                send, 401, "Unauthorized", UNAUTHORIZED_DETAIL, headers=[(b"www-authenticate", b'Bearer realm="mcp"')]
            )
            return
        if request.method != "POST":
            # Stateless: no stream for the server to speak first on (GET), no session to end
            # (DELETE). The transport allows 405 for both; the SDK would hold a GET open forever.
            detail = f'Method "{request.method}" not allowed.'
            await send_error(send, 405, "Method not allowed", detail, headers=[(b"allow", b"POST")])
            return
        manager = await self.start()
        await manager.handle_request(dict(scope, user=user), receive, send)


door = MCPDoor()


class MCPRouter:
    """Send HTTP requests for ``/mcp`` (and under ``/mcp/``) to the MCP door, every other request to ``default``.

    Args:
        default: the application for everything else (Django's).
        mcp: the door (``door``).
    """

    def __init__(self, default: Any, mcp: MCPDoor = door) -> None:
        self.default = default
        self.mcp = mcp

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        app = self.mcp if scope["type"] == "http" and is_mcp_path(scope.get("path", "")) else self.default
        await app(scope, receive, send)
