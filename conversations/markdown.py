"""Assistant replies as safe HTML: Markdown by markdown-it-py, then sanitised by nh3.

Raw HTML in the Markdown is not interpreted (``html: False``: it shows as text), and
whatever markdown-it produces is still passed through nh3's allow-list, so a reply
can never run script or style the page (issue 4, "The message pane").
"""

from __future__ import annotations

import nh3
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
    ["table", "strikethrough"]
)

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "img",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},  # language-xyz from fenced blocks
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
ALLOWED_SCHEMES = {"http", "https", "mailto"}


def render_markdown(text: str) -> SafeString:
    """``text`` (an assistant reply) as sanitised HTML, ready to put in a template.

    Args:
        text: Markdown written by the model; any embedded HTML is shown as text.

    Returns:
        HTML marked safe: only the tags and attributes above survive, links get
        ``rel="noopener noreferrer nofollow"`` and only http(s)/mailto URLs.
    """
    html = _md.render(text)
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )
    return mark_safe(clean)  # noqa: S308 - nh3 just sanitised it
