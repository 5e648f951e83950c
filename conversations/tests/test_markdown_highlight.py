"""Code blocks in replies, highlighted on the server (issue 14): Pygments through markdown-it's
``highlight`` hook, still sanitised by nh3, with the language shown and a Copy button."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest

from conversations import markdown
from conversations.management.commands.code_css import code_stylesheet, stylesheet_path
from conversations.markdown import ALLOWED_CLASSES, render_markdown


class Elements(HTMLParser):
    """Every start tag of some HTML, with its attributes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def fenced(code: str, info: str = "") -> str:
    fence = "~~~" if "`" in info else "```"  # a backtick fence's info string cannot hold a backtick
    return f"{fence}{info}\n{code}{fence}\n"


def code_text(rendered: str) -> str:
    """The text of the (first) code block, as a browser shows it: tags dropped, entities decoded."""
    inner = re.search(r"<pre><code[^>]*>(.*?)</code></pre>", rendered, re.S)
    assert inner, rendered
    return html.unescape(re.sub(r"<[^>]+>", "", inner.group(1)))


def test_it_highlights_a_known_language_into_token_spans() -> None:
    out = render_markdown(fenced("def greet(name):\n    return f'hi {name}'  # a comment\n", "python"))
    assert '<pre><code class="language-python">' in out
    assert '<span class="k">def</span>' in out
    assert '<span class="nf">greet</span>' in out
    assert '<span class="c1"># a comment</span>' in out


def test_it_shows_the_language_above_the_block_with_a_copy_button() -> None:
    out = render_markdown("Look:\n\n" + fenced("echo hi\n", "bash"))
    assert out.startswith('<p>Look:</p>\n<div class="code">')
    assert '<span class="code__lang">bash</span>' in out
    assert '<button type="button" class="btn btn--small code__copy" aria-label="Copy code">Copy</button>' in out
    assert out.index("code__lang") < out.index("code__copy") < out.index("<pre>")


def test_it_keeps_the_code_exactly_as_written() -> None:
    code = "\n\n  x = {'a': 1 < 2 & 3 > \"4\"}\n\n\n"
    assert code_text(render_markdown(fenced(code, "python"))) == code


@pytest.mark.parametrize("info", ["", "nosuchlanguage", "Python3000-ish"])
def test_an_unknown_or_absent_language_is_plain_escaped_text(info: str) -> None:
    out = render_markdown(fenced("if a < b && c > d: <b>not bold</b>\n", info))
    assert "&lt;b&gt;not bold&lt;/b&gt;" in out and "<b>" not in out
    assert '<span class="' not in out.replace('<span class="code__lang">', "")
    assert code_text(out) == "if a < b && c > d: <b>not bold</b>\n"
    assert ('<span class="code__lang">' in out) is bool(info)


def test_the_language_is_found_whatever_its_case_and_a_name_like_cpp_is_shown() -> None:
    assert '<span class="k">def</span>' in render_markdown(fenced("def f(): pass\n", "PyThOn"))
    out = render_markdown(fenced("int main() { return 0; }\n", "c++"))
    assert '<span class="code__lang">c++</span>' in out and '<span class="kt">int</span>' in out


def test_an_indented_code_block_gets_the_box_and_copy_button_too() -> None:
    out = render_markdown("Text\n\n    plain <code>\n")
    assert '<div class="code"><button' in out and "code__lang" not in out
    assert code_text(out) == "plain <code>\n"


def test_very_long_code_is_left_plain() -> None:
    code = "x = 1\n" * (markdown.HIGHLIGHT_MAX_CHARS // 6 + 1)
    out = render_markdown(fenced(code, "python"))
    assert '<span class="n">' not in out and code_text(out) == code


@pytest.mark.parametrize(
    "info",
    [
        '"><script>alert(1)</script>',
        '"><img src=x onerror=alert(1)>',
        'python" onmouseover="alert(1)',
        "python onclick=alert(1) style=color:red",
        "js{onload=alert(1)}",
        "python` onfocus=alert(1) autofocus",
    ],
)
def test_a_hostile_info_string_is_harmless(info: str) -> None:
    out = render_markdown(fenced("print('x')\n", info))
    assert "<script" not in out and "<img" not in out
    for tag, attrs in Elements(out).found:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert "style" not in attrs and "autofocus" not in attrs and "src" not in attrs, (tag, attrs)
    # The info string never becomes markup: a language label only when it is a plain name.
    for label in re.findall(r'<span class="code__lang">(.*?)</span>', out):
        assert re.fullmatch(r"[\w#+.-]{1,32}", label), label
    assert code_text(out) == "print('x')\n"


def test_only_the_classes_of_code_blocks_survive_the_sanitiser() -> None:
    out = render_markdown(
        fenced("def f():\n    return [1, 'a', None]  # c\n", "python")
        + fenced("<div class='x'>y</div>\n", "html")
        + fenced("SELECT * FROM t WHERE a = 1;\n", "sql")
    )
    seen = [(tag, attrs.get("class")) for tag, attrs in Elements(out).found if "class" in attrs]
    assert seen
    for tag, classes in seen:
        if tag == "code":
            assert classes.startswith("language-")
            continue
        assert set((classes or "").split()) <= ALLOWED_CLASSES[tag], (tag, classes)


def test_nh3_still_strips_what_the_highlighter_should_never_produce(monkeypatch) -> None:
    """Defence in depth: even a highlighter gone wrong cannot put script, handlers or other classes on the page."""
    hostile = (
        '<span class="k evil" onmouseover="alert(1)" style="color:red">def</span><script>alert(2)</script>'
        '<img src=x onerror=alert(3)><button type="submit" aria-label="Pay" onclick="x()">b</button>'
        '<a href="javascript:alert(4)">l</a><div class="code sneaky">d</div>'
    )
    monkeypatch.setattr(markdown, "_highlighted", lambda code, language: hostile)
    out = render_markdown(fenced("def\n", "python"))
    assert '<span class="k">def</span>' in out
    for bad in ("evil", "onmouseover", "style=", "<script", "alert(2)", "onerror", "onclick", "submit", "Pay"):
        assert bad not in out, bad
    assert "javascript:" not in out and "sneaky" not in out
    assert '<img src="x">' in out  # an image as Markdown makes one: allowed, without its handler
    assert "<button>b</button>" in out  # a button with nothing it may keep is only text


def test_raw_html_in_a_reply_is_still_text() -> None:
    out = render_markdown('<script>alert(1)</script>\n\n<div class="code"><button onclick=x>Copy</button></div>\n')
    assert "<script>" not in out and "<button" not in out and "<div" not in out
    assert "&lt;script&gt;" in out


def test_the_committed_stylesheet_is_what_the_command_writes() -> None:
    """static/css/code.css is generated (``make code-css``): regenerate it after changing a style or Pygments."""
    css = stylesheet_path().read_text(encoding="utf-8")
    assert css == code_stylesheet()
    light, dark = css.split("@media (prefers-color-scheme: dark)")
    assert "@media (prefers-color-scheme: light)" in light
    keyword = re.compile(r"\.code \.k \{ color: (#[0-9A-Fa-f]+)")
    assert keyword.search(light)[1] != keyword.search(dark)[1]
