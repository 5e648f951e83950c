"""Production settings pass Django's deployment checks; bad settings stop the start-up.

Each case runs ``manage.py`` in a fresh process with a controlled environment, the
way a server starts (style.md, convention 6: a bad value fails at start-up with
``ImproperlyConfigured`` naming the variable).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
# Variables the suite sets (pytest.ini) or a developer may have: none leak into the child.
_SCRUBBED = (
    "DATABASE_URL",
    "DJANGO_HTTPS",
    "DJANGO_DEBUG",
    "DJANGO_SECRET_KEY",
    "DJANGO_ALLOWED_HOSTS",
    "BETTER_AUTH_SECRET",
    "CHAT_RATE_LIMIT",
    "AUTH_RATE_LIMIT",
    "REDIS_URL",
    "JWT_JWKS_URL",
    "JWT_JWKS_ALGORITHMS",
    "ASSISTANT_BACKEND",
)


def production_env(**overrides: str | None) -> dict[str, str]:
    """A production environment: debug off, a long random secret, one public host."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="chat.example.com",
        BETTER_AUTH_SECRET=secrets.token_urlsafe(40),
    )
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=120
    )


def test_the_deployment_checks_pass_with_production_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_settings_are_https_only_behind_a_proxy() -> None:
    code = (
        "from django.conf import settings as s;"
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_PROXY_SSL_HEADER, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS >= 31536000, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.DEBUG, s.X_FRAME_OPTIONS)"
    )
    result = manage("shell", "-c", code, env=production_env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].split() == [
        "True",
        "('HTTP_X_FORWARDED_PROTO',",
        "'https')",
        "True",
        "True",
        "True",
        "True",
        "False",
        "DENY",
    ]


def test_the_deployment_checks_fail_with_a_weak_secret_key() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(DJANGO_SECRET_KEY="short"))
    assert result.returncode != 0
    assert "security.W009" in result.stdout + result.stderr


def test_the_deployment_checks_fail_with_https_turned_off() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(DJANGO_HTTPS="0"))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "security.W008" in output and "security.W012" in output  # SSL redirect, secure session cookie


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("DJANGO_SECRET_KEY", None, "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_SECRET_KEY", "", "DJANGO_SECRET_KEY must be set"),
        ("DJANGO_DEBUG", "maybe", "DJANGO_DEBUG must be a boolean"),
        ("DJANGO_HTTPS", "sure", "DJANGO_HTTPS must be a boolean"),
        ("DJANGO_MAX_REQUEST_BYTES", "lots", "DJANGO_MAX_REQUEST_BYTES must be an integer"),
        ("DJANGO_MAX_REQUEST_BYTES", "10", "DJANGO_MAX_REQUEST_BYTES must be at least"),
        ("DATABASE_URL", "mysql://u:p@db/chat", "DATABASE_URL must be a postgres:// or sqlite:// URL"),
        ("DATABASE_URL", "nonsense", "DATABASE_URL"),
        ("JWT_LEEWAY_SECONDS", "3600", "JWT_LEEWAY_SECONDS must be at most 300"),
        ("JWT_JWKS_ALGORITHMS", "EdDSA,HS256", "JWT_JWKS_ALGORITHMS has unsupported algorithms: HS256"),
        ("JWT_JWKS_ALGORITHMS", "none", "JWT_JWKS_ALGORITHMS has unsupported algorithms: none"),
        ("JWT_JWKS_TIMEOUT_SECONDS", "soon", "JWT_JWKS_TIMEOUT_SECONDS must be a number"),
        ("CHAT_RATE_LIMIT", "lots", "CHAT_RATE_LIMIT must be a rate like 30/minute"),
        ("CHAT_RATE_LIMIT", "0/minute", "CHAT_RATE_LIMIT must be a rate like 30/minute"),
        ("AUTH_RATE_LIMIT", "10/fortnight", "AUTH_RATE_LIMIT must be a rate like 30/minute"),
        ("ASSISTANT_BACKEND", "gpt", "ASSISTANT_BACKEND must be one of"),
    ],
)
def test_a_bad_setting_stops_the_start_up_naming_the_variable(variable: str, value: str | None, message: str) -> None:
    result = manage("check", env=production_env(**{variable: value}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr, result.stderr[-2000:]


@pytest.mark.parametrize(("pool", "pooled"), [(None, True), ("1", True), ("0", False)])
def test_postgresql_uses_psycopgs_pool_unless_turned_off(pool: str | None, pooled: bool) -> None:
    """Issue 6: without the pool every request and chat step opens a connection (BENCHMARKS.md)."""
    env = production_env(DATABASE_URL="postgres://u@db.example.com:5432/chat", DATABASE_POOL=pool)
    script = "from django.conf import settings; print('pool' in settings.DATABASES['default']['OPTIONS'])"
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        cwd=PROJECT,
        env={**env, "DJANGO_SETTINGS_MODULE": "chatsite.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(pooled)
