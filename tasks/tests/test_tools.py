"""The five tools called directly (issue 13): arguments as models send them, results, the record."""

from __future__ import annotations

import pytest
from django.db import OperationalError

from tasks import services
from tasks.models import Task
from tasks.tools import ARGUMENTS_MAX_CHARS, SPECS, call_tool

pytestmark = pytest.mark.django_db


def test_the_five_tools_are_the_original_designs() -> None:
    assert [spec.name for spec in SPECS] == ["add_task", "list_tasks", "complete_task", "delete_task", "update_task"]
    assert all(spec.parameters["type"] == "object" for spec in SPECS)


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ('{"task_id": "²"}', "complete_task: task_id must be a task number, such as 3"),
        ('{"task_id": true}', "complete_task: task_id must be a task number, such as 3"),
        ('{"task_id": 0}', "complete_task: task_id must be a task number, such as 3"),
        ("[1, 2]", "complete_task: the arguments must be a JSON object"),
        ("{", "complete_task: the arguments are not valid JSON"),
        ('{"task_id": 99999999999}', "task 99999999999 not found"),
    ],
)
def test_malformed_arguments_are_error_results(owner_id: str, arguments: str, error: str) -> None:
    call = call_tool(user_id=owner_id, name="complete_task", arguments=arguments)
    assert call.result == {"error": error} and call.failed


def test_numbers_as_text_are_taken_as_models_send_them(owner_id: str) -> None:
    services.task_create(user_id=owner_id, title="Three")
    assert (
        call_tool(user_id=owner_id, name="complete_task", arguments='{"task_id": "#1"}').result["status"] == "completed"
    )
    assert call_tool(user_id=owner_id, name="delete_task", arguments={"task_id": 1.0}).result["status"] == "deleted"


def test_an_unknown_tool_and_an_empty_update_say_so(owner_id: str) -> None:
    assert call_tool(user_id=owner_id, name="drop_database", arguments={}).result == {
        "error": "drop_database: there is no tool named 'drop_database'; the tools are add_task, list_tasks, "
        "complete_task, delete_task, update_task"
    }
    services.task_create(user_id=owner_id, title="x")
    assert call_tool(user_id=owner_id, name="update_task", arguments={"task_id": 1}).result == {
        "error": "update_task: give a new title or description"
    }


def test_a_novel_of_arguments_is_kept_cut(owner_id: str) -> None:
    call = call_tool(user_id=owner_id, name="add_task", arguments={"title": "ok", "notes": "n" * 20_000})
    assert call.result["status"] == "created"
    assert isinstance(call.arguments, str) and len(call.arguments) == ARGUMENTS_MAX_CHARS + 1


def test_the_record_is_in_the_tools_transaction(owner_id: str) -> None:
    recorded = []
    call = call_tool(user_id=owner_id, name="add_task", arguments={"title": "Kept"}, record=recorded.append)
    assert recorded == [call] and call.summary == "Added task 1: Kept"

    def broken(call: object) -> None:
        raise OperationalError("the connection went away")

    failed = call_tool(user_id=owner_id, name="add_task", arguments={"title": "Gone"}, record=broken)
    # The record failed, so the tool's write was rolled back with it: never a task without its record.
    assert failed.result == {"error": "add_task failed: the task list could not be reached; try again"}
    assert list(Task.objects.values_list("title", flat=True)) == ["Kept"]
    assert failed.summary == "add_task failed: the task list could not be reached; try again"
    assert call_tool(user_id=owner_id, name="complete_task", arguments={"task_id": 7}).summary == "Task 7 not found"
