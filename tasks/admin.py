"""Django admin for tasks: staff can find, read and correct a person's tasks."""

from __future__ import annotations

from django.contrib import admin

from tasks.models import Task


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ["number", "title", "user_id", "completed", "updated_at"]
    list_filter = ["completed", ("updated_at", admin.DateFieldListFilter)]
    search_fields = ["=user_id", "title"]
    fields = ["user_id", "number", "title", "description", "completed", "created_at", "updated_at"]
    readonly_fields = ["user_id", "number", "created_at", "updated_at"]
    ordering = ["user_id", "number"]
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: object) -> bool:
        # A task is added through its owner's doors, which give it the next number.
        return False
