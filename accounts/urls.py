"""``/accounts/``: allauth's pages, sign-in and sign-up with the chat's rules, and the waiting page.

The names ``login`` and ``logout`` stay (``LOGIN_URL``, the top bar); allauth's own names
(``account_login``, ``account_signup``, ...) resolve to the same paths.
"""

from __future__ import annotations

from allauth.account import views as allauth_views
from django.urls import include, path

from accounts import views

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", allauth_views.logout, name="logout"),
    path("signup/", views.SignupView.as_view(), name="account_signup"),
    path("pending/", views.pending, name="account_pending"),
    path("", include("allauth.urls")),
]
