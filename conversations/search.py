"""Search a user's conversations (issue 15, "Search"): titles and message text, best matches first.

Only the user's own conversations are read (archived ones included): every query filters on
``Conversation.user_id``, the owner, through the message's conversation (FR-011, SC-006).

On PostgreSQL this is full-text search (docs/search.md): the ``english`` configuration (stemming,
stop words), ``websearch_to_tsquery`` syntax (``"a phrase"``, ``-excluded``, ``or``), ``ts_rank``
ordering and ``ts_headline`` snippets. The ``WHERE`` expression is exactly the one the GIN
indexes of migration 0009 are built on (``to_tsvector('english'::regconfig, COALESCE(col, ''))``),
so the index finds the matching rows. Elsewhere (SQLite, the bare-machine default) a simpler
fallback matches every word case-insensitively (``icontains``), newest first.

A snippet is HTML in which only ``<mark>`` is markup. PostgreSQL's parser reads ``<...>`` as tags
and ``ts_headline`` leaves tags out of its output, so the text is escaped *first*, in SQL (as
``html.escape`` does), and ``ts_headline`` runs on the escaped text: an entity is one token, so a
fragment never cuts one in half. It marks the matches with two private-use sentinel characters
(removed from the text beforehand, so the only ones left are its own); in Python each piece
between them is unescaped and escaped again (whatever ``ts_headline`` did, no ``<`` survives) and
the sentinels become ``<mark>`` and ``</mark>``.
"""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from dataclasses import dataclass

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.functions import Length, Replace
from django.db.models.lookups import LessThanOrEqual
from django.utils.translation import gettext_noop

from conversations.models import TITLE_MAX_LENGTH, Conversation, Message

QUERY_MAX_CHARS = 200
# The most matches ranked for one search (the newest ones): see search_fulltext.
RANK_CANDIDATES = 5000
LIMIT_DEFAULT = 20
LIMIT_MAX = 50

# The text-search configuration of the queries and of the GIN indexes (migration 0009):
# both must name the same one, or the index no longer matches the query.
CONFIG = "english"
# A title names what a whole conversation is about: its rank counts double against a message's.
TITLE_BOOST = 2.0

# ts_headline's StartSel/StopSel: private-use characters, removed from the text before
# ts_headline runs, so that after escaping these are the only places that become tags.
_START, _STOP = "\ue000", "\ue001"
_MARKS = {_START: "<mark>", _STOP: "</mark>"}
# A text up to this many characters is its own snippet (titles always are); a longer one gives
# up to two fragments of 6..18 words around the matches.
_WHOLE_UP_TO = 240
_HEADLINE = {"max_words": 18, "min_words": 6, "max_fragments": 2, "fragment_delimiter": " … "}
# The fallback's excerpt: characters kept before and after the first match.
_EXCERPT_BEFORE, _EXCERPT_AFTER = 60, 120


@dataclass(frozen=True)
class SearchResult:
    """One match: a message (``message_id`` set) or a conversation's title (``message_id`` None).

    ``snippet`` is HTML: escaped text with the matched words in ``<mark>``. ``created_at`` is the
    message's time, or the conversation's for a title match. ``rank`` orders the results (higher
    is better; 0 in the fallback, which orders by time).
    """

    conversation_id: uuid.UUID
    message_id: uuid.UUID | None
    title: str
    snippet: str
    created_at: dt.datetime
    rank: float = 0.0


def query_clean(query: str) -> str:
    """The search text without surrounding whitespace.

    Raises:
        ValidationError: empty or whitespace only, or over ``QUERY_MAX_CHARS`` characters.
    """
    if len(query) > QUERY_MAX_CHARS:
        raise ValidationError(
            gettext_noop("Search query must be at most %(limit)s characters"), params={"limit": QUERY_MAX_CHARS}
        )
    cleaned = query.strip()
    if not cleaned:
        raise ValidationError(gettext_noop("Search query cannot be empty"))
    return cleaned


def search(*, user_id: str, query: str, limit: int = LIMIT_DEFAULT) -> list[SearchResult]:
    """``user_id``'s messages and conversation titles matching ``query``, best first.

    Full-text search on PostgreSQL (``search_fulltext``), the ``icontains`` fallback elsewhere
    (``search_fallback``). A query with no word to look for (only ``-excluded`` words or ``or``)
    finds nothing rather than listing everything else.

    Args:
        user_id: the owner (JWT subject); nobody else's conversation is ever read.
        query: the search text as cleaned by ``query_clean`` (1..200 characters).
        limit: 1..50 results.
    """
    if connection.vendor == "postgresql":
        return search_fulltext(user_id=user_id, query=query, limit=limit)
    return search_fallback(user_id=user_id, query=query, limit=limit)


def _words(query: str) -> tuple[list[str], list[str]]:
    """``(wanted, excluded)`` words of ``query``: quotes dropped, ``-word`` excluded, ``or`` dropped."""
    wanted: list[str] = []
    excluded: list[str] = []
    for word in query.replace('"', " ").split():
        if word.startswith("-"):
            if word.strip("-"):
                excluded.append(word.lstrip("-"))
        elif word.lower() != "or":
            wanted.append(word)
    return wanted, excluded


# --- PostgreSQL: full-text search ---------------------------------------------------------


# What html.escape replaces, in its order (& first, so nothing is escaped twice).
_HTML_ESCAPES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;"))


def _escaped(field: str) -> F | Replace:
    """``field`` without the sentinels, HTML-escaped, in SQL: the text ``ts_headline`` works on."""
    expression: F | Replace = F(field)
    for old, new in ((_START, ""), (_STOP, ""), *_HTML_ESCAPES):
        expression = Replace(expression, Value(old), Value(new))
    return expression


def _headline(field: str, tsquery: SearchQuery, *, whole_up_to: int) -> Case:
    """ts_headline of ``field``: the whole text when it is at most ``whole_up_to`` characters, else fragments."""
    options = {"config": CONFIG, "start_sel": _START, "stop_sel": _STOP}
    return Case(
        When(
            LessThanOrEqual(Length(field), whole_up_to),
            then=SearchHeadline(_escaped(field), tsquery, highlight_all=True, **options),
        ),
        default=SearchHeadline(_escaped(field), tsquery, **options, **_HEADLINE),
    )


def _snippet_html(headline: str) -> str:
    """ts_headline's output as HTML: whitespace folded, escaped once, ``<mark>`` as the only tag."""
    pieces = re.split(f"([{_START}{_STOP}])", " ".join(headline.split()))
    return "".join(_MARKS.get(piece) or html.escape(html.unescape(piece)) for piece in pieces)


def _owned_messages(user_id: str) -> QuerySet[Message]:
    # The owner is the conversation's user_id (Message.user_id is the same by construction,
    # but the conversation is the authority). Replies that never produced text have nothing to find.
    # Only the branches shown (issue 14): a result opens the conversation at its message.
    return Message.objects.filter(conversation__user_id=user_id, active=True).exclude(content="")


def search_fulltext(*, user_id: str, query: str, limit: int = LIMIT_DEFAULT) -> list[SearchResult]:
    """PostgreSQL full-text search (see ``search``): ``ts_rank`` order, then newest first.

    Two queries, each a bitmap scan of its GIN index joined to the owner's conversations:
    messages (``msg_content_fts_idx``; only the newest ``RANK_CANDIDATES`` matches are ranked,
    which bounds a very common word: BENCHMARKS.md, "Search") and titles (``conv_title_fts_idx``),
    each cut at ``limit`` by rank, then merged (a title's rank times ``TITLE_BOOST``). ``ts_headline`` is
    evaluated after the sort and limit (PostgreSQL postpones costly output expressions), so
    only for the rows returned.
    """
    if not _words(query)[0]:
        return []
    tsquery = SearchQuery(query, config=CONFIG, search_type="websearch")
    content = SearchVector("content", config=CONFIG)
    # Ranking reads each match's text again (to_tsvector): for a word in a large share of the
    # messages that is most of the cost. Only the newest RANK_CANDIDATES matches are ranked.
    candidates = (
        _owned_messages(user_id)
        .alias(document=content)
        .filter(document=tsquery)
        .order_by("-created_at", "-id")
        .values("id")[:RANK_CANDIDATES]
    )
    messages = (
        Message.objects.filter(pk__in=candidates)
        .annotate(
            rank=SearchRank(content, tsquery),
            headline=_headline("content", tsquery, whole_up_to=_WHOLE_UP_TO),
        )
        .order_by("-rank", "-created_at", "-id")
        .values("id", "conversation_id", "conversation__title", "created_at", "rank", "headline")[:limit]
    )
    title = SearchVector("title", config=CONFIG)
    titles = (
        Conversation.objects.filter(user_id=user_id)
        .alias(document=title)
        .filter(document=tsquery)
        .annotate(
            rank=SearchRank(title, tsquery),
            headline=_headline("title", tsquery, whole_up_to=TITLE_MAX_LENGTH),
        )
        .order_by("-rank", "-created_at", "-id")
        .values("id", "title", "created_at", "rank", "headline")[:limit]
    )
    results = [
        SearchResult(
            conversation_id=row["conversation_id"],
            message_id=row["id"],
            title=row["conversation__title"],
            snippet=_snippet_html(row["headline"]),
            created_at=row["created_at"],
            rank=row["rank"],
        )
        for row in messages
    ] + [
        SearchResult(
            conversation_id=row["id"],
            message_id=None,
            title=row["title"],
            snippet=_snippet_html(row["headline"]),
            created_at=row["created_at"],
            rank=row["rank"] * TITLE_BOOST,
        )
        for row in titles
    ]
    results.sort(key=lambda r: (r.rank, r.created_at), reverse=True)
    return results[:limit]


# --- Elsewhere (SQLite): every word, case-insensitively -----------------------------------


def _marked(text: str, pattern: re.Pattern[str]) -> str:
    """``text`` HTML-escaped, with every match of ``pattern`` in ``<mark>``."""
    parts: list[str] = []
    at = 0
    for match in pattern.finditer(text):
        parts += [html.escape(text[at : match.start()]), "<mark>", html.escape(match.group()), "</mark>"]
        at = match.end()
    parts.append(html.escape(text[at:]))
    return "".join(parts)


def _excerpt(text: str, pattern: re.Pattern[str]) -> str:
    """A short excerpt of ``text`` around the first match, escaped and marked."""
    text = " ".join(text.split())
    first = pattern.search(text)
    hit_start, hit_end = (first.start(), first.end()) if first else (0, 0)
    start = max(0, hit_start - _EXCERPT_BEFORE)
    end = min(len(text), hit_end + _EXCERPT_AFTER)
    # Cut at spaces, not inside a word, where there is one nearby.
    if start > 0 and (space := text.find(" ", start, hit_start)) != -1:
        start = space + 1
    if end < len(text) and (space := text.rfind(" ", hit_end, end)) != -1:
        end = space
    return ("… " if start > 0 else "") + _marked(text[start:end], pattern) + (" …" if end < len(text) else "")


def search_fallback(*, user_id: str, query: str, limit: int = LIMIT_DEFAULT) -> list[SearchResult]:
    """The simple search (see ``search``): newest first, every wanted word found case-insensitively.

    Quotes are ignored (a phrase is its words, anywhere, in any order), ``-word`` leaves out
    what contains it, ``or`` is ignored (all the other words are needed); no stemming. On
    SQLite ``icontains`` folds ASCII letters only. Works on any database (tests call it on
    PostgreSQL too).
    """
    wanted, excluded = _words(query)
    if not wanted:
        return []
    pattern = re.compile("|".join(re.escape(w) for w in sorted(wanted, key=len, reverse=True)), re.IGNORECASE)

    def matching(field: str) -> Q:
        condition = Q()
        for word in wanted:
            condition &= Q(**{f"{field}__icontains": word})
        for word in excluded:
            condition &= ~Q(**{f"{field}__icontains": word})
        return condition

    messages = (
        _owned_messages(user_id)
        .filter(matching("content"))
        .order_by("-created_at", "-id")
        .values("id", "conversation_id", "conversation__title", "content", "created_at")[:limit]
    )
    titles = (
        Conversation.objects.filter(user_id=user_id)
        .filter(matching("title"))
        .order_by("-created_at", "-id")
        .values("id", "title", "created_at")[:limit]
    )
    results = [
        SearchResult(
            conversation_id=row["conversation_id"],
            message_id=row["id"],
            title=row["conversation__title"],
            snippet=_excerpt(row["content"], pattern),
            created_at=row["created_at"],
        )
        for row in messages
    ] + [
        SearchResult(
            conversation_id=row["id"],
            message_id=None,
            title=row["title"],
            snippet=_marked(row["title"], pattern),
            created_at=row["created_at"],
        )
        for row in titles
    ]
    results.sort(key=lambda r: r.created_at, reverse=True)
    return results[:limit]
