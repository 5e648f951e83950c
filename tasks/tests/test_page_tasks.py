"""The tasks panel on the chat page, server side (issue 13, "The page").

Query counts are pinned (style.md, convention 7). A signed-in page request costs two
queries before the view runs: the session and the user.
"""

from __future__ import annotations

import pytest
from django.test import Client

from tasks import services
from tasks.models import Task

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
EMPTY_STATE = "No tasks yet. Add one here, or ask the assistant: “add a task to buy milk”."


@pytest.fixture
def page(client: Client, owner) -> Client:
    """The owner, signed in to the page."""
    client.force_login(owner)
    return client


def titles(user_id: str) -> list[tuple[int, str, bool]]:
    return [(t.number, t.title, t.completed) for t in Task.objects.filter(user_id=user_id).order_by("number")]


# --- The panel ---------------------------------------------------------------------


def test_it_lists_only_the_signed_in_users_tasks_in_three_queries(
    page: Client, owner_id: str, other_id: str, django_assert_num_queries
) -> None:
    """Session, user, the tasks: however many there are."""
    for title in ("Buy milk", "Call mum", "Book tickets"):
        services.task_create(user_id=owner_id, title=title)
    services.task_complete(user_id=owner_id, number=2)
    services.task_create(user_id=other_id, title="Someone else's secret")
    with django_assert_num_queries(3):
        response = page.get("/chat/tasks", **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<section id="tasks-panel"')
    assert 'hx-get="/chat/tasks" hx-trigger="tasks-changed from:body" hx-select="#tasks-panel > *"' in body
    assert '<h2 id="tasks-title" class="tasks__title">Tasks</h2>' in body
    assert '<label for="new-task-title">New task</label>' in body
    assert ">Add task</button>" in body
    assert '<li id="task-1" class="task">' in body and '<li id="task-2" class="task task--done">' in body
    assert '<span class="task__number">3.</span>' in body
    assert '<label for="task-1-done" class="task__title">Buy milk</label>' in body
    assert 'id="task-2-done" name="completed" value="true" checked' in body
    assert 'hx-trigger="change"' in body and "hx-confirm=" in body
    assert "Someone else" not in body
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]

    more = [services.task_create(user_id=owner_id, title=f"Task {i}") for i in range(20)]
    with django_assert_num_queries(3):
        assert f"Task {len(more) - 1}" in page.get("/chat/tasks", **HX).content.decode()


def test_it_shows_the_empty_state(page: Client) -> None:
    body = page.get("/chat/tasks", **HX).content.decode()
    assert EMPTY_STATE in body
    assert 'id="task-list"' not in body


def test_it_renders_the_tasks_page_without_htmx(page: Client, owner_id: str, django_assert_num_queries) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    with django_assert_num_queries(3):
        response = page.get("/chat/tasks")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and "<title>Tasks · Chat</title>" in body
    assert '<section id="tasks-panel"' in body and "Buy milk" in body
    assert '<input type="hidden" name="next" value="/chat/tasks">' in body
    # A history restore needs the whole page too.
    restore = page.get("/chat/tasks", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HX)
    assert b"<html" in restore.content


def test_the_chat_page_includes_the_panel_which_loads_itself_and_costs_no_query(
    page: Client, owner_id: str, django_assert_num_queries
) -> None:
    """The chat page's queries stay as pinned in test_page_views.py: the panel loads itself."""
    services.task_create(user_id=owner_id, title="Buy milk")
    with django_assert_num_queries(4):  # session, user, newest conversation, sidebar
        response = page.get("/chat")
    body = response.content.decode()
    assert '<aside id="tasks-drawer" class="tasks-drawer" popover aria-labelledby="tasks-title">' in body
    assert 'hx-get="/chat/tasks" hx-trigger="load, tasks-changed from:body" hx-select="#tasks-panel > *"' in body
    assert (
        '<button type="button" class="btn btn--ghost tasks-toggle" popovertarget="tasks-drawer">Tasks</button>' in body
    )
    assert '<input type="hidden" name="next" value="/chat">' in body  # back here without JavaScript
    assert "Buy milk" not in body


# --- Adding ------------------------------------------------------------------------


def test_it_adds_a_task_with_htmx_and_answers_the_panel(page: Client, owner_id: str, django_assert_num_queries) -> None:
    services.task_create(user_id=owner_id, title="Call mum")
    # Session, user; the transaction (savepoint, locked counter, its update, the insert, release); the list.
    with django_assert_num_queries(8):
        response = page.post("/chat/tasks", {"title": "  Buy milk  "}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<section id="tasks-panel"')
    assert '<label for="task-2-done" class="task__title">Buy milk</label>' in body
    assert 'id="new-task-title" name="title" value=""' in body  # the field is empty again
    assert titles(owner_id) == [(1, "Call mum", False), (2, "Buy milk", False)]


def test_it_adds_a_task_without_htmx_and_goes_back(page: Client, owner_id: str) -> None:
    response = page.post("/chat/tasks", {"title": "Call mum", "next": "/chat/new"})
    assert response.status_code == 302 and response["Location"] == "/chat/new"
    assert titles(owner_id) == [(1, "Call mum", False)]
    # Never to another site: then the tasks page.
    away = page.post("/chat/tasks", {"title": "Again", "next": "https://evil.example/"})
    assert away.status_code == 302 and away["Location"] == "/chat/tasks"
    bare = page.post("/chat/tasks", {"title": "Once more"})
    assert bare["Location"] == "/chat/tasks"


@pytest.mark.parametrize(
    ("title", "sentence"),
    [
        ("", "Title cannot be empty"),
        ("    ", "Title cannot be empty"),
        ("x" * 201, "Title is too long: the limit is 200 characters"),
    ],
    ids=["empty", "blank", "too-long"],
)
def test_it_refuses_a_bad_title_with_the_sentence_and_saves_nothing(
    page: Client, owner_id: str, title: str, sentence: str
) -> None:
    response = page.post("/chat/tasks", {"title": title}, **HX)
    body = response.content.decode()
    assert response.status_code == 400
    assert body.startswith('<section id="tasks-panel"')
    assert f'<p id="new-task-error" class="field-error">{sentence}</p>' in body
    assert 'aria-invalid="true" aria-describedby="new-task-error"' in body
    assert f'value="{title}"' in body  # the text is kept
    plain = page.post("/chat/tasks", {"title": title, "next": "/chat"})
    assert plain.status_code == 400 and sentence in plain.content.decode() and b"<html" in plain.content
    assert not Task.objects.exists()


# --- Ticking and renaming ------------------------------------------------------------


def test_it_ticks_and_unticks_a_task_with_htmx(page: Client, owner_id: str, django_assert_num_queries) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    with django_assert_num_queries(6):  # session, user; the savepoint, the locked task, the update, release
        response = page.post("/chat/tasks/1", {"completed": "true"}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith('<li id="task-1" class="task task--done">')
    assert "checked" in body
    assert titles(owner_id) == [(1, "Buy milk", True)]

    unticked = page.post("/chat/tasks/1", {}, **HX)  # an unticked checkbox sends nothing
    assert unticked.content.decode().startswith('<li id="task-1" class="task">')
    assert "checked" not in unticked.content.decode()
    assert titles(owner_id) == [(1, "Buy milk", False)]


def test_it_ticks_and_unticks_a_task_without_htmx(page: Client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    response = page.post("/chat/tasks/1", {"completed": "true", "next": "/chat"})
    assert response.status_code == 302 and response["Location"] == "/chat"
    assert titles(owner_id) == [(1, "Buy milk", True)]
    page.post("/chat/tasks/1", {"next": "/chat"})
    assert titles(owner_id) == [(1, "Buy milk", False)]


def test_it_opens_the_rename_form_and_cancels_it(page: Client, owner_id: str, django_assert_num_queries) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    with django_assert_num_queries(3):
        form = page.get("/chat/tasks/1?rename=1", **HX).content.decode()
    assert form.startswith('<li id="task-1" class="task task--editing">')
    assert '<label for="task-1-title" class="visually-hidden">Title</label>' in form
    assert 'id="task-1-title" name="title" value="Buy milk"' in form
    assert ">Save</button>" in form and ">Cancel</a>" in form
    cancelled = page.get("/chat/tasks/1", **HX).content.decode()
    assert cancelled.startswith('<li id="task-1" class="task">') and 'id="task-1-done"' in cancelled
    # Without JavaScript, Rename is a link to the tasks page with the form open.
    plain = page.get("/chat/tasks/1?rename=1").content.decode()
    assert "<html" in plain and 'id="task-1-title"' in plain


def test_it_renames_a_task_with_htmx(page: Client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    response = page.post("/chat/tasks/1", {"title": "  Buy oat milk "}, **HX)
    body = response.content.decode()
    assert response.status_code == 200
    assert '<label for="task-1-done" class="task__title">Buy oat milk</label>' in body
    assert titles(owner_id) == [(1, "Buy oat milk", False)]


def test_it_renames_a_task_without_htmx(page: Client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    response = page.post("/chat/tasks/1", {"title": "Buy bread", "next": "/chat/tasks"})
    assert response.status_code == 302 and response["Location"] == "/chat/tasks"
    assert titles(owner_id) == [(1, "Buy bread", False)]


@pytest.mark.parametrize(
    ("title", "sentence"),
    [("   ", "Title cannot be empty"), ("y" * 201, "Title is too long: the limit is 200 characters")],
    ids=["blank", "too-long"],
)
def test_it_refuses_a_bad_new_title_at_the_field_and_changes_nothing(
    page: Client, owner_id: str, title: str, sentence: str
) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    response = page.post("/chat/tasks/1", {"title": title}, **HX)
    body = response.content.decode()
    assert response.status_code == 400
    assert body.startswith('<li id="task-1" class="task task--editing">')
    assert f'<p id="task-1-error" class="field-error">{sentence}</p>' in body
    assert f'value="{title}"' in body
    plain = page.post("/chat/tasks/1", {"title": title})
    assert plain.status_code == 400 and sentence in plain.content.decode()
    assert titles(owner_id) == [(1, "Buy milk", False)]


# --- Deleting ------------------------------------------------------------------------


def test_it_deletes_a_task_with_htmx_and_answers_the_panel(page: Client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    services.task_create(user_id=owner_id, title="Call mum")
    response = page.post("/chat/tasks/1/delete", **HX)
    body = response.content.decode()
    assert response.status_code == 200 and body.startswith('<section id="tasks-panel"')
    assert "Buy milk" not in body and "Call mum" in body
    assert titles(owner_id) == [(2, "Call mum", False)]
    last = page.post("/chat/tasks/2/delete", **HX).content.decode()
    assert EMPTY_STATE in last


def test_it_deletes_a_task_without_htmx_and_goes_back(page: Client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Buy milk")
    response = page.post("/chat/tasks/1/delete", {"next": "/chat"})
    assert response.status_code == 302 and response["Location"] == "/chat"
    assert not Task.objects.exists()
    assert page.get("/chat/tasks/1/delete").status_code == 405


# --- Isolation and sessions -----------------------------------------------------------


def test_another_users_task_is_not_found_and_changes_nothing(page: Client, owner_id: str, other_id: str) -> None:
    services.task_create(user_id=other_id, title="Their task")
    attempts = [
        page.get("/chat/tasks/1", **HX),
        page.get("/chat/tasks/1?rename=1", **HX),
        page.post("/chat/tasks/1", {"completed": "true"}, **HX),
        page.post("/chat/tasks/1", {"title": "Mine now"}, **HX),
        page.post("/chat/tasks/1", {"title": ""}, **HX),
        page.post("/chat/tasks/1/delete", **HX),
    ]
    for response in attempts:
        assert response.status_code == 404
        assert "This task was not found. It may have been deleted." in response.content.decode()
        assert "Their task" not in response.content.decode()
        assert response["HX-Trigger"] == "tasks-changed"  # the panel reloads itself
    for plain in (page.post("/chat/tasks/1", {"completed": "true"}), page.post("/chat/tasks/1/delete")):
        assert plain.status_code == 404
    assert page.get("/chat/tasks/99999999999", **HX).status_code == 404
    assert titles(other_id) == [(1, "Their task", False)]
    assert titles(owner_id) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/chat/tasks"),
        ("post", "/chat/tasks"),
        ("get", "/chat/tasks/1"),
        ("post", "/chat/tasks/1"),
        ("post", "/chat/tasks/1/delete"),
    ],
)
def test_it_refuses_anonymous_requests_like_the_other_chat_fragments(
    client: Client, owner_id: str, method: str, path: str
) -> None:
    """SC-005, FR-014a: htmx gets the session-expired fragment (401), a page the login redirect."""
    services.task_create(user_id=owner_id, title="Buy milk")
    call = getattr(client, method)
    fragment = call(
        path, {"title": "x"} if method == "post" else None, HTTP_HX_CURRENT_URL="http://testserver/chat", **HX
    )
    assert fragment.status_code == 401
    assert "Your session has expired. Please sign in again." in fragment.content.decode()
    assert 'href="/accounts/login/?next=%2Fchat"' in fragment.content.decode()
    plain = call(path, {"title": "x"} if method == "post" else None)
    assert plain.status_code == 302 and plain["Location"].startswith("/accounts/login/?next=/chat/tasks")
    assert titles(owner_id) == [(1, "Buy milk", False)]


def test_it_escapes_task_titles(page: Client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title='<img src=x onerror="alert(1)">')
    body = page.get("/chat/tasks", **HX).content.decode()
    assert "<img" not in body
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in body
