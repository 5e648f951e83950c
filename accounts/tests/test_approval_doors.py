"""The WebSocket and the MCP door refuse an account awaiting approval, and let it in once approved (issue 16).

Through the real ASGI application, as ``conversations/tests/test_live.py`` and ``tasks/tests/test_mcp.py``
reach them; committed rows (``transaction=True``), since the doors read on their own threads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from asgiref.sync import sync_to_async
from channels.layers import channel_layers
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.utils import timezone

from accounts.models import Account
from chatsite.asgi import application
from conversations.auth import issue_token
from conversations.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20.0
PENDING_DETAIL = "Your account is waiting for approval by an administrator. You can use the chat once it is approved."


@pytest.fixture(autouse=True)
async def _fresh_layer() -> AsyncIterator[None]:
    channel_layers._reset_backends("CHANNEL_LAYERS")
    yield
    channel_layers._reset_backends("CHANNEL_LAYERS")
    await sync_to_async(connections.close_all)()


@pytest.fixture
def waiting(django_user_model) -> Any:
    """A user whose account awaits approval (as a sign-up with SIGNUP_MODE=approval leaves it)."""
    user = django_user_model.objects.create_user(username="newcomer", password=PASSWORD)
    Account.objects.filter(user=user).update(approved_at=None)
    Account.objects.get(user=user).save()  # as the sign-up's own save: the process forgets any approval
    return user


def session_cookie(username: str) -> bytes:
    client = Client()
    assert client.login(username=username, password=PASSWORD)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def first_event(communicator: WebsocketCommunicator) -> tuple[dict[str, Any], dict[str, Any] | None]:
    connected, _ = await communicator.connect(timeout=WAIT)
    assert connected
    event = await communicator.receive_json_from(timeout=WAIT)
    closing = await communicator.receive_output(timeout=WAIT) if event["type"] == "error" else None
    await communicator.disconnect()
    return event, closing


async def test_the_socket_refuses_a_waiting_account_by_token_and_by_session_then_lets_it_in(waiting) -> None:
    token = issue_token(user_id=str(waiting.pk))[0]
    cookie = await sync_to_async(session_cookie)("newcomer")
    for communicator in (
        WebsocketCommunicator(application, f"/ws/chat?token={token}"),
        WebsocketCommunicator(application, "/ws/chat", headers=[(b"cookie", cookie)]),
    ):
        event, closing = await first_event(communicator)
        assert event == {"type": "error", "error": "Forbidden", "detail": PENDING_DETAIL}
        assert closing == {"type": "websocket.close", "code": 4401}

    await Account.objects.filter(user=waiting).aupdate(approved_at=timezone.now())
    event, _ = await first_event(WebsocketCommunicator(application, f"/ws/chat?token={token}"))
    assert event["type"] == "ready"


async def test_the_mcp_door_refuses_a_waiting_account_with_403(waiting) -> None:
    token = issue_token(user_id=str(waiting.pk))[0]
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=application), base_url="http://127.0.0.1") as http:
        response = await http.post(
            "/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"},
        )
    assert (response.status_code, response.json()) == (403, {"error": "Forbidden", "detail": PENDING_DETAIL})
