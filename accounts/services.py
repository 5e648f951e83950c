"""Writes of accounts: a new user's Account row, and approval by a staff member (issue 16)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts import approval
from accounts.models import Account

# Set on a user instance by the sign-up adapter before it is first saved (``AccountAdapter.new_user``).
AWAITS_APPROVAL = "_accounts_awaits_approval"


def signup_awaits_approval() -> bool:
    """Whether a person signing up now must wait for a staff member (``SIGNUP_MODE=approval``)."""
    return settings.SIGNUP_MODE == "approval"


def mark_awaiting_approval(user: Any) -> None:
    """Mark an unsaved user from a sign-up so its account is made awaiting approval."""
    setattr(user, AWAITS_APPROVAL, True)


def account_create(*, user: Any) -> Account:
    """The Account of a user just created: awaiting approval if the sign-up marked it, else approved.

    Args:
        user: a saved user; ``mark_awaiting_approval`` may have been called on it.
    """
    awaiting = bool(getattr(user, AWAITS_APPROVAL, False))
    account, _created = Account.objects.get_or_create(
        user=user, defaults={"approved_at": None if awaiting else timezone.now()}
    )
    return account


@transaction.atomic
def accounts_approve(*, accounts: QuerySet[Account], approved_by: Any) -> int:
    """Approve the accounts of ``accounts`` that still await approval; approved ones stay as they were.

    Args:
        accounts: Account rows (e.g. the admin's selection).
        approved_by: the staff user approving them.

    Returns:
        How many accounts were approved now.
    """
    waiting = list(accounts.select_for_update().filter(approved_at__isnull=True).values_list("pk", flat=True))
    count = Account.objects.filter(pk__in=waiting).update(approved_at=timezone.now(), approved_by=approved_by)
    for user_pk in waiting:
        transaction.on_commit(lambda user_pk=user_pk: approval.remember(user_pk, approved=True))
    return count
