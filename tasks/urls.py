"""The tasks API's routes, mounted under ``/api/`` (``chatsite.urls``)."""

from __future__ import annotations

from django.urls import path

from tasks import api

urlpatterns = [
    path("<str:user_id>/tasks", api.TaskListView.as_view(), name="api-tasks"),
    path("<str:user_id>/tasks/<str:task_id>", api.TaskDetailView.as_view(), name="api-task"),
]
