"""Export and import through the API (issue 15, "Export and import"): thin doors over ``conversations.export``.

``GET /api/{user_id}/conversations/{id}/export?format=markdown|json`` and ``GET
/api/{user_id}/export`` stream a download; ``POST /api/{user_id}/import`` takes a chat-export
document or a ChatGPT ``conversations.json`` as the JSON body or as the multipart field
``file``, up to ``IMPORT_MAX_BYTES`` (docs/export.md). The page's settings views
(``conversations.settings_views``) answer with the same downloads.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import parsers, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from conversations import export, selectors, services
from conversations.api import serializers as s
from conversations.api.streaming import streamed_response
from conversations.api.views import _COMMON_ERRORS, _CONVERSATION_ID, _ERROR, _NOT_FOUND, _USER_ID, OwnerAPIView
from conversations.models import Conversation, Message

# --- The downloads, shared with the page ----------------------------------------------


def conversation_download(request: HttpRequest, conversation: Conversation, format: str) -> StreamingHttpResponse:
    """An owner-checked ``conversation`` as a streamed Markdown or chat-export JSON attachment."""
    services.reply_close_stale(conversation=conversation)
    if format == export.MARKDOWN:
        chunks = export.conversation_markdown_chunks(conversation=conversation)
    else:
        chunks = export.conversation_json_chunks(conversation=conversation)
    response = streamed_response(request, chunks, content_type=export.CONTENT_TYPES[format])
    response["Content-Disposition"] = export.export_filename(title=conversation.title, format=format)
    return response


def all_download(request: HttpRequest, user_id: str) -> StreamingHttpResponse:
    """All of ``user_id``'s conversations as one streamed chat-export JSON attachment."""
    response = streamed_response(request, export.export_all_chunks(user_id=user_id))
    response["Content-Disposition"] = export.export_all_filename()
    return response


# --- Shapes (for the schema; the bodies are written by conversations.export) ----------


class ExportQuerySerializer(s.QueryParamsSerializer):
    format = serializers.ChoiceField(
        choices=export.FORMATS,
        default=export.MARKDOWN,
        help_text="markdown (default): a readable file; json: a chat-export document that can be imported.",
        error_messages={"invalid_choice": "format must be markdown or json"},
    )


class ExportMessageSerializer(serializers.Serializer):
    id = serializers.CharField(required=False, help_text="The message's id where it was exported (not kept).")
    role = serializers.ChoiceField(choices=Message.Role.values)
    content = serializers.CharField(allow_blank=True, help_text="As written (an assistant's reply is Markdown).")
    status = serializers.ChoiceField(
        choices=Message.Status.values,
        required=False,
        help_text="complete by default; pending or streaming are imported as failed; a user's is always complete.",
    )
    created_at = serializers.DateTimeField()
    tool_calls = s.ToolCallSerializer(many=True, required=False)


class ExportConversationSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="Its id where it was exported; a second import of it is skipped.")
    title = serializers.CharField(allow_blank=True, allow_null=True, required=False)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    pinned = serializers.BooleanField(required=False)
    archived = serializers.BooleanField(required=False)
    model = serializers.CharField(
        allow_null=True, allow_blank=True, required=False, help_text="Its own model; null: the server's default."
    )
    instructions = serializers.CharField(
        allow_null=True, allow_blank=True, required=False, help_text="Its own system prompt; null: none."
    )
    messages = ExportMessageSerializer(many=True)


class ExportDocumentSerializer(serializers.Serializer):
    """The chat-export document (docs/export.md)."""

    format = serializers.ChoiceField(choices=[export.EXPORT_FORMAT])
    version = serializers.ChoiceField(choices=[export.EXPORT_VERSION])
    exported_at = serializers.DateTimeField(required=False)
    conversations = ExportConversationSerializer(many=True)


class ImportResultSerializer(serializers.Serializer):
    conversations = serializers.IntegerField(help_text="Conversations imported.")
    messages = serializers.IntegerField(help_text="Messages imported.")
    skipped = serializers.IntegerField(help_text="Conversations already imported before, left as they are.")


# --- Views ----------------------------------------------------------------------------


class _FileFormatNegotiation(DefaultContentNegotiation):
    """``?format=`` names the file's format here, not one of DRF's renderers; errors are JSON."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        return renderers[0], renderers[0].media_type


class ConversationExportView(OwnerAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FileFormatNegotiation

    @extend_schema(
        operation_id="conversations_export",
        parameters=[_USER_ID, _CONVERSATION_ID, ExportQuerySerializer],
        responses={
            (200, "text/markdown"): OpenApiResponse(OpenApiTypes.STR, description="The conversation as Markdown."),
            (200, "application/json"): OpenApiResponse(
                ExportDocumentSerializer, description="A chat-export document holding this one conversation."
            ),
            400: OpenApiResponse(_ERROR, description="format is not markdown or json."),
            **_COMMON_ERRORS,
            **_NOT_FOUND,
        },
    )
    def get(self, request: Request, user_id: str, conversation_id: str) -> StreamingHttpResponse:
        """``GET .../conversations/{id}/export?format=``: download one conversation (an attachment named after it)."""
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        query = ExportQuerySerializer(request.query_params)
        query.is_valid(raise_exception=True)
        return conversation_download(request._request, conversation, query.validated_data["format"])


class ExportAllView(OwnerAPIView):
    renderer_classes = [JSONRenderer]
    content_negotiation_class = _FileFormatNegotiation

    @extend_schema(
        operation_id="conversations_export_all",
        parameters=[_USER_ID],
        responses={200: ExportDocumentSerializer, **_COMMON_ERRORS},
    )
    def get(self, request: Request, user_id: str) -> StreamingHttpResponse:
        """``GET /api/{user_id}/export``: every conversation as one chat-export document, streamed."""
        return all_download(request._request, user_id)


class ImportFileParser(parsers.BaseParser):
    """An ``application/json`` body as its bytes, up to ``IMPORT_MAX_BYTES`` (``export.import_read`` parses it)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        limit = settings.IMPORT_MAX_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise export.ImportTooLarge(limit)
        return raw


def _declared_length(request: Request) -> int:
    value = request.META.get("CONTENT_LENGTH") or ""
    return int(value) if value.isdigit() else 0


class ImportView(OwnerAPIView):
    parser_classes = [ImportFileParser, parsers.MultiPartParser]
    # Each import holds a file of up to IMPORT_MAX_BYTES and one long transaction (IMPORT_RATE_LIMIT).
    throttle_scope = "import"

    @extend_schema(
        operation_id="conversations_import",
        parameters=[_USER_ID],
        description=(
            "Import conversations from a chat-export document (what the export endpoints download) or a "
            "ChatGPT data export's conversations.json (a list of conversations), sent as the JSON body or as "
            "the multipart/form-data field `file`. All or nothing; a conversation imported before is skipped. "
            "Up to IMPORT_MAX_BYTES (50 MiB by default). See docs/export.md."
        ),
        request={"application/json": ExportDocumentSerializer},
        responses={
            200: ImportResultSerializer,
            400: OpenApiResponse(
                _ERROR, description="The file is not JSON, or not a shape we can import; nothing saved."
            ),
            **_COMMON_ERRORS,
            413: OpenApiResponse(_ERROR, description="The file is over IMPORT_MAX_BYTES."),
            415: OpenApiResponse(_ERROR, description="Neither JSON nor multipart/form-data."),
        },
    )
    def post(self, request: Request, user_id: str) -> Response:
        """``POST /api/{user_id}/import``: import a conversations file, answer how much was imported."""
        if _declared_length(request) > settings.IMPORT_MAX_BYTES:
            raise export.ImportTooLarge(settings.IMPORT_MAX_BYTES)
        data = request.data
        if isinstance(data, bytes):
            source: Any = data
        else:
            source = request.FILES.get("file") or data.get("file")
            if source is None:
                raise export.ImportInvalid(
                    "Send the file as the JSON request body, or as the multipart/form-data field file."
                )
        result = export.conversations_import(user_id=user_id, data=export.import_read(source))
        return Response(ImportResultSerializer(result).data)
