"""Issue 14: versions and branches of messages, a conversation's model and instructions,
titles the person set, and per-person preferences.

Every existing message becomes the only version of its turn, on the branch shown: its parent is
the message before it in its conversation's ``(created_at, id)`` order (one UPDATE with a window
function). ``msg_conv_created_id_idx`` keeps its name and columns and becomes partial
(``WHERE active``): the pages read the branch shown only.
"""

import django.db.models.deletion
from django.db import migrations, models


BACKFILL_PARENTS = """
    UPDATE conversations_message SET parent_id = previous.parent_id
    FROM (
        SELECT id, LAG(id) OVER (PARTITION BY conversation_id ORDER BY created_at, id) AS parent_id
        FROM conversations_message
    ) AS previous
    WHERE conversations_message.id = previous.id AND previous.parent_id IS NOT NULL
"""


def backfill_parents(apps, schema_editor) -> None:
    # PostgreSQL and SQLite (3.33+) both take UPDATE ... FROM and window functions.
    schema_editor.execute(BACKFILL_PARENTS)


class Migration(migrations.Migration):
    dependencies = [
        ('conversations', '0009_search'),
    ]

    operations = [
        migrations.CreateModel(
            name='Preference',
            fields=[
                ('user_id', models.CharField(max_length=255, primary_key=True, serialize=False)),
                ('model', models.CharField(blank=True, default='', max_length=200)),
                ('instructions', models.TextField(blank=True, default='')),
                ('updated_at', models.DateTimeField(auto_now=True)),
            ],
        ),
        migrations.RemoveIndex(
            model_name='message',
            name='msg_conv_created_id_idx',
        ),
        migrations.AddField(
            model_name='conversation',
            name='instructions',
            field=models.TextField(blank=True, db_default='', default=''),
        ),
        migrations.AddField(
            model_name='conversation',
            name='model',
            field=models.CharField(blank=True, db_default='', default='', max_length=200),
        ),
        migrations.AddField(
            model_name='conversation',
            name='title_set_by_user',
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.AddField(
            model_name='message',
            name='active',
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.AddField(
            model_name='message',
            name='parent',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to='conversations.message'),
        ),
        migrations.AddField(
            model_name='message',
            name='selected',
            field=models.BooleanField(db_default=True, default=True),
        ),
        migrations.AddField(
            model_name='message',
            name='version',
            field=models.PositiveSmallIntegerField(db_default=1, default=1),
        ),
        migrations.AddField(
            model_name='message',
            name='version_count',
            field=models.PositiveSmallIntegerField(db_default=1, default=1),
        ),
        migrations.RunPython(backfill_parents, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(condition=models.Q(('active', True)), fields=['conversation', '-created_at', '-id'], name='msg_conv_created_id_idx'),
        ),
        migrations.AddIndex(
            model_name='message',
            index=models.Index(fields=['conversation', 'parent', 'created_at', 'id'], name='msg_conv_parent_idx'),
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.CheckConstraint(condition=models.Q(('version__gte', 1), ('version__lte', models.F('version_count'))), name='message_version_valid'),
        ),
        migrations.AddConstraint(
            model_name='message',
            constraint=models.CheckConstraint(condition=models.Q(('active', False), ('selected', True), _connector='OR'), name='message_active_selected'),
        ),
    ]
