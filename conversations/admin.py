"""Django admin for inspecting conversations (read-only: the chat's own doors write).

The conversation page shows its newest messages in order and links to the full,
paginated message list, so a conversation of 100,000 messages never loads at once.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from conversations.models import Conversation, IdempotencyKey, Message, ShareLink

ADMIN_PREVIEW_MESSAGES = 50


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin):
    list_display = ["title_or_id", "user_id", "message_count", "updated_at", "created_at"]
    list_filter = [("updated_at", admin.DateFieldListFilter), ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user_id", "title", "messages__content"]
    date_hierarchy = "updated_at"
    fields = ["id", "user_id", "title", "created_at", "updated_at", "message_count", "recent_messages"]
    readonly_fields = fields
    list_per_page = 50
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        return super().get_queryset(request).annotate(message_count=Count("messages"))

    @admin.display(description="title", ordering="title")
    def title_or_id(self, obj: Conversation) -> str:
        return obj.title or str(obj.id)

    @admin.display(description="messages", ordering="message_count")
    def message_count(self, obj: Conversation) -> int:
        return obj.message_count  # type: ignore[attr-defined]

    @admin.display(description=f"newest {ADMIN_PREVIEW_MESSAGES} messages, oldest first")
    def recent_messages(self, obj: Conversation) -> str:
        newest = list(Message.objects.filter(conversation=obj).order_by("-created_at", "-id")[:ADMIN_PREVIEW_MESSAGES])
        newest.reverse()
        rows = format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td style="white-space: pre-wrap">{}</td></tr>',
            ((m.created_at, m.role, m.status, m.content) for m in newest),
        )
        link = reverse("admin:conversations_message_changelist") + f"?conversation__id__exact={obj.pk}"
        return format_html(
            "<table><thead><tr><th>time</th><th>role</th><th>status</th><th>content</th></tr></thead>"
            '<tbody>{}</tbody></table><p><a href="{}">All messages of this conversation</a></p>',
            rows,
            link,
        )


@admin.register(Message)
class MessageAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "role", "status", "user_id", "short_content", "conversation_id"]
    list_filter = ["role", "status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["content", "user_id"]
    ordering = ["created_at", "id"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["id", "conversation", "user_id", "role", "status", "created_at", "content"]
    readonly_fields = fields

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return obj.content[:80]


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(ReadOnlyAdmin):
    """Who repeated what (issue 12): a key, the messages it saved and the answer it got."""

    list_display = ["created_at", "user_id", "key", "response_status", "conversation_id"]
    list_filter = ["response_status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["user_id", "key"]
    ordering = ["-created_at"]
    list_per_page = 100
    show_full_result_count = False
    fields = [
        "user_id",
        "key",
        "fingerprint",
        "conversation_id",
        "message_id",
        "reply_id",
        "response_status",
        "created_at",
    ]
    readonly_fields = fields


@admin.register(ShareLink)
class ShareLinkAdmin(ReadOnlyAdmin):
    """Which conversations are shared (issue 15, "Share"). The token is searchable but never shown:
    it is the key to the public page. Like the other models, rows can only be deleted here
    (which revokes the link, e.g. for abuse); the owner shares and revokes on the page or the API."""

    list_display = ["created_at", "conversation_id", "owner", "title", "until_created_at"]
    list_filter = [("created_at", admin.DateFieldListFilter)]
    search_fields = ["=token", "conversation__user_id", "=conversation__id"]
    ordering = ["-created_at"]
    list_select_related = ["conversation"]
    list_per_page = 100
    show_full_result_count = False
    fields = ["conversation", "owner", "title", "created_at", "until_created_at", "until_message_id"]
    readonly_fields = fields

    @admin.display(description="owner", ordering="conversation__user_id")
    def owner(self, obj: ShareLink) -> str:
        return obj.conversation.user_id
