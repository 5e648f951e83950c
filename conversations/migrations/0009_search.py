"""Full-text search indexes (issue 15, "Search"), on PostgreSQL only.

GIN indexes on ``to_tsvector('english'::regconfig, COALESCE(content, ''))`` of messages and the
same on conversation titles: the expressions ``conversations.search.search_fulltext`` filters
on (Django's ``SearchVector(col, config="english")``), so PostgreSQL can use them for ``@@``.
They are built here from that same Django expression, so the two cannot drift apart in
spelling; ``test_api_search.py`` checks the plan.

SQLite has no GIN (and no ``to_tsvector``): there the search falls back to ``icontains``
(docs/search.md) and this migration does nothing. The indexes are not in the models'
``Meta.indexes`` because SQLite would then be asked to build them whenever it rebuilds a table.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector
from django.db import migrations

# (model, column, index name); the configuration must match conversations.search.CONFIG.
INDEXES = (
    ("message", "content", "msg_content_fts_idx"),
    ("conversation", "title", "conv_title_fts_idx"),
)
CONFIG = "english"


def _index(column: str, name: str) -> GinIndex:
    return GinIndex(SearchVector(column, config=CONFIG), name=name)


def forwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, column, name in INDEXES:
        schema_editor.add_index(apps.get_model("conversations", model_name), _index(column, name))


def backwards(apps, schema_editor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, column, name in INDEXES:
        schema_editor.remove_index(apps.get_model("conversations", model_name), _index(column, name))


class Migration(migrations.Migration):

    dependencies = [
        ('conversations', '0008_sharelink'),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
