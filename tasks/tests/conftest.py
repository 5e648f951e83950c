"""The suite's personas, backends and servers (conversations/tests/conftest.py) for the tasks tests."""

from conversations.tests.conftest import *  # noqa: F403
from conversations.tests.conftest import (  # noqa: F401  (fixtures: found by name; * skips private ones)
    _fake_openai_server,
    _fast_password_hashing,
    _fresh_backends,
    _plain_static_files,
    _static_files_without_manifest,
)
