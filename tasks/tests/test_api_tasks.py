"""The tasks API (issue 13): /api/{user_id}/tasks, the chat contract's rules and error bodies."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import IntegrityError, connection, transaction
from rest_framework.test import APIClient

from tasks import services
from tasks.models import Task

pytestmark = pytest.mark.django_db

NOT_FOUND = {"error": "Not found", "detail": "Task not found"}
FORBIDDEN = {"error": "Forbidden", "detail": "User ID in path does not match authenticated user"}
UNAUTHORIZED = {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}


def post(client: APIClient, path: str, body: object):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def patch(client: APIClient, path: str, body: object):
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def test_create_list_read_update_delete(api: APIClient, owner_id: str) -> None:
    created = post(api, f"/api/{owner_id}/tasks", {"title": "  Buy milk ", "description": "2 litres"})
    assert created.status_code == 201
    task = created.json()
    assert set(task) == {"id", "number", "title", "description", "completed", "created_at", "updated_at"}
    assert (task["id"], task["number"], task["title"], task["description"], task["completed"]) == (
        1,
        1,
        "Buy milk",
        "2 litres",
        False,
    )
    post(api, f"/api/{owner_id}/tasks", {"title": "Call mom"})
    assert api.get(f"/api/{owner_id}/tasks/1").json() == task

    done = patch(api, f"/api/{owner_id}/tasks/2", {"completed": True})
    assert done.status_code == 200 and done.json()["completed"] is True
    assert done.json()["updated_at"] >= done.json()["created_at"]
    renamed = patch(api, f"/api/{owner_id}/tasks/1", {"title": "Buy oat milk", "description": ""})
    assert (renamed.json()["title"], renamed.json()["description"]) == ("Buy oat milk", "")

    def listed(status: str) -> list[int]:
        response = api.get(f"/api/{owner_id}/tasks?status={status}")
        assert response.status_code == 200
        return [t["id"] for t in response.json()["tasks"]]

    assert (listed("all"), listed("pending"), listed("completed")) == ([1, 2], [1], [2])
    assert api.get(f"/api/{owner_id}/tasks").json()["tasks"][0]["title"] == "Buy oat milk"

    assert api.delete(f"/api/{owner_id}/tasks/1").status_code == 204
    assert api.get(f"/api/{owner_id}/tasks/1").json() == NOT_FOUND
    assert api.delete(f"/api/{owner_id}/tasks/1").status_code == 404


def test_numbers_are_per_user_and_never_reused(api: APIClient, owner_id: str, other_id: str) -> None:
    for title in ("a", "b", "c"):
        services.task_create(user_id=owner_id, title=title)
    services.task_delete(user_id=owner_id, number=3)
    assert post(api, f"/api/{owner_id}/tasks", {"title": "d"}).json()["number"] == 4
    assert services.task_create(user_id=other_id, title="theirs").number == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_never_share_a_number(owner_id: str, on_postgres: None) -> None:
    errors: list[BaseException] = []

    def add(index: int) -> None:
        try:
            services.task_create(user_id=owner_id, title=f"t{index}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(Task.objects.filter(user_id=owner_id).values_list("number", flat=True)) == list(range(1, 9))


def test_someone_elses_task_is_not_found_and_unchanged(api: APIClient, owner_id: str, other_id: str) -> None:
    services.task_create(user_id=other_id, title="Theirs")
    assert api.get(f"/api/{owner_id}/tasks/1").json() == NOT_FOUND
    assert patch(api, f"/api/{owner_id}/tasks/1", {"completed": True}).json() == NOT_FOUND
    assert api.delete(f"/api/{owner_id}/tasks/1").json() == NOT_FOUND
    assert api.get(f"/api/{owner_id}/tasks").json() == {"tasks": []}
    assert list(Task.objects.values_list("user_id", "title", "completed")) == [(other_id, "Theirs", False)]


def test_the_path_user_must_be_the_token_subject(api: APIClient, anon_api: APIClient, other_id: str) -> None:
    services.task_create(user_id=other_id, title="Theirs")
    for response in (
        api.get(f"/api/{other_id}/tasks"),
        post(api, f"/api/{other_id}/tasks", {"title": "x"}),
        api.get(f"/api/{other_id}/tasks/1"),
        api.delete(f"/api/{other_id}/tasks/1"),
    ):
        assert (response.status_code, response.json()) == (403, FORBIDDEN)
    response = anon_api.get(f"/api/{other_id}/tasks")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)
    assert Task.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({}, "Title is required"),
        ({"title": "   "}, "Title cannot be empty"),
        ({"title": "x" * 201}, "Title is too long: the limit is 200 characters"),
        ({"title": 5}, "Title must be a string"),
        ({"title": "ok", "description": "d" * 2001}, "Description is too long: the limit is 2000 characters"),
        ({"title": "nul\x00"}, "Title cannot contain NUL characters"),
        ({"title": "lone \ud800"}, "Title contains invalid Unicode (a lone surrogate)"),
        ({"title": "ok", "user_id": "someone"}, "Unknown field: user_id"),
    ],
)
def test_bad_input_is_a_400_that_says_what_is_wrong_and_saves_nothing(
    api: APIClient, owner_id: str, body: dict[str, object], detail: str
) -> None:
    response = post(api, f"/api/{owner_id}/tasks", body)
    assert (response.status_code, response.json()) == (400, {"error": "Validation error", "detail": detail})
    assert not Task.objects.exists()


def test_bad_updates_and_ids(api: APIClient, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Keep me")
    for body, detail in (
        ({"completed": 1}, "completed must be true or false"),
        ({"completed": "yes"}, "completed must be true or false"),
        ({"title": ""}, "Title cannot be empty"),
    ):
        response = patch(api, f"/api/{owner_id}/tasks/1", body)
        assert (response.status_code, response.json()["detail"]) == (400, detail)
    for task_id in ("0", "abc", "-1", "99999999999", "１"):
        assert api.get(f"/api/{owner_id}/tasks/{task_id}").json() == NOT_FOUND
    response = api.get(f"/api/{owner_id}/tasks?status=done")
    assert (response.status_code, response.json()["detail"]) == (400, "status must be one of all, pending, completed")
    assert Task.objects.get().title == "Keep me"


def test_the_database_refuses_a_blank_title_and_a_number_twice(owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="One")
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(user_id=owner_id, number=1, title="Again")
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(user_id=owner_id, number=2, title="")


def test_the_schema_documents_the_tasks_api(api: APIClient) -> None:
    schema = api.get("/api/schema/?format=json").json()
    assert {"/api/{user_id}/tasks", "/api/{user_id}/tasks/{task_id}"} <= set(schema["paths"])
    assert set(schema["paths"]["/api/{user_id}/tasks/{task_id}"]) >= {"get", "patch", "delete"}


def test_staff_find_tasks_in_the_admin(admin_client, owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Visible to staff")
    assert b"Visible to staff" in admin_client.get("/admin/tasks/task/").content
    assert admin_client.get("/admin/tasks/task/add/").status_code == 403
