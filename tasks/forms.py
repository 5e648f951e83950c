"""The tasks panel's forms: parse the input, leave the rules to ``tasks.services`` (style.md, convention 1)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.page_i18n import translating
from tasks import services


class TaskTitleForm(forms.Form):
    """A new task's title, or a task's new title: the services' rules and sentences (1..200 characters)."""

    title = forms.CharField(label=_("Title"), required=False, strip=False)

    @translating
    def clean_title(self) -> str:
        return services.task_title_clean(self.cleaned_data.get("title") or "")


class TaskTickForm(forms.Form):
    """A task's checkbox: ticked (completed) or not. An unticked checkbox sends nothing."""

    completed = forms.BooleanField(required=False)
