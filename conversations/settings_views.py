"""The settings page (issue 15, "Export and import"): export everything, import a file, download one conversation.

Thin doors over ``conversations.export``, with the page's session instead of a token
(``views.session_required``); the downloads are the API's (``api.export_views``).
The import is a plain multipart form post answered with the page and a sentence, so it
also works without JavaScript.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.views.decorators.http import require_GET, require_POST

from conversations import export
from conversations.api.export_views import all_download, conversation_download
from conversations.auth import user_id_of
from conversations.views import _owned, session_required

NO_FILE = "Choose a conversations file to import."


def _render(request: HttpRequest, *, result: str = "", error: str = "", status: int = 200) -> HttpResponse:
    context = {"result": result, "error": error, "import_max": filesizeformat(settings.IMPORT_MAX_BYTES)}
    return render(request, "conversations/settings.html", context, status=status)


@require_GET
@session_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """``/chat/settings``: "Export all" and "Import"."""
    return _render(request)


@require_GET
@session_required
def export_all(request: HttpRequest) -> StreamingHttpResponse:
    """``/chat/export``: every conversation of the signed-in user as one chat-export JSON file."""
    return all_download(request, user_id_of(request.user))


@require_GET
@session_required
def conversation_export(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """``/chat/<id>/export?format=markdown|json``: one conversation as a file (Markdown by default)."""
    format = request.GET.get("format") or export.MARKDOWN
    if format not in export.FORMATS:
        return HttpResponse("format must be markdown or json", status=400, content_type="text/plain; charset=utf-8")
    return conversation_download(request, _owned(request, conversation_id), format)


@require_POST
@session_required
def import_file(request: HttpRequest) -> HttpResponse:
    """``/chat/import``: import the posted "Conversations file" and say how it went."""
    upload = request.FILES.get("file")
    if upload is None:
        return _render(request, error=NO_FILE, status=400)
    try:
        if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
            raise export.ImportTooLarge(settings.IMPORT_MAX_BYTES)
        result = export.conversations_import(user_id=user_id_of(request.user), data=export.import_read(upload))
    except export.ImportTooLarge:
        detail = f"The file is too large: the limit is {filesizeformat(settings.IMPORT_MAX_BYTES)}."
        return _render(request, error=detail, status=413)
    except ValidationError as exc:
        return _render(request, error=f"The file could not be imported: {exc.messages[0]}", status=400)
    sentence = f"Imported {result.conversations} conversations and {result.messages} messages."
    if result.skipped:
        sentence += f" {result.skipped} were already here and were left as they are."
    return _render(request, result=sentence)
