"""Make the database itself cascade deletes from conversations to messages.

Django emulates ``on_delete=CASCADE`` in Python and creates the foreign key without
an ON DELETE action, so a conversation deleted by raw SQL (or another program) would
be refused or leave orphans. The contract's data model asks for ON DELETE CASCADE in
the PostgreSQL schema itself. SQLite keeps Django's emulation (it cannot alter a
constraint in place). A later AlterField on ``Message.conversation`` would recreate
the constraint without the action: repeat this migration after one.
"""

from __future__ import annotations

from django.db import migrations


def _conversation_fk_names(schema_editor) -> list[str]:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT con.conname
            FROM pg_constraint con
            JOIN pg_class rel ON rel.oid = con.conrelid
            JOIN pg_class ref ON ref.oid = con.confrelid
            WHERE con.contype = 'f'
              AND rel.relname = 'conversations_message'
              AND ref.relname = 'conversations_conversation'
            """
        )
        return [row[0] for row in cursor.fetchall()]


def _set_on_delete(apps, schema_editor, action: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    quote = schema_editor.quote_name
    for name in _conversation_fk_names(schema_editor):
        schema_editor.execute(f"ALTER TABLE conversations_message DROP CONSTRAINT {quote(name)}")
        schema_editor.execute(
            f"ALTER TABLE conversations_message ADD CONSTRAINT {quote(name)} "
            "FOREIGN KEY (conversation_id) REFERENCES conversations_conversation (id) "
            f"ON DELETE {action} DEFERRABLE INITIALLY DEFERRED"
        )


def forwards(apps, schema_editor) -> None:
    _set_on_delete(apps, schema_editor, "CASCADE")


def backwards(apps, schema_editor) -> None:
    _set_on_delete(apps, schema_editor, "NO ACTION")


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
