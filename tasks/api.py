"""The tasks API (issue 13): ``/api/{user_id}/tasks`` and ``/api/{user_id}/tasks/{task_id}``.

The same rules and error bodies as the chat contract (contract: HTTP API, Errors): a valid
token whose subject is the path's ``user_id`` (else 401 / 403), someone else's task or a
malformed ``task_id`` is 404 "Task not found", bad input is 400. ``task_id`` is the task's
per-user ``number``; a task is ``{"id", "number", "title", "description", "completed",
"created_at", "updated_at"}`` with ``id`` equal to ``number``. Thin doors over ``tasks.services``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from conversations.api.serializers import (
    TEXT_PATTERN,
    ErrorSerializer,
    NoExtraFieldsMixin,
    QueryParamsSerializer,
    StrictBooleanField,
    StrictCharField,
)
from conversations.api.views import OwnerAPIView
from tasks import services
from tasks.models import TASK_DESCRIPTION_MAX_LENGTH, TASK_TITLE_MAX_LENGTH, Task

TASK_NOT_FOUND_DETAIL = "Task not found"
_INT_MAX = 2_147_483_647

_USER_ID = OpenApiParameter("user_id", str, OpenApiParameter.PATH, description="The token's subject (sub).")
_TASK_ID = OpenApiParameter(
    "task_id",
    {"type": "integer", "minimum": 1, "maximum": _INT_MAX},
    OpenApiParameter.PATH,
    description='The task\'s number ("task 3" is 3).',
)
_ERRORS = {
    401: OpenApiResponse(ErrorSerializer, description="Token missing, malformed, badly signed or expired."),
    403: OpenApiResponse(ErrorSerializer, description="The path's user id is not the token's subject."),
}
_BAD_INPUT = {400: OpenApiResponse(ErrorSerializer, description="Invalid input.")}
_NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No such task for this user (or a malformed id).")}


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": TASK_TITLE_MAX_LENGTH, "pattern": TEXT_PATTERN})
class TaskTitleField(StrictCharField):
    """1 to 200 characters as sent, not blank, no NUL; stored trimmed."""


# "+", not "*": drf-spectacular publishes a blank-allowed field as oneOf [this, {maxLength: 0}],
# and "" must match only the second, or the schema calls a valid request invalid (schemathesis
# found "description": "" reported as a schema-violating request accepted).
@extend_schema_field({"type": "string", "maxLength": TASK_DESCRIPTION_MAX_LENGTH, "pattern": r"^[^\x00]+$"})
class TaskDescriptionField(StrictCharField):
    """Up to 2000 characters as sent, no NUL; stored trimmed. May be empty."""


def _title_field(*, required: bool) -> TaskTitleField:
    return TaskTitleField(
        required=required,
        trim_whitespace=False,
        # First, so its sentence is the one shown (DRF's own NUL check comes after it).
        validators=[services.task_title_clean],
        error_messages={
            "required": "Title is required",
            "null": "Title cannot be empty",
            "blank": "Title cannot be empty",
            "invalid": "Title must be a string",
        },
    )


def _description_field() -> TaskDescriptionField:
    return TaskDescriptionField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        validators=[services.task_description_clean],
        error_messages={"null": "Description must be a string", "invalid": "Description must be a string"},
    )


class TaskSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="number", help_text="The task's number (the same as number).")
    number = serializers.IntegerField(help_text='Per user 1, 2, 3..., never reused: "task 3".')
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    completed = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class TaskListSerializer(serializers.Serializer):
    tasks = TaskSerializer(many=True, help_text="By number, oldest first.")


class TaskListQuerySerializer(QueryParamsSerializer):
    status = serializers.ChoiceField(
        choices=list(services.STATUSES),
        default="all",
        error_messages={"invalid_choice": "status must be one of all, pending, completed"},
    )


class TaskCreateSerializer(NoExtraFieldsMixin, serializers.Serializer):
    title = _title_field(required=True)
    description = _description_field()


class TaskUpdateSerializer(NoExtraFieldsMixin, serializers.Serializer):
    title = _title_field(required=False)
    description = _description_field()
    completed = StrictBooleanField(
        required=False,
        error_messages={"invalid": "completed must be true or false", "null": "completed must be true or false"},
    )


def _number(task_id: str) -> int:
    """The path's ``task_id`` as a number; anything else is the same 404 as a missing task."""
    if not task_id.isascii() or not task_id.isdigit() or not 1 <= int(task_id) <= _INT_MAX:
        raise exceptions.NotFound(TASK_NOT_FOUND_DETAIL)
    return int(task_id)


def _task_or_404(call: Any, **kwargs: Any) -> Task:
    try:
        return call(**kwargs)
    except services.TaskNotFound:
        raise exceptions.NotFound(TASK_NOT_FOUND_DETAIL) from None


class TaskListView(OwnerAPIView):
    @extend_schema(
        operation_id="tasks_list",
        parameters=[_USER_ID, TaskListQuerySerializer],
        responses={200: TaskListSerializer, **_BAD_INPUT, **_ERRORS},
    )
    def get(self, request: Request, user_id: str) -> Response:
        """``GET /api/{user_id}/tasks?status=all|pending|completed``: the user's tasks by number."""
        query = TaskListQuerySerializer(request.query_params)
        query.is_valid(raise_exception=True)
        tasks = services.task_list(user_id=user_id, status=query.validated_data["status"])
        return Response(TaskListSerializer({"tasks": tasks}).data)

    @extend_schema(
        operation_id="tasks_create",
        parameters=[_USER_ID],
        request=TaskCreateSerializer,
        responses={201: TaskSerializer, **_BAD_INPUT, **_ERRORS},
    )
    def post(self, request: Request, user_id: str) -> Response:
        """``POST /api/{user_id}/tasks`` ``{title, description?}``: add a task (the next number)."""
        form = TaskCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        task = services.task_create(user_id=user_id, **form.validated_data)
        return Response(TaskSerializer(task).data, status=status.HTTP_201_CREATED)


class TaskDetailView(OwnerAPIView):
    @extend_schema(
        operation_id="tasks_retrieve",
        parameters=[_USER_ID, _TASK_ID],
        responses={200: TaskSerializer, **_ERRORS, **_NOT_FOUND},
    )
    def get(self, request: Request, user_id: str, task_id: str) -> Response:
        """``GET /api/{user_id}/tasks/{task_id}``: one task."""
        task = _task_or_404(services.task_get_for_user, user_id=user_id, number=_number(task_id))
        return Response(TaskSerializer(task).data)

    @extend_schema(
        operation_id="tasks_update",
        parameters=[_USER_ID, _TASK_ID],
        request=TaskUpdateSerializer,
        responses={200: TaskSerializer, **_BAD_INPUT, **_ERRORS, **_NOT_FOUND},
    )
    def patch(self, request: Request, user_id: str, task_id: str) -> Response:
        """``PATCH /api/{user_id}/tasks/{task_id}`` ``{title?, description?, completed?}``: change it."""
        number = _number(task_id)
        form = TaskUpdateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        task = _task_or_404(services.task_update, user_id=user_id, number=number, **form.validated_data)
        return Response(TaskSerializer(task).data)

    @extend_schema(
        operation_id="tasks_destroy",
        parameters=[_USER_ID, _TASK_ID],
        responses={204: None, **_ERRORS, **_NOT_FOUND},
    )
    def delete(self, request: Request, user_id: str, task_id: str) -> Response:
        """``DELETE /api/{user_id}/tasks/{task_id}``: delete it (its number is not given again)."""
        _task_or_404(services.task_delete, user_id=user_id, number=_number(task_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
