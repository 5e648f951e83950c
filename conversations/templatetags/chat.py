"""Template filters for the chat page."""

from __future__ import annotations

import datetime as dt

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
