"""Top-level routes: the chat page and its tasks panel, the API, its schema and docs, the admin, accounts."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    # Sign-in, sign-up, password reset (django-allauth; issue 16): accounts/urls.py.
    path("accounts/", include("accounts.urls")),
    # The language switcher (Django's set_language; docs/page.md, "Languages"): POST language, next.
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api-auth/", include("rest_framework.urls")),
    path("api/", include("conversations.api.urls")),
    path("api/", include("tasks.urls")),
    path("", include("tasks.page_urls")),
    path("", include("conversations.urls")),
]

handler400 = "conversations.views.bad_request"
handler403 = "conversations.views.permission_denied"
handler404 = "conversations.views.page_not_found"
handler500 = "conversations.views.server_error"
