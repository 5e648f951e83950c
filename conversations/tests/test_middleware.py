"""The async-capable WhiteNoise middleware (issue "Real assistant replies", "Many chats at once").

A sync-only middleware makes Django run the rest of the chain through a thread
blocked for the whole request; ``AsyncWhiteNoiseMiddleware`` keeps the chain async
and still serves static files.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.test import AsyncRequestFactory

from chatsite.middleware import AsyncWhiteNoiseMiddleware


@pytest.fixture
def static_root(tmp_path: Path, settings) -> Path:  # type: ignore[no-untyped-def]
    (tmp_path / "robots.txt").write_text("User-agent: *\n")
    settings.WHITENOISE_ROOT = tmp_path
    return tmp_path


async def test_it_is_async_under_an_async_handler_and_passes_other_requests_on(static_root: Path) -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("from the view")

    middleware = AsyncWhiteNoiseMiddleware(view)
    assert iscoroutinefunction(middleware)
    response = await middleware(AsyncRequestFactory().get("/api/1/chat"))
    assert response.content == b"from the view"


async def test_it_serves_static_files_itself(static_root: Path) -> None:
    async def view(request: HttpRequest) -> HttpResponse:
        raise AssertionError("a static file must not reach the view")

    response = await AsyncWhiteNoiseMiddleware(view)(AsyncRequestFactory().get("/robots.txt"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"User-agent: *\n"


def test_it_stays_sync_under_a_sync_handler(static_root: Path) -> None:
    middleware = AsyncWhiteNoiseMiddleware(lambda request: HttpResponse("sync"))
    assert not iscoroutinefunction(middleware)
    assert middleware(AsyncRequestFactory().get("/x")).content == b"sync"
    assert middleware(AsyncRequestFactory().get("/robots.txt")).status_code == 200


def test_the_settings_use_it_in_place_of_whitenoises_own(settings) -> None:  # type: ignore[no-untyped-def]
    assert "chatsite.middleware.AsyncWhiteNoiseMiddleware" in settings.MIDDLEWARE
    assert "whitenoise.middleware.WhiteNoiseMiddleware" not in settings.MIDDLEWARE
