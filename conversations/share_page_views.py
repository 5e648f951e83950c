"""Share links on the page (issue 15, "Share"): the owner's dialog, and the public page ``/s/<token>``.

The dialog's three buttons post here and get the dialog back (htmx swaps it in place and
``static/js/share.js`` opens it); without JavaScript the same posts answer a page holding the
dialog. The rules are in ``conversations.sharing``; these views are thin (style.md, convention 1).

The public page shows the snapshot and nothing of its owner. It is the same for every visitor:
it does not read the session (the top bar is rendered for an anonymous visitor, even to the owner),
so a signed-in visitor's name is not on it either. It carries ``noindex`` (a ``<meta>`` and
``X-Robots-Tag``), ``Referrer-Policy: no-referrer`` (the token must not travel to the sites its
links point at) and ``Cache-Control: no-store`` (a revoked link must not live on in a cache).
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_POST, require_safe
from django.views.decorators.vary import vary_on_headers

from conversations import sharing
from conversations.models import Conversation, ShareLink
from conversations.views import _owned, page_not_found, session_required


def _private(response: HttpResponse) -> HttpResponse:
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"
    add_never_cache_headers(response)
    return response


@require_safe
def shared(request: HttpRequest, token: str) -> HttpResponse:
    """``/s/<token>``: the shared snapshot, for anyone; an unknown or revoked token is the site's 404 page."""
    try:
        snapshot = sharing.share_get(token)
    except sharing.ShareNotFound:
        return _private(page_not_found(request))
    context = {"shared": snapshot, "max_messages": sharing.SHARED_MESSAGES_MAX, "user": AnonymousUser()}
    return _private(render(request, "conversations/shared.html", context))


def _dialog(request: HttpRequest, conversation: Conversation, link: ShareLink | None) -> HttpResponse:
    """The share dialog (htmx), or a page holding it (a plain form post)."""
    context = {
        "conversation": conversation,
        "link": link,
        "url": request.build_absolute_uri(reverse("shared", args=[link.token])) if link else "",
    }
    template = "conversations/_share_dialog.html" if request.htmx else "conversations/share_manage.html"
    return render(request, template, context)


@require_POST
@session_required
@vary_on_headers("HX-Request")
def share(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The Share button: the dialog with the conversation's link, made now if it has none (an existing one is kept)."""
    conversation = _owned(request, conversation_id)
    return _dialog(request, conversation, sharing.share_ensure(conversation=conversation))


@require_POST
@session_required
@vary_on_headers("HX-Request")
def share_update(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The dialog's "Update link": a new link showing the conversation as it is now; the old one stops working."""
    conversation = _owned(request, conversation_id)
    return _dialog(request, conversation, sharing.share_create(conversation=conversation))


@require_POST
@session_required
@vary_on_headers("HX-Request")
def share_stop(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The dialog's "Stop sharing": the link answers 404 from now on; the dialog says "Not shared"."""
    conversation = _owned(request, conversation_id)
    try:
        sharing.share_revoke(conversation=conversation)
    except sharing.ShareNotFound:
        pass  # already not shared (a second click, another tab): the same end state
    return _dialog(request, conversation, None)
