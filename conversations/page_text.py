"""The words the page's scripts show, in the request's language (issue 16, "Two languages").

``static/js/*.js`` write sentences of their own (a message that could not be sent, "Copied", "5 min
ago"...). They are here, marked for translation like the templates' text, and ``base.html`` writes
them into the page as JSON (``{% page_text %}``: ``<script id="page-text" type="application/json">``),
which ``static/js/text.js`` reads for the other scripts: ``pageText("copied")``,
``pageText("tooLong", {length, max})`` (``%(name)s`` placeholders, as in Python), ``pageText.words()``
(the whole object) and ``pageText.detail(english)``.

The socket sends its ``detail`` sentences in English, the protocol's wording (docs/live.md); ``details``
maps each of those the page can show to its translation, so the script shows them in the page's language.

Built once per language and process (the catalogues do not change while it runs).
"""

from __future__ import annotations

import functools
from typing import Any

from django.utils import translation
from django.utils.translation import gettext, pgettext

from accounts import approval
from conversations import events
from conversations.api.errors import INTERNAL_DETAIL, REPLY_IN_PROGRESS_DETAIL, UNAVAILABLE_DETAIL
from conversations.consumers import CLIENT_ID_REUSED_DETAIL, FAILED_TO_START_DETAIL, LIVE_UNAVAILABLE
from conversations.templatetags.chat import message_months
from conversations.views import ASSISTANT_TIMED_OUT, NOTHING_TO_RETRY, SESSION_EXPIRED

# What the socket may say about a message or a reply (its ``detail``), in English: msgids all.
SOCKET_DETAILS = (
    events.FAILED_DETAIL,
    events.TIMEOUT_DETAIL,
    events.BUSY_DETAIL,
    events.INTERRUPTED_DETAIL,
    events.DELETED_DETAIL,
    REPLY_IN_PROGRESS_DETAIL,
    UNAVAILABLE_DETAIL,
    INTERNAL_DETAIL,
    LIVE_UNAVAILABLE,
    CLIENT_ID_REUSED_DETAIL,
    FAILED_TO_START_DETAIL,
    NOTHING_TO_RETRY,
    ASSISTANT_TIMED_OUT,
    SESSION_EXPIRED,
    approval.PENDING_DETAIL,
    "Message content cannot be empty",
)


def _words() -> dict[str, Any]:
    """Every sentence of the scripts, in the active language."""
    return {
        # static/js/chat.js: why a message was not sent, or is waiting, and what happens next.
        "connection": gettext("The server cannot be reached. Your message is kept and will be sent when it is back."),
        "offline": gettext(
            "Connection lost. Check your internet connection. "
            "Your message is kept and will be sent when you are back online."
        ),
        "unavailable": gettext(
            "The server is not available right now. Your message is kept and will be sent when it is back."
        ),
        "timeout": gettext("The server took too long to answer. Your message is kept and will be sent again."),
        "lost": gettext("The server cannot be reached. The reply will show when it is back."),
        "unreachable": gettext("The server cannot be reached. Please try again in a moment."),
        "session": gettext(SESSION_EXPIRED),
        "server": gettext("Something went wrong on our side. Please try again."),
        "gone": gettext("This conversation no longer exists."),
        "waiting": gettext("Waiting to send…"),
        "blocked": gettext("A reply is still being written. This message will be sent when it finishes."),
        "failed": gettext(events.FAILED_DETAIL),
        "unanswered": gettext("The assistant could not answer this message."),
        "empty": gettext("Nothing to send: a message cannot be empty or only spaces."),
        "tooLong": gettext(
            "Not sent: your message has %(length)s characters, the limit is %(max)s. Shorten it, then send it."
        ),
        "charactersLeft": [
            translation.ngettext("%(left)s character left", "%(left)s characters left", 1),
            translation.ngettext("%(left)s character left", "%(left)s characters left", 2),
        ],
        "limitReached": gettext("Limit reached: %(max)s characters"),
        "signInAgain": gettext("Sign in again"),
        "showOlder": gettext("Show older messages"),
        "showNewer": gettext("Show newer messages"),
        # chat.js, share.js, code_copy.js: the Copy buttons.
        "copy": gettext("Copy"),
        "copied": gettext("Copied"),
        "copyFailed": gettext("Copy failed"),
        # static/js/live.js: a socket closed for good.
        "notFound": gettext("This conversation was not found."),
        # static/js/shortcuts.js: "Copy the last reply".
        "noReply": gettext("There is no reply to copy yet."),
        "replyCopied": gettext("The last reply was copied."),
        "replyNotCopied": gettext("The last reply could not be copied."),
        # static/js/share.js
        "linkCopied": gettext("Link copied."),
        "linkNotCopied": gettext("Could not copy: select the link and copy it."),
        # static/js/models.js: the tab's title once the model named the conversation.
        "tabTitle": gettext("%(title)s · Chat"),
        # static/js/times.js: when each message was sent, as conversations/templatetags/chat.py words it.
        "justNow": gettext("just now"),
        "minutesAgo": gettext("%(minutes)s min ago"),
        "hoursAgo": gettext("%(hours)s h ago"),
        "yesterday": gettext("yesterday"),
        "months": message_months(),
        "dayMonth": pgettext("a message's date this year", "%(day)s %(month)s"),
        "dayMonthYear": pgettext("a message's date", "%(day)s %(month)s %(year)s"),
        # The socket's English details, as the page shows them (those that differ: none in English).
        "details": {detail: text for detail in SOCKET_DETAILS if (text := gettext(detail)) != detail},
    }


@functools.lru_cache(maxsize=16)
def _words_in(language: str) -> dict[str, Any]:
    with translation.override(language):
        return _words()


def page_text() -> dict[str, Any]:
    """The scripts' words in the active language (the request's: ``LocaleMiddleware``)."""
    return _words_in(translation.get_language() or "en")
