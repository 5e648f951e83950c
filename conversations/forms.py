"""The page's forms: parse the input, leave the rules to ``services`` (style.md, convention 1)."""

from __future__ import annotations

from django import forms

from conversations import services
from conversations.models import TITLE_MAX_LENGTH


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
