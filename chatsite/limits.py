"""ASGI middleware that refuses request bodies over the size limit as they arrive.

Django's ASGI handler reads a whole request body (spooling it to a temporary file)
before any view or parser runs, so a body of gigabytes, declared or sent chunked,
would be received in full before ``LimitedJSONParser`` could refuse it. This
middleware sits in front of Django: a ``Content-Length`` over the limit is answered
413 before any of the body is read, and a body that turns out longer than the
limit (chunked, or lying about its length) is cut off as soon as it passes it.
"""

from __future__ import annotations

import json
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


class RequestBodyLimitMiddleware:
    """Answer 413 with the contract body to HTTP requests larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` bytes.

    Args:
        app: the ASGI application to protect (Django's).

    The limit is ``DJANGO_MAX_REQUEST_BYTES`` (64 KiB by default); at most that many
    bytes plus one received chunk are ever read from a refused request.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await _refuse(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses a malformed length itself
    return None


async def _refuse(send: Send, limit: int) -> None:
    body = json.dumps(
        {"error": "Payload too large", "detail": f"The request body is over the limit of {limit} bytes."}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
