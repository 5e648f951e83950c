"""``{% page_text %}``: the page's scripts' words, in the request's language (conversations/page_text.py)."""

from __future__ import annotations

from django import template
from django.utils.html import json_script
from django.utils.safestring import SafeString

from conversations.page_text import page_text as words

register = template.Library()


@register.simple_tag
def page_text() -> SafeString:
    """``<script id="page-text" type="application/json">{...}</script>``, read by static/js/text.js."""
    return json_script(words(), "page-text")
