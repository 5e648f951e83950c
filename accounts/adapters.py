"""django-allauth's hooks for the chat: who may sign up, where people land, mail that cannot be sent.

``SIGNUP_MODE`` (settings, docs/accounts.md) decides sign-up: ``closed`` (allauth shows the
"sign-up is closed" page), ``approval`` (the new account waits for a staff member) or ``open``.
``new_user`` is also the hook allauth's single sign-on uses for a first sign-in, so accounts made
that way follow the same mode; ``SocialAccountAdapter`` holds the rest of single sign-on's rules.
"""

from __future__ import annotations

import logging
import smtplib
from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
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


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth's hooks for single sign-on with OpenID Connect (docs/accounts.md, "Single sign-on").

    The provider comes from the environment only (``settings.SOCIALACCOUNT_PROVIDERS``); a first
    sign-in makes an account as a sign-up does (``AccountAdapter.new_user``: ``SIGNUP_MODE``), or
    enters the one account of this site with the address the provider verified.
    """

    def list_apps(self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None) -> list:
        # Without OIDC_SERVER_URL there is no provider: the login page asks nothing of the database.
        if not any(config.get("APPS") for config in settings.SOCIALACCOUNT_PROVIDERS.values()):
            return []
        return super().list_apps(request, provider=provider, client_id=client_id)

    def is_open_for_signup(self, request: HttpRequest, sociallogin: Any) -> bool:
        """A first sign-in with no account to enter: refused with a page saying so when sign-up is closed.

        Raises:
            ImmediateHttpResponse: ``SIGNUP_MODE=closed`` (403, ``socialaccount/signup_closed.html``).
        """
        if settings.SIGNUP_MODE == "closed":
            emails = [address.email for address in sociallogin.email_addresses]
            logger.info("single sign-on refused: no account for %s and sign-up is closed", sociallogin.account.uid)
            context = {"email": emails[0] if emails else ""}
            raise ImmediateHttpResponse(render(request, "socialaccount/signup_closed.html", context, status=403))
        return True

    def authenticate_by_email(self, sociallogin: Any) -> tuple[Any, str] | None:
        """The account a first sign-in enters by an address the provider verified (``email_verified``).

        Only where ``OIDC_EMAIL_AUTHENTICATION`` is on, and only an account whose address is
        trustworthy here (``services.sso_user_for_verified_email``). The address is then recorded as
        confirmed, so allauth does not take it for a trap and wipe the account's password.
        """
        for address in sociallogin.email_addresses:
            if not (address.verified and self.can_authenticate_by_email(sociallogin, address.email)):
                continue
            user = services.sso_user_for_verified_email(email=address.email)
            if user is not None:
                services.sso_email_confirm(user=user, email=address.email)
                return user, address.email
        return None

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: str | None = None,
        exception: BaseException | None = None,
        extra_context: dict[str, Any] | None = None,
    ) -> None:
        # The person sees allauth's page ("socialaccount/authentication_error.html"); the reason is logged.
        logger.warning("single sign-on with %s failed: %s %r", provider.sub_id, error, exception)
