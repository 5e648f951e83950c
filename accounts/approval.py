"""Whether an identity may use the chat yet: the approval check of every door (issue 16).

The page (``conversations.views.session_required``), the API (``conversations.auth.JWTAuthentication``
and ``accounts.drf.ApprovedSessionAuthentication``), the token endpoint, the WebSocket consumer and
the MCP door all ask ``is_pending`` / ``ais_pending`` for the identity they already hold (the JWT
subject, or the signed-in user's pk: one identity, FR-012).

Cost on the hot paths (the chat POST and the page are benchmarked): approval only ever goes one way
(awaiting -> approved), so a process remembers the users it has seen approved, in a set, and asks the
database only about a user it has not seen approved yet: at most one primary-key lookup
(``accounts_account.user_id``), and none at all for an approved user after their first request to
this worker. A new account's row writes the set as it is saved (``accounts.signals``), so a freshly
created approved user costs no query even once. Pending answers are never remembered: an approval in
the admin counts at the next request, in every worker. A subject that is not a Django user id (a
Better Auth subject: not all digits) is never looked up: only Django users can await approval.

On the database lookup outside a transaction, the connection is given back at once
(``connection.close()``: to the pool, or closed): the chat's request thread must not hold one while
the model answers (``conversations.services.db_async``).
"""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.utils.translation import gettext_noop
from rest_framework import exceptions

PENDING_ERROR = "Forbidden"
# The API's and the socket's English (the page's script shows it translated: conversations/page_text.py).
PENDING_DETAIL = gettext_noop(
    "Your account is waiting for approval by an administrator. You can use the chat once it is approved."
)
# A worker remembers at most this many approved users (a few MB); past it, it starts afresh.
MAX_REMEMBERED = 100_000

_approved: set[int] = set()


class AccountPending(exceptions.PermissionDenied):
    """DRF's 403, with the contract's body ``{"error": "Forbidden", "detail": PENDING_DETAIL}``."""

    default_detail = PENDING_DETAIL
    default_code = "account_pending"


def _user_pk(user_id: Any) -> int | None:
    """``user_id`` as a Django user's primary key, or ``None`` when it cannot be one."""
    if isinstance(user_id, int):
        return user_id
    text = str(user_id)
    if not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def remember(user_pk: int, *, approved: bool) -> None:
    """Note in this process what was just saved about ``user_pk`` (``accounts.signals``)."""
    if approved:
        if len(_approved) >= MAX_REMEMBERED:
            _approved.clear()
        _approved.add(user_pk)
    else:
        _approved.discard(user_pk)


def forget_all() -> None:
    """Forget every remembered approval (tests)."""
    _approved.clear()


def _pending_in_database(user_pk: int) -> bool:
    from accounts.models import Account  # the app registry is ready by the first request

    try:
        rows = list(Account.objects.filter(pk=user_pk).values_list("approved_at", flat=True)[:1])
    finally:
        if not connection.in_atomic_block:
            connection.close()
    if not rows:
        # No row: a user older than this app or made without signals; only sign-ups wait.
        return False
    if rows[0] is None:
        return True
    remember(user_pk, approved=True)
    return False


def is_pending(user_id: Any) -> bool:
    """Whether ``user_id`` (a JWT subject or a user pk) is an account still awaiting approval.

    Args:
        user_id: ``str(user.pk)``, a pk, or any other JWT subject.

    Returns:
        ``True`` only for a Django user whose account awaits approval.
    """
    user_pk = _user_pk(user_id)
    if user_pk is None or user_pk in _approved:
        return False
    return _pending_in_database(user_pk)


async def ais_pending(user_id: Any) -> bool:
    """``is_pending`` for async code: no thread hop when the answer is remembered."""
    user_pk = _user_pk(user_id)
    if user_pk is None or user_pk in _approved:
        return False
    from conversations.services import db_async  # the database threads, as the chat's own steps

    return await db_async(_pending_in_database)(user_pk)


def check_approved(user_id: Any) -> None:
    """Raise ``AccountPending`` (403) when ``user_id``'s account awaits approval."""
    if is_pending(user_id):
        raise AccountPending
