"""Who may call an operation (FR-011, FR-013)."""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from conversations.api.errors import FORBIDDEN_DETAIL
from conversations.auth import user_id_of


class PathUserMatches(BasePermission):
    """The path's ``user_id`` must be the caller's (the token's ``sub``), else 403 (contract: Errors)."""

    message = FORBIDDEN_DETAIL

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return user_id_of(user) == view.kwargs.get("user_id")
