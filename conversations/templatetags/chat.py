"""Template filters for the chat page."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString
from django.utils.timesince import timesince
from django.utils.translation import gettext, pgettext

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
        return gettext("just now")
    return gettext("%(delta)s ago") % {"delta": timesince(value, depth=1)}


def message_months() -> list[str]:
    """The twelve month names of a message's date, short, in the active language ("Mar"; French "mars")."""
    # Translators: a Django date format for the month alone (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
    month = pgettext("date format of the month in a message's date", "M")
    return [date_format(dt.date(2000, number, 1), month) for number in range(1, 13)]


def message_day(day: int, month: str, year: int | None = None) -> str:
    """A message's date: "12 Mar" (this year), "12 Mar 2023"; static/js/times.js words it the same way."""
    if year is None:
        return pgettext("a message's date this year", "%(day)s %(month)s") % {"day": day, "month": month}
    return pgettext("a message's date", "%(day)s %(month)s %(year)s") % {"day": day, "month": month, "year": year}


def sent_ago(value: dt.datetime, now: dt.datetime | None = None) -> str:
    """When a message was sent, as static/js/times.js also words it (in the site's ``TIME_ZONE`` here).

    "just now" (under a minute), "5 min ago", "3 h ago" (earlier today), "yesterday", then the
    date: "12 Mar" this year, "12 Mar 2023" before; in the active language (issue 16).
    """
    now = timezone.localtime(now or timezone.now())
    sent = timezone.localtime(value)
    seconds = (now - sent).total_seconds()
    if seconds < 60:
        return gettext("just now")
    if seconds < 3600:
        return gettext("%(minutes)s min ago") % {"minutes": int(seconds // 60)}
    days = (now.date() - sent.date()).days
    if days == 0:
        return gettext("%(hours)s h ago") % {"hours": int(seconds // 3600)}
    if days == 1:
        return gettext("yesterday")
    month = message_months()[sent.month - 1]
    return message_day(sent.day, month, None if sent.year == now.year else sent.year)


@register.simple_tag
def message_time(value: dt.datetime) -> SafeString:
    """A message's ``<time>``: the moment in ISO 8601 (UTC), relative text, the full date and time on hover (issue 14)."""
    # Translators: a Django date format (https://docs.djangoproject.com/en/5.2/ref/templates/builtins/#date).
    full = pgettext("date format of a message's full date and time", "l j F Y, H:i")
    return format_html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        value.astimezone(dt.UTC).isoformat(timespec="seconds"),
        date_format(timezone.localtime(value), full),
        sent_ago(value),
    )


@register.filter(name="tool_summary")
def tool_summary(call: dict[str, Any]) -> str:
    """One line about a stored tool call: "Added task 4: Buy milk" (written by the tool's provider).

    In the page's language when the toolbox (``ASSISTANT_TOOLBOX``) words it (``summary_text``);
    else the stored line, which is English.
    """
    words = getattr(import_string(settings.ASSISTANT_TOOLBOX), "summary_text", None)
    if words is not None and call.get("name"):
        return words(call)
    if call.get("summary"):
        return call["summary"]
    return gettext("Called %(tool)s") % {"tool": call["name"]} if call.get("name") else gettext("Called a tool")


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
