"""Every user that exists before accounts come in was let in by an administrator: approved (issue 16)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations
from django.db.models import F


def approve_existing_users(apps: Any, schema_editor: Any) -> None:
    user_model = apps.get_model(settings.AUTH_USER_MODEL)
    account_model = apps.get_model("accounts", "Account")
    have_account = account_model.objects.values("user_id")
    users = user_model.objects.exclude(pk__in=have_account).values_list("pk", "date_joined")
    batch = []
    for pk, joined in users.iterator(chunk_size=2000):
        batch.append(account_model(user_id=pk, approved_at=joined))
        if len(batch) >= 2000:
            account_model.objects.bulk_create(batch)
            batch = []
    account_model.objects.bulk_create(batch)


def forget_accounts_of_existing_users(apps: Any, schema_editor: Any) -> None:
    # The reverse: the rows this migration made (approved when the user joined) go again.
    account_model = apps.get_model("accounts", "Account")
    account_model.objects.filter(approved_by__isnull=True, approved_at=F("user__date_joined")).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_account"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(approve_existing_users, forget_accounts_of_existing_users)]
