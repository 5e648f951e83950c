"""The conversation header's "Model" select (issue 14, "Models and instructions").

``{% model_picker conversation %}`` renders ``conversations/_model_picker.html``; the page's
``views.choose_model`` answers a change with the same partial, built by ``picker_context``.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.translation import gettext, gettext_lazy

from conversations import catalog
from conversations.models import Conversation

register = template.Library()

UNREACHABLE = gettext_lazy("The model server could not be reached to list its models. Please try again later.")


def model_label(name: str) -> str:
    """How a model is named in the select: its id, or "Offline assistant"."""
    return gettext("Offline assistant") if name == catalog.OFFLINE_MODEL else name


def picker_context(conversation: Conversation, *, error: str = "", saved: bool = False) -> dict[str, Any]:
    """What ``_model_picker.html`` shows: the models on offer, the conversation's own selected.

    A model no longer offered (or every model, while the server cannot be reached) is still
    listed when it is the conversation's, so the select always shows what its replies use.
    """
    current = conversation.model or catalog.default_model()
    try:
        models = list(catalog.models_offered().models)
    except catalog.ModelsUnavailable:
        models, error = [], error or UNREACHABLE
    if current not in models:
        models.insert(0, current)
    return {
        "conversation": conversation,
        "model_options": [(name, model_label(name)) for name in models],
        "current_model": current,
        "model_error": error,
        "model_saved": saved,
    }


@register.inclusion_tag("conversations/_model_picker.html", takes_context=True)
def model_picker(context: template.Context, conversation: Conversation) -> dict[str, Any]:
    """The header's select for ``conversation``'s model."""
    return {**picker_context(conversation), "csrf_token": context.get("csrf_token"), "request": context.get("request")}
