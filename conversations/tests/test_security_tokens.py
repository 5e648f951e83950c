"""Who gets in: every way a token can be wrong answers 401 with the contract body.

Contract: Tokens, Errors (401/403); FR-012, FR-013, SC-006. Tokens are sent to a
real endpoint (``GET /api/{user_id}/conversations``); asymmetric keys come from a
real JWKS server on loopback (``jwks_server.JWKSServer``) holding Ed25519, P-256
and RSA keys made with ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from conversations.tests.jwks_server import JWKSServer, SigningKey, new_key

pytestmark = pytest.mark.django_db

UNAUTHORIZED = {"error": "Unauthorized", "detail": "Invalid or expired JWT token"}
FORBIDDEN = {"error": "Forbidden", "detail": "User ID in path does not match authenticated user"}


# --- helpers --------------------------------------------------------------------------


def claims_for(sub: Any, **overrides: Any) -> dict[str, Any]:
    """Valid claims for ``sub`` (five minutes left), with ``overrides`` applied; ``None`` drops a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + 300}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def hs256(claims: dict[str, Any], secret: str | bytes | None = None, **headers: Any) -> str:
    return jwt.encode(
        claims, secret if secret is not None else settings.JWT_SECRET, algorithm="HS256", headers=headers or None
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], *, hmac_key: bytes | None = None) -> str:
    """A compact JWS built by hand, signed with HMAC-SHA256 over ``hmac_key`` (or unsigned)."""
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"
    signature = b"" if hmac_key is None else hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def call(user_id: str, token: str | None, *, raw_header: str | None = None) -> Any:
    client = APIClient()
    if raw_header is not None:
        client.credentials(HTTP_AUTHORIZATION=raw_header)
    elif token is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get(f"/api/{user_id}/conversations")


def assert_unauthorized(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response.json() == UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signing_keys() -> dict[str, SigningKey]:
    """One key per algorithm the JWKS may publish, made once for the module."""
    return {alg: new_key(alg, kid=f"{alg.lower()}-1") for alg in ("EdDSA", "ES256", "RS256")}


@pytest.fixture
def jwks(signing_keys: dict[str, SigningKey]) -> Iterator[JWKSServer]:
    """A JWKS server publishing all three keys, configured as ``JWT_JWKS_URL``."""
    server = JWKSServer(keys=list(signing_keys.values())).start()
    try:
        with override_settings(JWT_JWKS_URL=server.url, JWT_JWKS_TIMEOUT_SECONDS=0.5):
            yield server
    finally:
        server.stop()


# --- HS256 (shared secret) --------------------------------------------------------------


def test_it_accepts_a_valid_hs256_token(owner_id: str) -> None:
    response = call(owner_id, hs256(claims_for(owner_id)))
    assert response.status_code == 200


def test_it_refuses_a_request_without_a_token(owner_id: str) -> None:
    assert_unauthorized(call(owner_id, None))


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer é.é.é",
        "Basic dXNlcjpwYXNz",
    ],
)
def test_it_refuses_a_malformed_authorization_header(owner_id: str, header: str) -> None:
    assert_unauthorized(call(owner_id, None, raw_header=header))


def test_it_refuses_alg_none(owner_id: str) -> None:
    for alg in ("none", "None", "NONE", ""):
        token = forge({"alg": alg, "typ": "JWT"}, claims_for(owner_id))
        assert_unauthorized(call(owner_id, token))
    # PyJWT's own unsigned encoding, too.
    assert_unauthorized(call(owner_id, jwt.encode(claims_for(owner_id), None, algorithm=None)))


def test_it_refuses_a_token_without_alg(owner_id: str) -> None:
    token = forge({"typ": "JWT"}, claims_for(owner_id), hmac_key=settings.JWT_SECRET.encode())
    assert_unauthorized(call(owner_id, token))


def test_it_refuses_an_hs256_token_signed_with_another_secret(owner_id: str) -> None:
    assert_unauthorized(call(owner_id, hs256(claims_for(owner_id), "a-different-secret-0123456789abcdef")))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_it_refuses_other_hmac_algorithms_even_with_the_right_secret(owner_id: str) -> None:
    for alg in ("HS384", "HS512"):
        token = jwt.encode(claims_for(owner_id), settings.JWT_SECRET, algorithm=alg)
        assert_unauthorized(call(owner_id, token))


def test_it_refuses_a_tampered_payload(owner_id: str, other_id: str) -> None:
    header, _payload, signature = hs256(claims_for(other_id)).split(".")
    tampered = f"{header}.{b64url(json.dumps(claims_for(owner_id)).encode())}.{signature}"
    assert_unauthorized(call(owner_id, tampered))


def test_it_refuses_a_tampered_signature(owner_id: str) -> None:
    header, payload, signature = hs256(claims_for(owner_id)).split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert_unauthorized(call(owner_id, f"{header}.{payload}.{flipped}"))


def test_it_refuses_an_expired_token(owner_id: str) -> None:
    now = int(time.time())
    assert_unauthorized(call(owner_id, hs256(claims_for(owner_id, iat=now - 600, exp=now - 1))))


def test_it_refuses_a_token_without_exp(owner_id: str) -> None:
    assert_unauthorized(call(owner_id, hs256(claims_for(owner_id, exp=None))))


def test_it_refuses_a_non_numeric_exp(owner_id: str) -> None:
    assert_unauthorized(call(owner_id, hs256(claims_for(owner_id, exp="tomorrow"))))


def test_it_refuses_a_token_not_valid_yet(owner_id: str) -> None:
    assert_unauthorized(call(owner_id, hs256(claims_for(owner_id, nbf=int(time.time()) + 120))))


def test_it_refuses_a_token_issued_in_the_future(owner_id: str) -> None:
    assert_unauthorized(call(owner_id, hs256(claims_for(owner_id, iat=int(time.time()) + 120))))


@pytest.mark.parametrize("sub", [None, "", "   ", 42, ["1"], {"id": "1"}, True])
def test_it_refuses_a_missing_empty_or_non_string_sub(owner_id: str, sub: Any) -> None:
    assert_unauthorized(call(owner_id, hs256(claims_for(sub))))


def test_it_forbids_a_sub_that_differs_from_the_path(owner_id: str, other_id: str) -> None:
    response = call(owner_id, hs256(claims_for(other_id)))
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_it_refuses_a_huge_token_without_verifying_it(owner_id: str) -> None:
    huge = hs256(claims_for(owner_id, padding="x" * 100_000))
    assert len(huge) > 100_000
    assert_unauthorized(call(owner_id, huge))


class TestIssuerAndAudienceWhenConfigured:
    @pytest.fixture(autouse=True)
    def _configured(self, settings: Any) -> None:
        settings.JWT_ISSUER = "https://auth.example.com"
        settings.JWT_AUDIENCE = "chat-api"

    def test_it_accepts_the_right_iss_and_aud(self, owner_id: str) -> None:
        token = hs256(claims_for(owner_id, iss="https://auth.example.com", aud="chat-api"))
        assert call(owner_id, token).status_code == 200

    def test_it_accepts_aud_as_a_list_containing_ours(self, owner_id: str) -> None:
        token = hs256(claims_for(owner_id, iss="https://auth.example.com", aud=["other", "chat-api"]))
        assert call(owner_id, token).status_code == 200

    @pytest.mark.parametrize(
        "iss, aud",
        [
            ("https://evil.example.com", "chat-api"),
            (None, "chat-api"),
            ("https://auth.example.com", "another-api"),
            ("https://auth.example.com", None),
            ("https://auth.example.com", ["other"]),
            ("https://auth.example.com", ""),
        ],
    )
    def test_it_refuses_a_wrong_or_missing_iss_or_aud(self, owner_id: str, iss: Any, aud: Any) -> None:
        assert_unauthorized(call(owner_id, hs256(claims_for(owner_id, iss=iss, aud=aud))))


# --- Asymmetric keys (JWKS) ---------------------------------------------------------------


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_it_accepts_a_token_signed_by_a_jwks_key(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey], alg: str
) -> None:
    response = call(owner_id, signing_keys[alg].sign(claims_for(owner_id)))
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_it_refuses_asymmetric_tokens_when_only_hs256_is_configured(
    owner_id: str, signing_keys: dict[str, SigningKey], alg: str
) -> None:
    server = JWKSServer(keys=list(signing_keys.values())).start()
    try:
        assert not settings.JWT_JWKS_URL
        assert_unauthorized(call(owner_id, signing_keys[alg].sign(claims_for(owner_id))))
        assert server.requests == 0
    finally:
        server.stop()


def test_it_refuses_hs256_signed_with_the_jwks_public_key(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    """Algorithm confusion: the RSA public key (PEM or JWK text) used as an HMAC secret."""
    rsa_key = signing_keys["RS256"]
    pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk_text = json.dumps(rsa_key.public_jwk).encode()
    for secret in (pem, jwk_text):
        for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}):
            assert_unauthorized(call(owner_id, forge(header, claims_for(owner_id), hmac_key=secret)))
        # The header claims RS256 but the signature is an HMAC over the public key.
        rs_header = {"alg": "RS256", "typ": "JWT", "kid": rsa_key.kid}
        assert_unauthorized(call(owner_id, forge(rs_header, claims_for(owner_id), hmac_key=secret)))


def test_it_refuses_a_token_whose_alg_differs_from_its_key(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    """An ES256 signature presented under the RSA key's kid (or as RS256) is refused."""
    es = signing_keys["ES256"]
    token = jwt.encode(claims_for(owner_id), es.private, algorithm="ES256", headers={"kid": signing_keys["RS256"].kid})
    assert_unauthorized(call(owner_id, token))


def test_it_refuses_a_jwks_algorithm_that_is_not_enabled(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    with override_settings(JWT_JWKS_ALGORITHMS=["EdDSA"]):
        assert call(owner_id, signing_keys["EdDSA"].sign(claims_for(owner_id))).status_code == 200
        assert_unauthorized(call(owner_id, signing_keys["RS256"].sign(claims_for(owner_id))))


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
def test_it_refuses_a_token_signed_by_a_key_not_in_the_jwks(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey], alg: str
) -> None:
    """Wrong key: same kid and algorithm as a published key, but a different private key."""
    impostor = new_key(alg, kid=signing_keys[alg].kid)
    assert_unauthorized(call(owner_id, impostor.sign(claims_for(owner_id))))


def test_it_refuses_expired_and_future_jwks_tokens(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    now = int(time.time())
    key = signing_keys["EdDSA"]
    assert_unauthorized(call(owner_id, key.sign(claims_for(owner_id, exp=now - 1))))
    assert_unauthorized(call(owner_id, key.sign(claims_for(owner_id, nbf=now + 120))))
    assert_unauthorized(call(owner_id, key.sign(claims_for(owner_id, iat=now + 120))))
    assert_unauthorized(call(owner_id, key.sign(claims_for(""))))


def test_it_forbids_a_jwks_token_for_another_user(
    owner_id: str, other_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    response = call(owner_id, signing_keys["ES256"].sign(claims_for(other_id)))
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


def test_it_refuses_a_token_without_kid_or_with_a_non_string_kid(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    key = signing_keys["EdDSA"]
    no_kid = jwt.encode(claims_for(owner_id), key.private, algorithm="EdDSA")
    assert_unauthorized(call(owner_id, no_kid))
    header = {"alg": "EdDSA", "typ": "JWT", "kid": 12}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims_for(owner_id)).encode())}"
    signature = b64url(key.private.sign(signing_input.encode()))
    assert_unauthorized(call(owner_id, f"{signing_input}.{signature}"))


def test_it_refuses_an_unknown_critical_header(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    token = signing_keys["EdDSA"].sign(claims_for(owner_id), headers={"crit": ["exp"], "exp": 1})
    assert_unauthorized(call(owner_id, token))


def test_it_fetches_the_jwks_once_and_reuses_it(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    for key in signing_keys.values():
        assert call(owner_id, key.sign(claims_for(owner_id))).status_code == 200
    assert jwks.requests == 1


def test_it_refetches_the_jwks_for_a_rotated_key(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    """Key rotation: a token with an unknown ``kid`` makes the client fetch the JWKS again."""
    with override_settings(JWT_JWKS_REFRESH_COOLDOWN_SECONDS=0):
        assert call(owner_id, signing_keys["EdDSA"].sign(claims_for(owner_id))).status_code == 200
        rotated = new_key("EdDSA", kid="eddsa-2")
        jwks.keys = [rotated]
        assert call(owner_id, rotated.sign(claims_for(owner_id))).status_code == 200
        assert jwks.requests == 2


def test_it_does_not_refetch_the_jwks_for_every_unknown_kid(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    """A flood of made-up ``kid``s costs at most one refetch per cooldown, not one per request."""
    assert call(owner_id, signing_keys["EdDSA"].sign(claims_for(owner_id))).status_code == 200
    for i in range(20):
        stranger = new_key("EdDSA", kid=f"made-up-{i}")
        assert_unauthorized(call(owner_id, stranger.sign(claims_for(owner_id))))
    assert jwks.requests == 1


def test_it_stops_accepting_a_key_removed_from_the_jwks(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    """Revocation: once the cached JWKS expires, a withdrawn key no longer verifies anything."""
    with override_settings(JWT_JWKS_CACHE_SECONDS=0.2):
        old = signing_keys["RS256"]
        assert call(owner_id, old.sign(claims_for(owner_id))).status_code == 200
        jwks.keys = [signing_keys["EdDSA"]]
        time.sleep(0.3)
        assert_unauthorized(call(owner_id, old.sign(claims_for(owner_id))))
        assert call(owner_id, signing_keys["EdDSA"].sign(claims_for(owner_id))).status_code == 200


@pytest.mark.parametrize("mode", ["error", "garbage", "html", "not-object", "bad-keys", "hang", "reset"])
def test_it_answers_401_not_500_when_the_jwks_misbehaves(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey], mode: str
) -> None:
    jwks.mode = mode
    jwks.hang_seconds = 1.5
    started = time.monotonic()
    assert_unauthorized(call(owner_id, signing_keys["ES256"].sign(claims_for(owner_id))))
    assert time.monotonic() - started < 1.5  # the fetch gives up after JWT_JWKS_TIMEOUT_SECONDS
    # HS256 tokens do not depend on the JWKS and keep working.
    assert call(owner_id, hs256(claims_for(owner_id))).status_code == 200


def test_it_answers_401_when_the_jwks_server_is_down(owner_id: str, signing_keys: dict[str, SigningKey]) -> None:
    server = JWKSServer(keys=list(signing_keys.values())).start()
    url = server.url
    server.stop()  # nothing listens on that port any more
    with override_settings(JWT_JWKS_URL=url, JWT_JWKS_TIMEOUT_SECONDS=0.5):
        assert_unauthorized(call(owner_id, signing_keys["EdDSA"].sign(claims_for(owner_id))))


def test_it_recovers_once_the_jwks_answers_again(
    owner_id: str, jwks: JWKSServer, signing_keys: dict[str, SigningKey]
) -> None:
    token = signing_keys["RS256"].sign(claims_for(owner_id))
    jwks.mode = "error"
    assert_unauthorized(call(owner_id, token))
    jwks.mode = "ok"
    assert call(owner_id, token).status_code == 200
