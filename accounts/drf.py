"""DRF's session authentication (the browsable API), refusing accounts awaiting approval (issue 16)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.authentication import SessionScheme
from rest_framework.authentication import SessionAuthentication

from accounts import approval


class ApprovedSessionAuthentication(SessionAuthentication):
    """``SessionAuthentication``; a signed-in person whose account awaits approval is answered 403."""

    def authenticate(self, request: Any) -> tuple[Any, None] | None:
        found = super().authenticate(request)
        if found is not None:
            approval.check_approved(found[0].pk)
        return found


class ApprovedSessionScheme(SessionScheme):
    """The OpenAPI schema describes it as the session cookie it is (drf-spectacular)."""

    target_class = "accounts.drf.ApprovedSessionAuthentication"
