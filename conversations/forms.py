"""The page's forms: parse the input, leave the rules to ``services`` (style.md, convention 1)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations import account_services, services
from conversations.models import MODEL_NAME_MAX_LENGTH, TITLE_MAX_LENGTH
from conversations.page_i18n import translating

# The rules' sentences are the services' English, shared with the API: ``translating`` shows them
# in the page's language (issue 16, conversations/page_i18n.py).


class MessageForm(forms.Form):
    """The composer: one message of 1..4000 characters, kept exactly as typed (FR-003)."""

    text = forms.CharField(
        label=_("Message"),
        strip=False,
        required=False,  # services.message_text_clean words the "empty" error
        widget=forms.Textarea(attrs={"rows": 1, "maxlength": services.MESSAGE_MAX_CHARS}),
    )

    @translating
    def clean_text(self) -> str:
        return services.message_text_clean(self.cleaned_data.get("text") or "")


class RenameForm(forms.Form):
    """A conversation's new title (1..200 characters, trimmed)."""

    title = forms.CharField(label=_("Title"), required=False, strip=False, max_length=TITLE_MAX_LENGTH + 50)

    @translating
    def clean_title(self) -> str:
        return services.title_clean(self.cleaned_data.get("title") or "")


class ModelChoiceForm(forms.Form):
    """The header's "Model" select (issue 14): a model the server offers."""

    model = forms.CharField(label=_("Model"), required=False, strip=False, max_length=MODEL_NAME_MAX_LENGTH + 50)

    @translating
    def clean_model(self) -> str:
        # May raise catalog.ModelsUnavailable (the server could not be asked): the view says so.
        return services.model_clean(self.cleaned_data.get("model") or "")


class InstructionsForm(forms.Form):
    """A conversation's instructions (issue 14): up to 4000 characters; empty clears them."""

    instructions = forms.CharField(label=_("Instructions"), required=False, strip=False, widget=forms.Textarea)

    @translating
    def clean_instructions(self) -> str:
        return services.instructions_clean(self.cleaned_data.get("instructions") or "")


class DefaultsForm(forms.Form):
    """The settings page's defaults for new conversations (issue 16): checked as a conversation's are."""

    model = forms.CharField(
        label=_("Default model"), required=False, strip=False, max_length=MODEL_NAME_MAX_LENGTH + 50
    )
    instructions = forms.CharField(label=_("Default instructions"), required=False, strip=False, widget=forms.Textarea)

    @translating
    def clean_model(self) -> str:
        # May raise catalog.ModelsUnavailable (the server could not be asked): the view says so.
        return services.model_clean(self.cleaned_data.get("model") or "")

    @translating
    def clean_instructions(self) -> str:
        return services.instructions_clean(self.cleaned_data.get("instructions") or "")


class AccountDeleteForm(forms.Form):
    """The settings page's "Delete my account" (issue 16): the person types their username to confirm."""

    username = forms.CharField(label=_("Your username"), required=False, strip=False, max_length=1000)

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    @translating
    def clean_username(self) -> str:
        typed = self.cleaned_data.get("username") or ""
        return account_services.account_delete_confirmation_clean(user=self.user, typed=typed)
