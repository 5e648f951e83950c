"""Cross-site scripting in a real browser: no script runs, the text is shown inert (issue "Hardening").

Debian's Chromium, driven by Playwright, opens the chat page and the admin (as
staff) over pytest-django's ``live_server``. The payloads sit in user messages, in
a conversation title and in the model's replies (a backend that answers with the
payload: rendered through Markdown + nh3), and one is typed into the page and sent
from it. Every payload would set ``window.__xss`` and open a dialog if it ran:
``page.on("dialog")`` must never fire, ``window.__xss`` must stay undefined, links
are clicked too, and the user's text must be visible as the characters typed.
Complements ``test_security_xss.py`` (escaping checked in the HTML).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.conf import settings
from django.db import connections
from django.test import Client

from conversations.assistant import ChatTurn, reset_assistant, set_assistant
from conversations.models import Conversation
from conversations.tests.conftest import PASSWORD

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _run(n: int) -> str:
    return f"window.__xss={n};alert({n})"


# Each would set window.__xss to its number and open a dialog if it ran.
PAYLOADS = [
    f"<script>{_run(1)}</script>",
    f'<img src=x onerror="{_run(2)}">',
    f'<a href="javascript:{_run(3)}">click me 3</a>',
    f"<svg onload={_run(4)}>",
    f"<svg><script>{_run(5)}</script></svg>",
    f'"><iframe srcdoc="<script>parent.{_run(6)}</script>"></iframe>',
    f"<details open ontoggle={_run(7)}>x</details>",
    f"[click me 8](javascript:{_run(8)})",
    f"[click me 9](JaVaScRiPt:{_run(9)})",
    f"![x](javascript:{_run(10)})",
    f'**bold** <script>{_run(11)}</script> and <b onmouseover="{_run(12)}">hover</b>',
    f"[click me 13](data:text/html;base64,PHNjcmlwdD5hbGVydCgxMyk8L3NjcmlwdD4=) <a href='&#106;avascript:{_run(14)}'>click me 14</a>",
    f'<style>body{{background:url(javascript:{_run(15)})}}</style><math><mi xlink:href="javascript:{_run(16)}">m</mi></math>',
    f"```\n</code><script>{_run(17)}</script>\n```",
]
TITLE = f'<img src=x onerror="{_run(99)}"></title><script>{_run(98)}</script>'


class PayloadAssistant:
    """A backend whose reply to each message is that message itself: the model "returns" the payload."""

    name = "payload"

    async def stream(
        self, history: Sequence[ChatTurn], *, toolbox: object = None, options: object = None
    ) -> AsyncIterator[str]:
        yield history[-1].content


@pytest.fixture
def payload_assistant() -> Iterator[None]:
    set_assistant(PayloadAssistant())
    yield
    reset_assistant()


@pytest.fixture
def hostile_conversation(api, owner_id: str, payload_assistant: None) -> Conversation:
    """Every payload as a user message and as the model's reply; the title a payload too.

    Made through the API in a thread of its own: this thread runs Playwright's event
    loop, where Django's async chat view cannot be driven synchronously.
    """
    with ThreadPoolExecutor(1) as pool:
        conversation_id = pool.submit(_make_hostile_conversation, api, owner_id).result(timeout=60)
    return Conversation.objects.get(pk=conversation_id)


def _make_hostile_conversation(api: Any, owner_id: str) -> str:
    conversation_id = None
    for payload in PAYLOADS:
        body: dict[str, Any] = {"message": payload, **({"conversation_id": conversation_id} if conversation_id else {})}
        response = api.post(f"/api/{owner_id}/chat", data=json.dumps(body), content_type="application/json")
        assert response.status_code == 200, response.content
        assert response.json()["message"] == payload
        conversation_id = response.json()["conversation_id"]
    response = api.patch(
        f"/api/{owner_id}/conversations/{conversation_id}",
        data=json.dumps({"title": TITLE}),
        content_type="application/json",
    )
    assert response.status_code == 200
    connections.close_all()
    return conversation_id


def _session_context(browser: Any, live_server: Any, user: Any) -> Any:
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(10_000)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return context


class Watch:
    """A page whose dialogs are recorded (and dismissed) and whose ``window.__xss`` can be read."""

    def __init__(self, context: Any) -> None:
        self.page = context.new_page()
        self.dialogs: list[str] = []
        self.page.on("dialog", self._dialog)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def ran(self) -> Any:
        """What any payload left behind: ``window.__xss`` (None if unset) and the dialogs seen."""
        self.page.wait_for_timeout(300)  # onerror/onload/ontoggle fire right after load
        values = [frame.evaluate("() => window.__xss ?? null") for frame in self.page.frames]
        return [v for v in values if v is not None], self.dialogs

    def click_everything_named_click_me(self, scope: str) -> int:
        """Click every link, and every message whose text has "click me" (where a link would be)."""
        targets = self.page.locator(f"{scope} a, {scope} .msg").filter(has_text="click me")
        count = targets.count()
        for index in range(count):
            targets.nth(index).click(no_wait_after=True)
        self.page.wait_for_timeout(200)
        return count


def test_no_payload_runs_on_the_chat_page_and_the_text_is_shown_as_typed(
    browser: Any, live_server: Any, owner: Any, hostile_conversation: Conversation
) -> None:
    context = _session_context(browser, live_server, owner)
    try:
        watch = Watch(context)
        page = watch.page
        page.goto(f"/chat/{hostile_conversation.pk}")
        expect(page.locator("#message-log .msg--assistant")).to_have_count(len(PAYLOADS))
        assert watch.ran() == ([], [])

        # The user's messages read exactly as typed; no element came out of them.
        user_texts = page.locator("#message-log .msg--user .msg__text").all_inner_texts()
        assert user_texts == PAYLOADS
        log = page.locator("#message-log")
        assert log.locator("script, iframe, svg, img, math, style, details, [onerror], [onload]").count() == 0
        hrefs = log.locator("a[href]").evaluate_all("links => links.map(a => a.getAttribute('href'))")
        assert not [h for h in hrefs if h.strip().lower().startswith(("javascript:", "data:", "vbscript:"))], hrefs
        # Markdown in the model's replies is rendered (bold), raw HTML shown as text.
        assert log.locator(".msg--assistant strong").filter(has_text="bold").count() == 1
        assert "<script>" in log.locator(".msg--assistant").nth(0).inner_text()
        # The title: in the header, the sidebar and the tab, as text.
        assert TITLE in page.title()
        expect(page.locator(".conv-item").filter(has_text=TITLE)).to_have_count(1)

        clicked = watch.click_everything_named_click_me("#message-log")
        for message in page.locator("#message-log .msg").all():
            message.hover()
        assert watch.ran() == ([], [])
        assert page.url.endswith(f"/chat/{hostile_conversation.pk}")

        # Sent from the page itself: the new turn (an htmx swap) is as inert.
        page.get_by_role("textbox", name="Message").fill(PAYLOADS[1] + " " + PAYLOADS[3])
        page.get_by_role("button", name="Send").click()
        expect(page.locator("#message-log .msg--assistant")).to_have_count(len(PAYLOADS) + 1)
        expect(page.locator("#message-log .msg--user .msg__text").last).to_have_text(PAYLOADS[1] + " " + PAYLOADS[3])
        assert watch.ran() == ([], [])

        page.goto("/chat")  # the newest conversation, through the redirect and the sidebar
        assert watch.ran() == ([], [])
    finally:
        context.close()
    assert clicked >= 8  # 4 payloads with "click me", each in a user message and a reply


def test_no_payload_runs_in_the_admin(
    browser: Any, live_server: Any, django_user_model: Any, hostile_conversation: Conversation
) -> None:
    staff = django_user_model.objects.create_superuser(username="root", password=PASSWORD)
    context = _session_context(browser, live_server, staff)
    try:
        watch = Watch(context)
        page = watch.page
        pages = [
            "/admin/conversations/conversation/",
            f"/admin/conversations/conversation/?q={hostile_conversation.user_id}",
            f"/admin/conversations/conversation/{hostile_conversation.pk}/change/",
            f"/admin/conversations/message/?conversation__id__exact={hostile_conversation.pk}",
            "/admin/conversations/message/?q=script",
            f"/admin/conversations/conversation/?q=<script>{_run(50)}</script>",
            f"/admin/conversations/message/{hostile_conversation.messages.order_by('created_at').first().pk}/change/",
        ]
        for path in pages:
            response = page.goto(path)
            assert response is not None and response.status == 200, path
            assert page.locator("#content").count() == 1, path
            assert watch.ran() == ([], []), path
            # Nothing a payload could have made (the admin has its own scripts with a src or a JSON type, and filter <details>).
            made = page.locator("#content").locator(
                "script:not([src]):not([type='application/json']), iframe, svg, img[src='x'], details[ontoggle], "
                "[onerror], [onload], [ontoggle], a[href^='javascript' i]"
            )
            assert made.evaluate_all("found => found.map(e => e.outerHTML.slice(0, 120))") == [], path
        page.goto(f"/admin/conversations/conversation/{hostile_conversation.pk}/change/")
        assert TITLE in page.locator("#content").inner_text()
        assert PAYLOADS[0] in page.locator("#content").inner_text()
    finally:
        context.close()
