"""What every scenario shares: settings of the run, the bench database, tokens, servers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench import dataset
from bench.server import ROOT, Server

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/chat_bench_run"


@dataclass
class Context:
    """The settings of one bench run.

    Args:
        quick: smoke run (1 run of each figure, shorter loads).
        runs: repetitions of each timed figure.
        seconds: length of each timed load, seconds.
        warmup: untimed load before each timed series, seconds.
        database_url: the bench database (created when missing, never the app's own).
        workers: uvicorn workers of the server under test.
        work_dir: scratch files (request lists).
    """

    quick: bool
    runs: int
    seconds: float
    warmup: float
    database_url: str
    workers: int
    work_dir: Path
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def dsn(self) -> str:
        """``database_url`` as a libpq URL for psycopg."""
        parts = urlsplit(self.database_url)
        return urlunsplit(("postgresql", *parts[1:]))

    def server_env(self, **overrides: str) -> dict[str, str]:
        """The production environment of the server under test (``overrides`` win)."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_HTTPS": "0",
            "DJANGO_SECRET_KEY": self.secret,
            "BETTER_AUTH_SECRET": self.secret,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
            "DATABASE_URL": self.database_url,
            "CHAT_RATE_LIMIT": "",
            "AUTH_RATE_LIMIT": "",
            "ASSISTANT_BACKEND": "offline",
            "OFFLINE_ASSISTANT_CHUNK_DELAY": "0",
            "DJANGO_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1",
        }
        for name in ("DATABASE_CONN_MAX_AGE", "DATABASE_POOL", "DATABASE_POOL_MAX_SIZE", "REDIS_URL"):
            env.pop(name, None)
        env.update(overrides)
        return env

    def server(self, *, workers: int | None = None, **overrides: str) -> Server:
        return Server(env=self.server_env(**overrides), workers=workers or self.workers)


def ensure_database(database_url: str) -> None:
    """Create the bench database if it does not exist, and apply the migrations."""
    parts = urlsplit(database_url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(("postgresql", parts.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_DEBUG": "0", "DJANGO_HTTPS": "0"}
    env.setdefault("DJANGO_SECRET_KEY", "bench-migrate-only")
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)


def setup_django(ctx: Context) -> None:
    """Configure Django in the bench process like the server (to issue tokens, EXPLAIN, count queries)."""
    os.environ.update(ctx.server_env())
    import django

    django.setup()


def issue_tokens(ctx: Context) -> None:
    """One token per bench user, signed like the server expects (``conversations.auth.issue_token``)."""
    from conversations.auth import issue_token

    users = [dataset.chat_user(i) for i in range(dataset.CHAT_USERS)]
    users += [dataset.LONG_USER, dataset.MANY_USER, dataset.DETAIL_USER]
    for user in users:
        ctx.tokens[user], _ = issue_token(user_id=user, lifetime_seconds=6 * 3600)
