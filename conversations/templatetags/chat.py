"""Template filters for the chat page."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
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


def sent_ago(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """When a message was sent, as static/js/times.js also words it (in the site's ``TIME_ZONE`` here).

    "just now" (under a minute), "5 min ago", "3 h ago" (earlier today), "yesterday", then the
    date: "12 Mar" this year, "12 Mar 2023" before.
    """
    now = timezone.localtime(now or timezone.now())
    sent = timezone.localtime(value)
    seconds = (now - sent).total_seconds()
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    days = (now.date() - sent.date()).days
    if days == 0:
        return f"{int(seconds // 3600)} h ago"
    if days == 1:
        return "yesterday"
    return date_format(sent, "j M" if sent.year == now.year else "j M Y")


@register.simple_tag
def message_time(value: dt.datetime) -> SafeString:
    """A message's ``<time>``: the moment in ISO 8601 (UTC), relative text, the full date and time on hover (issue 14)."""
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        value.astimezone(dt.UTC).isoformat(timespec="seconds"),
        date_format(timezone.localtime(value), "l j F Y, H:i"),
        sent_ago(value),
    )


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
