"""The page's forms: parse the input, leave the rules to ``services`` (style.md, convention 1)."""

from __future__ import annotations

from django import forms

from conversations import services
from conversations.models import MODEL_NAME_MAX_LENGTH, TITLE_MAX_LENGTH


class MessageForm(forms.Form):
    """The composer: one message of 1..4000 characters, kept exactly as typed (FR-003)."""

    text = forms.CharField(
        label="Message",
        strip=False,
        required=False,  # services.message_text_clean words the "empty" error
        widget=forms.Textarea(attrs={"rows": 1, "maxlength": services.MESSAGE_MAX_CHARS}),
    )

    def clean_text(self) -> str:
        return services.message_text_clean(self.cleaned_data.get("text") or "")


class RenameForm(forms.Form):
    """A conversation's new title (1..200 characters, trimmed)."""

    title = forms.CharField(label="Title", required=False, strip=False, max_length=TITLE_MAX_LENGTH + 50)

    def clean_title(self) -> str:
        return services.title_clean(self.cleaned_data.get("title") or "")


class ModelChoiceForm(forms.Form):
    """The header's "Model" select (issue 14): a model the server offers."""

    model = forms.CharField(label="Model", required=False, strip=False, max_length=MODEL_NAME_MAX_LENGTH + 50)

    def clean_model(self) -> str:
        # May raise catalog.ModelsUnavailable (the server could not be asked): the view says so.
        return services.model_clean(self.cleaned_data.get("model") or "")


class InstructionsForm(forms.Form):
    """A conversation's instructions (issue 14): up to 4000 characters; empty clears them."""

    instructions = forms.CharField(label="Instructions", required=False, strip=False, widget=forms.Textarea)

    def clean_instructions(self) -> str:
        return services.instructions_clean(self.cleaned_data.get("instructions") or "")
