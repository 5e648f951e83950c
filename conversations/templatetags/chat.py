"""Template filters for the chat page."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils import timezone
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from conversations.markdown import render_markdown

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """An assistant reply rendered as sanitised HTML (see ``conversations.markdown``)."""
    return render_markdown(text or "")


@register.filter(name="ago")
def ago(value: dt.datetime | None) -> str:
    """A relative time for the sidebar: "just now", "5 minutes ago", "3 days ago"."""
    if value is None:
        return ""
    if timezone.now() - value < dt.timedelta(minutes=1):
        return "just now"
    return f"{timesince(value, depth=1)} ago"


@register.filter(name="tool_summary")
def tool_summary(call: dict[str, Any]) -> str:
    """One line about a stored tool call: "Added task 4: Buy milk" (written by the tool's provider)."""
    return call.get("summary") or f"Called {call.get('name', 'a tool')}"


@register.filter(name="tool_failed")
def tool_failed(call: dict[str, Any]) -> bool:
    """Whether a stored tool call's result is an error."""
    result = call.get("result")
    return isinstance(result, dict) and "error" in result


@register.filter(name="pretty_json")
def pretty_json(value: Any) -> str:
    """``value`` as indented JSON for a person to read (escaped by the template like any text)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)
