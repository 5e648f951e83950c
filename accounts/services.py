"""Writes of accounts: a new user's Account row, and approval by a staff member (issue 16)."""

from __future__ import annotations

from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
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


# --- Single sign-on: a first sign-in by a verified address ------------------------------------


def sso_user_for_verified_email(*, email: str) -> Any | None:
    """The one account of this site a single sign-on may enter by ``email``, which the provider verified.

    An account qualifies when the address is its own and trustworthy here: confirmed on this site
    (allauth's ``EmailAddress``, verified), or set by an administrator (the user's e-mail, in the admin
    or ``createsuperuser``, with no ``EmailAddress`` row: addresses people type themselves, at sign-up or
    on the addresses page, always get one). An address someone typed and never confirmed does not
    qualify, or anyone could sign up with another person's address and wait for their first single
    sign-on. Several accounts qualifying is no answer either.

    Args:
        email: the address the provider says is verified (``email_verified``).

    Returns:
        The user, or None (no account, several, or none whose address is trustworthy).
    """
    user_model = get_user_model()
    rows = EmailAddress.objects.filter(email__iexact=email)
    confirmed = rows.filter(verified=True).values("user_id")
    set_by_admin = user_model.objects.filter(email__iexact=email).exclude(pk__in=rows.values("user_id"))
    users = list(user_model.objects.filter(Q(pk__in=confirmed) | Q(pk__in=set_by_admin.values("pk")))[:2])
    return users[0] if len(users) == 1 else None


def sso_email_confirm(*, user: Any, email: str) -> None:
    """Record ``user``'s address as confirmed: a provider verified it and it was already theirs.

    Without the row, allauth takes an unconfirmed address at a first single sign-on as a possible
    trap and makes the account's password unusable; an address an administrator set is no trap.
    """
    primary = not EmailAddress.objects.filter(user=user, primary=True).exists()
    EmailAddress.objects.get_or_create(
        user=user, email__iexact=email, defaults={"email": email, "verified": True, "primary": primary}
    )
