"""The tasks panel in a real browser: Debian's Chromium driven by Playwright (issue 13, "The page").

The server, the browser and the signed-in context are conversations' page tests' own
(``conversations/tests/test_page_browser.py``). Run: ``pytest -m browser``.
"""

from __future__ import annotations

import re

import pytest

from conversations.tests import test_page_browser as page_tests
from tasks import services
from tasks.models import Task

# The page tests' fixtures (a 1280x800 context on the live server; the owner signed in to it) and helpers.
context = page_tests.context
signed_in = page_tests.signed_in
screenshot = page_tests.screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMPTY_STATE = "No tasks yet. Add one here, or ask the assistant: “add a task to buy milk”."


def open_chat(browser_context) -> object:
    """The chat page with its tasks panel loaded, marked so that a reload would show."""
    page = browser_context.new_page()
    page.goto("/chat")
    expect(panel(page).get_by_text(EMPTY_STATE).or_(panel(page).locator(".task").first)).to_be_visible()
    page.evaluate("window.sameDocument = true")
    return page


def panel(page):
    return page.locator("#tasks-panel")


def saved(user_id: str) -> list[tuple[int, str, bool]]:
    return [(t.number, t.title, t.completed) for t in Task.objects.filter(user_id=user_id).order_by("number")]


def test_it_adds_ticks_renames_and_deletes_a_task_without_a_reload(signed_in, owner_id) -> None:
    page = open_chat(signed_in)
    tasks = panel(page)
    expect(tasks.get_by_role("heading", name="Tasks")).to_be_visible()

    tasks.get_by_label("New task").fill("Buy milk")
    tasks.get_by_role("button", name="Add task").click()
    milk = tasks.get_by_role("checkbox", name="Buy milk")
    expect(milk).to_be_visible()
    expect(tasks.locator("#task-1 .task__number")).to_have_text("1.")
    expect(tasks.get_by_label("New task")).to_have_value("")
    expect(tasks.get_by_text(EMPTY_STATE)).to_have_count(0)
    assert saved(owner_id) == [(1, "Buy milk", False)]

    tasks.get_by_label("New task").fill("   ")
    tasks.get_by_label("New task").press("Enter")
    expect(tasks.get_by_text("Title cannot be empty")).to_be_visible()
    assert saved(owner_id) == [(1, "Buy milk", False)]

    milk.check()
    expect(tasks.locator("#task-1")).to_have_class(re.compile(r"\btask--done\b"))
    expect(tasks.get_by_role("checkbox", name="Buy milk")).to_be_checked()
    expect(tasks.get_by_role("checkbox", name="Buy milk")).to_be_focused()  # htmx kept the focus
    assert saved(owner_id) == [(1, "Buy milk", True)]
    tasks.get_by_role("checkbox", name="Buy milk").uncheck()
    expect(tasks.locator("#task-1")).not_to_have_class(re.compile(r"\btask--done\b"))
    assert saved(owner_id) == [(1, "Buy milk", False)]

    tasks.get_by_role("link", name="Rename").click()
    title = tasks.get_by_label("Title", exact=True)
    expect(title).to_be_focused()
    expect(title).to_have_value("Buy milk")
    title.fill("Buy oat milk")
    tasks.get_by_role("button", name="Save").click()
    expect(tasks.get_by_role("checkbox", name="Buy oat milk")).to_be_visible()
    assert saved(owner_id) == [(1, "Buy oat milk", False)]
    tasks.get_by_role("link", name="Rename").click()
    tasks.get_by_label("Title", exact=True).fill("Not kept")
    tasks.get_by_role("link", name="Cancel").click()
    expect(tasks.get_by_role("checkbox", name="Buy oat milk")).to_be_visible()
    page.mouse.move(0, 0)
    screenshot(page, "tasks-panel-1280")

    dialogs: list[str] = []

    def accept(dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    tasks.get_by_role("button", name="Delete").click()
    expect(tasks.get_by_text(EMPTY_STATE)).to_be_visible()
    assert dialogs == ["Delete task 1, “Buy oat milk”? This cannot be undone."]
    assert saved(owner_id) == []
    assert page.evaluate("window.sameDocument") is True  # never reloaded


def test_it_keeps_a_task_when_the_delete_is_not_confirmed(signed_in, owner_id) -> None:
    services.task_create(user_id=owner_id, title="Keep me")
    page = open_chat(signed_in)
    page.once("dialog", lambda dialog: dialog.dismiss())
    panel(page).get_by_role("button", name="Delete").click()
    page.wait_for_timeout(300)
    expect(panel(page).get_by_role("checkbox", name="Keep me")).to_be_visible()
    assert saved(owner_id) == [(1, "Keep me", False)]


def test_it_shows_a_task_changed_elsewhere_on_the_tasks_changed_event(signed_in, owner_id) -> None:
    """What the live socket and the HX-Trigger header do when the assistant changed a task."""
    page = open_chat(signed_in)
    expect(panel(page).get_by_text(EMPTY_STATE)).to_be_visible()
    services.task_create(user_id=owner_id, title="Added by the assistant")
    page.evaluate("document.body.dispatchEvent(new CustomEvent('tasks-changed'))")
    expect(panel(page).get_by_role("checkbox", name="Added by the assistant")).to_be_visible()
    services.task_complete(user_id=owner_id, number=1)
    page.evaluate("htmx.trigger(document.body, 'tasks-changed')")
    expect(panel(page).get_by_role("checkbox", name="Added by the assistant")).to_be_checked()
    # A burst (the assistant adding several tasks in one turn): the panel ends with all of them.
    for title in ("First of three", "Second of three", "Third of three"):
        services.task_create(user_id=owner_id, title=title)
        page.evaluate("htmx.trigger(document.body, 'tasks-changed')")
    expect(panel(page).locator(".task")).to_have_count(4)
    assert page.evaluate("window.sameDocument") is True


def test_it_reloads_the_list_when_a_task_was_deleted_elsewhere(signed_in, owner_id) -> None:
    services.task_create(user_id=owner_id, title="Gone soon")
    services.task_create(user_id=owner_id, title="Still here")
    page = open_chat(signed_in)
    services.task_delete(user_id=owner_id, number=1)
    panel(page).get_by_role("checkbox", name="Gone soon").check()  # 404 with HX-Trigger: tasks-changed
    expect(panel(page).get_by_role("checkbox", name="Gone soon")).to_have_count(0)
    expect(panel(page).get_by_role("checkbox", name="Still here")).to_be_visible()


def test_it_is_a_drawer_on_narrow_screens_opened_by_the_tasks_button(signed_in, owner_id) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    page = signed_in.new_page()
    page.set_viewport_size({"width": 600, "height": 800})
    page.goto("/chat")
    toggle = page.get_by_role("button", name="Tasks", exact=True)
    expect(toggle).to_be_visible()
    page.wait_for_function("() => document.querySelector('#task-1')")  # loaded, but hidden
    expect(panel(page)).to_be_hidden()
    expect(toggle).to_have_attribute("popovertarget", "tasks-drawer")

    toggle.click()
    expect(panel(page)).to_be_visible()
    expect(panel(page).get_by_role("checkbox", name="Buy milk")).to_be_visible()
    page.wait_for_timeout(300)  # the drawer slides in
    screenshot(page, "tasks-drawer-600")
    panel(page).get_by_label("New task").fill("Call mum")
    panel(page).get_by_role("button", name="Add task").click()
    expect(panel(page).get_by_role("checkbox", name="Call mum")).to_be_visible()  # still open
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0

    page.keyboard.press("Escape")
    expect(panel(page)).to_be_hidden()
    toggle.click()
    expect(panel(page)).to_be_visible()
    panel(page).get_by_role("button", name="Close the task list").click()
    expect(panel(page)).to_be_hidden()
    expect(page.get_by_role("textbox", name="Message")).to_be_visible()


def test_it_is_a_panel_beside_the_chat_on_wide_screens(signed_in, owner_id) -> None:
    page = open_chat(signed_in)
    expect(panel(page)).to_be_visible()
    expect(page.get_by_role("button", name="Tasks", exact=True)).to_be_hidden()
    expect(page.locator("#sidebar")).to_be_visible()
    chat, tasks = page.locator("#pane").bounding_box(), panel(page).bounding_box()
    assert tasks["x"] >= chat["x"] + chat["width"] - 1  # beside the chat, on its right
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
