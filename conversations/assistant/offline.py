"""The built-in offline assistant: no network, no key, deterministic.

It is the default on a bare machine. It manages the user's tasks from plain English
through the same five tools a model calls (issue 13: "add a task to buy milk", "what's
pending?", "mark task 3 complete", "delete the meeting task", "rename task 1 to ...").
Anything else gets a short help reply that quotes the user, says what it can do and how
to connect a real model. It streams its reply in chunks so streaming can be seen and tested.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from conversations.assistant.base import ChatOptions, ChatTurn, Toolbox, ToolCall, markdown_literal

QUOTE_MAX_CHARS = 200
_N = r"#?(?P<number>\d{1,9})"
_POLITE = r"(?:(?:please|ok|okay|hey|now)[\s,]+)*(?:(?:can|could|would|will) you\s+)?"
_END = r"[\s.!?]*$"


@dataclass(frozen=True)
class Request:
    """What the user asked for: a tool and its arguments, or a delete/complete by words."""

    tool: str
    arguments: dict[str, Any]
    words: str = ""  # "the meeting task": find the task by these words first


def _title(text: str) -> str:
    text = text.strip().strip("\"'“”‘’").strip()
    return text[:1].upper() + text[1:]


_RULES: tuple[tuple[re.Pattern[str], Any], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), build)
    for pattern, build in (
        # complete, by number
        (
            rf"^{_POLITE}(?:mark|set|tick(?: off)?|check(?: off)?)\s+task\s+{_N}(?:\s+(?:as\s+)?(?:complete|completed|done|finished))?{_END}",
            lambda m: Request("complete_task", {"task_id": int(m["number"])}),
        ),
        (
            rf"^{_POLITE}(?:complete|finish|close)\s+task\s+{_N}{_END}",
            lambda m: Request("complete_task", {"task_id": int(m["number"])}),
        ),
        (
            rf"^(?:i(?:'ve| have)?\s+)?(?:finished|completed|done(?: with)?)\s+task\s+{_N}{_END}",
            lambda m: Request("complete_task", {"task_id": int(m["number"])}),
        ),
        (
            rf"^task\s+{_N}\s+is\s+(?:done|complete|completed|finished){_END}",
            lambda m: Request("complete_task", {"task_id": int(m["number"])}),
        ),
        # delete, by number or by words
        (
            rf"^{_POLITE}(?:delete|remove|drop|erase|cancel)\s+task\s+{_N}{_END}",
            lambda m: Request("delete_task", {"task_id": int(m["number"])}),
        ),
        (
            rf"^{_POLITE}(?:delete|remove|drop|erase|cancel)\s+(?:the\s+|my\s+)?(?P<words>.+?)\s+(?:task|to-?do){_END}",
            lambda m: Request("delete_task", {}, words=m["words"]),
        ),
        (
            rf"^{_POLITE}(?:delete|remove|drop|erase|cancel)\s+(?:the\s+|my\s+)?(?:task|to-?do)\s+(?:about|called|named|for)\s+(?P<words>.+?){_END}",
            lambda m: Request("delete_task", {}, words=m["words"]),
        ),
        # rename, by number
        (
            rf"^{_POLITE}(?:rename|change|update|retitle|edit)\s+(?:the\s+(?:title|name)\s+of\s+)?task\s+{_N}\s+(?:to|as|into)\s*:?\s+(?P<title>.+?){_END}",
            lambda m: Request("update_task", {"task_id": int(m["number"]), "title": _title(m["title"])}),
        ),
        # add
        (
            # A joining word after "task" is required: "create a task queue in Python" is not a request.
            rf"^{_POLITE}(?:add|create|make|new|start)\s+(?:a\s+|an\s+)?(?:new\s+)?(?:task|to-?do|reminder)\s*(?:\s(?:to|for|called|named|saying)|:|-|–)\s*(?P<title>.+?){_END}",
            lambda m: Request("add_task", {"title": _title(m["title"])}),
        ),
        (
            rf"^{_POLITE}remind me to\s+(?P<title>.+?){_END}",
            lambda m: Request("add_task", {"title": _title(m["title"])}),
        ),
        (
            rf"^{_POLITE}(?:add|put)\s+(?P<title>.+?)\s+(?:to|on)\s+my\s+(?:tasks|task list|list|to-?do list|to-?dos){_END}",
            lambda m: Request("add_task", {"title": _title(m["title"])}),
        ),
        # list: only about "my tasks" ("Is my package still pending?" and "tasks in Python" are not)
        (
            r"^(?:(?:please|ok|okay|hey)[\s,]+)*(?:what(?:'s| is| are)|anything|show(?: me)?|list)\s+(?:still\s+)?(?:my\s+)?pending(?:\s+tasks)?[\s.!?]*$"
            r"|\b(?:my|the)\s+(?:pending|open|outstanding|unfinished|incomplete|remaining)\s+tasks\b"
            r"|^(?:show|list)(?: me)?\s+(?:pending|open|outstanding|unfinished|incomplete|remaining)\s+tasks\b"
            r"|^which\s+tasks\s+are\s+(?:pending|open|left)\b"
            r"|^what(?:'s| is| do i have)\s+(?:left|remaining|still)\s+to\s+do\b|^what\s+do\s+i\s+have\s+left\b",
            lambda m: Request("list_tasks", {"status": "pending"}),
        ),
        (
            r"^what\s+(?:have i|did i|i've)\s+(?:completed|finished|done)\b"
            r"|^(?:show|list)(?: me)?\s+(?:my\s+|the\s+)?(?:completed|finished|done)\s+tasks\b"
            r"|^which\s+tasks\s+(?:have i|did i|i've|are)\s+(?:completed|finished|done)\b",
            lambda m: Request("list_tasks", {"status": "completed"}),
        ),
        (
            r"^(?:(?:please|ok|okay|hey)[\s,]+)*(?:(?:can|could|would) you\s+)?"
            r"(?:show|list|display|see|view|get|give|tell)(?:\s+me)?(?:\s+all)?(?:\s+of)?\s+(?:my|the)\s+tasks"
            rf"{_END}|^(?:what are\s+)?(?:all\s+)?my\s+tasks{_END}|^what\s+tasks\s+do\s+i\s+have\b|^tasks{_END}",
            lambda m: Request("list_tasks", {"status": "all"}),
        ),
    )
)


def understand(text: str) -> Request | None:
    """The task request in ``text`` (one sentence of plain English), or ``None`` if it is not one."""
    text = " ".join(text.split())
    for pattern, build in _RULES:
        found = pattern.search(text)
        if found:
            return build(found)
    return None


def offline_reply(history: Sequence[ChatTurn]) -> str:
    """The offline assistant's help reply to ``history`` (deterministic): what it can do, how to connect a model."""
    last = next((turn.content for turn in reversed(history) if turn.role == "user"), "")
    quoted = " ".join(last.split())
    if len(quoted) > QUOTE_MAX_CHARS:
        quoted = quoted[: QUOTE_MAX_CHARS - 1].rstrip() + "…"
    user_turns = sum(1 for turn in history if turn.role == "user")
    return (
        f"You wrote: “{quoted}”.\n\n"
        "I am the built-in **offline assistant**: I cannot hold a conversation, but I can manage your tasks. "
        "Try “add a task to buy milk”, “show my tasks”, “what's pending?”, “mark task 1 complete”, "
        "“rename task 1 to Buy oat milk” or “delete task 1”. "
        f"This is message {user_turns} of our conversation, and it has been saved.\n\n"
        "To get real answers, connect a model: set `OPENAI_API_KEY` (OpenAI) or "
        "`OPENAI_BASE_URL` (any OpenAI-compatible server such as Ollama, vLLM or LM Studio) "
        "and `OPENAI_MODEL`, then restart the server."
    )


def _task_line(task: dict[str, Any]) -> str:
    title = markdown_literal(str(task.get("title", "")))
    return (
        f"- **{task.get('id')}.** ~~{title}~~ (completed)"
        if task.get("completed")
        else f"- **{task.get('id')}.** {title}"
    )


def _confirmation(request: Request, call: ToolCall) -> str:
    result = call.result
    if isinstance(result, dict) and "error" in result:
        error = str(result["error"])
        if error.endswith("not found"):
            return f"I could not find {error.removesuffix(' not found')}. Say “show my tasks” to see their numbers."
        return f"I could not do that: {error}."
    if call.name == "list_tasks":
        status = request.arguments.get("status", "all")
        kind = {"pending": "pending ", "completed": "completed "}.get(status, "")
        if not result:
            return f"You have no {kind}tasks." if kind else "You have no tasks yet. Say “add a task to …” to add one."
        heading = {"pending": "Your pending tasks:", "completed": "Your completed tasks:"}.get(status, "Your tasks:")
        return heading + "\n\n" + "\n".join(_task_line(task) for task in result)
    title = markdown_literal(str(result.get("title", "")))
    number = result.get("task_id")
    return {
        "created": f"Added task {number}: “{title}”.",
        "completed": f"Marked task {number}, “{title}”, as completed.",
        "deleted": f"Deleted task {number}, “{title}”.",
        "updated": f"Renamed task {number} to “{title}”.",
    }.get(str(result.get("status")), "Done.")


class OfflineAssistant:
    """Streams its reply word by word, ``chunk_delay`` seconds apart, after the tool calls it made."""

    name = "offline"

    def __init__(self, *, chunk_delay: float = 0.0, words_per_chunk: int = 3) -> None:
        self.chunk_delay = chunk_delay
        self.words_per_chunk = words_per_chunk

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: Toolbox | None = None, options: ChatOptions | None = None
    ) -> AsyncIterator[str | ToolCall]:
        # ``options`` (a conversation's model and instructions, issue 14) mean nothing offline.
        last = next((turn.content for turn in reversed(history) if turn.role == "user"), "")
        request = understand(last) if toolbox is not None else None
        acted = [call for call in toolbox.done if call.name != "list_tasks"] if toolbox is not None else []
        if request is not None and acted:
            # A retry after a failure: the tools already acted for this message; say so, do not act again.
            text = "Already done: " + " ".join(f"{markdown_literal(call.summary)}." for call in acted)
        elif request is None:
            text = offline_reply(history)
        else:
            assert toolbox is not None
            text = ""
            async for item in self._act(request, toolbox):
                if isinstance(item, str):
                    text = item
                else:
                    yield item
        async for chunk in self._chunks(text):
            yield chunk

    async def _act(self, request: Request, toolbox: Toolbox) -> AsyncIterator[str | ToolCall]:
        if not request.words:
            call = await toolbox.call(request.tool, request.arguments)
            yield call
            yield _confirmation(request, call)
            return
        # "Delete the meeting task": look the task up by its words first, as a model would.
        listing = await toolbox.call("list_tasks", {"status": "all"})
        yield listing
        tasks = listing.result if isinstance(listing.result, list) else []
        words = request.words.strip("\"'“”‘’ ")
        # Whole words: "the old task" is not "Buy gold".
        pattern = re.compile(rf"(?<!\w){re.escape(words)}(?!\w)", re.IGNORECASE) if words else None
        matches = [task for task in tasks if pattern and pattern.search(str(task.get("title", "")))]
        if len(matches) != 1:
            quoted = markdown_literal(request.words.strip("\"'“”‘’ "))
            if not matches:
                yield f"I could not find a task matching “{quoted}”. Say “show my tasks” to see them."
            else:
                yield f"Several tasks match “{quoted}”; which one?\n\n" + "\n".join(_task_line(t) for t in matches)
            return
        call = await toolbox.call(request.tool, {"task_id": matches[0]["id"]})
        yield call
        yield _confirmation(request, call)

    async def _chunks(self, text: str) -> AsyncIterator[str]:
        words = text.split(" ")
        for start in range(0, len(words), self.words_per_chunk):
            chunk = " ".join(words[start : start + self.words_per_chunk])
            yield chunk if start == 0 else " " + chunk
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
