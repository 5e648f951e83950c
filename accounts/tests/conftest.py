"""The suite's personas, browser and settings (conversations/tests/conftest.py), and accounts' own helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from accounts import approval
from conversations.tests.conftest import *  # noqa: F403
from conversations.tests.conftest import (  # noqa: F401  (fixtures: found by name; * skips private ones)
    _fast_password_hashing,
    _fresh_backends,
    _plain_static_files,
    _static_files_without_manifest,
)


@pytest.fixture(autouse=True)
def _approvals_forgotten() -> Iterator[None]:
    """Each test starts with no approval remembered by the process (``accounts.approval``)."""
    approval.forget_all()
    yield
    approval.forget_all()


@pytest.fixture
def signup_mode(settings):
    """Set ``SIGNUP_MODE`` for the test: ``signup_mode("approval")``."""

    def set_mode(mode: str) -> None:
        settings.SIGNUP_MODE = mode

    return set_mode
