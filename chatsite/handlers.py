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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

API_PREFIX = "/api/"
_BEARER = b"bearer "


class APIHandler(ASGIHandler):
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
