"""Index types the models use beyond Django's default B-tree."""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import BrinIndex
from django.db import models


class TimeOrderBrinIndex(BrinIndex):
    """A BRIN index on PostgreSQL (block ranges of an append-mostly column), a B-tree elsewhere.

    For ``Message.created_at`` (contract: Data model, "``created_at`` not null, indexed"):
    rows are inserted in time order, so a BRIN index serves time-range scans (the admin's date
    filter) in a few pages, and, unlike a B-tree, it cannot hand the planner rows in
    ``created_at`` order. A B-tree did: when one conversation was a large share of the table,
    PostgreSQL read a page of it by walking that B-tree backwards from the newest message of
    the whole table, filtering by conversation, through every newer message of the others
    (40 ms instead of under 1 ms for the newest page; issue 6, bench/NOTES.md). Pages are
    served by ``msg_conv_created_id_idx``. SQLite, which has no BRIN, gets a plain index.
    """

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return models.Index.create_sql(self, model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)
