"""The database unreachable answers 503 with the contract body, never a 500 (issue "Hardening": faults).

In process: the selector or service a view calls raises what psycopg raises when
PostgreSQL is restarting or the connection was cut (Django's ``OperationalError`` /
``InterfaceError``). ``test_faults_postgres_restart.py`` does it for real.
"""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from django.test import Client

from conversations import selectors, services

pytestmark = pytest.mark.django_db

UNAVAILABLE = {"error": "Service unavailable", "detail": "The service is temporarily unavailable. Please try again."}


def _down(*args: object, **kwargs: object) -> None:
    raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


def _cut(*args: object, **kwargs: object) -> None:
    raise InterfaceError("connection already closed")


@pytest.mark.parametrize("failure", [_down, _cut], ids=["operational", "interface"])
def test_the_api_answers_503_with_the_contract_body(api, owner_id: str, monkeypatch, failure) -> None:
    monkeypatch.setattr(selectors, "conversation_list", failure)
    response = api.get(f"/api/{owner_id}/conversations")
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE


def test_the_async_chat_endpoint_answers_503_with_the_contract_body(api, owner_id: str, monkeypatch) -> None:
    monkeypatch.setattr(services, "chat_begin", _down)
    response = api.post(f"/api/{owner_id}/chat", {"message": "Hello?"}, format="json")
    assert response.status_code == 503
    assert response.json() == UNAVAILABLE


def test_the_page_says_the_service_is_unavailable(owner, monkeypatch) -> None:
    client = Client()
    client.force_login(owner)
    monkeypatch.setattr(selectors, "conversation_newest_for_user", _down)

    response = client.get("/chat")

    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    text = response.content.decode()
    assert "Service unavailable" in text and UNAVAILABLE["detail"] in text
    assert "Traceback" not in text and "OperationalError" not in text


def test_the_page_send_answers_htmx_with_a_503_fragment(owner, monkeypatch) -> None:
    client = Client()
    client.force_login(owner)
    monkeypatch.setattr(services, "chat_begin", _down)

    response = client.post("/chat/send", {"text": "Hello?"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 503
    assert "data-error-fragment" in response.content.decode()
    assert UNAVAILABLE["detail"] in response.content.decode()
