"""Accessibility: axe-core in Chromium finds no violation on the pages (issue 14, "On the page").

axe-core comes from the npm registry, pinned in ``tools/a11y/package-lock.json`` and installed
by ``make install-dev`` (``make test``) into ``tools/a11y/node_modules`` (git-ignored); Playwright
injects ``axe.min.js`` into the page and ``axe.run`` checks it against WCAG 2.0/2.1/2.2 A and AA
and axe's best practices. Nothing is fetched at run time.

The chat page is checked at 360, 768 and 1280 px wide, in light and dark, holding a conversation
with a user message, a Markdown reply (a list, a code block, inline code, a link, a table),
a tool call and a failed reply with Retry; the open menus and dialogs, the drawers of narrow
screens and the other pages at one width each. A new element of the page is checked by simply
being on it; to check a new menu or dialog open, add a case to ``OPEN_STATES``.

Run: ``pytest conversations/tests/test_a11y_browser.py`` (about 40 s). A failure lists each
violation: its rule, what it asks for, and the elements (CSS selectors) that break it.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from conversations.models import Conversation, Message
from conversations.sharing import share_create
from conversations.tests import test_page_browser as page_tests
from tasks.services import task_complete, task_create

context = page_tests.context
signed_in = page_tests.signed_in
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE_JS = Path(settings.BASE_DIR) / "tools" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
# The WCAG 2.x success criteria of levels A and AA, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa", "best-practice"]
WIDTHS = [360, 768, 1280]
SCHEMES = ["light", "dark"]

REPLY = """Here is a plan:

1. Read the **file** with `open()`.
2. Count the lines.

- a point
- another, with [a link](https://example.org/docs)

```python
def count(path):
    with open(path) as f:
        return sum(1 for _ in f)
```

| name | lines |
|---|---|
| a.txt | 3 |

> A quote to finish.
"""


def axe_js() -> Path:
    """axe.min.js from the pinned npm package: missing, the test fails (never skips) saying how to install it."""
    if not AXE_JS.exists():
        pytest.fail(
            f"axe-core is not installed ({AXE_JS} is missing). Install it with `make install-dev` "
            "(or: cd tools/a11y && npm ci --no-audit --no-fund; Node.js and npm: apt-get install nodejs npm).",
            pytrace=False,
        )
    return AXE_JS


def axe_violations(page, *, scope: object = None) -> list[dict]:
    """Run axe-core on the page as it is now (or on ``scope``: a selector, or axe's include/exclude)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_js()))
    return page.evaluate(
        """async ([scope, tags]) => {
            const results = await axe.run(scope || document, {runOnly: {type: "tag", values: tags}, resultTypes: ["violations"]});
            return results.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(" "), summary: n.failureSummary})),
            }));
        }""",
        [scope, AXE_TAGS],
    )


def describe(violations: list[dict], where: str) -> str:
    lines = [f"axe-core found {len(violations)} violation(s) on {where}:"]
    for violation in violations:
        lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>")
        for node in violation["nodes"]:
            summary = " ".join((node["summary"] or "").split())
            lines.append(f"    {node['target']}  -- {summary}")
    return "\n".join(lines)


def assert_no_violations(page, where: str) -> None:
    """axe-core finds nothing on the page as it is, in the light and in the dark colour scheme."""
    width = page.viewport_size["width"]
    found = []
    for scheme in SCHEMES:
        page.emulate_media(color_scheme=scheme)
        page.evaluate("new Promise(requestAnimationFrame)")
        violations = axe_violations(page)
        if violations:
            screenshot(page, "a11y-" + re.sub(r"[^a-z0-9]+", "-", f"{where}-{width}-{scheme}".lower()))
            found.append(describe(violations, f"{where} at {width} px, {scheme}"))
    assert not found, "\n\n".join(found)


def open_page(context, path: str, *, width: int):
    page = context.new_page()
    page.set_viewport_size({"width": width, "height": 800})
    # Reduced motion: no transition is caught halfway (axe measures colours as they are).
    page.emulate_media(color_scheme=SCHEMES[0], reduced_motion="reduce")
    page.goto(path)
    page.wait_for_load_state("networkidle")
    return page


def settle(page) -> None:
    """Wait for what loads itself after the page (the tasks panel) and for the fonts."""
    page.wait_for_load_state("networkidle")
    page.evaluate("document.fonts.ready.then(() => true)")


@pytest.fixture
def conversation(owner_id: str) -> Conversation:
    """A conversation as a person sees it: a question, a Markdown reply with tools, a failed reply (Retry)."""
    start = timezone.now() - dt.timedelta(hours=2)
    conversation = Conversation.objects.create(
        user_id=owner_id, title="Counting lines", created_at=start, updated_at=start
    )
    rows = [
        ("user", "How do I count the lines of a file in Python?", "complete", []),
        ("assistant", REPLY, "complete", []),
        ("user", "Add a task to try it", "complete", []),
        (
            "assistant",
            "Added task 1: “Try counting lines”.",
            "complete",
            [
                {
                    "name": "add_task",
                    "arguments": {"title": "Try counting lines"},
                    "result": {"task_id": 1, "status": "created", "title": "Try counting lines"},
                }
            ],
        ),
        ("user", "And for a very large file?", "complete", []),
        ("assistant", "", "failed", []),
    ]
    parent = None
    for i, (role, content, status, tool_calls) in enumerate(rows):
        parent = Message.objects.create(
            conversation=conversation,
            user_id=owner_id,
            role=role,
            content=content,
            status=status,
            tool_calls=tool_calls,
            parent=parent,
            created_at=start + dt.timedelta(minutes=i),
        )
    conversation.updated_at = parent.created_at
    conversation.save(update_fields=["updated_at"])
    # The first reply has an earlier version (issue 14): its version switcher shows "2 / 2".
    first_reply = Message.objects.filter(conversation=conversation, role="assistant").order_by("created_at").first()
    Message.objects.create(
        conversation=conversation,
        user_id=owner_id,
        role="assistant",
        content="An earlier answer.",
        parent=first_reply.parent,
        version=1,
        version_count=2,
        selected=False,
        active=False,
        created_at=first_reply.created_at - dt.timedelta(seconds=1),
    )
    Message.objects.filter(pk=first_reply.pk).update(version=2, version_count=2)
    # The sidebar with more than one entry, a pinned one and a date heading.
    Conversation.objects.create(
        user_id=owner_id, title="Trip planning", pinned=True, created_at=start, updated_at=start
    )
    Conversation.objects.create(user_id=owner_id, title="Old notes", archived=True, created_at=start, updated_at=start)
    task_create(user_id=owner_id, title="Try counting lines")
    task_create(user_id=owner_id, title="Buy milk")
    task_complete(user_id=owner_id, number=2)
    return conversation


# --- The chat page: three widths, two colour schemes ------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_the_chat_page_has_no_axe_violation(signed_in, conversation, width) -> None:
    page = open_page(signed_in, f"/chat/{conversation.pk}", width=width)
    expect(page.get_by_role("button", name="Retry", exact=True)).to_be_visible()
    expect(page.locator("#message-log pre code")).to_be_visible()
    expect(page.locator("#tasks-panel .task-list")).to_be_attached()
    settle(page)
    assert_no_violations(page, "the chat page")


# --- Menus, dialogs and drawers opened ------------------------------------------------------


def _open_more(page) -> None:
    page.locator("#conv-header summary").filter(has_text=re.compile(r"^\s*More\s*$")).click()
    expect(page.get_by_role("button", name="Archive", exact=True)).to_be_visible()


def _open_rename(page) -> None:
    page.locator("#conv-header summary").filter(has_text=re.compile(r"^\s*Rename\s*$")).click()
    expect(page.get_by_label("New title")).to_be_visible()


def _open_delete(page) -> None:
    page.locator("#conv-header summary").filter(has_text=re.compile(r"^\s*Delete\s*$")).click()
    expect(page.get_by_role("button", name="Delete conversation")).to_be_visible()


def _open_share(page) -> None:
    page.get_by_role("button", name="Share", exact=True).click()
    expect(page.get_by_role("dialog").get_by_label("Link")).to_be_visible()


def _stop_sharing(page) -> None:
    _open_share(page)
    page.get_by_role("dialog").get_by_role("button", name="Stop sharing").click()
    expect(page.get_by_role("dialog").get_by_role("button", name="Create link")).to_be_visible()


def _open_conversations_drawer(page) -> None:
    page.get_by_role("button", name="Show conversations").click()
    expect(page.get_by_role("button", name="Close the conversation list")).to_be_visible()


def _open_tasks_drawer(page) -> None:
    page.get_by_role("button", name="Tasks", exact=True).click()
    expect(page.get_by_role("button", name="Close the task list")).to_be_visible()


def _show_archived(page) -> None:
    page.get_by_role("link", name="Archived", exact=True).click()
    expect(page.get_by_role("link", name="Old notes")).to_be_visible()
    expect(page.get_by_role("link", name="← All conversations")).to_be_visible()


def _hover_reply(page) -> None:
    # Message actions show on hover and focus.
    page.locator("#message-log .msg--assistant").first.hover()


def _search(page) -> None:
    page.get_by_role("searchbox", name="Search conversations").fill("lines")
    expect(page.locator("#search-results a").first).to_be_visible()


def _open_editor(page) -> None:
    page.locator("#message-log .msg--user").first.hover()
    page.locator("#message-log .msg--user").first.get_by_role("button", name="Edit").click()
    expect(page.get_by_role("textbox", name="Edit your message")).to_be_visible()


def _open_conversation_settings(page) -> None:
    page.locator("#conv-header summary").filter(has_text=re.compile(r"^\s*More\s*$")).click()
    page.get_by_role("link", name="Conversation settings").click()
    expect(page.get_by_role("dialog").get_by_label("Instructions")).to_be_visible()


def _open_shortcuts(page) -> None:
    page.get_by_role("log", name="Messages").focus()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()


# name: (width, how to open it)
OPEN_STATES = {
    "hovered-reply": (1280, _hover_reply),
    "more-menu": (1280, _open_more),
    "rename": (1280, _open_rename),
    "delete": (1280, _open_delete),
    "share-dialog": (1280, _open_share),
    "share-dialog-not-shared": (1280, _stop_sharing),
    "archived-list": (1280, _show_archived),
    "search-results": (1280, _search),
    "conversations-drawer": (360, _open_conversations_drawer),
    "tasks-drawer": (768, _open_tasks_drawer),
    "shortcuts-dialog": (360, _open_shortcuts),
    "message-editor": (768, _open_editor),
    "conversation-settings-dialog": (1280, _open_conversation_settings),
}


@pytest.mark.parametrize("state", OPEN_STATES)
def test_open_menus_dialogs_and_drawers_have_no_axe_violation(signed_in, conversation, state) -> None:
    width, open_it = OPEN_STATES[state]
    page = open_page(signed_in, f"/chat/{conversation.pk}", width=width)
    settle(page)
    open_it(page)
    settle(page)
    assert_no_violations(page, f"the chat page ({state})")


# --- The other pages -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/chat/new",
        "/chat/settings",
        "/chat/search?q=lines",
        "/chat/tasks",
        "shared",
        "/s/no-such-link",
    ],
)
def test_the_other_pages_have_no_axe_violation(signed_in, conversation, path) -> None:
    if path == "shared":
        path = f"/s/{share_create(conversation=conversation).token}"
    page = open_page(signed_in, path, width=1280)
    settle(page)
    assert_no_violations(page, path)


@pytest.mark.parametrize("width", [360, 1280])
def test_the_login_page_has_no_axe_violation(context, width) -> None:
    page = open_page(context, "/accounts/login/?next=/chat", width=width)
    assert_no_violations(page, "the login page")
