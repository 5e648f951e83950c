"""The five task tools, one definition for every caller: the agent, the offline assistant, MCP.

Names, arguments and results are the original design's (contract: "Later features";
issue 13): ``add_task(title, description?)`` -> ``{task_id, status: "created", title}``;
``list_tasks(status)`` -> ``[{id, title, completed}]``; ``complete_task(task_id)``,
``delete_task(task_id)``, ``update_task(task_id, title?, description?)`` ->
``{task_id, status: "completed" | "deleted" | "updated", title}``.

The user a tool acts for is an argument of ``call_tool`` given by the caller from the
request's verified identity, never read from the model's arguments: a ``user_id`` the
model adds is ignored, and another user's task number is "task N not found". A tool that
fails (bad arguments, a task not found, the database) answers ``{"error": "..."}`` so the
model can say so and the turn goes on. Each call is one transaction, and so is its record
on the reply that made it (``call_tool``'s ``record``): a task is never changed without the
reply knowing, whatever happens to the turn afterwards.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import translation
from django.utils.translation import gettext, ngettext

from conversations.assistant.base import ToolCall, ToolSpec
from tasks import services
from tasks.models import TASK_DESCRIPTION_MAX_LENGTH, TASK_TITLE_MAX_LENGTH, Task

logger = logging.getLogger(__name__)

# Arguments as the model sent them are kept with the call; a model that sends a novel is cut.
ARGUMENTS_MAX_CHARS = 8000

_TASK_ID = {"type": "integer", "minimum": 1, "description": 'The task\'s number, as the user says it ("task 3" is 3).'}
_TITLE = {"type": "string", "minLength": 1, "maxLength": TASK_TITLE_MAX_LENGTH, "description": "A short title."}
_DESCRIPTION = {"type": "string", "maxLength": TASK_DESCRIPTION_MAX_LENGTH, "description": "Optional details."}


SPECS: tuple[ToolSpec, ...] = (
    ToolSpec(
        "add_task",
        "Add a task to the user's list. Use it when the user asks to add, create or be reminded of something.",
        {"type": "object", "properties": {"title": _TITLE, "description": _DESCRIPTION}, "required": ["title"]},
    ),
    ToolSpec(
        "list_tasks",
        "List the user's tasks: all of them, only the pending ones, or only the completed ones.",
        {
            "type": "object",
            "properties": {"status": {"type": "string", "enum": list(services.STATUSES), "default": "all"}},
            "required": [],
        },
    ),
    ToolSpec(
        "complete_task",
        "Mark one of the user's tasks as completed, by its number.",
        {"type": "object", "properties": {"task_id": _TASK_ID}, "required": ["task_id"]},
    ),
    ToolSpec(
        "delete_task",
        "Delete one of the user's tasks, by its number.",
        {"type": "object", "properties": {"task_id": _TASK_ID}, "required": ["task_id"]},
    ),
    ToolSpec(
        "update_task",
        "Change the title and/or the description of one of the user's tasks, by its number.",
        {
            "type": "object",
            "properties": {"task_id": _TASK_ID, "title": _TITLE, "description": _DESCRIPTION},
            "required": ["task_id"],
        },
    ),
)
NAMES = tuple(spec.name for spec in SPECS)


class ToolArgumentError(Exception):
    """The model's arguments are not what the tool takes (a sentence for the model)."""


def _parse(arguments: object) -> dict[str, Any]:
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise ToolArgumentError("the arguments are not valid JSON") from None
    if not isinstance(arguments, dict):
        raise ToolArgumentError("the arguments must be a JSON object")
    return arguments


def _task_id(arguments: dict[str, Any]) -> int:
    value = arguments.get("task_id")
    # Models often send numbers as text ("3"), sometimes as 3.0; anything else is refused.
    text = value.strip().lstrip("#") if isinstance(value, str) else ""
    if text.isascii() and text.isdecimal():  # not "²", which isdigit() takes and int() refuses
        value = int(text)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ToolArgumentError("task_id must be a task number, such as 3")
    return value


def _text(arguments: dict[str, Any], name: str) -> str | None:
    value = arguments.get(name)
    if value is not None and not isinstance(value, str):
        raise ToolArgumentError(f"{name} must be text")
    return value


def _done(task: Task, status: str) -> dict[str, Any]:
    return {"task_id": task.number, "status": status, "title": task.title}


def _run(user_id: str, name: str, arguments: dict[str, Any]) -> Any:
    if name == "add_task":
        title = _text(arguments, "title")
        if title is None:
            raise ToolArgumentError("title is required")
        task = services.task_create(user_id=user_id, title=title, description=_text(arguments, "description"))
        return _done(task, "created")
    if name == "list_tasks":
        status = arguments.get("status") or "all"
        if status not in services.STATUSES:
            raise ToolArgumentError("status must be one of all, pending, completed")
        return [
            {"id": task.number, "title": task.title, "completed": task.completed}
            for task in services.task_list(user_id=user_id, status=status)
        ]
    task_id = _task_id(arguments)
    if name == "complete_task":
        return _done(services.task_complete(user_id=user_id, number=task_id), "completed")
    if name == "delete_task":
        return _done(services.task_delete(user_id=user_id, number=task_id), "deleted")
    title, description = _text(arguments, "title"), _text(arguments, "description")
    if title is None and description is None:
        raise ToolArgumentError("give a new title or description")
    task = services.task_update(user_id=user_id, number=task_id, title=title, description=description)
    return _done(task, "updated")


def _shown(arguments: Any) -> Any:
    """The arguments as kept with the call: as sent, cut to ``ARGUMENTS_MAX_CHARS`` when a model sends a novel."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return arguments if len(text) <= ARGUMENTS_MAX_CHARS else text[:ARGUMENTS_MAX_CHARS] + "…"


def _outcome(user_id: str, name: str, arguments: object) -> ToolCall:
    parsed: Any = arguments
    try:
        parsed = _parse(arguments)
        if name not in NAMES:
            raise ToolArgumentError(f"there is no tool named {name!r}; the tools are {', '.join(NAMES)}")
        result = _run(user_id, name, parsed)
    except ToolArgumentError as exc:
        result = {"error": f"{name}: {exc}"}
    except services.TaskNotFound as exc:
        result = {"error": f"task {exc.number} not found"}
    except ValidationError as exc:
        result = {"error": f"{name}: {exc.messages[0]}"}
    except DatabaseError:
        raise  # the caller's transaction is spoilt: call_tool answers for it
    except Exception:
        # A bug of ours must not end the person's turn: the model is told, and the log keeps it.
        logger.exception("tool %s failed", name)
        result = {"error": f"{name} failed unexpectedly; try again"}
    call = {"name": name, "arguments": _shown(parsed), "result": result}
    return ToolCall(name=name, arguments=call["arguments"], result=result, summary=summary(call))


def call_tool(
    *, user_id: str, name: str, arguments: object, record: Callable[[ToolCall], None] | None = None
) -> ToolCall:
    """Run the tool ``name`` for ``user_id`` with the model's ``arguments``; never raises for the model's mistakes.

    The tool's writes and ``record(call)`` are one transaction: a task is never added
    without the reply that added it knowing, even if the turn is stopped or the process
    dies right after (issue 13: "each tool call is one transaction").

    Args:
        user_id: the owner, from the request's verified identity (the JWT subject).
        name: one of ``NAMES``.
        arguments: a JSON object as text (as models send it) or already parsed.
        record: saves the call with the reply (``conversations.services``); ``None`` for
            a door without a reply (MCP).

    Returns:
        The call with its result, or with ``{"error": sentence}``: an unknown tool, arguments
        that are not a JSON object or miss/mistype a field, a task not found ("task 3 not
        found"), a rule broken (a blank title), the database failing (nothing written), or
        any other error (logged).
    """
    try:
        with transaction.atomic():
            call = _outcome(user_id, name, arguments)
            if record is not None:
                record(call)
        return call
    except DatabaseError:
        logger.warning("tool %s failed on the database", name, exc_info=True)
        result = {"error": f"{name} failed: the task list could not be reached; try again"}
        call = {"name": name, "arguments": _shown(arguments), "result": result}
        return ToolCall(name=name, arguments=call["arguments"], result=result, summary=summary(call))


class Toolbox:
    """The task tools bound to one user, for one turn of the assistant (``conversations.assistant.Toolbox``).

    Args:
        user_id: the owner (the JWT subject of the request).
        run_sync: how to run a database function from async code (``conversations.services.db_async``).
        record: saves each call on the reply, in the tool's transaction (``call_tool``).
        done: calls already made for this user message, before a failure (a retry).
    """

    specs = SPECS

    @staticmethod
    def summary_text(call: dict[str, Any]) -> str:
        """The page's line about a stored call, in the page's language (conversations/templatetags/chat.py)."""
        return summary_text(call)

    def __init__(
        self,
        *,
        user_id: str,
        run_sync: Callable[[Callable[..., ToolCall]], Callable[..., Awaitable[ToolCall]]],
        record: Callable[[ToolCall], None] | None = None,
        done: Sequence[ToolCall] = (),
    ) -> None:
        self.user_id = user_id
        self.done = tuple(done)
        self.calls_made = 0
        self._run_sync = run_sync
        self._record = record

    async def call(self, name: str, arguments: object) -> ToolCall:
        """``call_tool`` for this toolbox's user, off the event loop.

        The call runs to its end even if the awaiting turn is cancelled meanwhile (a Stop,
        a deadline): its writes and its record on the reply are one transaction either way.
        """
        self.calls_made += 1
        run = self._run_sync(call_tool)(user_id=self.user_id, name=name, arguments=arguments, record=self._record)
        return await asyncio.shield(asyncio.ensure_future(run))


def summary(call: dict[str, Any]) -> str:
    """One line for a person about a stored tool call: "Added task 4: Buy milk", "Task 7 not found".

    English, whatever the request's language: it is stored with the call and sent by the API and
    the socket. The page shows ``summary_text`` instead, in its own language (issue 16).

    Args:
        call: ``{"name", "arguments", "result"}`` as stored with the reply.
    """
    with translation.override(settings.LANGUAGE_CODE):
        return summary_text(call)


def summary_text(call: dict[str, Any]) -> str:
    """``summary`` in the active language. A failed call's line is the tool's own (English) error."""
    name, result = call.get("name"), call.get("result")
    if isinstance(result, dict) and "error" in result:
        error = str(result["error"])
        # "Task 7 not found"; a sentence that starts with the tool's name keeps it as named.
        return error if error.startswith(str(name)) else error[:1].upper() + error[1:]
    if name == "list_tasks" and isinstance(result, list):
        status = (call.get("arguments") or {}).get("status") if isinstance(call.get("arguments"), dict) else None
        count = len(result)
        if status == "pending":
            return ngettext("Listed %(count)s pending task", "Listed %(count)s pending tasks", count) % {"count": count}
        if status == "completed":
            text = ngettext("Listed %(count)s completed task", "Listed %(count)s completed tasks", count)
            return text % {"count": count}
        return ngettext("Listed %(count)s task", "Listed %(count)s tasks", count) % {"count": count}
    if isinstance(result, dict) and "task_id" in result:
        verb = {
            "created": gettext("Added task %(number)s: %(title)s"),
            "completed": gettext("Completed task %(number)s: %(title)s"),
            "deleted": gettext("Deleted task %(number)s: %(title)s"),
            "updated": gettext("Updated task %(number)s: %(title)s"),
        }.get(str(result.get("status")), gettext("Changed task %(number)s: %(title)s"))
        return verb % {"number": result["task_id"], "title": result.get("title", "")}
    return gettext("Called %(tool)s") % {"tool": name}
