"""The admin's "Accounts" list: who signed up, who awaits approval, and the "Approve" action (issue 16)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, gettext_lazy, ngettext

from accounts import services
from accounts.models import Account


class ApprovalFilter(admin.SimpleListFilter):
    title = gettext_lazy("approval")
    parameter_name = "approval"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("awaiting", gettext("Awaiting approval")), ("approved", gettext("Approved"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Account]) -> QuerySet[Account]:
        if self.value() == "awaiting":
            return queryset.filter(approved_at__isnull=True)
        if self.value() == "approved":
            return queryset.filter(approved_at__isnull=False)
        return queryset


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["username", "email", "date_joined", "status", "approved_at", "approved_by"]
    list_filter = [ApprovalFilter, ("user__date_joined", admin.DateFieldListFilter)]
    search_fields = ["user__username", "user__email"]
    ordering = ["-user__date_joined"]
    list_select_related = ["user", "approved_by"]
    actions = ["approve"]
    # Approval goes one way and only through the action (accounts.approval relies on it);
    # to shut someone out, make the user inactive or delete it.
    fields = ["user", "approved_at", "approved_by"]
    readonly_fields = fields
    list_per_page = 50

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # made with their user

    @admin.display(description=gettext_lazy("username"), ordering="user__username")
    def username(self, obj: Account) -> str:
        return obj.user.get_username()

    @admin.display(description=gettext_lazy("e-mail"), ordering="user__email")
    def email(self, obj: Account) -> str:
        return obj.user.email

    @admin.display(description=gettext_lazy("joined"), ordering="user__date_joined")
    def date_joined(self, obj: Account) -> Any:
        return obj.user.date_joined

    @admin.display(description=gettext_lazy("status"), boolean=False)
    def status(self, obj: Account) -> str:
        return gettext("Approved") if obj.is_approved else gettext("Awaiting approval")

    @admin.action(description=gettext_lazy("Approve the selected accounts"), permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Account]) -> None:
        count = services.accounts_approve(accounts=queryset, approved_by=request.user)
        if count:
            text = ngettext(
                "Approved %(count)s account: they can use the chat now.",
                "Approved %(count)s accounts: they can use the chat now.",
                count,
            )
            self.message_user(request, text % {"count": count}, messages.SUCCESS)
        else:
            self.message_user(request, gettext("The selected accounts were already approved."), messages.INFO)
