"""The HTML doors: the chat page, its htmx fragments, and the site's error pages.

Every view is thin: it parses input with a form, calls one service or selector and
renders the page, or only the fragment an htmx request swaps in (style.md,
convention 5). Without JavaScript the forms post and the page re-renders
(post/redirect/get). Errors under ``/api/`` answer the contract's JSON body;
elsewhere a person gets a page that says what happened and what to do next
(FR-014a, SC-008).

The chat identity is ``str(request.user.pk)`` (``auth.user_id_of``), the same as the
API's JWT subject, so the page and the API see the same conversations.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode, urlsplit

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dates import MONTHS
from django.utils.text import capfirst
from django.utils.translation import gettext, gettext_noop, pgettext
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from accounts import approval
from accounts.views import awaiting_approval
from conversations import events, idempotency, selectors, services
from conversations import search as conversation_search
from conversations.api.errors import (
    INTERNAL_DETAIL,
    REPLY_IN_PROGRESS_DETAIL,
    UNAVAILABLE_DETAIL,
    UNAVAILABLE_ERROR,
    json_error,
)
from conversations.assistant import AssistantBusy, AssistantError, AssistantTimeout
from conversations.auth import user_id_of
from conversations.forms import MessageForm, RenameForm
from conversations.models import Conversation, Message
from conversations.page_i18n import error_text

SIDEBAR_PAGE = 30
SEARCH_RESULTS = 20
MESSAGE_PAGE = selectors.PAGE_LIMIT_DEFAULT

# The pane's failure sentences (FR-014a); the client-side ones are in conversations/page_text.py.
# English msgids (some shared with the API and the socket), translated where they are shown (issue 16).
ASSISTANT_FAILED = events.FAILED_DETAIL
ASSISTANT_BUSY = events.BUSY_DETAIL
ASSISTANT_TIMED_OUT = gettext_noop("Request timed out. Please try again.")
SESSION_EXPIRED = gettext_noop("Your session has expired. Please sign in again.")
NOTHING_TO_RETRY = gettext_noop("There is nothing to retry: the reply has already arrived.")
KEY_REUSED = gettext_noop("This message was already sent with a different text. Reload the page, then send it again.")

View = Callable[..., Any]


# --- Sessions ----------------------------------------------------------------------


def _htmx_current_path(request: HttpRequest) -> str:
    """The page the person is on: htmx sends its URL; otherwise the request's own path."""
    current = request.headers.get("HX-Current-URL")
    if current:
        parts = urlsplit(current)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path()


def _login_url(next_path: str) -> str:
    return f"{reverse(settings.LOGIN_URL)}?{urlencode({'next': next_path})}"


def _session_expired_fragment(request: HttpRequest, *, status: int) -> HttpResponse:
    context = {"login_url": _login_url(_htmx_current_path(request)), "detail": gettext(SESSION_EXPIRED)}
    return HttpResponse(render_to_string("conversations/_session_expired.html", context), status=status)


def _session_expired(request: HttpRequest) -> HttpResponse:
    """401 fragment for htmx and fetch calls; a redirect to the login page otherwise (SC-005)."""
    if request.htmx:
        return _session_expired_fragment(request, status=401)
    return redirect_to_login(request.get_full_path())


def session_required(view: View) -> View:
    """Like ``login_required``, but an htmx request gets a 401 fragment the page can show.

    A redirect to the login page would be followed by the browser and its HTML
    swapped into the pane; the fragment instead says "Your session has expired"
    with a link to sign in again (FR-014a). A signed-in person whose account awaits
    approval is sent to the waiting page instead (issue 16, ``accounts.approval``).
    """
    if iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            user = await request.auser()
            if not user.is_authenticated:
                return _session_expired(request)
            if await approval.ais_pending(user.pk):  # issue 16: no query once seen approved
                return awaiting_approval(request)
            return await view(request, *args, **kwargs)

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.is_authenticated:
            return _session_expired(request)
        if approval.is_pending(request.user.pk):
            return awaiting_approval(request)
        return view(request, *args, **kwargs)

    return wrapper


def _owned(request: HttpRequest, conversation_id: uuid.UUID) -> Conversation:
    """The one ownership lookup (FR-011): someone else's conversation is a 404, never shown."""
    try:
        return selectors.conversation_get_for_user(user_id=user_id_of(request.user), conversation_id=conversation_id)
    except selectors.ConversationNotFound:
        raise Http404("Conversation not found") from None


# --- Pages -------------------------------------------------------------------------


def home(request: HttpRequest) -> HttpResponse:
    return redirect("chat")


def shelf_group(conversation: Conversation, *, today: dt.date) -> str:
    """The sidebar heading a conversation goes under (issue 15, "Organise"), as ChatGPT groups them.

    "Pinned"; then by the day of its last activity in the site's time zone (``TIME_ZONE``):
    "Today", "Yesterday", "Previous 7 days", "Previous 30 days", then its month ("October 2026").
    """
    if conversation.pinned:
        return pgettext("sidebar heading", "Pinned")
    day = timezone.localtime(conversation.updated_at).date()
    age = (today - day).days
    if age <= 0:
        return gettext("Today")
    if age == 1:
        return gettext("Yesterday")
    if age <= 7:
        return gettext("Previous 7 days")
    if age <= 30:
        return gettext("Previous 30 days")
    return f"{capfirst(MONTHS[day.month])} {day.year}"


def _sidebar(user_id: str, offset: int = 0, *, archived: bool = False, after_group: str = "") -> dict[str, Any]:
    """One page of the sidebar, each row with its ``group`` and ``group_start`` (a heading goes before it).

    ``after_group`` is the heading the previous page ended under, so "Load more" does not repeat it.
    """
    rows, has_more = selectors.conversation_sidebar_page(
        user_id=user_id, limit=SIDEBAR_PAGE, offset=offset, archived=archived
    )
    today = timezone.localdate()
    previous = after_group
    for row in rows:
        row.group = pgettext("sidebar heading", "Archived") if archived else shelf_group(row, today=today)  # type: ignore[attr-defined]
        row.group_start = row.group != previous  # type: ignore[attr-defined]
        previous = row.group  # type: ignore[attr-defined]
    return {
        "conversations": rows,
        "sidebar_next": offset + len(rows) if has_more else None,
        "sidebar_group": previous,
        "archived_view": archived,
    }


def _render_chat(
    request: HttpRequest,
    conversation: Conversation | None,
    *,
    page: selectors.MessagePage | None = None,
    form: MessageForm | None = None,
    newest_page: bool = True,
    status: int = 200,
    found_id: uuid.UUID | None = None,
    focus_version: str = "",
) -> HttpResponse:
    """The chat page, or only its conversation pane for an htmx swap (not a history restore).

    ``focus_version`` (``"previous"`` / ``"next"``): the version switcher button of ``found_id`` to
    focus, the one that was pressed (issue 14: the pane is swapped whole; focus stays in place).
    """
    context: dict[str, Any] = {
        "found_id": found_id,
        "focus_version": focus_version,
        "conversation": conversation,
        "page": page,
        "newest_page": newest_page,
        "retry_id": _retry_id(page) if newest_page else None,
        "form": form or MessageForm(),
        "max_chars": services.MESSAGE_MAX_CHARS,
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "conversations/_pane.html", context, status=status)
    context.update(_sidebar(user_id_of(request.user)))
    return render(request, "conversations/chat.html", context, status=status)


def _retry_id(page: selectors.MessagePage | None) -> uuid.UUID | None:
    """The newest message's id when it is a failed reply: only that one can be retried."""
    if not page or not page.messages:
        return None
    newest = page.messages[-1]
    if newest.role == Message.Role.ASSISTANT and newest.status == Message.Status.FAILED:
        return newest.id
    return None


@require_GET
@session_required
@vary_on_headers("HX-Request")
def chat(request: HttpRequest) -> HttpResponse:
    """``/chat``: the newest conversation, or the empty state with a welcome line (FR-002)."""
    newest = selectors.conversation_newest_for_user(user_id=user_id_of(request.user))
    if newest is not None:
        return redirect("conversation", conversation_id=newest.pk)
    return _render_chat(request, None)


@require_GET
@session_required
@vary_on_headers("HX-Request")
def chat_new(request: HttpRequest) -> HttpResponse:
    """``/chat/new``: the empty state; the first message creates the conversation (FR-010)."""
    return _render_chat(request, None)


@require_GET
@session_required
@vary_on_headers("HX-Request")
def conversation(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """``/chat/<id>``: one conversation with its newest page of messages (SC-004, SC-011).

    ``?before=<message id>`` shows the page before that message instead (the
    "Show older messages" link when JavaScript is off); ``?at=<message id>`` the page around
    that message, highlighted and scrolled to (a search result; issue 15).
    """
    conv = _owned(request, conversation_id)
    before, at = request.GET.get("before") or None, request.GET.get("at") or None
    try:
        if at is not None:
            page, newest = selectors.message_page_around(conversation=conv, message_id=at, limit=MESSAGE_PAGE)
            return _render_chat(request, conv, page=page, newest_page=newest, found_id=page_id(page, at))
        page = selectors.message_page(conversation=conv, before=before, limit=MESSAGE_PAGE)
    except selectors.MessageNotFound:
        raise Http404("Message not found") from None
    return _render_chat(request, conv, page=page, newest_page=before is None)


def page_id(page: selectors.MessagePage, message_id: str) -> uuid.UUID | None:
    """``message_id`` as the id of one of ``page``'s messages, or ``None``."""
    return next((m.pk for m in page.messages if str(m.pk) == str(selectors.parse_uuid(message_id))), None)


@require_GET
@session_required
def messages(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """One page of messages for the virtualized pane: ``?before=`` (older), ``?after=`` (newer) or the newest."""
    conv = _owned(request, conversation_id)
    before, after = request.GET.get("before") or None, request.GET.get("after") or None
    try:
        if after is not None:
            page = selectors.message_page_after(conversation=conv, after=after, limit=MESSAGE_PAGE)
            has_older, has_newer = True, page.has_more
        else:
            page = selectors.message_page(conversation=conv, before=before, limit=MESSAGE_PAGE)
            has_older, has_newer = page.has_more, before is not None
    except selectors.MessageNotFound:
        raise Http404("Message not found") from None
    context = {
        "conversation": conv,
        "page": page,
        "has_older": has_older,
        "has_newer": has_newer,
        "retry_id": _retry_id(page) if not has_newer else None,
    }
    return render(request, "conversations/_message_page.html", context)


@require_GET
@session_required
def message(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    """One message as the page shows it, with the conversation's header (issue 5, live replies).

    Once a reply has streamed over the WebSocket as plain text, the page swaps in
    this server-rendered, sanitised Markdown (``conversations/markdown.py``); model
    text is never turned into HTML in the browser. The answer has the shape of a
    sent turn (``_turn.html``), so the page adopts a new conversation the same way.
    ``?reason=timeout`` words a failed reply as a timeout, ``?reason=busy`` as the model
    being rate-limited (FR-014a); a failed reply that is the newest message offers Retry.
    """
    conv = _owned(request, conversation_id)
    try:
        found, is_newest = selectors.message_get(conversation=conv, message_id=message_id)
    except selectors.MessageNotFound:
        raise Http404("Message not found") from None
    failed = found.role == Message.Role.ASSISTANT and found.status == Message.Status.FAILED
    reason = {"timeout": ASSISTANT_TIMED_OUT, "busy": ASSISTANT_BUSY}.get(
        request.GET.get("reason", ""), ASSISTANT_FAILED
    )
    error = gettext(reason)
    turn = [found]
    if found.role == Message.Role.ASSISTANT and found.parent_id is not None and found.is_finished:
        # The message it answers too: a message sent live gets its actions (Edit, Copy) this way (issue 14).
        turn = [*selectors.shown_messages(conv).filter(pk=found.parent_id), found]
    context = {
        "conversation": conv,
        "turn": turn,
        "error": error if failed else None,
        "retry_id": found.pk if failed and is_newest else None,
    }
    return render(request, "conversations/_turn.html", context)


@require_GET
@session_required
def sidebar(request: HttpRequest) -> HttpResponse:
    """A page of the sidebar's conversation list (``?offset=``): pinned first, then newest activity,
    under date headings; ``?archived=1`` the archived ones (issue 15)."""
    try:
        offset = max(0, int(request.GET.get("offset", "0")))
    except ValueError:
        offset = 0
    archived = request.GET.get("archived") == "1"
    context = _sidebar(user_id_of(request.user), offset, archived=archived, after_group=request.GET.get("group", ""))
    context["current_id"] = selectors.parse_uuid(request.GET.get("current"))
    return render(request, "conversations/_sidebar_items.html", context)


@require_GET
@session_required
@vary_on_headers("HX-Request")
def search(request: HttpRequest) -> HttpResponse:
    """``/chat/search?q=``: the sidebar's results as you type (issue 15; ``conversations.search``).

    htmx gets the results list (nothing for an empty query); without script, a page of results.
    """
    text = request.GET.get("q", "")
    results: list[conversation_search.SearchResult] = []
    error = ""
    if text.strip():
        try:
            results = conversation_search.search(
                user_id=user_id_of(request.user), query=conversation_search.query_clean(text), limit=SEARCH_RESULTS
            )
        except ValidationError as exc:
            error = error_text(exc)
    context = {"results": results, "query": text.strip(), "error": error}
    template = "conversations/_search_results.html" if request.htmx else "conversations/search.html"
    return render(request, template, context)


# --- Sending -----------------------------------------------------------------------


def _idempotency_of(
    request: HttpRequest, *, operation: str, conversation_id: object, text: str | None = None
) -> idempotency.Idempotency | None:
    """The request's ``Idempotency-Key`` header, read as the API reads it, or ``None`` without one.

    The page's script sends one key per message and one per Retry click, the same key on
    every resend of it (issue 12, "The page gives every message a key"), so a resend after
    a lost answer saves nothing twice. Quoted (an RFC 8941 string) or bare.

    Raises:
        django.core.exceptions.ValidationError: a malformed key.
    """
    key = idempotency.key_from_header(request.headers.get("Idempotency-Key"))
    if key is None:
        return None
    return idempotency.idempotency_for(key=key, operation=operation, conversation_id=conversation_id, text=text)


def _assistant_failure(exc: AssistantError) -> tuple[int, str]:
    """The status and the pane's sentence for a reply the assistant could not give (FR-014a)."""
    if isinstance(exc, AssistantTimeout):
        return 504, gettext(ASSISTANT_TIMED_OUT)
    if isinstance(exc, AssistantBusy):
        return 503, gettext(ASSISTANT_BUSY)
    return 503, gettext(ASSISTANT_FAILED)


def _refusal(request: HttpRequest, detail: str, *, status: int, code: str = "") -> HttpResponse:
    """An htmx fragment saying why nothing was done (``data-error`` names the reason for the script)."""
    return render(request, "conversations/_error.html", {"detail": detail, "code": code}, status=status)


@require_POST
@session_required
async def send(request: HttpRequest, conversation_id: uuid.UUID | None = None) -> HttpResponse:
    """Send a message and answer with the turn: the saved message and the assistant's reply.

    htmx/fetch callers get the ``_turn.html`` fragment (200; 503 or 504 with the
    failure sentence and a Retry button when the assistant fails, the user's message
    being saved already); a plain form post is redirected back to the conversation
    (PRG). Invalid input: 400 with the reason, and the typed text kept (FR-017).

    With an ``Idempotency-Key`` (issue 12), a repeat saves nothing and answers with the
    first send's turn: as it ended, or 202 with the reply still being written (the page's
    socket, or its polling, shows the rest). The same key with another text: 422. A reply
    of the conversation still being written: 409 "Reply in progress", nothing saved.
    """
    user = await request.auser()
    user_id = user_id_of(user)
    form = MessageForm(request.POST)
    if not form.is_valid():
        return await sync_to_async(_invalid_message)(request, form, conversation_id)
    text = form.cleaned_data["text"]
    try:
        key = _idempotency_of(request, operation=idempotency.CHAT, conversation_id=conversation_id, text=text)
        start = await services.chat_start(user_id=user_id, conversation_id=conversation_id, text=text, idempotency=key)
    except ValidationError as exc:
        form.add_error("text", error_text(exc))
        return await sync_to_async(_invalid_message)(request, form, conversation_id)
    except selectors.ConversationNotFound:
        raise Http404("Conversation not found") from None
    except services.ReplyInProgress:
        form.add_error("text", gettext(REPLY_IN_PROGRESS_DETAIL))
        return await sync_to_async(_invalid_message)(request, form, conversation_id, status=409)
    except idempotency.IdempotencyKeyReused:
        form.add_error("text", gettext(KEY_REUSED))
        return await sync_to_async(_invalid_message)(request, form, conversation_id, status=422)
    reply, status, error = start.reply, 200, None
    try:
        reply = await services.reply_answer(start, idempotency=key)
    except idempotency.IdempotencyKeyInUse:
        status = 202  # a repeat while the first send's reply is still being written
    except AssistantError as exc:
        status, error = _assistant_failure(exc)
    except selectors.ConversationNotFound:
        raise Http404("Conversation not found") from None
    if not request.htmx:
        return redirect("conversation", conversation_id=start.conversation.pk)
    context = {
        "conversation": start.conversation,
        "turn": [start.user_message, reply],
        "error": error,
        "retry_id": reply.pk if error else None,
    }
    return await sync_to_async(render)(request, "conversations/_turn.html", context, status=status)


def _invalid_message(
    request: HttpRequest, form: MessageForm, conversation_id: uuid.UUID | None, *, status: int = 400
) -> HttpResponse:
    detail = " ".join(form.errors.get("text", [])) or gettext("The message could not be sent.")
    if request.htmx:
        return _refusal(request, detail, status=status)
    conv = _owned(request, conversation_id) if conversation_id else None
    page = selectors.message_page(conversation=conv, limit=MESSAGE_PAGE) if conv else None
    return _render_chat(request, conv, page=page, form=form, status=status)


def _newest_reply(conversation: Conversation) -> list[Message]:
    """The conversation's newest message if it is a reply (one just retried), as a turn."""
    page = selectors.message_page(conversation=conversation, limit=1)
    return [m for m in page.messages if m.role == Message.Role.ASSISTANT]


@require_POST
@session_required
async def retry(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Ask again for the conversation's failed newest reply, without resending the user's message.

    htmx: 200 with the reply's article, 503/504 with the new failed reply, its sentence and
    Retry again, 409 when a reply is still being written (``data-error="reply-in-progress"``)
    or the newest message is not a failed reply (``nothing-to-retry``: a second click).
    With an ``Idempotency-Key`` (one per Retry click), a repeat retries nothing again: it
    answers as the first did, or 202 with the reply still being written; 422 for a key
    used for something else.
    """
    user = await request.auser()
    conv = await sync_to_async(_owned)(request, conversation_id)
    status, error, turn = 200, None, []
    try:
        key = _idempotency_of(request, operation=idempotency.RETRY, conversation_id=conv.pk)
        turn = [await services.chat_retry(user_id=user_id_of(user), conversation_id=conv.pk, idempotency=key)]
    except ValidationError as exc:
        return await sync_to_async(_refusal)(request, error_text(exc), status=400)
    except selectors.ConversationNotFound:
        raise Http404("Conversation not found") from None
    except services.ReplyInProgress:
        if not request.htmx:
            return redirect("conversation", conversation_id=conv.pk)
        detail = gettext(REPLY_IN_PROGRESS_DETAIL)
        return await sync_to_async(_refusal)(request, detail, status=409, code="reply-in-progress")
    except services.NothingToRetry:
        if not request.htmx:
            return redirect("conversation", conversation_id=conv.pk)
        return await sync_to_async(_refusal)(request, gettext(NOTHING_TO_RETRY), status=409, code="nothing-to-retry")
    except idempotency.IdempotencyKeyReused:
        return await sync_to_async(_refusal)(request, gettext(KEY_REUSED), status=422)
    except idempotency.IdempotencyKeyInUse:
        status = 202
    except AssistantError as exc:
        status, error = _assistant_failure(exc)
    if not request.htmx:
        return redirect("conversation", conversation_id=conv.pk)
    if not turn:
        # Failed again, or still being written: the new reply as it is now.
        turn = await sync_to_async(_newest_reply)(conv)
    context = {"conversation": conv, "turn": turn, "error": error, "retry_id": turn[0].pk if error and turn else None}
    return await sync_to_async(render)(request, "conversations/_turn.html", context, status=status)


# --- Rename and delete -------------------------------------------------------------


@require_POST
@session_required
def rename(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Rename a conversation; htmx gets the new header plus the sidebar entry (out of band)."""
    conv = _owned(request, conversation_id)
    form = RenameForm(request.POST)
    error = None
    if form.is_valid():
        services.conversation_rename(conversation=conv, title=form.cleaned_data["title"])
    else:
        error = " ".join(form.errors.get("title", []))
    if not request.htmx:
        if error:
            page = selectors.message_page(conversation=conv, limit=MESSAGE_PAGE)
            return _render_chat(request, conv, page=page, status=400)
        return redirect("conversation", conversation_id=conv.pk)
    context = {"conversation": conv, "rename_error": error, "oob": error is None}
    return render(request, "conversations/_renamed.html", context, status=400 if error else 200)


@require_POST
@session_required
def organise(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Pin or unpin, archive or unarchive (``pinned`` / ``archived`` = ``1`` or ``0``; issue 15).

    htmx gets the new header and, out of band, the sidebar's first page in its new order;
    without script, back to the conversation.
    """
    conv = _owned(request, conversation_id)
    flags = {name: request.POST[name] == "1" for name in ("pinned", "archived") if request.POST.get(name) in ("0", "1")}
    services.conversation_organise(conversation=conv, **flags)
    if not request.htmx:
        return redirect("conversation", conversation_id=conv.pk)
    context = {"conversation": conv, "current_id": conv.pk, **_sidebar(user_id_of(request.user))}
    return render(request, "conversations/_organised.html", context)


@require_POST
@session_required
def delete(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Delete a conversation (confirmed in the page) and open the newest remaining one."""
    conv = _owned(request, conversation_id)
    services.conversation_delete(conversation=conv)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("chat"))
    return redirect("chat")


# --- Error pages -------------------------------------------------------------------


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _error_page(request: HttpRequest, status: int, title: str, detail: str) -> HttpResponse:
    """The contract's English body under ``/api/``; elsewhere ``title`` and ``detail`` (English msgids) translated."""
    if _is_api(request):
        return json_error(status, title, detail)
    title, detail = gettext(title), gettext(detail)
    if getattr(request, "htmx", False):
        return render(request, "conversations/_error.html", {"detail": detail}, status=status)
    return render(request, "error.html", {"title": title, "detail": detail}, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(
        request,
        400,
        gettext_noop("Bad request"),
        gettext_noop("The request could not be understood. Please check it and try again."),
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(
        request, 403, gettext_noop("Forbidden"), gettext_noop("You do not have permission to see this page.")
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _error_page(request, 404, gettext_noop("Not found"), gettext_noop("The requested resource was not found."))


def server_error(request: HttpRequest) -> HttpResponse:
    return _error_page(request, 500, gettext_noop("Internal server error"), INTERNAL_DETAIL)


def service_unavailable(request: HttpRequest) -> HttpResponse:
    """503 while the database cannot be reached (``chatsite.middleware.DatabaseUnavailableMiddleware``).

    Rendered without touching the database: the page's header would otherwise load
    the session's user to show who is signed in.
    """
    if _is_api(request):
        return json_error(503, UNAVAILABLE_ERROR, UNAVAILABLE_DETAIL)
    context = {"title": gettext(UNAVAILABLE_ERROR), "detail": gettext(UNAVAILABLE_DETAIL), "user": AnonymousUser()}
    if getattr(request, "htmx", False):
        response = render(request, "conversations/_error.html", context, status=503)
    else:
        response = render(request, "error.html", context, status=503)
    response["Retry-After"] = "5"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form post. In practice the session or its cookies are gone, so say that (FR-014a)."""
    if _is_api(request):
        return json_error(403, "Forbidden", "CSRF verification failed. Sign in again and retry.")
    if getattr(request, "htmx", False):
        return _session_expired_fragment(request, status=403)
    context = {
        "title": gettext("Session expired"),
        "detail": gettext(SESSION_EXPIRED),
        "login_url": _login_url(request.path),
    }
    return render(request, "error.html", context, status=403)
