"""The HTML doors: the chat page and the site's error pages.

Errors under ``/api/`` answer the contract's JSON body; elsewhere a person gets a
page that says what happened and what to do next (FR-014a, SC-008).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from conversations.api.errors import INTERNAL_DETAIL, json_error


def home(request: HttpRequest) -> HttpResponse:
    return redirect("chat")


@login_required
def chat(request: HttpRequest) -> HttpResponse:
    return render(request, "conversations/chat.html")


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _error_page(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    if _is_api(request):
        return json_error(status, title, detail)
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(
        request, 400, "Bad request", "The request could not be understood. Please check it and try again."
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 403, "Forbidden", "You do not have permission to see this page.")


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 404, "Not found", "The requested resource was not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    return _error_page(request, 500, "Internal server error", INTERNAL_DETAIL)
