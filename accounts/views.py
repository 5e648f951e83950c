"""The account pages allauth does not have: the waiting page; and allauth's sign-in and sign-up with the chat's rules.

Everything else under ``/accounts/`` (sign-out, password reset and change, address confirmation)
is allauth's own view with the chat's templates (``templates/account/``, ``templates/allauth/``).
"""

from __future__ import annotations

from typing import Any

from allauth.account import views as allauth_views
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from accounts import approval

SIGNUP_CLOSED_STATUS = 404


class LoginView(allauth_views.LoginView):
    """allauth's sign-in (by username or e-mail address), telling the page whether sign-up is open."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["signup_open"] = settings.SIGNUP_MODE != "closed"
        context["signup_awaits_approval"] = settings.SIGNUP_MODE == "approval"
        return context


class SignupView(allauth_views.SignupView):
    """allauth's sign-up; closed (``SIGNUP_MODE=closed``), a friendly page with a 404, as for a page that is not there."""

    def closed(self) -> HttpResponse:
        response = super().closed()
        response.status_code = SIGNUP_CLOSED_STATUS
        return response

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context["signup_awaits_approval"] = settings.SIGNUP_MODE == "approval"
        return context


@login_required
def pending(request: HttpRequest) -> HttpResponse:
    """``/accounts/pending/``: says the account awaits approval; once approved, on to the chat."""
    if not approval.is_pending(request.user.pk):
        return redirect(settings.LOGIN_REDIRECT_URL)
    return render(request, "accounts/pending.html")


def awaiting_approval(request: HttpRequest) -> HttpResponse:
    """The chat's answer to a signed-in person whose account awaits approval (``session_required``).

    A page request goes to the waiting page; an htmx request gets ``HX-Redirect``, which takes the
    whole page there.
    """
    url = reverse("account_pending")
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return redirect(url)
