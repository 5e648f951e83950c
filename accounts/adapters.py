"""django-allauth's hooks for the chat: who may sign up, where people land, mail that cannot be sent.

``SIGNUP_MODE`` (settings, docs/accounts.md) decides sign-up: ``closed`` (allauth shows the
"sign-up is closed" page), ``approval`` (the new account waits for a staff member) or ``open``.
``new_user`` is also the hook allauth's single sign-on uses for a first sign-in, so accounts made
that way follow the same mode.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy

from accounts import approval, services

logger = logging.getLogger(__name__)

# Sign-in by itself says nothing: the page the person lands on does.
_SILENT_MESSAGES = {"account/messages/logged_in.txt"}
# Mails that are the whole point of the request: when they cannot be sent, the person must know.
_REQUESTED_MAILS = ("account/email/password_reset", "account/email/unknown_account")
MAIL_FAILED_TITLE = gettext_lazy("The e-mail could not be sent")
MAIL_FAILED_DETAIL = gettext_lazy("The mail server cannot be reached right now. Please try again in a few minutes.")


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request: HttpRequest) -> bool:
        return settings.SIGNUP_MODE != "closed"

    def new_user(self, request: HttpRequest) -> Any:
        user = super().new_user(request)
        if services.signup_awaits_approval():
            services.mark_awaiting_approval(user)
        return user

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        if request.user.is_authenticated and approval.is_pending(request.user.pk):
            return reverse("account_pending")
        return super().get_signup_redirect_url(request)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        if approval.is_pending(request.user.pk):
            return reverse("account_pending")
        return super().get_login_redirect_url(request)

    def add_message(
        self,
        request: HttpRequest,
        level: int,
        message_template: str | None = None,
        message_context: dict[str, Any] | None = None,
        extra_tags: str = "",
        message: str | None = None,
    ) -> None:
        # "Successfully signed in as ..." would wait, unshown by the chat, for the next page
        # that shows messages (settings), long after it meant anything.
        if message_template in _SILENT_MESSAGES:
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        """Send as allauth does; a mail server that fails never becomes a 500.

        A password reset mail that cannot be sent is answered 503 with a sentence (the person
        asked for that mail and must not be told it is on its way); any other mail (an address
        confirmation after sign-up) is logged and the action that sent it stands.

        Raises:
            ImmediateHttpResponse: a password reset mail could not be sent.
        """
        try:
            super().send_mail(template_prefix, email, context)
        except (smtplib.SMTPException, OSError) as exc:
            logger.warning("mail %s could not be sent: %s: %s", template_prefix, exc.__class__.__name__, exc)
            if template_prefix.startswith(_REQUESTED_MAILS) and self.request is not None:
                response = render(
                    self.request, "error.html", {"title": MAIL_FAILED_TITLE, "detail": MAIL_FAILED_DETAIL}, status=503
                )
                raise ImmediateHttpResponse(response) from None
