"""ASGI middleware that has a request's whole body arrive, within a size limit and a deadline, before Django.

Django's ASGI handler reads a whole request body (spooling it to a temporary file)
before any view or parser runs, so a body of gigabytes, declared or sent chunked,
would be received in full before ``LimitedJSONParser`` could refuse it, and a body
sent a byte at a time would keep the request open for as long as its client likes.
This middleware sits in front of Django and reads the body itself:

* a ``Content-Length`` over the limit is answered 413 before any of the body is read,
  and a body that turns out longer than the limit (chunked, or lying about its length)
  is cut off as soon as it passes it;
* a body that has not arrived whole within ``REQUEST_BODY_TIMEOUT_SECONDS`` of the
  headers is answered 408 and its connection closed (issue 12, "Sockets that stay up").

Django is called only once the body is complete, so a slow client holds a socket and
a few kilobytes of the event loop while it dribbles, never one of Django's request
threads or a database connection. The body is at most the limit (64 KiB by default),
which Django would have buffered anyway.

One exception: a conversations file posted to import (``POST /api/{user_id}/import``,
``POST /chat/import``; issue 15) by a request that carries a Bearer token or a session
cookie may be up to ``IMPORT_MAX_BYTES`` (50 MiB by default) plus a multipart envelope; the
import measures the file itself. An anonymous post there keeps the 64 KiB limit. The
deadline is the same for it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _BodyTooLarge(Exception):
    pass


# Posts whose body is a file to import (conversations.export), allowed up to IMPORT_MAX_BYTES.
_IMPORT_PATH = re.compile(r"/api/[^/]+/import|/chat/import")
# Room for a multipart envelope around the file, so that the import itself measures the file
# and answers in its own words (the API's 413 body, the settings page's sentence).
IMPORT_ENVELOPE_BYTES = 64 * 1024


def _may_be_signed_in(scope: Scope) -> bool:
    """Whether the request carries a Bearer token or a session cookie (checked later, by the
    view). An anonymous client is never let in with a large body: it could only be refused."""
    for name, value in scope.get("headers") or ():
        if name == b"authorization" and value[:7].lower() == b"bearer ":
            return True
        if name == b"cookie" and settings.SESSION_COOKIE_NAME.encode() + b"=" in value:
            return True
    return False


def body_limit(scope: Scope) -> int:
    """The largest body, in bytes, a request may have: ``DATA_UPLOAD_MAX_MEMORY_SIZE``
    (``DJANGO_MAX_REQUEST_BYTES``), or ``IMPORT_MAX_BYTES`` (plus a multipart envelope) for a
    post to an import path that carries a token or a session (issue 15)."""
    if scope.get("method") == "POST" and _IMPORT_PATH.fullmatch(scope.get("path", "")) and _may_be_signed_in(scope):
        return max(settings.IMPORT_MAX_BYTES + IMPORT_ENVELOPE_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE


class RequestBodyLimitMiddleware:
    """Hand HTTP requests to ``app`` only with their whole body, within the size limit and the deadline.

    Args:
        app: the ASGI application to protect (Django's).

    Refused with the contract's error body and ``Connection: close``, without calling ``app``:

    * 413 when the body is over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes (``DJANGO_MAX_REQUEST_BYTES``,
      64 KiB by default; ``body_limit``: ``IMPORT_MAX_BYTES`` for an import); at most that many
      bytes plus one received chunk are ever read;
    * 408 when the body has not arrived whole ``REQUEST_BODY_TIMEOUT_SECONDS`` after the headers
      (``DJANGO_REQUEST_BODY_TIMEOUT_SECONDS``, 30 by default).

    A client that disconnects mid-body is dropped silently. ``app`` then receives the body as
    one ``http.request`` message, and whatever the server sends next (``http.disconnect``).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse_too_large(send, limit)
            return

        try:
            if _has_no_body(scope, declared):
                # Nothing to wait for: the server has the whole request already, so no timer.
                request = await _read_body(receive, limit)
            else:
                async with asyncio.timeout(settings.REQUEST_BODY_TIMEOUT_SECONDS):
                    request = await _read_body(receive, limit)
        except _BodyTooLarge:
            await _refuse_too_large(send, limit)
            return
        except TimeoutError:
            await _refuse(send, 408, "Request timeout", "The request body took too long to arrive. Please try again.")
            return
        if request["type"] != "http.request":
            return  # the client went away mid-body: nobody to answer

        pending: Message | None = request

        async def replay() -> Message:
            nonlocal pending
            if pending is not None:
                message, pending = pending, None
                return message
            return await receive()

        await self.app(scope, replay, send)


async def _read_body(receive: Receive, limit: int) -> Message:
    """The whole body as one ``http.request`` message, or the ``http.disconnect`` that cut it short.

    Raises:
        _BodyTooLarge: more than ``limit`` bytes arrived.
    """
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunk = message.get("body", b"")
        if chunk:
            received += len(chunk)
            if received > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


def _has_no_body(scope: Scope, declared: int | None) -> bool:
    """Whether the request carries no body: ``Content-Length: 0``, or HTTP/1.x with neither
    ``Content-Length`` nor ``Transfer-Encoding`` (RFC 9112, section 6.3)."""
    if declared is not None:
        return declared == 0
    if not scope.get("http_version", "1.1").startswith("1"):
        return False  # HTTP/2 frames a body without either header
    return all(name != b"transfer-encoding" for name, _ in scope.get("headers", []))


async def _refuse_too_large(send: Send, limit: int) -> None:
    await _refuse(send, 413, "Payload too large", f"The request body is over the limit of {limit} bytes.")


async def _refuse(send: Send, status: int, error: str, detail: str) -> None:
    await send_error(send, status, error, detail, headers=[(b"connection", b"close")])


async def send_error(
    send: Send, status: int, error: str, detail: str, *, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer an HTTP request at the ASGI level, before Django, with the contract's ``{"error", "detail"}``.

    Args:
        send: the connection's ASGI ``send``.
        status: the HTTP status.
        headers: extra response headers (``Connection: close``, ``WWW-Authenticate``, ``Allow``).
    """
    body = json.dumps({"error": error, "detail": detail}).encode()
    start = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start + list(headers or ())})
    await send({"type": "http.response.body", "body": body})
