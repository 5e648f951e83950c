"""The chat API (contract: HTTP API): thin doors over ``services`` and ``selectors``.

Each view parses input with a serializer, calls one service or selector and
serializes the result. Errors become ``{"error", "detail"}`` in ``errors``.
"""

from __future__ import annotations

from typing import Any

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import approval
from conversations import catalog, events, idempotency, search, selectors, services
from conversations.api import serializers as s
from conversations.api.parsers import LimitedJSONParser
from conversations.api.permissions import PathUserMatches
from conversations.api.streaming import conversation_detail_response
from conversations.auth import issue_token, user_id_of

_ERROR = s.ErrorSerializer
_COMMON_ERRORS = {
    401: OpenApiResponse(_ERROR, description="Token missing, malformed, badly signed or expired."),
    403: OpenApiResponse(_ERROR, description="The path's user id is not the token's subject."),
}
_NOT_FOUND = {404: OpenApiResponse(_ERROR, description="No such conversation for this user (or a malformed id).")}
_BAD_INPUT = {400: OpenApiResponse(_ERROR, description="Invalid input.")}
_USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="The token's subject (sub).")
_CONVERSATION_ID = OpenApiParameter(
    "conversation_id", str, OpenApiParameter.PATH, description="A conversation id (UUID)."
)


_IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # Visible ASCII, no space at either end (HTTP trims them).
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]{0,253}[!-~])?$"},
    OpenApiParameter.HEADER,
    required=False,
    description=(
        "Optional (IETF draft-ietf-httpapi-idempotency-key-header): 1..255 visible ASCII characters, "
        "e.g. a UUID, quoted or not. A repeat with the same key and body saves nothing new and answers "
        "as the first request did; 409 while the first is still being answered; 422 for the same key "
        "with a different body. Keys are per user and kept at least 24 hours."
    ),
)
_KEY_ERRORS = {
    409: OpenApiResponse(
        _ERROR,
        description="A reply is still being written in this conversation, or the first request with "
        "this Idempotency-Key is still being answered.",
    ),
    422: OpenApiResponse(_ERROR, description="The Idempotency-Key was used for a different request."),
}


def idempotency_of(
    request: Request, *, operation: str, conversation_id: object, text: str | None = None
) -> idempotency.Idempotency | None:
    """The request's ``Idempotency-Key`` header as an ``Idempotency``, or ``None`` without one
    (``idempotency.key_from_header``).

    Raises:
        rest_framework.exceptions.ValidationError: a malformed key (400).
    """
    try:
        key = idempotency.key_from_header(request.headers.get("Idempotency-Key"))
    except DjangoValidationError as exc:
        raise exceptions.ValidationError({"Idempotency-Key": exc.messages}) from None
    if key is None:
        return None
    return idempotency.idempotency_for(key=key, operation=operation, conversation_id=conversation_id, text=text)


class InvalidCredentials(exceptions.APIException):
    status_code = status.HTTP_401_UNAUTHORIZED
    default_detail = "Invalid username or password."
    default_code = "invalid_credentials"


class OwnerAPIView(APIView):
    """Base for ``/api/{user_id}/...``: a valid token whose subject is ``user_id``."""

    permission_classes = [IsAuthenticated, PathUserMatches]
    parser_classes = [LimitedJSONParser]


class TurnAPIView(AsyncAPIView):
    """Base for the doors that start a reply (chat, retry, regenerate, edit): a token whose subject
    is the path's user, a JSON body within the limit, the ``chat`` rate limit. Served
    asynchronously: while the model answers, no transaction, connection or thread is held."""

    permission_classes = [IsAuthenticated, PathUserMatches]
    parser_classes = [LimitedJSONParser]
    throttle_scope = "chat"


class ChatView(TurnAPIView):
    """``POST /api/{user_id}/chat``: send a message, get the assistant's reply.

    Served asynchronously: while the model answers, the request holds no
    transaction, database connection or worker thread.
    """

    @extend_schema(
        operation_id="chat_send",
        parameters=[_USER_ID, _IDEMPOTENCY_KEY],
        request=s.ChatRequestSerializer,
        responses={
            200: s.ChatResponseSerializer,
            **_BAD_INPUT,
            **_COMMON_ERRORS,
            **_NOT_FOUND,
            **_KEY_ERRORS,
            413: OpenApiResponse(_ERROR, description="Body too large."),
            415: OpenApiResponse(_ERROR, description="Body is not JSON."),
            429: OpenApiResponse(_ERROR, description="Too many messages; see Retry-After."),
            503: OpenApiResponse(_ERROR, description="The assistant could not answer; the message is saved."),
            504: OpenApiResponse(_ERROR, description="The assistant timed out; the message is saved."),
        },
    )
    async def post(self, request: Request, user_id: str) -> Response:
        form = s.ChatRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        conversation_id, text = form.validated_data.get("conversation_id"), form.validated_data["message"]
        reply = await services.chat_send(
            user_id=user_id,
            conversation_id=conversation_id,
            text=text,
            idempotency=idempotency_of(request, operation=idempotency.CHAT, conversation_id=conversation_id, text=text),
        )
        return Response(s.ChatResponseSerializer(reply).data)


class RetryView(TurnAPIView):
    """``POST /api/{user_id}/conversations/{conversation_id}/retry``: answer the last message again.

    The user's message is not saved again; a failed or stopped reply to it is
    replaced by the new one (``services.retry_begin``). Served asynchronously, like ``ChatView``.
    """

    @extend_schema(
        operation_id="conversations_retry",
        parameters=[_USER_ID, _CONVERSATION_ID, _IDEMPOTENCY_KEY],
        request=None,
        responses={
            200: s.ChatResponseSerializer,
            400: OpenApiResponse(_ERROR, description="A malformed Idempotency-Key."),
            **_COMMON_ERRORS,
            **_NOT_FOUND,
            **_KEY_ERRORS,
            409: OpenApiResponse(
                _ERROR,
                description="A reply is still being written, the last message is already answered, "
                "or the first request with this Idempotency-Key is still being answered.",
            ),
            429: OpenApiResponse(_ERROR, description="Too many messages; see Retry-After."),
            503: OpenApiResponse(_ERROR, description="The assistant could not answer; the reply is marked failed."),
            504: OpenApiResponse(_ERROR, description="The assistant timed out; the reply is marked failed."),
        },
    )
    async def post(self, request: Request, user_id: str, conversation_id: str) -> Response:
        reply = await services.chat_retry(
            user_id=user_id,
            conversation_id=conversation_id,
            idempotency=idempotency_of(request, operation=idempotency.RETRY, conversation_id=conversation_id),
        )
        return Response(s.ChatResponseSerializer(reply).data)


_MESSAGE_ID = OpenApiParameter("message_id", str, OpenApiParameter.PATH, description="A message id (UUID).")
_TURN_ERRORS = {
    **_COMMON_ERRORS,
    404: OpenApiResponse(_ERROR, description="No such conversation or message for this user (or a malformed id)."),
    **_KEY_ERRORS,
    429: OpenApiResponse(_ERROR, description="Too many messages; see Retry-After."),
    503: OpenApiResponse(_ERROR, description="The assistant could not answer; the new reply is marked failed."),
    504: OpenApiResponse(_ERROR, description="The assistant timed out; the new reply is marked failed."),
}


class RegenerateView(TurnAPIView):
    """``POST /api/{user_id}/conversations/{conversation_id}/regenerate``: a new version of the newest reply.

    The reply shown is kept as an earlier version of its turn (issue 14, "Versions and branches").
    Answers like ``ChatView``; served asynchronously.
    """

    @extend_schema(
        operation_id="conversations_regenerate",
        parameters=[_USER_ID, _CONVERSATION_ID, _IDEMPOTENCY_KEY],
        request=None,
        responses={
            200: s.ChatResponseSerializer,
            400: OpenApiResponse(_ERROR, description="A malformed Idempotency-Key."),
            **_TURN_ERRORS,
            409: OpenApiResponse(
                _ERROR,
                description="A reply is still being written, the conversation does not end with a finished "
                "reply, or the first request with this Idempotency-Key is still being answered.",
            ),
        },
    )
    async def post(self, request: Request, user_id: str, conversation_id: str) -> Response:
        reply = await services.chat_regenerate(
            user_id=user_id,
            conversation_id=conversation_id,
            idempotency=idempotency_of(request, operation=idempotency.REGENERATE, conversation_id=conversation_id),
        )
        return Response(s.ChatResponseSerializer(reply).data)


class EditView(TurnAPIView):
    """``POST .../messages/{message_id}/edit`` ``{"message"}``: a new version of a user message and its reply.

    What followed the earlier version stays stored as its own branch (issue 14). Answers like
    ``ChatView`` with the new reply (its ``parent_id`` is the new version); served asynchronously.
    """

    @extend_schema(
        operation_id="conversations_messages_edit",
        parameters=[_USER_ID, _CONVERSATION_ID, _MESSAGE_ID, _IDEMPOTENCY_KEY],
        request=s.EditRequestSerializer,
        responses={
            200: s.ChatResponseSerializer,
            400: OpenApiResponse(_ERROR, description="Invalid text, an assistant message, or a malformed key."),
            **_TURN_ERRORS,
            409: OpenApiResponse(
                _ERROR,
                description="A reply is still being written, or the first request with this "
                "Idempotency-Key is still being answered.",
            ),
        },
    )
    async def post(self, request: Request, user_id: str, conversation_id: str, message_id: str) -> Response:
        form = s.EditRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        text = form.validated_data["message"]
        key = idempotency_of(
            request, operation=idempotency.EDIT, conversation_id=conversation_id, text=f"{message_id}\n{text}"
        )
        reply = await services.chat_edit(
            user_id=user_id, conversation_id=conversation_id, message_id=message_id, text=text, idempotency=key
        )
        return Response(s.ChatResponseSerializer(reply).data)


class ActivateView(OwnerAPIView):
    @extend_schema(
        operation_id="conversations_messages_activate",
        parameters=[_USER_ID, _CONVERSATION_ID, _MESSAGE_ID],
        request=None,
        responses={
            200: s.MessagePageSerializer,
            **_COMMON_ERRORS,
            404: OpenApiResponse(_ERROR, description="No such conversation or message for this user."),
            409: OpenApiResponse(_ERROR, description="A reply is still being written in this conversation."),
        },
    )
    def post(self, request: Request, user_id: str, conversation_id: str, message_id: str) -> Response:
        """``POST .../messages/{message_id}/activate``: show that version and the branch after it.

        The choice is stored (a refresh, another device). Answers with the newest page of the
        branch now shown, like ``GET .../messages`` (issue 14).
        """
        conversation = services.version_activate(
            user_id=user_id, conversation_id=conversation_id, message_id=message_id
        )
        async_to_sync(events.publish_branch)(conversation.pk)  # the conversation's other pages follow
        page = selectors.message_page(conversation=conversation)
        body: dict[str, Any] = {"messages": page.messages, "next_before": page.next_before, "has_more": page.has_more}
        return Response(s.MessagePageSerializer(body).data)


class ConversationListView(OwnerAPIView):
    @extend_schema(
        operation_id="conversations_list",
        parameters=[_USER_ID, s.ConversationListQuerySerializer],
        responses={200: s.ConversationListSerializer, **_BAD_INPUT, **_COMMON_ERRORS},
    )
    def get(self, request: Request, user_id: str) -> Response:
        """``GET /api/{user_id}/conversations``: the user's conversations, pinned first, then newest activity.

        ``?archived=true`` lists the archived ones instead (issue 15).
        """
        query = s.ConversationListQuerySerializer(request.query_params)
        query.is_valid(raise_exception=True)
        rows, total = selectors.conversation_list(user_id=user_id, **query.validated_data)
        body = {"conversations": rows, "total": total, **query.validated_data}
        return Response(s.ConversationListSerializer(body).data)


class ConversationDetailView(OwnerAPIView):
    @extend_schema(
        operation_id="conversations_retrieve",
        parameters=[_USER_ID, _CONVERSATION_ID],
        responses={200: s.ConversationDetailSerializer, **_COMMON_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, user_id: str, conversation_id: str) -> StreamingHttpResponse:
        """``GET /api/{user_id}/conversations/{conversation_id}``: every message, oldest first.

        Streamed, so memory does not grow with the conversation (issue 6, BENCHMARKS.md).
        """
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        services.reply_close_stale(conversation=conversation)
        return conversation_detail_response(request._request, conversation)

    @extend_schema(
        operation_id="conversations_rename",
        parameters=[_USER_ID, _CONVERSATION_ID],
        request=s.ConversationUpdateSerializer,
        responses={
            200: s.ConversationSummarySerializer,
            400: OpenApiResponse(_ERROR, description="Invalid input, or a model the server does not offer."),
            **_COMMON_ERRORS,
            **_NOT_FOUND,
            503: OpenApiResponse(_ERROR, description="The model server could not be asked which models it offers."),
        },
    )
    def patch(self, request: Request, user_id: str, conversation_id: str) -> Response:
        """``PATCH /api/{user_id}/conversations/{conversation_id}``: rename, pin or archive it, choose its
        model, set its instructions.

        Any of ``{"title", "pinned", "archived", "model", "instructions"}``; those not given stay as they
        are. A title given here is the person's: a generated one never replaces it (issue 14).
        """
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        form = s.ConversationUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        changes = form.validated_data
        if "title" in changes:
            conversation = services.conversation_rename(conversation=conversation, title=changes["title"])
        conversation = services.conversation_organise(
            conversation=conversation, pinned=changes.get("pinned"), archived=changes.get("archived")
        )
        conversation = services.conversation_configure(
            conversation=conversation, model=changes.get("model"), instructions=changes.get("instructions")
        )
        summary = selectors.conversation_summary(conversation=conversation)
        return Response(s.ConversationSummarySerializer(summary).data)

    @extend_schema(
        operation_id="conversations_destroy",
        parameters=[_USER_ID, _CONVERSATION_ID],
        responses={204: None, **_COMMON_ERRORS, **_NOT_FOUND},
    )
    def delete(self, request: Request, user_id: str, conversation_id: str) -> Response:
        """``DELETE /api/{user_id}/conversations/{conversation_id}``: delete it and its messages."""
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        services.conversation_delete(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MessagePageView(OwnerAPIView):
    @extend_schema(
        operation_id="conversations_messages_page",
        parameters=[_USER_ID, _CONVERSATION_ID, s.MessagePageQuerySerializer],
        responses={200: s.MessagePageSerializer, **_BAD_INPUT, **_COMMON_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, user_id: str, conversation_id: str) -> Response:
        """``GET .../messages?before=&limit=``: cursor pagination, newest page first, each page oldest first."""
        conversation = selectors.conversation_get_for_user(user_id=user_id, conversation_id=conversation_id)
        query = s.MessagePageQuerySerializer(request.query_params)
        query.is_valid(raise_exception=True)
        services.reply_close_stale(conversation=conversation)
        page = selectors.message_page(conversation=conversation, **query.validated_data)
        body: dict[str, Any] = {"messages": page.messages, "next_before": page.next_before, "has_more": page.has_more}
        return Response(s.MessagePageSerializer(body).data)


class SearchView(OwnerAPIView):
    @extend_schema(
        operation_id="search",
        parameters=[_USER_ID, s.SearchQuerySerializer],
        responses={200: s.SearchResponseSerializer, **_BAD_INPUT, **_COMMON_ERRORS},
    )
    def get(self, request: Request, user_id: str) -> Response:
        """``GET /api/{user_id}/search?q=&limit=``: the user's messages and titles matching ``q``, best first.

        Archived conversations included; nobody else's ever (issue 15, docs/search.md).
        """
        query = s.SearchQuerySerializer(request.query_params)
        query.is_valid(raise_exception=True)
        text = query.validated_data["q"]
        results = search.search(user_id=user_id, query=text, limit=query.validated_data["limit"])
        return Response(s.SearchResponseSerializer({"results": results, "query": text}).data)


class ModelsView(APIView):
    """``GET /api/models``: the models a conversation may use (issue 14, "Models and instructions").

    Any signed-in caller (a Bearer token, or the page's session): the list is the server's,
    not a person's. See ``conversations.catalog`` for where it comes from and how long it is kept.
    """

    @extend_schema(
        operation_id="models_list",
        responses={
            200: s.ModelsSerializer,
            **_COMMON_ERRORS,
            503: OpenApiResponse(_ERROR, description="The model server could not be reached to list its models."),
        },
    )
    def get(self, request: Request) -> Response:
        offer = catalog.models_offered()
        body = {"models": [{"id": name} for name in offer.models], "default": offer.default}
        return Response(s.ModelsSerializer(body).data)


class TokenView(APIView):
    """``POST /api/auth/token``: a Django user's username and password give an API token."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    parser_classes = [LimitedJSONParser]
    throttle_scope = "auth"

    @extend_schema(
        operation_id="auth_token",
        request=s.TokenRequestSerializer,
        responses={
            200: s.TokenResponseSerializer,
            **_BAD_INPUT,
            401: OpenApiResponse(_ERROR, description="Wrong username or password."),
            403: OpenApiResponse(_ERROR, description="The account awaits approval by an administrator."),
        },
        auth=[],
    )
    def post(self, request: Request) -> Response:
        form = s.TokenRequestSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        user = authenticate(request._request, **form.validated_data)
        if user is None:
            raise InvalidCredentials
        # Right password, account awaiting approval (issue 16): 403 with a sentence saying so.
        approval.check_approved(user.pk)
        token, _expires_at = issue_token(user_id=user_id_of(user))
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": settings.JWT_ACCESS_TOKEN_SECONDS,
            "user_id": user_id_of(user),
        }
        return Response(s.TokenResponseSerializer(body).data)
