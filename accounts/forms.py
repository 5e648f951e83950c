"""allauth's forms with the chat's wording (``ACCOUNT_FORMS``)."""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from django.utils.translation import gettext_lazy as _


class LoginForm(allauth_forms.LoginForm):
    """Sign-in by username or e-mail address (``ACCOUNT_LOGIN_METHODS``), labelled as such."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = _("Username or email")
