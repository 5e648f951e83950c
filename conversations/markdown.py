"""Assistant replies as safe HTML: Markdown by markdown-it-py, then sanitised by nh3.

Raw HTML in the Markdown is not interpreted (``html: False``: it shows as text), and
whatever markdown-it produces is still passed through nh3's allow-list, so a reply
can never run script or style the page (issue 4, "The message pane").

Fenced code is highlighted here, on the server, by Pygments through markdown-it's
``highlight`` hook (issue 14): tokens become ``<span class="k">`` and the like, the only
classes nh3 lets through on a span, coloured by ``static/css/code.css`` (generated from
two Pygments styles, light and dark: ``python manage.py code_css``). Each block is shown
with its language above it and a Copy button (the page's script does the copying). An
unknown or absent language is shown plain, escaped by markdown-it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import nh3
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml, unescapeAll
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from pygments import highlight as pygments_highlight
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

# The two Pygments styles static/css/code.css is generated from (``python manage.py code_css``):
# on the page's code background both keep every token at a contrast of 4.5:1 or more (WCAG AA).
CODE_STYLE_LIGHT = "xcode"
CODE_STYLE_DARK = "one-dark"
# Longer code is shown plain: highlighting cost grows with it and nobody reads colours that far.
HIGHLIGHT_MAX_CHARS = 20_000
# A language name worth showing above its block ("python", "c++", "objective-c", "f#").
_LANGUAGE_RE = re.compile(r"[\w#+.-]{1,32}")
_FORMATTER = HtmlFormatter(nowrap=True)  # spans only: markdown-it adds <pre><code class="language-…">
_COPY_BUTTON = '<button type="button" class="btn btn--small code__copy" aria-label="Copy code">Copy</button>'


@functools.lru_cache(maxsize=128)
def _lexer(language: str) -> Lexer | None:
    try:  # the code exactly as written: no newlines stripped or added
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


# Pygments' lexers are slow (about 80 µs a line of Python), and a reply is rendered again each time its
# page is shown: the highlighted blocks are kept, per process, for the replies shown again and again.
@functools.lru_cache(maxsize=256)
def _highlighted(code: str, language: str) -> str:
    lexer = _lexer(language)
    return pygments_highlight(code, lexer, _FORMATTER) if lexer else ""


def _highlight(code: str, language: str, _attrs: str) -> str:
    """markdown-it's ``highlight`` hook: ``code`` as Pygments' spans, or "" to have it escaped plain."""
    if not language or len(code) > HIGHLIGHT_MAX_CHARS:
        return ""
    return _highlighted(code, language.lower())


def _language(info: str) -> str:
    """The language named by a fence's info string (its first word), if it looks like one."""
    words = unescapeAll(info).split(maxsplit=1)
    return words[0] if words and _LANGUAGE_RE.fullmatch(words[0]) else ""


def _code_box(block: str, language: str = "") -> str:
    label = f'<span class="code__lang">{escapeHtml(language)}</span>' if language else ""
    return f'<div class="code">{label}{_COPY_BUTTON}{block.rstrip()}</div>\n'


def _render_fence(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
    return _code_box(self.fence(tokens, idx, options, env), _language(tokens[idx].info))


def _render_code_block(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    return _code_box(self.code_block(tokens, idx, options, env))


_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False, "highlight": _highlight}).enable(
    ["table", "strikethrough"]
)
_md.add_render_rule("fence", _render_fence)
_md.add_render_rule("code_block", _render_code_block)

ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "img", "div", "span", "button",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title"},
    "code": {"class"},  # language-xyz from fenced blocks
    "ol": {"start"},
    "th": {"style"},
    "td": {"style"},
}
# Code blocks (above): the box, its language, its Copy button and Pygments' token classes; nothing else.
ALLOWED_CLASSES = {
    "div": {"code"},
    "span": {"code__lang", *(name for name in STANDARD_TYPES.values() if name)},
    "button": {"btn", "btn--small", "code__copy"},
}
ALLOWED_ATTRIBUTE_VALUES = {"button": {"type": {"button"}, "aria-label": {"Copy code"}}}
ALLOWED_SCHEMES = {"http", "https", "mailto"}
_cleaner = nh3.Cleaner(
    tags=ALLOWED_TAGS,
    attributes=ALLOWED_ATTRIBUTES,
    allowed_classes=ALLOWED_CLASSES,
    tag_attribute_values=ALLOWED_ATTRIBUTE_VALUES,
    url_schemes=ALLOWED_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    filter_style_properties={"text-align"},
)


def render_markdown(text: str) -> SafeString:
    """``text`` (an assistant reply) as sanitised HTML, ready to put in a template.

    Args:
        text: Markdown written by the model; any embedded HTML is shown as text.

    Returns:
        HTML marked safe: only the tags, attributes and classes above survive, links get
        ``rel="noopener noreferrer nofollow"`` and only http(s)/mailto URLs; code blocks
        highlighted, in a ``<div class="code">`` with their language and a Copy button.
    """
    html = _cleaner.clean(_md.render(text))
    if _COPY_BUTTON in html:
        html = html.replace(_COPY_BUTTON, _copy_button())  # ours, sanitised as written: in the page's language
    return mark_safe(html)  # noqa: S308 - nh3 just sanitised it; the Copy buttons are ours, their words escaped


def _copy_button() -> str:
    """The code blocks' Copy button in the active language (issue 16); ``_COPY_BUTTON`` in English."""
    return format_html(
        '<button type="button" class="btn btn--small code__copy" aria-label="{}">{}</button>',
        gettext("Copy code"),
        gettext("Copy"),
    )
