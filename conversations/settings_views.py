"""The settings page: export everything, import a file, download one conversation (issue 15,
"Export and import"); change password, defaults for new conversations, delete my account (issue 16).

Thin doors over ``conversations.export`` and ``conversations.account_services``, with the page's
session instead of a token (``views.session_required``); the downloads are the API's
(``api.export_views``). Every form is a plain post, so it also works without JavaScript: the
import is answered with the page and a sentence; the issue 16 forms answer a refusal with the page
(400, the reason next to the field) and a success with a redirect back to their section (PRG) and a
sentence there (``django.contrib.messages``, tagged with the section).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm, SetPasswordForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop, ngettext
from django.views.decorators.http import require_GET, require_POST

from conversations import account_services, catalog, export
from conversations.api.export_views import all_download, conversation_download
from conversations.auth import user_id_of
from conversations.forms import AccountDeleteForm, DefaultsForm
from conversations.models import INSTRUCTIONS_MAX_CHARS
from conversations.page_i18n import error_text
from conversations.templatetags.model_settings import UNREACHABLE, model_label
from conversations.views import _owned, session_required

# English msgids, shown translated (``gettext`` where they are used; issue 16, "Two languages").
NO_FILE = gettext_noop("Choose a conversations file to import.")
PASSWORD_CHANGED = gettext_noop(
    "Your password was changed. You are still signed in here; elsewhere, sign in with the new one."
)
DEFAULTS_SAVED = gettext_noop("Saved. New conversations will use this model and these instructions.")
ACCOUNT_DELETED = gettext_noop("Your account and all its data were deleted.")
# The sections a success sentence is shown in (its ``extra_tags``; settings.html).
PASSWORD_SECTION, DEFAULTS_SECTION = "password", "defaults"


def _render(
    request: HttpRequest,
    *,
    result: str = "",
    error: str = "",
    status: int = 200,
    password_form: PasswordChangeForm | None = None,
    defaults_form: DefaultsForm | None = None,
    defaults_error: str = "",
    delete_form: AccountDeleteForm | None = None,
) -> HttpResponse:
    context = {
        "result": result,
        "error": error,
        "import_max": filesizeformat(settings.IMPORT_MAX_BYTES),
        "password_form": password_form or _password_form(request),
        "password_help": password_validators_help_texts(),
        "delete_form": delete_form or AccountDeleteForm(user=request.user),
        **_defaults_context(request, defaults_form, error=defaults_error),
    }
    return render(request, "conversations/settings.html", context, status=status)


def _defaults_context(request: HttpRequest, form: DefaultsForm | None, *, error: str = "") -> dict[str, Any]:
    """The "New conversations" section: the models on offer (as ``GET /api/models``), the saved ones chosen.

    A saved model no longer offered (or every model, while the server cannot be reached) is still
    listed, as in a conversation's "Model" select (``model_settings.picker_context``).
    """
    preference = account_services.preference_get(user_id=user_id_of(request.user))
    if form is None:
        form = DefaultsForm(initial={"model": preference.model, "instructions": preference.instructions})
    saved = preference.model or catalog.default_model()
    try:
        names = list(catalog.models_offered().models)
    except catalog.ModelsUnavailable:
        names, error = [], error or UNREACHABLE
    if saved not in names:
        names.insert(0, saved)
    chosen = form.data.get("model", saved) if form.is_bound else saved
    return {
        "defaults_form": form,
        "defaults_error": error,
        "model_options": [(name, model_label(name)) for name in names],
        "default_model_chosen": chosen if chosen in names else saved,
        "instructions_max": INSTRUCTIONS_MAX_CHARS,
    }


def _section(name: str) -> str:
    return f"{reverse('settings')}#{name}-title"


@require_GET
@session_required
def settings_page(request: HttpRequest) -> HttpResponse:
    """``/chat/settings``: change password, new conversations' defaults, export, import, delete my account."""
    return _render(request)


@require_GET
@session_required
def export_all(request: HttpRequest) -> StreamingHttpResponse:
    """``/chat/export``: every conversation of the signed-in user as one chat-export JSON file."""
    return all_download(request, user_id_of(request.user))


@require_GET
@session_required
def conversation_export(request: HttpRequest, conversation_id: uuid.UUID) -> HttpResponse:
    """``/chat/<id>/export?format=markdown|json``: one conversation as a file (Markdown by default)."""
    format = request.GET.get("format") or export.MARKDOWN
    if format not in export.FORMATS:
        return HttpResponse("format must be markdown or json", status=400, content_type="text/plain; charset=utf-8")
    return conversation_download(request, _owned(request, conversation_id), format)


@require_POST
@session_required
def import_file(request: HttpRequest) -> HttpResponse:
    """``/chat/import``: import the posted "Conversations file" and say how it went."""
    upload = request.FILES.get("file")
    if upload is None:
        return _render(request, error=gettext(NO_FILE), status=400)
    try:
        if upload.size is not None and upload.size > settings.IMPORT_MAX_BYTES:
            raise export.ImportTooLarge(settings.IMPORT_MAX_BYTES)
        result = export.conversations_import(user_id=user_id_of(request.user), data=export.import_read(upload))
    except export.ImportTooLarge:
        detail = gettext("The file is too large: the limit is %(limit)s.") % {
            "limit": filesizeformat(settings.IMPORT_MAX_BYTES)
        }
        return _render(request, error=detail, status=413)
    except ValidationError as exc:
        # The rules' English sentence (the API's), in the page's language (conversations/page_i18n.py).
        detail = gettext("The file could not be imported: %(reason)s") % {"reason": error_text(exc)}
        return _render(request, error=detail, status=400)
    return _render(request, result=_imported(result))


def _imported(result: export.ImportResult) -> str:
    """What an import did, in the page's language: "Imported 2 conversations and 9 messages." """
    sentence = gettext("Imported %(conversations)s and %(messages)s.") % {
        "conversations": ngettext("%(count)s conversation", "%(count)s conversations", result.conversations)
        % {"count": result.conversations},
        "messages": ngettext("%(count)s message", "%(count)s messages", result.messages) % {"count": result.messages},
    }
    if result.skipped:
        skipped = ngettext(
            "%(count)s was already here and was left as it is.",
            "%(count)s were already here and were left as they are.",
            result.skipped,
        )
        sentence += " " + skipped % {"count": result.skipped}
    return sentence


def _password_form(request: HttpRequest, data: Any = None) -> SetPasswordForm:
    """Django's ``PasswordChangeForm``, or ``SetPasswordForm`` (no current password to give) for an
    account made by single sign-on, which has none until it sets one here."""
    form_class = PasswordChangeForm if request.user.has_usable_password() else SetPasswordForm
    return form_class(user=request.user, data=data)


@require_POST
@session_required
def password_change(request: HttpRequest) -> HttpResponse:
    """``/chat/settings/password``: Django's ``PasswordChangeForm`` (the current password, the new one
    twice, ``AUTH_PASSWORD_VALIDATORS``). This session stays signed in (``update_session_auth_hash``);
    the person's other sessions end."""
    form = _password_form(request, data=request.POST)
    if not form.is_valid():
        return _render(request, password_form=form, status=400)
    update_session_auth_hash(request, form.save())
    messages.success(request, gettext(PASSWORD_CHANGED), extra_tags=PASSWORD_SECTION)
    return redirect(_section(PASSWORD_SECTION))


@require_POST
@session_required
def defaults_save(request: HttpRequest) -> HttpResponse:
    """``/chat/settings/defaults``: the model and instructions new conversations take (issue 16).

    Checked as a conversation's (``PATCH .../conversations/{id}``): a model the server offers, up
    to 4000 characters of instructions; 503 when the model server cannot be asked.
    """
    form = DefaultsForm(request.POST)
    try:
        valid = form.is_valid()
    except catalog.ModelsUnavailable:
        return _render(request, defaults_form=form, defaults_error=UNREACHABLE, status=503)
    if not valid:
        return _render(request, defaults_form=form, status=400)
    account_services.preference_save(
        user_id=user_id_of(request.user),
        model=form.cleaned_data["model"],
        instructions=form.cleaned_data["instructions"],
    )
    messages.success(request, gettext(DEFAULTS_SAVED), extra_tags=DEFAULTS_SECTION)
    return redirect(_section(DEFAULTS_SECTION))


@require_POST
@session_required
def account_delete(request: HttpRequest) -> HttpResponse:
    """``/chat/settings/delete-account``: with the username typed to confirm, delete the account and
    all its data (``account_services.account_delete``), end the session and say so on the login page."""
    form = AccountDeleteForm(request.POST, user=request.user)
    if form.is_valid():
        try:
            account_services.account_delete(user=request.user)
        except ValidationError as exc:
            form.add_error(None, error_text(exc))  # the rules' English, in the page's language
        else:
            logout(request)
            messages.success(request, gettext(ACCOUNT_DELETED))
            return redirect(settings.LOGIN_URL)
    return _render(request, delete_form=form, status=400)
