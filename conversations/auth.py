"""JWT verification and issuing (contract: Tokens; FR-012, FR-013).

Two kinds of token are accepted, as in the original system's auth service
(Better Auth):

* HS256, signed with the shared secret ``BETTER_AUTH_SECRET``;
* EdDSA / ES256 / RS256, checked against the JWKS at ``JWT_JWKS_URL`` when it
  is set. PyJWT's ``PyJWKClient`` caches the key set for ``JWT_JWKS_CACHE_SECONDS``
  (so a key withdrawn from the JWKS stops working within that time) and refetches
  on an unknown ``kid`` (key rotation), at most once per
  ``JWT_JWKS_REFRESH_COOLDOWN_SECONDS`` so made-up ``kid``s cannot make every
  request fetch the JWKS.

``exp`` is required, ``iss``/``aud`` are checked when configured, ``sub`` is the user
id, and ``alg: none`` or any algorithm outside these is refused. The same
``verify_token`` serves DRF (``JWTAuthentication``) and the WebSocket consumer.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from asgiref.sync import sync_to_async
from channels.auth import AuthMiddlewareStack
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts import approval

logger = logging.getLogger(__name__)

HS_ALGORITHMS = ["HS256"]
# A token is a few hundred bytes; anything far bigger is refused unread (RFC 7519
# sets no limit, this one keeps parsing cheap).
MAX_TOKEN_LENGTH = 8192


class InvalidToken(Exception):
    """The token is missing, malformed, badly signed, expired or lacks ``sub``."""


@dataclass(frozen=True)
class TokenUser:
    """The caller identified by a JWT: ``id`` is the token's ``sub`` claim.

    It quacks like ``request.user`` for DRF's permission checks; the person may not
    exist in Django's user table (the identity lives in the auth service).
    """

    id: str
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        return self.id

    def __str__(self) -> str:
        return self.id


_jwks_lock = threading.Lock()
_jwks_clients: dict[str, jwt.PyJWKClient] = {}


def _jwks_client(url: str) -> jwt.PyJWKClient:
    with _jwks_lock:
        client = _jwks_clients.get(url)
        if client is None:
            client = jwt.PyJWKClient(
                url,
                # No per-kid cache: it never expires, so a revoked key would stay
                # valid until restart. The key-set cache below has a lifespan.
                cache_keys=False,
                cache_jwk_set=True,
                lifespan=settings.JWT_JWKS_CACHE_SECONDS,
                timeout=settings.JWT_JWKS_TIMEOUT_SECONDS,
                cooldown_duration=settings.JWT_JWKS_REFRESH_COOLDOWN_SECONDS,
            )
            _jwks_clients[url] = client
        return client


def reset_jwks_cache() -> None:
    """Forget fetched JWKS keys (tests, or after a settings change)."""
    with _jwks_lock:
        _jwks_clients.clear()


def verify_token(token: str) -> dict[str, Any]:
    """Verify a compact JWS and return its claims.

    Args:
        token: the JWT as sent after ``Bearer ``.

    Returns:
        The verified claims; ``claims["sub"]`` is a non-empty string.

    Raises:
        InvalidToken: the token is malformed, uses a refused algorithm, is badly
            signed, expired, not yet valid, issued in the future, has the wrong
            ``iss``/``aud``, lacks ``sub``, or its JWKS cannot be fetched.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("token missing or too long")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"malformed token: {exc}") from None
    algorithm = header.get("alg")

    if algorithm in HS_ALGORITHMS:
        key: Any = settings.JWT_SECRET
        allowed = HS_ALGORITHMS
    elif settings.JWT_JWKS_URL and algorithm in settings.JWT_JWKS_ALGORITHMS:
        try:
            key = _jwks_client(settings.JWT_JWKS_URL).get_signing_key_from_jwt(token)
        except (jwt.PyJWKClientError, jwt.PyJWTError) as exc:
            raise InvalidToken(f"no usable JWKS key: {exc}") from None
        except Exception as exc:  # a JWKS that answers garbage must never become a 500
            # PyJWT lets some failures through (a body that is not JSON, a connection
            # reset mid-body): the token cannot be checked, so it is refused.
            logger.warning("JWKS at %s unusable: %s: %s", settings.JWT_JWKS_URL, exc.__class__.__name__, exc)
            raise InvalidToken(f"JWKS unusable: {exc.__class__.__name__}") from None
        # Only this key's own algorithm: an RSA key never verifies an HS256 token.
        allowed = [algorithm]
    else:
        raise InvalidToken(f"algorithm {algorithm!r} is not accepted")

    options = {"require": ["exp", "sub"], "verify_aud": bool(settings.JWT_AUDIENCE)}
    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=allowed,
            options=options,
            audience=settings.JWT_AUDIENCE or None,
            issuer=settings.JWT_ISSUER or None,
            leeway=settings.JWT_LEEWAY_SECONDS,
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from None
    except Exception as exc:
        raise InvalidToken(f"token could not be verified: {exc.__class__.__name__}") from None

    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip():
        raise InvalidToken("token has no subject")
    return claims


def issue_token(*, user_id: str, lifetime_seconds: int | None = None) -> tuple[str, dt.datetime]:
    """Sign an HS256 token whose ``sub`` is ``user_id``.

    Args:
        user_id: the subject; for a Django user, ``str(user.pk)`` so the page and the
            API share one identity.
        lifetime_seconds: validity in seconds; ``JWT_ACCESS_TOKEN_SECONDS`` by default.

    Returns:
        ``(token, expires_at)``.
    """
    now = timezone.now()
    expires_at = now + dt.timedelta(seconds=lifetime_seconds or settings.JWT_ACCESS_TOKEN_SECONDS)
    claims: dict[str, Any] = {"sub": user_id, "iat": int(now.timestamp()), "exp": int(expires_at.timestamp())}
    if settings.JWT_ISSUER:
        claims["iss"] = settings.JWT_ISSUER
    if settings.JWT_AUDIENCE:
        claims["aud"] = settings.JWT_AUDIENCE
    return jwt.encode(claims, settings.JWT_SECRET, algorithm="HS256"), expires_at


def user_id_of(user: Any) -> str:
    """The chat identity of an authenticated ``request.user``: the JWT subject or the Django user's pk."""
    return str(user.pk)


class JWTAuthentication(authentication.BaseAuthentication):
    """DRF authentication for ``Authorization: Bearer <jwt>`` (FR-012).

    No ``Authorization`` header: returns ``None`` so the session can authenticate
    (the browsable API). A Bearer header that fails verification: 401. A valid token
    whose subject is a Django user awaiting approval: 403 (``accounts.approval``).
    """

    keyword = "Bearer"

    def authenticate(self, request: Any) -> tuple[TokenUser, dict[str, Any]] | None:
        header = authentication.get_authorization_header(request)
        if not header:
            return None
        parts = header.split()
        if parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid or expired JWT token")
        try:
            token = parts[1].decode("ascii")
            claims = verify_token(token)
        except (UnicodeDecodeError, InvalidToken):
            raise exceptions.AuthenticationFailed("Invalid or expired JWT token") from None
        # A Django user whose account awaits approval: 403 (issue 16; no query once seen approved).
        approval.check_approved(claims["sub"])
        return TokenUser(id=claims["sub"], claims=claims), claims

    def authenticate_header(self, request: Any) -> str:
        return f'{self.keyword} realm="api"'


# --- WebSocket authentication (issue "Live replies") -------------------------------


def _websocket_token(scope: dict[str, Any]) -> str | None:
    """The JWT a WebSocket handshake carries: ``Authorization: Bearer`` or ``?token=``, else ``None``."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin1").partition(" ")
            if scheme.lower() == "bearer":
                return token.strip()
    values = parse_qs(scope.get("query_string", b"").decode("latin1")).get("token")
    return values[0] if values else None


class WebSocketTokenMiddleware(BaseMiddleware):
    """Authenticate a WebSocket by JWT when it sends one (FR-012, FR-013).

    Browsers use the Django session (``AuthMiddlewareStack`` around this); API
    clients send ``Authorization: Bearer <jwt>`` or, where headers cannot be set,
    ``?token=<jwt>``. A token that fails verification makes the user anonymous, so
    the consumer refuses the socket: it never falls back to the session.
    """

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        from django.contrib.auth.models import AnonymousUser  # needs the app registry

        token = _websocket_token(scope)
        if token is not None:
            try:
                # A JWKS fetch may block on the network: not in the event loop.
                claims = await sync_to_async(verify_token, thread_sensitive=False)(token)
            except InvalidToken:
                scope = dict(scope, user=AnonymousUser())
            else:
                scope = dict(scope, user=TokenUser(id=claims["sub"], claims=claims))
        return await super().__call__(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Refuse a WebSocket whose ``Origin`` is not one of ``ALLOWED_HOSTS`` (cross-site WebSocket hijacking).

    Browsers always send ``Origin``; a handshake without it comes from a program
    (an API client with a token), which no other site can drive, so it passes.
    """

    def valid_origin(self, parsed_origin: Any) -> bool:
        if parsed_origin is None:
            return True
        return super().valid_origin(parsed_origin)


def websocket_auth_stack(application: Any) -> Any:
    """``application`` behind the origin check, the session and the JWT: the WebSocket door's guard."""
    allowed_hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = ["localhost", "127.0.0.1", "[::1]"]
    return BrowserOriginValidator(AuthMiddlewareStack(WebSocketTokenMiddleware(application)), allowed_hosts)
