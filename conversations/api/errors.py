"""Every API error as the contract's ``{"error", "detail"}`` body (contract: Errors; FR-014, SC-008).

DRF's own exceptions (validation, 401, 403, 404, 405, 415, 429) and the domain's
(``ConversationNotFound``, ``AssistantError``) are mapped here in one place; the
database being unreachable (``OperationalError``, ``InterfaceError``) is a 503
"Service unavailable"; anything unexpected is logged and answered 500 with no
internals in the body.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.utils.translation import gettext_noop
from rest_framework import exceptions, status
from rest_framework.response import Response

from conversations import catalog, events
from conversations.assistant import AssistantBusy, AssistantError, AssistantTimeout
from conversations.export import ImportTooLarge
from conversations.idempotency import IdempotencyKeyInUse, IdempotencyKeyReused
from conversations.selectors import ConversationNotFound, MessageNotFound
from conversations.services import MessageMissing, NotEditable, NothingToRegenerate, NothingToRetry, ReplyInProgress

logger = logging.getLogger(__name__)

# The bodies are the contract's English. The sentences the page shows too are marked with
# gettext_noop: the page translates them where it shows them (issue 16; conversations/page_i18n.py).
UNAUTHORIZED_DETAIL = "Invalid or expired JWT token"
FORBIDDEN_DETAIL = "User ID in path does not match authenticated user"
CONVERSATION_NOT_FOUND_DETAIL = "Conversation not found"
CSRF_DETAIL = "The page's security token is missing or out of date. Reload the page and try again."
INTERNAL_DETAIL = gettext_noop("An unexpected error occurred. Please try again.")
UNAVAILABLE_ERROR = gettext_noop("Service unavailable")
UNAVAILABLE_DETAIL = gettext_noop("The service is temporarily unavailable. Please try again.")
REPLY_IN_PROGRESS_DETAIL = gettext_noop(
    "A reply is still being written in this conversation. Wait for it to finish (or stop it), then send again."
)
KEY_IN_USE_DETAIL = "A request with this Idempotency-Key is still being answered. Wait a moment, then repeat it."
KEY_REUSED_DETAIL = "This Idempotency-Key was already used for a different request. Use a new key for a new request."
MODELS_UNAVAILABLE_DETAIL = "The model server could not be reached to list its models. Please try again."
# Seconds a client is asked to wait when the model server is rate-limiting us.
BUSY_RETRY_AFTER_SECONDS = 5
# The database cannot be reached (restarting, connection cut, pool exhausted): a
# passing outage, answered 503 rather than 500 (issue "Hardening": faults).
DATABASE_DOWN = (OperationalError, InterfaceError)


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


def error_body(error: str, detail: str) -> dict[str, str]:
    """The contract's error body."""
    return {"error": error, "detail": detail}


def _first_message(detail: Any, field: str | None = None) -> str:
    """The first error sentence of a DRF ``ValidationError.detail`` tree, naming its field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_message(value, None if key == "non_field_errors" else str(key))
        return "Invalid input"
    if isinstance(detail, list):
        return _first_message(detail[0], field) if detail else "Invalid input"
    text = str(detail)
    # Our own messages name their subject ("Message content cannot be empty");
    # DRF's generic ones ("This field is required.") need the field's name.
    if field and field.replace("_", " ").lower() not in text.lower():
        return f"{field}: {text}"
    return text


def _describe(exc: Exception) -> tuple[int, str, str, dict[str, str]]:
    """``(status, error, detail, headers)`` for an exception, or raise it if unknown."""
    if isinstance(exc, DATABASE_DOWN):
        return 503, UNAVAILABLE_ERROR, UNAVAILABLE_DETAIL, {}
    if isinstance(exc, catalog.ModelsUnavailable):
        return 503, events.FAILED_ERROR, MODELS_UNAVAILABLE_DETAIL, {}
    if isinstance(exc, AssistantTimeout):
        return 504, events.TIMEOUT_ERROR, events.TIMEOUT_DETAIL, {}
    if isinstance(exc, AssistantBusy):
        return 503, events.BUSY_ERROR, events.BUSY_DETAIL, {"Retry-After": str(BUSY_RETRY_AFTER_SECONDS)}
    if isinstance(exc, AssistantError):
        return 503, events.FAILED_ERROR, events.FAILED_DETAIL, {}
    if isinstance(exc, ReplyInProgress):
        return 409, "Reply in progress", REPLY_IN_PROGRESS_DETAIL, {}
    if isinstance(exc, IdempotencyKeyInUse):
        return 409, "Conflict", KEY_IN_USE_DETAIL, {"Retry-After": "1"}
    if isinstance(exc, IdempotencyKeyReused):
        return 422, "Unprocessable content", KEY_REUSED_DETAIL, {}
    if isinstance(exc, NothingToRegenerate):
        return 409, "Nothing to regenerate", "The conversation does not end with a finished reply.", {}
    if isinstance(exc, MessageMissing):
        return 404, "Not found", "Message not found", {}
    if isinstance(exc, NotEditable):
        return 400, "Validation error", "Only your own messages can be edited, not the assistant's replies.", {}
    if isinstance(exc, NothingToRetry):
        return 409, "Nothing to retry", "The last message already has a reply. Send a new message instead.", {}
    if isinstance(exc, ConversationNotFound):
        return 404, "Not found", CONVERSATION_NOT_FOUND_DETAIL, {}
    if isinstance(exc, MessageNotFound):
        return 400, "Validation error", "before must be the id of a message in this conversation", {}
    if isinstance(exc, ImportTooLarge):
        return 413, "Payload too large", str(exc), {}
    if isinstance(exc, (PayloadTooLarge, RequestDataTooBig)):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return 413, "Payload too large", f"The request body is over the limit of {limit} bytes.", {}
    if isinstance(exc, Http404):
        return 404, "Not found", "The requested resource was not found.", {}
    if isinstance(exc, DjangoPermissionDenied):
        return 403, "Forbidden", "You do not have permission to perform this action.", {}
    if isinstance(exc, DjangoValidationError):
        return 400, "Validation error", exc.messages[0] if exc.messages else "Invalid input", {}
    if isinstance(exc, exceptions.ValidationError):
        return 400, "Validation error", _first_message(exc.detail), {}
    if isinstance(exc, exceptions.ParseError):
        return 400, "Validation error", "The request body is not valid JSON.", {}
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        headers = {"WWW-Authenticate": exc.auth_header} if getattr(exc, "auth_header", None) else {}
        status_code = exc.status_code
        if status_code == 401:
            return (
                401,
                "Unauthorized",
                str(exc.detail) if isinstance(exc, exceptions.AuthenticationFailed) else UNAUTHORIZED_DETAIL,
                headers,
            )
        # No authenticator offered a challenge: DRF answers 403.
        return 403, "Forbidden", "Authentication credentials were not provided.", {}
    if isinstance(exc, exceptions.PermissionDenied):
        if str(exc.detail).startswith("CSRF Failed"):
            # A session request without its CSRF token (DRF's SessionAuthentication).
            return 403, "Forbidden", CSRF_DETAIL, {}
        return 403, "Forbidden", str(exc.detail), {}
    if isinstance(exc, exceptions.NotFound):
        return 404, "Not found", str(exc.detail), {}
    if isinstance(exc, exceptions.MethodNotAllowed):
        return 405, "Method not allowed", str(exc.detail), {}
    if isinstance(exc, exceptions.NotAcceptable):
        return 406, "Not acceptable", "The API answers in JSON; accept application/json.", {}
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return 415, "Unsupported media type", "Send the request body as JSON (Content-Type: application/json).", {}
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait) if exc.wait is not None else 1
        wait = max(wait, 1)
        return (
            429,
            "Too many requests",
            f"You are sending requests too quickly. Please wait {wait} seconds and try again.",
            {"Retry-After": str(wait)},
        )
    if isinstance(exc, exceptions.APIException):
        return exc.status_code, _title(exc.status_code), str(exc.detail), {}
    raise exc


def _title(status_code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's ``EXCEPTION_HANDLER``: every error as ``{"error", "detail"}``.

    Unknown exceptions are logged with their traceback and answered 500 without
    internals (contract: Errors, 500).
    """
    try:
        status_code, error, detail, headers = _describe(exc)
    except Exception:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__ if context else "API")
        return Response(error_body("Internal server error", INTERNAL_DETAIL), status=500)
    response = Response(error_body(error, detail), status=status_code, headers=headers)
    if status_code >= 500:
        logger.warning("API answered %s: %s", status_code, exc)
    return response


def json_error(status_code: int, error: str, detail: str) -> JsonResponse:
    """A plain Django response with the contract body, for errors outside DRF views."""
    return JsonResponse(error_body(error, detail), status=status_code)
