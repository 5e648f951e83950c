"""Request and response shapes of the chat API (contract: HTTP API).

Input rules live in ``services`` (``message_text_clean``, ``title_clean``) and are
shared with the page's forms; these serializers only shape data.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from conversations import catalog, search, selectors, services
from conversations.models import INSTRUCTIONS_MAX_CHARS, MODEL_NAME_MAX_LENGTH, TITLE_MAX_LENGTH


class StrictCharField(serializers.CharField):
    """A ``CharField`` that refuses numbers and booleans instead of converting them."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


OFFSET_MAX = 2**31 - 1

# What the schema promises about text the services accept: no NUL (PostgreSQL cannot
# store it) and at least one character that is not whitespace as ``str.strip`` sees it.
# Python's whitespace is spelled out: a client's or fuzzer's regex dialect (ECMA-262's
# ``\s``) leaves out U+001C..U+001F and U+0085, and schemathesis once sent "\x1c\x1d\x1c"
# as schema-valid (tests: test_security_input.py). The services check it again.
PYTHON_WHITESPACE_CLASS = r"\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00]*[^{PYTHON_WHITESPACE_CLASS}\x00][^\x00]*$"


@extend_schema_field(
    {"type": "string", "minLength": 1, "maxLength": services.MESSAGE_MAX_CHARS, "pattern": TEXT_PATTERN}
)
class MessageTextField(StrictCharField):
    """A user's message: 1 to 4000 characters (Python ``len``), not whitespace only, no NUL."""


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": TITLE_MAX_LENGTH, "pattern": TEXT_PATTERN})
class TitleField(StrictCharField):
    """A conversation title: up to 200 characters as sent, not blank, no NUL; stored trimmed."""


@extend_schema_field({"type": "string", "maxLength": MODEL_NAME_MAX_LENGTH})
class ModelChoiceField(StrictCharField):
    """A model for a conversation: one ``GET /api/models`` lists, or "" for the server's default (issue 14)."""


# "+", not "*": a blank-allowed field is published as oneOf [this, {maxLength: 0}], and "" must
# match only the second (as tasks.api.TaskDescriptionField).
@extend_schema_field({"type": "string", "maxLength": INSTRUCTIONS_MAX_CHARS, "pattern": r"^[^\x00]+$"})
class InstructionsField(StrictCharField):
    """A conversation's instructions: up to 4000 characters, no NUL; "" clears them (issue 14)."""


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": MODEL_NAME_MAX_LENGTH})
class ModelShownField(serializers.CharField):
    """The model a conversation's replies are asked of: its own, else the server's default (issue 14)."""

    def to_representation(self, value: Any) -> str:
        return str(value or "") or catalog.default_model()


def model_shown() -> ModelShownField:
    return ModelShownField(help_text="The model its replies are asked of (its own, else the server's default).")


def instructions_shown() -> serializers.CharField:
    return serializers.CharField(
        allow_blank=True, help_text="Its own system prompt, sent with the assistant's own; empty if none."
    )


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 150, "pattern": TEXT_PATTERN})
class UsernameField(StrictCharField):
    """A Django username (trimmed by DRF, so whitespace-only is blank)."""


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 4096, "pattern": r"^[^\x00]+$"})
class PasswordField(StrictCharField):
    """A password, kept exactly as typed (no NUL: DRF refuses it)."""


@extend_schema_field(OpenApiTypes.UUID)
class ConversationIdField(StrictCharField):
    """A conversation id: a malformed one is answered 404 like a missing one (contract: Errors)."""


@extend_schema_field(OpenApiTypes.UUID)
class MessageIdField(serializers.CharField):
    """A message id (the ``before`` cursor); a malformed or unknown one is a 400."""

    default_error_messages = {"blank": "before must be the id of a message in this conversation"}


class NoExtraFieldsMixin:
    """Refuse fields the operation does not know, so a typo is a clear 400."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        initial = getattr(self, "initial_data", None)
        if isinstance(initial, dict):
            unknown = sorted(set(initial) - set(self.fields))  # type: ignore[attr-defined]
            if unknown:
                raise serializers.ValidationError(f"Unknown field: {', '.join(map(str, unknown))}")
        return attrs


def message_field() -> MessageTextField:
    """A user's message in a request body (chat, edit): checked by ``services.message_text_clean``."""
    return MessageTextField(
        trim_whitespace=False,
        validators=[services.message_text_clean],
        help_text="1 to 4000 characters, not whitespace only.",
        error_messages={
            "required": "Message is required",
            "null": "Message content cannot be empty",
            "blank": "Message content cannot be empty",
            "invalid": "Message must be a string",
        },
    )


class ChatRequestSerializer(NoExtraFieldsMixin, serializers.Serializer):
    conversation_id = ConversationIdField(
        required=False, allow_null=True, help_text="The conversation to continue; omit or null to start one."
    )
    message = message_field()


class ToolCallSerializer(serializers.Serializer):
    """One tool the assistant called while writing a reply (issue 13), in the order it called them."""

    name = serializers.CharField(help_text="add_task, list_tasks, complete_task, delete_task or update_task.")
    arguments = serializers.JSONField(help_text="The arguments the model sent (an object; text if it was not JSON).")
    result = serializers.JSONField(help_text='The tool\'s result, or {"error": sentence} when it failed.')


class ChatResponseSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message = serializers.CharField(source="content", help_text="The assistant's reply.")
    role = serializers.CharField(default="assistant")
    created_at = serializers.DateTimeField()
    message_id = serializers.UUIDField(source="id", help_text="The reply's id.")
    status = serializers.CharField(help_text="complete, or failed/stopped for a reply that did not finish.")
    tool_calls = ToolCallSerializer(many=True, help_text="The tools called for this reply, in order; empty if none.")
    parent_id = serializers.UUIDField(
        help_text="The user's message this reply answers (after an edit: its new version)."
    )
    version = serializers.IntegerField(min_value=1, help_text="Which version of its turn the reply is (1-based).")
    version_count = serializers.IntegerField(min_value=1, help_text="How many versions its turn has.")


class ConversationSummarySerializer(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    message_count = serializers.IntegerField()
    pinned = serializers.BooleanField(help_text="Pinned conversations come first in the list.")
    archived = serializers.BooleanField(help_text="Archived ones are listed only with ?archived=true.")
    model = model_shown()
    instructions = instructions_shown()


class ConversationListSerializer(serializers.Serializer):
    conversations = ConversationSummarySerializer(many=True)
    total = serializers.IntegerField()
    archived = serializers.BooleanField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


def limit_field(*, maximum: int, default: int) -> serializers.IntegerField:
    """A ``limit`` query parameter of 1..``maximum``, with one sentence for every way it is wrong."""
    message = f"limit must be an integer between 1 and {maximum}"
    return serializers.IntegerField(
        min_value=1,
        max_value=maximum,
        default=default,
        error_messages={"invalid": message, "min_value": message, "max_value": message},
    )


class QueryParamsSerializer(serializers.Serializer):
    """Validates a query string, where an empty value (``?offset=``) is a value, not an absence.

    DRF reads ``QueryDict`` input with HTML-form rules, which turn an empty value into "not
    given" and so into the default; ``?offset=&limit=`` would then answer 200 as if the client
    had asked for nothing. Here the query string is passed as plain values (the last one of a
    repeated key, as ``QueryDict`` gives), so an empty value meets the field's own 400
    (contract: Errors; a schema-violating request is refused).

    Args:
        query_params: ``request.query_params`` (``None`` for the unbound instance the
            OpenAPI generator builds to read the fields).
    """

    def __init__(self, query_params: Any = None, **kwargs: Any) -> None:
        if query_params is not None:
            kwargs["data"] = query_params.dict()
        super().__init__(**kwargs)


class StrictBooleanField(serializers.BooleanField):
    """``true`` or ``false`` only: DRF's own also takes ``1``, ``"yes"`` and ``"on"`` in a JSON body."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class ConversationListQuerySerializer(QueryParamsSerializer):
    archived = serializers.BooleanField(
        default=False,
        help_text="true: only the archived conversations; false (default): the others.",
        error_messages={"invalid": "archived must be true or false"},
    )
    limit = limit_field(maximum=selectors.LIST_LIMIT_MAX, default=selectors.LIST_LIMIT_DEFAULT)
    # The upper bound keeps OFFSET within what PostgreSQL and SQLite accept (else a 500).
    offset = serializers.IntegerField(
        min_value=0,
        max_value=OFFSET_MAX,
        default=0,
        error_messages={
            "invalid": "offset must be an integer of 0 or more",
            "min_value": "offset must be an integer of 0 or more",
            "max_value": f"offset must be at most {OFFSET_MAX}",
        },
    )


class MessageSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=["user", "assistant"])
    content = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "streaming", "complete", "failed", "stopped"])
    created_at = serializers.DateTimeField()
    tool_calls = ToolCallSerializer(many=True, help_text="A reply's tool calls, in order; empty if none.")
    version = serializers.IntegerField(
        min_value=1, help_text="Which version of its turn this is (1-based): an edit or a regeneration adds one."
    )
    version_count = serializers.IntegerField(min_value=1, help_text="How many versions its turn has.")


class ConversationHeaderSerializer(serializers.Serializer):
    """The conversation's own fields in the detail (the messages are streamed after them)."""

    id = serializers.UUIDField()
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    model = model_shown()
    instructions = instructions_shown()


class ConversationDetailSerializer(ConversationHeaderSerializer):
    """The detail's documented shape (the body itself is written by ``api.streaming``)."""

    messages = MessageSerializer(many=True)


class EditRequestSerializer(NoExtraFieldsMixin, serializers.Serializer):
    """``POST .../messages/{message_id}/edit``: the message's new text (issue 14)."""

    message = message_field()


class ConversationUpdateSerializer(NoExtraFieldsMixin, serializers.Serializer):
    """``PATCH`` a conversation: any of its title, ``pinned`` and ``archived`` (issue 15), ``model`` and
    ``instructions`` (issue 14)."""

    pinned = StrictBooleanField(required=False, error_messages={"invalid": "pinned must be true or false"})
    archived = StrictBooleanField(required=False, error_messages={"invalid": "archived must be true or false"})
    title = TitleField(
        required=False,
        trim_whitespace=False,
        error_messages={
            "required": "Title is required",
            "null": "Title cannot be empty",
            "blank": "Title cannot be empty",
            "invalid": "Title must be a string",
        },
    )

    model = ModelChoiceField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text='One of the models GET /api/models lists; "" for the server\'s default. Also your last choice, '
        "which your new conversations take.",
        error_messages={"null": "model must be a string", "invalid": "model must be a string"},
    )
    instructions = InstructionsField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=f"Its own system prompt, up to {INSTRUCTIONS_MAX_CHARS} characters; empty clears it.",
        error_messages={"null": "instructions must be a string", "invalid": "instructions must be a string"},
    )

    def validate_title(self, value: str) -> str:
        # A validator's return value is ignored; this keeps title_clean's trimmed title.
        return services.title_clean(value)

    def validate_model(self, value: str) -> str:
        return services.model_clean(value)

    def validate_instructions(self, value: str) -> str:
        return services.instructions_clean(value)


class MessagePageQuerySerializer(QueryParamsSerializer):
    before = MessageIdField(required=False, help_text="A message id: return the page just older than it.")
    limit = limit_field(maximum=selectors.PAGE_LIMIT_MAX, default=selectors.PAGE_LIMIT_DEFAULT)


class MessagePageSerializer(serializers.Serializer):
    messages = MessageSerializer(many=True, help_text="Oldest first.")
    next_before = serializers.UUIDField(allow_null=True, help_text="Cursor for the next older page, null at the start.")
    has_more = serializers.BooleanField()


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": search.QUERY_MAX_CHARS, "pattern": TEXT_PATTERN})
class SearchTextField(StrictCharField):
    """Search text: 1 to 200 characters as sent, not whitespace only, no NUL; searched trimmed."""


class SearchQuerySerializer(QueryParamsSerializer):
    """``GET /api/{user_id}/search``'s query string (issue 15, "Search"; docs/search.md)."""

    q = SearchTextField(
        max_length=search.QUERY_MAX_CHARS,
        trim_whitespace=False,
        help_text=(
            "What to find, 1 to 200 characters. On PostgreSQL, web-search syntax: words (stemmed: zebras "
            'finds zebra), "a quoted phrase", -excluded, or. Elsewhere every word, case-insensitively.'
        ),
        error_messages={
            "required": "q is required",
            "blank": "Search query cannot be empty",
            "max_length": f"Search query must be at most {search.QUERY_MAX_CHARS} characters",
        },
    )
    limit = limit_field(maximum=search.LIMIT_MAX, default=search.LIMIT_DEFAULT)

    def validate_q(self, value: str) -> str:
        return search.query_clean(value)


class SearchResultSerializer(serializers.Serializer):
    conversation_id = serializers.UUIDField()
    message_id = serializers.UUIDField(allow_null=True, help_text="The message found; null for a title match.")
    title = serializers.CharField(allow_blank=True, help_text="The conversation's title.")
    snippet = serializers.CharField(
        allow_blank=True,
        help_text="HTML: the text around the match, escaped, with the matched words in <mark> (the only tag).",
    )
    created_at = serializers.DateTimeField(help_text="The message's time; the conversation's for a title match.")


class SearchResponseSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True, help_text="Best matches first (newest first in the fallback).")
    query = serializers.CharField(help_text="The search text, trimmed.")


class TokenRequestSerializer(NoExtraFieldsMixin, serializers.Serializer):
    username = UsernameField(max_length=150)
    password = PasswordField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class TokenResponseSerializer(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField(help_text="Seconds until the token expires.")
    user_id = serializers.CharField(help_text="The token's subject: use it in /api/{user_id}/...")


class ModelSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The model's id, as PATCH .../conversations/{id} takes it.")


class ModelsSerializer(serializers.Serializer):
    """``GET /api/models`` (issue 14): the models a conversation may use."""

    models = ModelSerializer(many=True, help_text="The default first, then the others by name.")
    default = serializers.CharField(
        help_text='What a conversation without a model of its own uses: OPENAI_MODEL (offline: "offline").'
    )


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A short title.")
    detail = serializers.CharField(help_text="A sentence for a person.")
