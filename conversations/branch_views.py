"""The page's message actions that make versions (issue 14): Regenerate, Edit, the version switcher.

Thin doors over ``services.regenerate_begin`` / ``edit_begin`` / ``version_activate``, driven by
htmx: each answers with the conversation's pane (``_pane.html``) re-rendered as the branch now
shown, which htmx swaps in whole.

Served by ASGI (uvicorn, daphne: the way the chat runs), a new reply is written by the live
generation (``live.start_generation``) and the pane comes back at once with the reply pending: the
swapped-in pane's socket follows it as it streams (the snapshot handshake of a page opened
mid-reply, docs/live.md). Under WSGI (no event loop outlives the request) the reply is answered
whole before the pane comes back, as the page's Retry over HTTP does. Either way it is written to
the end even if the page goes away, and a failure shows as a failed reply with Retry.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import reswap, retarget

from conversations import events, live, selectors, services
from conversations.api.errors import REPLY_IN_PROGRESS_DETAIL
from conversations.assistant import AssistantError
from conversations.auth import user_id_of
from conversations.models import Conversation
from conversations.page_i18n import error_text
from conversations.views import MESSAGE_PAGE, _owned, _refusal, _render_chat, session_required

logger = logging.getLogger(__name__)

NOTHING_TO_REGENERATE = gettext_lazy("There is no reply to regenerate: the conversation has moved on. Reload the page.")
NOT_EDITABLE = gettext_lazy("Only your own messages can be edited.")


async def _answer(
    request: HttpRequest, begin: Callable[..., services.ChatStart], answer: Callable[..., Any], **kwargs: Any
) -> None:
    """Save the turn with ``begin`` and have its reply written: live under ASGI (streamed to the
    page's socket), else answered whole with ``answer`` (the HTTP door's whole turn).

    Raises what ``begin`` raises; a reply that fails is saved as failed (not raised).
    """
    if not isinstance(request, ASGIRequest):
        try:
            await answer(**kwargs)
        except AssistantError:
            pass  # saved as failed: the pane shows it with Retry
        return
    start = await sync_to_async(begin)(**kwargs)
    try:
        await live.publish_closed(list(start.closed))
        await events.publish_branch(start.conversation.pk)  # other pages show the new branch, streaming
        await live.start_generation(start)
    except Exception:
        # The channel layer down at that moment: the reply is failed at once, never left pending.
        logger.warning("reply %s could not be started", start.reply.pk, exc_info=True)
        await asyncio.shield(live.fail_unstarted(start))


def _pane(
    request: HttpRequest, conversation: Conversation, *, at: uuid.UUID | None = None, focus: str = ""
) -> HttpResponse:
    """The pane after an action: the newest page of the branch shown, or the page around ``at``."""
    if not request.htmx:
        return redirect("conversation", conversation_id=conversation.pk)
    if at is not None:
        page, newest = selectors.message_page_around(conversation=conversation, message_id=at, limit=MESSAGE_PAGE)
        return _render_chat(request, conversation, page=page, newest_page=newest, found_id=at, focus_version=focus)
    page = selectors.message_page(conversation=conversation, limit=MESSAGE_PAGE)
    return _render_chat(request, conversation, page=page)


@require_POST
@session_required
async def regenerate(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """Regenerate the newest reply (``reply_id``: the reply the button was on); 409 if it is not the newest
    any more, or a reply is being written."""
    user = await request.auser()
    conv = await sync_to_async(_owned)(request, conversation_id)
    try:
        await _answer(
            request,
            services.regenerate_begin,
            services.chat_regenerate,
            user_id=user_id_of(user),
            conversation_id=conv.pk,
            reply_id=request.POST.get("reply_id"),
        )
    except services.ReplyInProgress:
        detail = gettext(REPLY_IN_PROGRESS_DETAIL)
        return await sync_to_async(_refusal)(request, detail, status=409, code="reply-in-progress")
    except services.NothingToRegenerate:
        return await sync_to_async(_refusal)(request, NOTHING_TO_REGENERATE, status=409, code="nothing-to-regenerate")
    except selectors.ConversationNotFound:
        raise Http404("Conversation not found") from None
    return await sync_to_async(_pane)(request, conv)


@require_http_methods(["GET", "POST"])
@session_required
async def edit(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    """GET: the message as a form to edit it (``?cancel=1``: as it was). POST ``text``: save the new
    version, answer it, and show its branch; a bad text is a 400 with the sentence."""
    user = await request.auser()
    conv = await sync_to_async(_owned)(request, conversation_id)
    if request.method == "GET":
        return await sync_to_async(_message_form)(request, conv, message_id)
    text = request.POST.get("text", "")
    try:
        text = services.message_text_clean(text)
        await _answer(
            request,
            services.edit_begin,
            services.chat_edit,
            user_id=user_id_of(user),
            conversation_id=conv.pk,
            message_id=message_id,
            text=text,
        )
    except selectors.ConversationNotFound:
        raise Http404("Conversation not found") from None
    except ValidationError as exc:
        return await sync_to_async(_editor_refused)(
            request, conv, message_id, request.POST.get("text", ""), error_text(exc)
        )
    except services.MessageMissing:
        raise Http404("Message not found") from None
    except services.NotEditable:
        return await sync_to_async(_refusal)(request, NOT_EDITABLE, status=400)
    except services.ReplyInProgress:
        detail = gettext(REPLY_IN_PROGRESS_DETAIL)
        return await sync_to_async(_refusal)(request, detail, status=409, code="reply-in-progress")
    return await sync_to_async(_pane)(request, conv)


def _editor_refused(
    request: HttpRequest, conversation: Conversation, message_id: uuid.UUID, text: str, error: str
) -> HttpResponse:
    """The editor again, the text as typed and the reason next to it (400): swapped over the message
    itself, not the pane the form targets (``HX-Retarget``), so the conversation stays on screen."""
    response = _message_form(request, conversation, message_id, text=text, error=error, status=400)
    return reswap(retarget(response, f"#msg-{message_id}"), "outerHTML")


def _message_form(
    request: HttpRequest,
    conversation: Conversation,
    message_id: uuid.UUID,
    *,
    text: str | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    try:
        found, _ = selectors.message_get(conversation=conversation, message_id=message_id)
    except selectors.MessageNotFound:
        raise Http404("Message not found") from None
    context = {
        "conversation": conversation,
        "message": found,
        "editing": request.GET.get("cancel") is None and found.role == "user",
        "edit_text": found.content if text is None else text,
        "edit_error": error,
        "max_chars": services.MESSAGE_MAX_CHARS,
    }
    return render(request, "conversations/_message.html", context, status=status)


@require_POST
@session_required
def version(request: HttpRequest, conversation_id: uuid.UUID, message_id: uuid.UUID) -> HttpResponse:
    """Show version ``version`` of the turn of ``message_id`` and its branch (the switcher's buttons);
    the pane comes back at that message."""
    conv = _owned(request, conversation_id)
    try:
        wanted = selectors.version_get(conversation=conv, message_id=message_id, version=request.POST.get("version"))
        services.version_activate(user_id=conv.user_id, conversation_id=conv.pk, message_id=wanted.pk)
    except selectors.MessageNotFound:
        raise Http404("Message not found") from None
    except services.ReplyInProgress:
        return _refusal(request, gettext(REPLY_IN_PROGRESS_DETAIL), status=409, code="reply-in-progress")
    async_to_sync(events.publish_branch)(conv.pk)
    focus = request.POST.get("focus", "")
    return _pane(request, conv, at=wanted.pk, focus=focus if focus in ("previous", "next") else "")
