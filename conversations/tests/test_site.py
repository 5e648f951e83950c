"""Site-level behaviour: schema and docs, error pages, settings from the environment (issue 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from conversations import views

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_the_openapi_schema_describes_every_operation_and_the_error_body(client: Client) -> None:
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    assert set(paths) >= {
        "/api/{user_id}/chat",
        "/api/{user_id}/conversations",
        "/api/{user_id}/conversations/{conversation_id}",
        "/api/{user_id}/conversations/{conversation_id}/messages",
        "/api/auth/token",
    }
    assert set(paths["/api/{user_id}/conversations/{conversation_id}"]) >= {"get", "patch", "delete"}
    chat = paths["/api/{user_id}/chat"]["post"]
    assert {"200", "400", "401", "403", "404", "503", "504"} <= set(chat["responses"])
    assert schema["components"]["schemas"]["Error"]["required"] == ["detail", "error"]
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_interactive_docs_load_their_assets_from_this_server(client: Client) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/" in response.content
    assert b"cdn" not in response.content.lower()


def test_an_unknown_api_path_answers_404_with_the_contract_body(client: Client) -> None:
    response = client.get("/api/nothing/here/at/all")
    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "detail": "The requested resource was not found."}


def test_an_unknown_page_answers_a_page_for_a_person(client: Client) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert b"Not found" in response.content and b"Traceback" not in response.content


def test_the_500_handler_answers_the_contract_body_under_api() -> None:
    response = views.server_error(RequestFactory().get("/api/u1/chat"))
    assert response.status_code == 500
    assert (
        response.content
        == b'{"error": "Internal server error", "detail": "An unexpected error occurred. Please try again."}'
    )


def test_the_500_handler_answers_a_page_elsewhere() -> None:
    response = views.server_error(RequestFactory().get("/chat"))
    assert response.status_code == 500
    assert b"An unexpected error occurred" in response.content


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "JWT_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG"),
        ({"DJANGO_DEBUG": "0"}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_DEBUG": "1", "DJANGO_HTTPS": "sometimes"}, "DJANGO_HTTPS"),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "mysql://x@y/z"}, "DATABASE_URL"),
        ({"DJANGO_DEBUG": "1", "JWT_LEEWAY_SECONDS": "ten"}, "JWT_LEEWAY_SECONDS"),
        ({"DJANGO_DEBUG": "1", "ASSISTANT_BACKEND": "gpt"}, "ASSISTANT_BACKEND"),
    ],
)
def test_a_bad_setting_stops_start_up_naming_the_variable(env: dict[str, str], named: str) -> None:
    result = run_check(env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and named in result.stderr


def test_the_defaults_run_on_a_bare_machine() -> None:
    result = run_check({"DJANGO_DEBUG": "1"})
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_demo_user_command_creates_a_user_who_can_sign_in(client: Client, django_user_model) -> None:
    from django.core.management import call_command

    call_command("ensure_demo_user", "--staff", stdout=open(os.devnull, "w"))
    call_command("ensure_demo_user", stdout=open(os.devnull, "w"))  # idempotent
    user = django_user_model.objects.get(username="demo")
    assert user.is_staff
    assert client.login(username="demo", password="demo-password")


def test_the_demo_user_command_prints_where_to_sign_in(django_user_model) -> None:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    call_command("ensure_demo_user", "--base-url", "http://127.0.0.1:8765/", stdout=out)
    assert "sign in at http://127.0.0.1:8765/accounts/login/ as 'demo' with password 'demo-password'" in out.getvalue()
