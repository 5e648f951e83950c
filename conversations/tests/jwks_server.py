"""A real JWKS endpoint on loopback for token tests (contract: Tokens).

``JWKSServer`` serves ``/jwks`` from ``http.server`` in a thread, the way Better
Auth's JWT plugin serves ``/api/auth/jwks``. Its ``mode`` decides what it answers,
so tests can rotate keys, or make the endpoint fail, garble or hang.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm


@dataclass
class SigningKey:
    """A private key and the public JWK the server publishes for it."""

    kid: str
    alg: str
    private: Any

    @property
    def public_jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        if self.alg == "EdDSA":
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        elif self.alg.startswith("ES"):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(self, claims: dict[str, Any], *, headers: dict[str, Any] | None = None) -> str:
        """A compact JWS of ``claims`` signed with this key, ``kid`` in the header."""
        return jwt.encode(claims, self.private, algorithm=self.alg, headers={"kid": self.kid, **(headers or {})})


def new_key(alg: str, kid: str) -> SigningKey:
    """A fresh key pair for ``alg`` (``EdDSA``, ``ES256`` or ``RS256``)."""
    if alg == "EdDSA":
        private: Any = ed25519.Ed25519PrivateKey.generate()
    elif alg == "ES256":
        private = ec.generate_private_key(ec.SECP256R1())
    elif alg == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        raise ValueError(alg)
    return SigningKey(kid=kid, alg=alg, private=private)


@dataclass
class JWKSServer:
    """A JWKS endpoint on ``127.0.0.1``; ``url`` is ready once ``start()`` returns.

    ``mode``: ``"ok"`` (the keys), ``"error"`` (HTTP 500), ``"garbage"`` (200, not JSON),
    ``"html"`` (200, an HTML page), ``"not-object"`` (200, a JSON list), ``"bad-keys"``
    (200, keys that are not keys), ``"hang"`` (answers after ``hang_seconds``),
    ``"reset"`` (closes the connection mid-body).
    """

    keys: list[SigningKey] = field(default_factory=list)
    mode: str = "ok"
    hang_seconds: float = 2.0
    requests: int = 0
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/jwks"

    def start(self) -> JWKSServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet test output
                pass

            def do_GET(self) -> None:
                owner.requests += 1
                mode = owner.mode
                if mode == "error":
                    self._send(500, b'{"error": "boom"}', "application/json")
                elif mode == "garbage":
                    self._send(200, b"\x00\xffnot json at all{{{", "application/json")
                elif mode == "html":
                    self._send(200, b"<html><body>Bad gateway</body></html>", "text/html")
                elif mode == "not-object":
                    self._send(200, b"[1, 2, 3]", "application/json")
                elif mode == "bad-keys":
                    body = {"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "!!", "kid": "k"}, "nope", 7]}
                    self._send(200, json.dumps(body).encode(), "application/json")
                elif mode == "hang":
                    time.sleep(owner.hang_seconds)
                    self._send(200, self._jwks(), "application/json")
                elif mode == "reset":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    self.wfile.write(b'{"keys": [')
                    self.wfile.flush()
                    self.close_connection = True
                else:
                    self._send(200, self._jwks(), "application/json")

            def _jwks(self) -> bytes:
                return json.dumps({"keys": [k.public_jwk for k in owner.keys]}).encode()

            def _send(self, status: int, body: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
