"""A lean ASGI path for token-authenticated API calls (issue 6: CPU per request).

Browser requests need the whole middleware stack (sessions, CSRF, auth, messages,
clickjacking, htmx, static files). A call to ``/api/`` carrying ``Authorization:
Bearer`` uses none of it: DRF authenticates it with the JWT alone (a Bearer header
that fails verification is a 401 and never falls back to the session), DRF views are
CSRF-exempt, and the API renders no template and sets no cookie. Under ASGI each of
Django's built-in middleware costs two thread hand-offs per request, so such calls
go to a second Django handler whose chain is ``settings.API_MIDDLEWARE``: Django's
own security, common and clickjacking middleware, run inline on the event loop
(``chatsite.middleware``). Everything else keeps ``settings.MIDDLEWARE``.

Both handlers run a request's synchronous code on a thread lent for the request and
given back afterwards (``ReusedThreadsASGIHandler``, ``RequestThreads``), instead of
Django's new thread per request; self-contained database steps of the requests they
serve run on a few shared threads (``database_threads``).
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

API_PREFIX = "/api/"
_BEARER = b"bearer "


# Idle request threads kept for the next requests, per process. A burst larger than this
# starts the extra threads and lets them end afterwards.
MAX_IDLE_REQUEST_THREADS = 512


class RequestThread(ThreadPoolExecutor):
    """One thread that runs a request's synchronous code, and knows whether it is busy."""

    def __init__(self) -> None:
        super().__init__(max_workers=1, thread_name_prefix="request")
        self._lock = threading.Lock()
        self._pending = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._pending -= 1

    @property
    def busy(self) -> bool:
        """Whether work submitted to it has not finished (a cancelled request's sync code, still running)."""
        with self._lock:
            return self._pending > 0


class RequestThreads:
    """Request threads lent to one request at a time and given back, instead of one new thread per request.

    Under ASGI, Django runs each request's synchronous code (sync middleware, sync views,
    ``sync_to_async`` database steps) on a thread of that request's own
    (``asgiref.sync.ThreadSensitiveContext``). By default that thread is started for the
    request and, when the request ends, joined by yet another new thread: two thread
    starts per request. A thread given back here serves a later request, as a WSGI
    server's threads do; a thread still busy when its request ends (the request was
    cancelled mid-call) is not reused but left to finish and end.

    Args:
        max_idle: idle threads kept; more are shut down as they come back.
    """

    def __init__(self, max_idle: int = MAX_IDLE_REQUEST_THREADS) -> None:
        self.max_idle = max_idle
        self._idle: list[RequestThread] = []

    def take(self) -> RequestThread:
        """An idle thread, or a new one. Called on the event loop."""
        return self._idle.pop() if self._idle else RequestThread()

    def give_back(self, thread: RequestThread) -> None:
        """Keep ``thread`` for a later request if it is idle and there is room, else let it end."""
        if thread.busy or len(self._idle) >= self.max_idle:
            thread.shutdown(wait=False)
        else:
            self._idle.append(thread)

    def __len__(self) -> int:
        return len(self._idle)


DEFAULT_DATABASE_THREADS = 10
_database_threads: ThreadPoolExecutor | None = None
_serving: ContextVar[bool] = ContextVar("served_by_reused_threads_handler", default=False)


def database_thread_count(database: dict[str, Any]) -> int:
    """Threads for ``database`` (a ``DATABASES`` entry): its pool's ``max_size``, else ``DEFAULT_DATABASE_THREADS``."""
    pool = database.get("OPTIONS", {}).get("pool")
    return int(pool.get("max_size", DEFAULT_DATABASE_THREADS)) if isinstance(pool, dict) else DEFAULT_DATABASE_THREADS


def database_threads() -> ThreadPoolExecutor | None:
    """The process's threads for self-contained database steps, while serving a request through
    ``ReusedThreadsASGIHandler``; ``None`` anywhere else (tests calling services directly,
    consumers, commands), where such steps stay on the caller's thread-sensitive thread.

    One thread per pooled connection (``DATABASE_POOL_MAX_SIZE``, else 10): a step never
    waits for a connection on its thread, and no more steps run at once than there are
    connections. With hundreds of chats in flight their steps queue here instead of each
    waking its own request thread (issue 3: CPU per chat with 500 in flight; bench/NOTES.md).
    Used by ``conversations.services.db_async``.
    """
    global _database_threads
    if not _serving.get():
        return None
    if _database_threads is None:
        _database_threads = ThreadPoolExecutor(
            max_workers=database_thread_count(settings.DATABASES["default"]), thread_name_prefix="database"
        )
    return _database_threads


@contextmanager
def serving_request() -> Iterator[None]:
    """Within it, the code serves a request of this process: ``database_threads()`` answers.

    For a door that is not Django's handler (``tasks.mcp``, the MCP door), so that its
    ``db_async`` steps share the database threads instead of queuing on asgiref's one
    thread-sensitive thread.
    """
    token = _serving.set(True)
    try:
        yield
    finally:
        _serving.reset(token)


class ReusedThreadsASGIHandler(ASGIHandler):
    """Django's ASGI handler, each request's synchronous code on a thread lent by ``request_threads``.

    Database connections are per thread in Django: a reused thread's connection is the
    one ``request_finished`` left it (closed with ``DATABASE_CONN_MAX_AGE=0`` or handed back
    to the pool; kept for reuse with a positive ``DATABASE_CONN_MAX_AGE``, as under WSGI).
    """

    request_threads = RequestThreads()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        thread = self.request_threads.take()
        serving = _serving.set(True)
        try:
            async with ThreadSensitiveContext(executor=thread):
                await self.handle(scope, receive, send)
        finally:
            _serving.reset(serving)
            self.request_threads.give_back(thread)


class APIHandler(ReusedThreadsASGIHandler):
    """Django's ASGI handler with ``settings.API_MIDDLEWARE`` as its middleware chain."""

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler.load_middleware reads settings.MIDDLEWARE; swap the list in for the
        # duration of the build (once, at start-up, before any request is served).
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.API_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


def is_bearer_api_call(scope: Scope) -> bool:
    """Whether an HTTP ``scope`` is a call under ``/api/`` with an ``Authorization: Bearer`` header.

    Args:
        scope: an ASGI HTTP scope (``path``; ``headers`` as lower-case byte names).
    """
    if not scope.get("path", "").startswith(API_PREFIX):
        return False
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return value[: len(_BEARER)].lower() == _BEARER
    return False


class BearerAPIRouter:
    """Send Bearer-authenticated ``/api/`` calls to ``api``, every other request to ``default``.

    Args:
        default: the full Django application (``get_asgi_application()``).
        api: the lean one (``APIHandler()``).
    """

    def __init__(self, default: ASGIApp, api: ASGIApp) -> None:
        self.default = default
        self.api = api

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        app = self.api if scope["type"] == "http" and is_bearer_api_call(scope) else self.default
        await app(scope, receive, send)
