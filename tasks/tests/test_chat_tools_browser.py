"""A chat turn that acts, in a real browser (issue 13): the reply shows what the assistant did,
and the task panel follows without a reload, over the live socket and over plain HTTP.

Debian's Chromium driven by Playwright, against the project's ASGI application in a thread
(``conversations/tests/test_live_browser.py``'s server and signed-in context).
"""

from __future__ import annotations

import re

import pytest

from conversations.tests import test_live_browser as live_tests
from tasks import services
from tasks.models import Task

asgi_server = live_tests.asgi_server
signed_in = live_tests.signed_in
composer, reply, open_live, watch_posts, screenshot = (
    live_tests.composer,
    live_tests.reply,
    live_tests.open_live,
    live_tests.watch_posts,
    live_tests.screenshot,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def panel(page):
    return page.locator("#tasks-panel")


def send(page, text: str) -> None:
    composer(page).fill(text)
    composer(page).press("Enter")


def test_a_chat_turn_adds_a_task_and_the_panel_shows_it_without_a_reload(signed_in, owner_id) -> None:
    page = signed_in.new_page()
    posts = watch_posts(page)
    open_live(page, "/chat/new")
    expect(panel(page).get_by_text("No tasks yet", exact=False)).to_be_visible()
    page.evaluate("window.sameDocument = true")

    send(page, "add a task to buy milk")

    expect(reply(page)).to_have_attribute("data-status", "complete")
    expect(reply(page).locator(".msg__md")).to_have_text("Added task 1: “Buy milk”.")
    tool = reply(page).locator(".msg__tools details")
    expect(tool.locator("summary")).to_have_text("Added task 1: Buy milk")
    expect(panel(page).get_by_role("checkbox", name="Buy milk")).to_be_visible()
    assert not any(url.endswith("/send") for url in posts), posts  # it went over the socket

    # The call opens to its arguments and result.
    tool.locator("summary").click()
    expect(tool.locator("pre").first).to_contain_text('"title": "Buy milk"')
    expect(tool.locator("pre").last).to_contain_text('"status": "created"')
    screenshot(page, "tool-call-reply")

    send(page, "mark task 1 complete")
    expect(reply(page).locator(".msg__tools summary")).to_have_text("Completed task 1: Buy milk")
    expect(panel(page).get_by_role("checkbox", name="Buy milk")).to_be_checked()
    assert page.evaluate("window.sameDocument") is True

    # They survive a refresh.
    page.reload()
    summaries = page.locator("#message-log .msg__tools summary")
    expect(summaries).to_have_text(["Added task 1: Buy milk", "Completed task 1: Buy milk"])
    assert list(Task.objects.filter(user_id=owner_id).values_list("title", "completed")) == [("Buy milk", True)]


def test_over_plain_http_the_panel_follows_too(signed_in, owner_id) -> None:
    services.task_create(user_id=owner_id, title="Old errand")
    page = signed_in.new_page()
    page.route_web_socket(re.compile(r"/ws/"), lambda ws: ws.close())
    posts = watch_posts(page)
    page.goto("/chat/new")
    expect(panel(page).get_by_role("checkbox", name="Old errand")).to_be_visible()

    send(page, "delete task 1")

    expect(reply(page).locator(".msg__tools summary")).to_have_text("Deleted task 1: Old errand")
    expect(panel(page).get_by_role("checkbox", name="Old errand")).to_have_count(0)
    assert any(url.endswith("/chat/send") for url in posts), posts
    assert not Task.objects.exists()
