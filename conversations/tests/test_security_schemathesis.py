"""Hostile input: schemathesis fuzzes every operation of the published OpenAPI schema.

The schema is the one the app serves at ``/api/schema/``; requests go through the
Django WSGI application with the owner's valid token, so they reach the views.
Every response must be a documented status with a body matching the schema, and
none may be a 5xx (contract: Errors; SC-008). Bounded by ``MAX_EXAMPLES`` per
operation so it runs in CI in about a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings

from conversations.auth import issue_token
from conversations.tests.factories import make_conversation

MAX_EXAMPLES = 25

pytestmark = pytest.mark.django_db


# The app's own schema, fetched through its WSGI entry point like a client would. It is
# loaded at import (pytest-django has set Django up by then; serving the schema needs no
# database), because schemathesis' fixture-based lazy loader does not run on pytest 9.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """Requests go through the real WSGI handler, which closes database connections at the
    end of each request; that would end the test's transaction on PostgreSQL. Django's own
    test client unhooks the same signal."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_context(owner_id: str) -> dict[str, Any]:
    """The owner's token, and a conversation with messages the fuzzer can point at."""
    token, _ = issue_token(user_id=owner_id)
    conversation = make_conversation(owner_id, title="fuzz target", messages=6)
    message_id = str(conversation.messages.order_by("created_at").last().id)
    return {"owner_id": owner_id, "token": token, "conversation_id": str(conversation.id), "message_id": message_id}


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_every_operation_answers_within_its_schema_and_never_5xx(case: Any, fuzz_context: dict[str, Any]) -> None:
    if case.path_parameters is not None:
        if "user_id" in case.path_parameters:
            # A random user id only ever meets the 403 check; fuzz the owner's own data.
            case.path_parameters["user_id"] = fuzz_context["owner_id"]
        conversation_id = case.path_parameters.get("conversation_id")
        if conversation_id is not None and len(str(conversation_id)) % 2 == 0:
            # Half the time, a real conversation (the other half: unknown or malformed ids).
            case.path_parameters["conversation_id"] = fuzz_context["conversation_id"]
            if case.query and "before" in case.query:
                # The cursor must name a message of this conversation (else a 400 that
                # depends on data, not on the schema): point it at a real one.
                case.query["before"] = fuzz_context["message_id"]
    if isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
        # A conversation's model must be one the model server lists (else a 400 that depends on the
        # server, not on the schema; issue 14): offline, the offline assistant, or "" (the default).
        case.body["model"] = "offline" if len(case.body["model"]) % 2 else ""
    key = (case.headers or {}).get("Idempotency-Key")
    if key is not None:
        # Examples share one database: a key fuzzed twice with two bodies is rightly a 422
        # (tested in test_api_idempotency.py). Each example gets a key of its own, its fuzzed
        # text kept after a unique prefix.
        case.headers["Idempotency-Key"] = f"{uuid.uuid4().hex}{key[:200]}".rstrip()
    case.call_and_validate(headers={"Authorization": f"Bearer {fuzz_context['token']}"})
