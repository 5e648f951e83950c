"""The offline assistant's plain English (issue 13): which request each phrase is, and what is not one."""

from __future__ import annotations

import pytest

from conversations.assistant.offline import Request, understand


@pytest.mark.parametrize(
    ("text", "request_"),
    [
        ("add a task to buy groceries", Request("add_task", {"title": "Buy groceries"})),
        ("Please add a new task: renew passport", Request("add_task", {"title": "Renew passport"})),
        ("create a todo to water the plants!", Request("add_task", {"title": "Water the plants"})),
        ("Remind me to call mom.", Request("add_task", {"title": "Call mom"})),
        ("can you remind me to 'pay rent'", Request("add_task", {"title": "Pay rent"})),
        ("add bread to my list", Request("add_task", {"title": "Bread"})),
        ("show me all my tasks", Request("list_tasks", {"status": "all"})),
        ("list my tasks", Request("list_tasks", {"status": "all"})),
        ("What are my tasks?", Request("list_tasks", {"status": "all"})),
        ("what's pending?", Request("list_tasks", {"status": "pending"})),
        ("What do I have left to do?", Request("list_tasks", {"status": "pending"})),
        ("show open tasks", Request("list_tasks", {"status": "pending"})),
        ("what have I completed?", Request("list_tasks", {"status": "completed"})),
        ("show completed tasks", Request("list_tasks", {"status": "completed"})),
        ("mark task 3 as complete", Request("complete_task", {"task_id": 3})),
        ("Mark task #3 done", Request("complete_task", {"task_id": 3})),
        ("complete task 12", Request("complete_task", {"task_id": 12})),
        ("I finished task 4", Request("complete_task", {"task_id": 4})),
        ("task 5 is done", Request("complete_task", {"task_id": 5})),
        ("delete task 2", Request("delete_task", {"task_id": 2})),
        ("please remove task 2.", Request("delete_task", {"task_id": 2})),
        ("delete the meeting task", Request("delete_task", {}, words="meeting")),
        ("remove the task about dentist", Request("delete_task", {}, words="dentist")),
        ("change task 1 to 'Call mom tonight'", Request("update_task", {"task_id": 1, "title": "Call mom tonight"})),
        ("rename task 1 to buy oat milk", Request("update_task", {"task_id": 1, "title": "Buy oat milk"})),
        ("change the title of task 7 to: Ship it", Request("update_task", {"task_id": 7, "title": "Ship it"})),
    ],
)
def test_it_understands_the_task_requests_of_the_contract(text: str, request_: Request) -> None:
    assert understand(text) == request_


@pytest.mark.parametrize(
    "text",
    [
        "Hello there",
        "Tell me a joke",
        "What is done in Python with lists?",
        "How do I list things?",
        "Show me a poem",
        "Plan my week",
        "Stream it, please",
        "Summarise what we talked about yesterday",
        # Ordinary questions that mention tasks, pending or todo (found in review).
        "Create a task queue in Python using Celery",
        "Make a todo app in React",
        "Is my package still pending delivery?",
        "tell me about async tasks in Python",
        "Give me an example of a Celery task",
        "What tasks can a scheduler run?",
    ],
)
def test_anything_else_is_not_a_task_request(text: str) -> None:
    assert understand(text) is None
