"""Tokens (contract: Tokens; FR-012, FR-013) and the token endpoint."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import override_settings
from rest_framework.test import APIClient

from conversations.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

SECRET = "test-better-auth-secret-0123456789abcdef"  # pytest.ini's BETTER_AUTH_SECRET
UNAUTHORIZED = {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}


def now() -> int:
    return int(dt.datetime.now(dt.UTC).timestamp())


def call_list(token: str, user_id: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(f"/api/{user_id}/conversations")


def test_a_better_auth_hs256_token_for_an_unknown_user_is_accepted() -> None:
    """The identity lives in the auth service: the subject needs no Django user."""
    token = jwt.encode({"sub": "ba-user-42", "exp": now() + 60}, SECRET, algorithm="HS256")
    response = call_list(token, "ba-user-42")
    assert response.status_code == 200
    assert response.json()["total"] == 0


@pytest.mark.parametrize(
    "claims",
    [
        pytest.param({"sub": "u1", "exp": now() - 10}, id="expired"),
        pytest.param({"sub": "u1"}, id="no-exp"),
        pytest.param({"exp": now() + 60}, id="no-sub"),
        pytest.param({"sub": "", "exp": now() + 60}, id="empty-sub"),
        pytest.param({"sub": 12, "exp": now() + 60}, id="numeric-sub"),
    ],
)
def test_it_refuses_tokens_with_bad_claims(claims: dict) -> None:
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    response = call_list(token, "u1")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


def test_it_refuses_a_token_signed_with_another_key() -> None:
    token = jwt.encode({"sub": "u1", "exp": now() + 60}, "not-the-secret-but-long-enough-0123456789", algorithm="HS256")
    assert call_list(token, "u1").status_code == 401


def test_it_refuses_alg_none() -> None:
    token = jwt.encode({"sub": "u1", "exp": now() + 60}, None, algorithm="none")
    assert call_list(token, "u1").json() == UNAUTHORIZED


def test_it_refuses_an_algorithm_outside_the_configured_ones() -> None:
    token = jwt.encode({"sub": "u1", "exp": now() + 60}, SECRET, algorithm="HS512")
    assert call_list(token, "u1").status_code == 401


@pytest.mark.parametrize("header", ["Bearer", "Bearer a b", "Bearer not.a.jwt", "Bearer \u00e9t\u00e9"])
def test_it_refuses_malformed_authorization_headers(header: str) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/u1/conversations")
    assert (response.status_code, response.json()) == (401, UNAUTHORIZED)


@override_settings(JWT_ISSUER="https://auth.example", JWT_AUDIENCE="chat")
def test_it_checks_issuer_and_audience_when_configured() -> None:
    good = {"sub": "u1", "exp": now() + 60, "iss": "https://auth.example", "aud": "chat"}
    assert call_list(jwt.encode(good, SECRET, algorithm="HS256"), "u1").status_code == 200
    for wrong in ({"iss": "https://evil.example"}, {"aud": "other"}):
        token = jwt.encode({**good, **wrong}, SECRET, algorithm="HS256")
        assert call_list(token, "u1").status_code == 401


# --- JWKS (Better Auth's JWT plugin: EdDSA / Ed25519 keys) -----------------------


class JWKSServer:
    """A real HTTP server on loopback that serves a JWKS document."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.hits += 1
                body = json.dumps({"keys": server.keys}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/api/auth/jwks"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def publish(self, private_key: Ed25519PrivateKey, kid: str) -> None:
        jwk = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private_key.public_key()))
        self.keys.append({**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"})

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def jwks() -> Iterator[JWKSServer]:
    server = JWKSServer()
    with override_settings(JWT_JWKS_URL=server.url, JWT_JWKS_REFRESH_COOLDOWN_SECONDS=0):
        yield server
    server.close()


def eddsa_token(key: Ed25519PrivateKey, kid: str, sub: str = "ba-7", **claims: object) -> str:
    return jwt.encode({"sub": sub, "exp": now() + 60, **claims}, key, algorithm="EdDSA", headers={"kid": kid})


def test_it_accepts_an_eddsa_token_checked_against_the_jwks(jwks: JWKSServer) -> None:
    key = Ed25519PrivateKey.generate()
    jwks.publish(key, "k1")
    assert call_list(eddsa_token(key, "k1"), "ba-7").status_code == 200


def test_it_caches_the_jwks_and_refetches_on_an_unknown_kid(jwks: JWKSServer) -> None:
    first = Ed25519PrivateKey.generate()
    jwks.publish(first, "k1")
    assert call_list(eddsa_token(first, "k1"), "ba-7").status_code == 200
    assert call_list(eddsa_token(first, "k1"), "ba-7").status_code == 200
    assert jwks.hits == 1
    rotated = Ed25519PrivateKey.generate()
    jwks.publish(rotated, "k2")
    assert call_list(eddsa_token(rotated, "k2"), "ba-7").status_code == 200
    assert jwks.hits == 2


def test_it_refuses_an_eddsa_token_signed_by_a_key_outside_the_jwks(jwks: JWKSServer) -> None:
    jwks.publish(Ed25519PrivateKey.generate(), "k1")
    forged = eddsa_token(Ed25519PrivateKey.generate(), "k1")
    assert (call_list(forged, "ba-7").json()) == UNAUTHORIZED


def test_it_refuses_an_asymmetric_token_when_no_jwks_is_configured() -> None:
    token = eddsa_token(Ed25519PrivateKey.generate(), "k1")
    assert call_list(token, "ba-7").status_code == 401


def test_an_unreachable_jwks_is_a_401_not_a_500() -> None:
    with override_settings(JWT_JWKS_URL="http://127.0.0.1:9/jwks"):
        token = eddsa_token(Ed25519PrivateKey.generate(), "k1")
        assert (call_list(token, "ba-7").json()) == UNAUTHORIZED


# --- The token endpoint and one identity across page and API -----------------------


def test_the_token_endpoint_gives_a_token_whose_subject_is_the_django_user(owner, owner_id: str) -> None:
    response = APIClient().post("/api/auth/token", {"username": "owner", "password": PASSWORD}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["user_id"] == owner_id and body["expires_in"] == 3600
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == owner_id
    assert call_list(body["access_token"], owner_id).status_code == 200


def test_the_token_endpoint_refuses_a_wrong_password(owner) -> None:
    response = APIClient().post("/api/auth/token", {"username": "owner", "password": "nope"}, format="json")
    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized", "detail": "Invalid username or password."}


def test_the_token_endpoint_needs_both_fields() -> None:
    response = APIClient().post("/api/auth/token", {"username": "owner"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Validation error"


def test_a_signed_in_user_reaches_their_api_with_the_session(owner, owner_id: str) -> None:
    """The browsable API works for a user signed in through Django's login."""
    client = APIClient()
    client.force_login(owner)
    assert client.get(f"/api/{owner_id}/conversations").status_code == 200
    page = client.get(f"/api/{owner_id}/conversations", HTTP_ACCEPT="text/html")
    assert page.status_code == 200 and b"Conversation List" in page.content
    assert client.get("/api/someone-else/conversations").status_code == 403
