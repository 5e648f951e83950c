"""The suite's personas, backends and servers (conversations/tests/conftest.py) for the tasks tests."""

from conversations.tests.conftest import *  # noqa: F403
