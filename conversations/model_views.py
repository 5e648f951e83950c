"""The page's doors to a conversation's model and instructions (issue 14, "Models and instructions").

Thin, as ``views``: a form parses the input, ``services`` checks it (``model_clean``,
``instructions_clean``) and saves it (``conversation_configure``), and htmx gets the partial
back: the header's "Model" select, or the conversation settings dialog with its errors next
to the field. Without script, the forms post and the page is shown again (PRG).
"""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from conversations import catalog, services
from conversations.forms import InstructionsForm, ModelChoiceForm
from conversations.models import INSTRUCTIONS_MAX_CHARS
from conversations.templatetags.model_settings import UNREACHABLE, picker_context
from conversations.views import _owned, session_required


@require_POST
@session_required
def choose_model(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The header's "Model" select changed: use that model for the conversation's next replies.

    It is also the person's last choice, which their new conversations take. htmx gets the
    select back (400 with the reason next to it for a model no longer offered, 503 when the
    model server cannot be asked).
    """
    conv = _owned(request, conversation_id)
    form = ModelChoiceForm(request.POST)
    error, status = "", 200
    try:
        if form.is_valid():
            services.conversation_configure(conversation=conv, model=form.cleaned_data["model"])
        else:
            error, status = " ".join(form.errors.get("model", [])), 400
    except catalog.ModelsUnavailable:
        error, status = UNREACHABLE, 503
    if not request.htmx:
        return redirect("conversation", conversation_id=conv.pk)
    context = picker_context(conv, error=error, saved=not error)
    return render(request, "conversations/_model_picker.html", context, status=status)


@require_http_methods(["GET", "POST"])
@session_required
def conversation_settings(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """The conversation settings dialog: GET shows it, POST saves its instructions.

    htmx gets the dialog (400 with the reason next to the field; "Instructions saved." once
    saved); without script, the dialog as a page of its own, and back to the conversation once saved.
    """
    conv = _owned(request, conversation_id)
    form = InstructionsForm(initial={"instructions": conv.instructions})
    saved, status = False, 200
    if request.method == "POST":
        form = InstructionsForm(request.POST)
        if form.is_valid():
            services.conversation_configure(conversation=conv, instructions=form.cleaned_data["instructions"])
            if not request.htmx:
                return redirect("conversation", conversation_id=conv.pk)
            form, saved = InstructionsForm(initial={"instructions": conv.instructions}), True
        else:
            status = 400
    template = "conversations/_settings_dialog.html" if request.htmx else "conversations/conversation_settings.html"
    context = {"conversation": conv, "form": form, "saved": saved, "max_chars": INSTRUCTIONS_MAX_CHARS}
    return render(request, template, context, status=status)
