"""Middleware adapted to run natively under ASGI.

WhiteNoise's middleware is synchronous only. Django then runs it, and everything
after it, through a thread that stays blocked for the whole request, so every chat
waiting on the model would hold a worker thread (issue "Real assistant replies",
"Many chats at once"; measured in BENCHMARKS.md). This subclass is async-capable:
static files are still served by WhiteNoise, everything else passes straight on.

``Inline*Middleware``: Django's security, common and clickjacking middleware with their
hooks run on the event loop instead of through two thread hops each; used by the lean
chain for Bearer API calls (``settings.API_MIDDLEWARE``, ``chatsite/handlers.py``; issue 6).
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.locale import LocaleMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils import translation
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware

logger = logging.getLogger(__name__)


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """``whitenoise.middleware.WhiteNoiseMiddleware`` that also runs as async middleware."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self._async = iscoroutinefunction(get_response)
        if self._async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self._async:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        static_file = self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        if static_file is not None:
            # Opening the file and reading its headers is blocking I/O.
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """A view that cannot reach the database answers 503, not 500 (issue "Hardening": faults).

    PostgreSQL restarting, a connection cut, the pool exhausted: a passing outage.
    The API's own views map it in ``conversations.api.errors``; this catches the
    page's views (and anything else) with ``conversations.views.service_unavailable``:
    the contract's JSON body under ``/api/``, the error fragment for htmx, a page
    otherwise. Sync and async capable (only ``process_exception``).
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponseBase | None:
        from conversations.api.errors import DATABASE_DOWN
        from conversations.views import service_unavailable

        if isinstance(exception, DATABASE_DOWN):
            logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
            return service_unavailable(request)
        return None


class InlineMiddlewareMixin:
    """Run a ``MiddlewareMixin`` middleware's hooks on the event loop instead of in a thread.

    Under ASGI, Django's ``MiddlewareMixin`` calls ``process_request`` and
    ``process_response`` through ``sync_to_async``: two thread hand-offs per
    middleware per request (issue 6, BENCHMARKS.md "Where the CPU goes"). For a
    middleware whose hooks only read settings, headers and the URL configuration
    (no database, no session, no file) that is pure cost: this mixin calls them
    directly. Put it first in the bases, before the Django middleware it adapts.
    Synchronous use is unchanged.
    """

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class InlineSecurityMiddleware(InlineMiddlewareMixin, SecurityMiddleware):
    """Django's ``SecurityMiddleware`` (HTTPS redirect, HSTS, nosniff, referrer policy), without thread hops."""


class InlineCommonMiddleware(InlineMiddlewareMixin, CommonMiddleware):
    """Django's ``CommonMiddleware`` (Content-Length, APPEND_SLASH, disallowed agents), without thread hops."""


class InlineXFrameOptionsMiddleware(InlineMiddlewareMixin, XFrameOptionsMiddleware):
    """Django's ``XFrameOptionsMiddleware`` (``X-Frame-Options``), without thread hops."""


class PageLocaleMiddleware(InlineMiddlewareMixin, LocaleMiddleware):
    """Django's ``LocaleMiddleware`` for the page; English under ``/api/`` (issue 16, "Two languages").

    The page's language comes from the language cookie (the settings page's switcher) or the
    browser's ``Accept-Language``, among ``settings.LANGUAGES``. The API's bodies are the
    contract's English wording, and DRF's own messages (which it translates) are among them,
    so a call under ``/api/`` that takes this chain (a session's call: Bearer calls take
    ``settings.API_MIDDLEWARE``, which has no locale at all) is answered in ``LANGUAGE_CODE``,
    whatever it asks for. Its hooks read headers, a cookie and the URL configuration only,
    so they run on the event loop (``InlineMiddlewareMixin``).
    """

    api_prefix = "/api/"

    def process_request(self, request: HttpRequest) -> None:
        if request.path_info.startswith(self.api_prefix):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE
            return
        super().process_request(request)

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if request.path_info.startswith(self.api_prefix):
            return response
        return super().process_response(request, response)
