"""The tasks panel's routes on the chat page, under ``/chat/tasks`` (``chatsite.urls``); a session is needed."""

from __future__ import annotations

from django.urls import path

from tasks import views

urlpatterns = [
    path("chat/tasks", views.tasks, name="tasks"),
    path("chat/tasks/<int:number>", views.task, name="task"),
    path("chat/tasks/<int:number>/delete", views.task_delete, name="task-delete"),
]
