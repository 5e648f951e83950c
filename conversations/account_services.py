"""A person's own account (issue 16, "Settings"): defaults for new conversations, and deleting it all.

The settings page (``settings_views``) is a thin door over these functions. The chat keys its
rows by the chat identity, ``user_id`` (a string: the Django user's pk, also the JWT subject,
``auth.user_id_of``), not by a foreign key to the user row, so deleting the user row alone would
leave every conversation behind: ``account_delete`` empties each of those tables by ``user_id``
and then deletes the user row, whose own foreign keys cascade (the admin's log, group and
permission links, allauth's e-mail addresses and social accounts once it is installed).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils.translation import gettext_noop

from conversations.auth import user_id_of
from conversations.models import Conversation, IdempotencyKey, Message, Preference, ShareLink
from tasks.models import Task, TaskCounter

logger = logging.getLogger(__name__)

# Every table keyed by the chat identity, in the order ``account_delete`` empties them:
# conversations first (their messages and share links cascade), then anything left by
# ``user_id``. A new table with a ``user_id`` belongs here; ``test_account_services`` fails
# until it is (it finds such tables in the app registry).
USER_ID_MODELS: tuple[type[models.Model], ...] = (Conversation, Message, Task, TaskCounter, IdempotencyKey, Preference)
# Tied to a conversation, not to ``user_id``: deleted with the conversations (on_delete=CASCADE).
CONVERSATION_MODELS: tuple[type[models.Model], ...] = (ShareLink,)

# English msgids: the page shows them translated (issue 16; conversations/page_i18n.py).
CONFIRM_EMPTY = gettext_noop("Type your username to confirm.")
CONFIRM_WRONG = gettext_noop("That is not your username. Type it exactly as you sign in with it; nothing was deleted.")
LAST_SUPERUSER = gettext_noop(
    "You are the only superuser, so your account cannot be deleted: make someone else a superuser "
    "in the admin first. Nothing was deleted."
)


@dataclass(frozen=True)
class AccountDeleted:
    """What ``account_delete`` removed: ``rows`` maps a model label (``conversations.Message``)
    to the rows deleted, cascades included."""

    user_id: str
    rows: dict[str, int] = field(default_factory=dict)


# --- Defaults for new conversations -------------------------------------------------


def preference_get(*, user_id: str) -> Preference:
    """The person's ``Preference`` row, or an unsaved empty one (model and instructions ``""``)."""
    return Preference.objects.filter(user_id=user_id).first() or Preference(user_id=user_id)


@transaction.atomic
def preference_save(*, user_id: str, model: str, instructions: str) -> Preference:
    """Set the model and instructions ``user_id``'s new conversations take (issue 16).

    Both must already be cleaned, as for a conversation (``services.model_clean``: ``""`` is the
    server's default; ``services.instructions_clean``: up to 4000 characters). The model is the same
    ``Preference.model`` that choosing a model in a conversation sets (issue 14: "the last choice"),
    so the newer of the two wins. Conversations that exist keep their own.
    """
    preference, _ = Preference.objects.update_or_create(
        user_id=user_id, defaults={"model": model, "instructions": instructions}
    )
    return preference


# --- Deleting the account -------------------------------------------------------------


def account_delete_confirmation_clean(*, user: AbstractBaseUser, typed: str) -> str:
    """Check the username typed to confirm deleting ``user``'s account; returns it.

    Surrounding spaces are ignored; otherwise it must be the username exactly (case too).

    Raises:
        ValidationError: empty, or not ``user``'s username.
    """
    typed = typed.strip()
    if not typed:
        raise ValidationError(CONFIRM_EMPTY, code="required")
    if typed != user.get_username():
        raise ValidationError(CONFIRM_WRONG, code="wrong_username")
    return typed


@transaction.atomic
def account_delete(*, user: AbstractBaseUser) -> AccountDeleted:
    """Delete ``user`` and everything of theirs, in one transaction (issue 16, "delete my account").

    Every conversation (with its messages and share link), then every message, task, task
    counter, idempotency key and preference left under their ``user_id`` (``USER_ID_MODELS``),
    then the user row, whose foreign keys cascade (admin log entries, group and permission links,
    allauth's rows). If any step fails, nothing is deleted. Staff and superusers may delete
    themselves too, except the last active superuser: someone must be left to run the admin.

    The caller ends the session (``django.contrib.auth.logout``); the person's other sessions
    end by themselves, since their user no longer exists. API tokens already issued are not
    revoked (they are stateless JWTs) and expire on their own.

    Args:
        user: the signed-in person (a Django user).

    Returns:
        What was deleted, per model.

    Raises:
        ValidationError: ``user`` is the only active superuser (code ``last_superuser``).
    """
    user_model = get_user_model()
    if getattr(user, "is_superuser", False):
        # Locked, so that two superusers deleting themselves at once cannot both pass.
        superusers = user_model.objects.select_for_update().filter(is_superuser=True, is_active=True)
        if not any(pk != user.pk for pk in superusers.values_list("pk", flat=True)):
            raise ValidationError(LAST_SUPERUSER, code="last_superuser")
    user_id = user_id_of(user)
    rows: Counter[str] = Counter()
    for model in USER_ID_MODELS:
        _, deleted = model.objects.filter(user_id=user_id).delete()
        rows.update(deleted)
    _, deleted = user.delete()
    rows.update(deleted)
    summary = {label: count for label, count in rows.items() if count}
    logger.info("account %s deleted with all its data: %s", user_id, summary)
    return AccountDeleted(user_id=user_id, rows=summary)
