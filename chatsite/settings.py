"""Settings for the chat, read from the environment.

Every variable is listed in the README's table. With nothing set, the project runs
on a bare machine: SQLite, the in-memory channel layer and the built-in offline
assistant. A bad value fails at start-up with ``ImproperlyConfigured`` naming the
variable.
"""

from __future__ import annotations

import re
from pathlib import Path

import dj_database_url
import dj_email_url
from django.core.exceptions import ImproperlyConfigured

from chatsite.env import env_bool, env_choice, env_float, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core -------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off "
            "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(50))')."
        )
    # A development key only: debug mode never runs in production.
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",  # makes `runserver` an ASGI server (Channels' recommended dev server)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI assets shipped in a package: no CDN
    "django_htmx",
    "channels",
    "conversations",
    "tasks",
    # Sign-up, sign-in, password reset (issue 16): django-allauth, with the approval rules in ``accounts``.
    # Single sign-on with OpenID Connect: installed always (its tables too), offered only with OIDC_SERVER_URL.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chatsite.middleware.AsyncWhiteNoiseMiddleware",  # WhiteNoise, async-capable
    "chatsite.middleware.DatabaseUnavailableMiddleware",  # database down: 503, not 500
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's LocaleMiddleware, inline, except under /api/: the page follows Accept-Language and
    # the language cookie; the API's bodies keep the contract's English (chatsite/middleware.py).
    "chatsite.middleware.PageLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",  # async-capable
]

# Calls to /api/ with "Authorization: Bearer" use this chain instead (chatsite/handlers.py):
# the JWT is their only credential, so no session, CSRF, auth, messages or htmx; Django's
# own security, common and clickjacking middleware, run without thread hops (issue 6).
API_MIDDLEWARE = [
    "chatsite.middleware.InlineSecurityMiddleware",
    "chatsite.middleware.InlineCommonMiddleware",
    "chatsite.middleware.InlineXFrameOptionsMiddleware",
]

ROOT_URLCONF = "chatsite.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",  # LANGUAGE_CODE, LANGUAGES (<html lang>, the switcher)
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "chatsite.wsgi.application"
ASGI_APPLICATION = "chatsite.asgi.application"

# --- Serving process -----------------------------------------------------------
# The cyclic garbage collector's young-generation threshold in each ASGI worker
# (chatsite/runtime.py): with hundreds of chats in flight, Python's default (700) made
# collections a third of a worker's CPU (BENCHMARKS.md). 0 leaves Python's default.
GC_YOUNG_THRESHOLD = env_int("GC_YOUNG_THRESHOLD", 10_000, minimum=0)

# --- Database ---------------------------------------------------------------
# DATABASE_URL selects PostgreSQL (psycopg 3), e.g. postgres://user:pass@host:5432/db;
# without it a SQLite file in the project is used.

DATABASE_URL = env_str("DATABASE_URL")
_conn_max_age = env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
if DATABASE_URL:
    try:
        _default_db = dj_database_url.parse(DATABASE_URL, conn_max_age=_conn_max_age, conn_health_checks=True)
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from None
    if _default_db["ENGINE"] not in ("django.db.backends.postgresql", "django.db.backends.sqlite3"):
        raise ImproperlyConfigured("DATABASE_URL must be a postgres:// or sqlite:// URL.")
    if _default_db["ENGINE"] == "django.db.backends.postgresql" and env_bool("DATABASE_POOL", True):
        # psycopg's own pool (Django 5.1+): the right kind of reuse under ASGI, on by default
        # (DATABASE_POOL=0 turns it off). Without it every request, and every database step of
        # a chat, opens a new connection: about half the chat throughput (BENCHMARKS.md).
        _default_db["CONN_MAX_AGE"] = 0
        _default_db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
            # Seconds a request waits for a connection (all busy, or the server down)
            # before it is answered 503 "Service unavailable" (psycopg's default: 30).
            "timeout": env_float("DATABASE_POOL_TIMEOUT", 10.0, minimum=0.1, maximum=300.0),
            # Seconds the pool keeps retrying to open one connection, its pause doubling from 1 s,
            # before it gives up and the next request starts afresh (psycopg's default: 300).
            # With 300 the pauses grew with the outage (1, 2, 4, 8, 16 s...): after PostgreSQL was
            # unreachable for 17 s, a worker stayed without connections, answering 503, for 14 s
            # more (issue 12: conversations/tests/test_faults_sockets_stay_up.py).
            "reconnect_timeout": 5.0,
        }
else:
    _default_db = {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / "db.sqlite3",
        "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
    }
DATABASES = {"default": _default_db}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Passwords, language, static --------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The page speaks English and French (docs/page.md, "Languages"): the browser's Accept-Language
# chooses, the switcher in Settings overrides it (the language cookie). The API stays English.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The switcher's choice (Django's set_language at /i18n/setlang/) is kept a year, like any preference.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/chat"
LOGOUT_REDIRECT_URL = "login"
# Django's own backend first: the admin's sign-in and sessions made before allauth keep working;
# allauth's adds sign-in by e-mail address (accounts/, docs/accounts.md).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# A refused form post on the page almost always means the session or its cookies are
# gone: say so with a link to sign in, instead of Django's technical 403 (FR-014a).
CSRF_FAILURE_VIEW = "conversations.views.csrf_failure"

# Requests larger than this are refused before their body is parsed (bytes).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_REQUEST_BYTES", 64 * 1024, minimum=1024)
# Seconds a request's whole body may take to arrive after its headers before it is
# answered 408 and its connection closed, without Django ever seeing it (chatsite/limits.py).
REQUEST_BODY_TIMEOUT_SECONDS = env_int("DJANGO_REQUEST_BODY_TIMEOUT_SECONDS", 30, minimum=1)
# The largest conversations file ``POST /api/{user_id}/import`` and the settings page's Import take
# (bytes; issue 15). Their two paths only are let past DJANGO_MAX_REQUEST_BYTES, up to this
# (chatsite/limits.py); docs/export.md.
IMPORT_MAX_BYTES = env_int("IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)

# --- HTTPS ------------------------------------------------------------------
# On by default whenever debug is off; DJANGO_HTTPS=0 for plain-HTTP use such as a
# local test server behind no proxy.

HTTPS = env_bool("DJANGO_HTTPS", not DEBUG)
if HTTPS:
    SECURE_SSL_REDIRECT = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# --- REST framework and OpenAPI ---------------------------------------------

REST_FRAMEWORK = {
    # JWT first, so an unauthenticated API call answers 401 with WWW-Authenticate.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "conversations.auth.JWTAuthentication",
        # DRF's session authentication that refuses accounts awaiting approval (issue 16).
        "accounts.drf.ApprovedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "conversations.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.ScopedRateThrottle"],
    # Per user (per address for the token endpoint), e.g. "30/minute"; empty turns a limit off.
    "DEFAULT_THROTTLE_RATES": {
        "chat": env_rate("CHAT_RATE_LIMIT", "30/minute"),
        "auth": env_rate("AUTH_RATE_LIMIT", "10/minute"),
        # Imports hold a file of up to IMPORT_MAX_BYTES and one long transaction each (issue 15).
        "import": env_rate("IMPORT_RATE_LIMIT", "10/hour"),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Chat API",
    "DESCRIPTION": "Conversations with an AI assistant. See shared/contract.md for the requirements (FR/SC ids).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Tokens (contract: Tokens) -----------------------------------------------
# HS256 tokens are signed with BETTER_AUTH_SECRET (shared with the auth service);
# without it the Django secret key signs the tokens /api/auth/token issues.

JWT_SECRET = env_str("BETTER_AUTH_SECRET") or SECRET_KEY
JWT_JWKS_URL = env_str("JWT_JWKS_URL")
JWT_JWKS_ALGORITHMS = env_list("JWT_JWKS_ALGORITHMS", ["EdDSA", "ES256", "RS256"])
_unknown_algorithms = set(JWT_JWKS_ALGORITHMS) - {"EdDSA", "ES256", "ES384", "RS256", "RS384", "RS512", "PS256"}
if _unknown_algorithms:
    raise ImproperlyConfigured(
        f"JWT_JWKS_ALGORITHMS has unsupported algorithms: {', '.join(sorted(_unknown_algorithms))}."
    )
JWT_ISSUER = env_str("JWT_ISSUER")
JWT_AUDIENCE = env_str("JWT_AUDIENCE")
JWT_LEEWAY_SECONDS = env_int("JWT_LEEWAY_SECONDS", 0, minimum=0, maximum=300)
JWT_ACCESS_TOKEN_SECONDS = env_int("JWT_ACCESS_TOKEN_SECONDS", 3600, minimum=60)
JWT_JWKS_CACHE_SECONDS = env_int("JWT_JWKS_CACHE_SECONDS", 300, minimum=1)
JWT_JWKS_TIMEOUT_SECONDS = env_float("JWT_JWKS_TIMEOUT_SECONDS", 3.0, minimum=0.1)
# An unknown kid refetches the JWKS at most once per this many seconds (stops kid flooding).
JWT_JWKS_REFRESH_COOLDOWN_SECONDS = env_float("JWT_JWKS_REFRESH_COOLDOWN_SECONDS", 30.0, minimum=0.0)

# --- Assistant ----------------------------------------------------------------

ASSISTANT_BACKEND = env_choice("ASSISTANT_BACKEND", "", ("", "offline", "openai"))
# Seconds between the offline assistant's chunks (0: as fast as possible).
OFFLINE_ASSISTANT_CHUNK_DELAY = env_float("OFFLINE_ASSISTANT_CHUNK_DELAY", 0.0, minimum=0.0, maximum=5.0)
# What the model is shown: the newest messages within both budgets, oldest dropped first.
ASSISTANT_HISTORY_MAX_MESSAGES = env_int("ASSISTANT_HISTORY_MAX_MESSAGES", 50, minimum=1)
ASSISTANT_HISTORY_MAX_CHARS = env_int("ASSISTANT_HISTORY_MAX_CHARS", 24000, minimum=100)
# The system prompt heads every request and is never dropped by the budget above
# (empty: no system message).
ASSISTANT_SYSTEM_PROMPT = env_str(
    "ASSISTANT_SYSTEM_PROMPT",
    "You are a helpful assistant. Answer clearly and concisely, in the language the user writes in.",
).strip()
# Unset: the model's own default (some models accept no other value).
ASSISTANT_TEMPERATURE = (
    env_float("ASSISTANT_TEMPERATURE", 1.0, minimum=0.0, maximum=2.0)
    if env_str("ASSISTANT_TEMPERATURE").strip()
    else None
)
# 0: no limit sent (the server's default).
ASSISTANT_MAX_OUTPUT_TOKENS = env_int("ASSISTANT_MAX_OUTPUT_TOKENS", 1024, minimum=0)
# Deadlines, in seconds. They only cut a model that is failing: one that starts
# answering within the first and finishes within the total is never slowed, so
# SC-007 (95 % under 3 s) holds wherever the model itself answers in time.
ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS = env_float(
    "ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS", 15.0, minimum=0.1, maximum=600.0
)
ASSISTANT_TIMEOUT_SECONDS = env_float("ASSISTANT_TIMEOUT_SECONDS", 60.0, minimum=0.1, maximum=3600.0)
if ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS > ASSISTANT_TIMEOUT_SECONDS:
    raise ImproperlyConfigured("ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS must not exceed ASSISTANT_TIMEOUT_SECONDS.")
# Retries of a failed request before the first token (429, 5xx, connection refused);
# only when the wait (Retry-After or a short backoff) fits the first-token deadline.
ASSISTANT_MAX_RETRIES = env_int("ASSISTANT_MAX_RETRIES", 1, minimum=0, maximum=5)
# The task tools (issue 13): with a model, each turn runs an agent of the OpenAI Agents SDK
# that may call them: ASSISTANT_MAX_TOOL_ROUNDS rounds of tool calls, so at most one more
# model request per turn (the answer). ASSISTANT_TOOLS=0 sends plain chat requests instead (a model that cannot call tools,
# such as some small Ollama models, answers those with an error).
ASSISTANT_TOOLS = env_bool("ASSISTANT_TOOLS", True)
# Which tools a turn gets: a class or factory taking user_id, run_sync, record and done
# (conversations.assistant.base.Toolbox). The chat app itself knows no tool.
ASSISTANT_TOOLBOX = "tasks.tools.Toolbox"
ASSISTANT_MAX_TOOL_ROUNDS = env_int("ASSISTANT_MAX_TOOL_ROUNDS", 5, minimum=1, maximum=20)
ASSISTANT_TOOLS_PROMPT = env_str(
    "ASSISTANT_TOOLS_PROMPT",
    "You can manage the user's own task list with tools: add_task, list_tasks, complete_task, "
    'delete_task and update_task. Tasks are named by number ("task 3" is task_id 3). When the user '
    "asks to add, show, complete, delete or change tasks, call the tool, then confirm briefly what "
    "you did. If a task is not found, say so and offer to list the tasks. To act on a task named by "
    "words rather than by number, list the tasks first to find its number. Never invent task "
    "numbers or results.",
).strip()
# The OpenAI-compatible backend (chosen when either of the first two is set).
OPENAI_API_KEY = env_str("OPENAI_API_KEY").strip()
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL").strip()
OPENAI_MODEL = env_str("OPENAI_MODEL", "gpt-4o-mini").strip() or "gpt-4o-mini"
if ASSISTANT_BACKEND == "openai" and not (OPENAI_API_KEY or OPENAI_BASE_URL):
    raise ImproperlyConfigured(
        "ASSISTANT_BACKEND=openai needs OPENAI_API_KEY (OpenAI) or OPENAI_BASE_URL (a compatible server)."
    )
# Models and titles (issue 14; conversations/catalog.py, docs/assistant.md). The models people
# may choose are those the model server lists (GET /v1/models, remembered this many seconds),
# narrowed to ASSISTANT_MODELS when set (comma-separated ids); OPENAI_MODEL is always offered.
ASSISTANT_MODELS = env_list("ASSISTANT_MODELS", [])
ASSISTANT_MODELS_CACHE_SECONDS = env_int("ASSISTANT_MODELS_CACHE_SECONDS", 300, minimum=0)
# After a conversation's first reply, the model is asked for a short title (never delaying the
# reply); off, or offline, or when that request fails, the title is the first message's start.
ASSISTANT_AUTO_TITLES = env_bool("ASSISTANT_AUTO_TITLES", True)
ASSISTANT_TITLE_TIMEOUT_SECONDS = env_float("ASSISTANT_TITLE_TIMEOUT_SECONDS", 20.0, minimum=0.1, maximum=600.0)

# --- Accounts: sign-up, sign-in, password reset (issue 16; docs/accounts.md) --------
# django-allauth serves /accounts/; ``accounts`` holds who may sign up and the approval of new accounts.

# closed: only an administrator creates accounts; approval: anyone may sign up, and a staff member
# approves the account in the admin before it may use the chat; open: anyone may sign up and chat.
SIGNUP_MODE = env_choice("SIGNUP_MODE", "closed", ("closed", "approval", "open"))

# Mail (password reset, address confirmation): EMAIL_URL, e.g. smtp://user:pass@mail.example.com:587/?tls=True
# or smtps://...:465 (dj-email-url). Unset: the console in debug, else Django's default (SMTP on localhost:25).
EMAIL_URL = env_str("EMAIL_URL").strip()
if EMAIL_URL:
    try:
        _email = dj_email_url.parse(EMAIL_URL)
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(f"EMAIL_URL is not a valid mail server URL: {exc}") from None
    if "EMAIL_BACKEND" not in _email:
        raise ImproperlyConfigured(
            "EMAIL_URL must start with smtp://, smtps://, submission://, console://, file:// or memory://."
        )
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"] or "localhost"
    EMAIL_PORT = _email["EMAIL_PORT"] or (465 if _email["EMAIL_USE_SSL"] else 25)
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"] or ""
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"] or ""
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
    EMAIL_FILE_PATH = _email["EMAIL_FILE_PATH"]
elif DEBUG:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
# A mail server that hangs must not hold a request for ever (Django's default: no timeout).
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost").strip() or "webmaster@localhost"
SERVER_EMAIL = DEFAULT_FROM_EMAIL

ACCOUNT_ADAPTER = "accounts.adapters.AccountAdapter"
ACCOUNT_FORMS = {"login": "accounts.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
# An address given at sign-up gets a confirmation mail; sign-in never waits for it.
ACCOUNT_EMAIL_VERIFICATION = "optional"
# Sessions last SESSION_COOKIE_AGE, as with Django's own login before (no "Remember me" box).
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if HTTPS else "http"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Chat] "
# allauth's rate limits (sign-in attempts, sign-ups, reset mails per address) follow AUTH_RATE_LIMIT:
# on with it (allauth's own figures), off when it is empty (the test suite signs in many times).
ACCOUNT_RATE_LIMITS = {} if REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"] else False

# Single sign-on with OpenID Connect (docs/accounts.md, "Single sign-on"): Keycloak, Authentik, Google or any
# provider, through allauth's openid_connect provider, configured here only (no SocialApp rows in the admin).
# Without OIDC_SERVER_URL there is no button and nothing changes. A first sign-in makes an account as a
# sign-up does (SIGNUP_MODE); the redirect URI to register at the provider is
# https://<host>/accounts/oidc/<OIDC_PROVIDER_ID>/login/callback/.
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL").strip().rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID").strip()
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET").strip()
# Part of the redirect URI and the key of every link between a person and the provider: choose it once.
OIDC_PROVIDER_ID = env_str("OIDC_PROVIDER_ID", "sso").strip() or "sso"
# The provider's name on allauth's pages (e.g. "Keycloak"); the button's text (empty: "Sign in with single
# sign-on", translated).
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "Single sign-on").strip() or "Single sign-on"
OIDC_BUTTON_LABEL = env_str("OIDC_BUTTON_LABEL").strip()
# A first sign-in whose address the provider says is verified (email_verified) signs in to the account of this
# site with that address, and links it (accounts.adapters.SocialAccountAdapter says which accounts qualify).
OIDC_EMAIL_AUTHENTICATION = env_bool("OIDC_EMAIL_AUTHENTICATION", True)
# How the client authenticates at the token endpoint; empty: client_secret_post when the provider offers it.
OIDC_TOKEN_AUTH_METHOD = env_choice("OIDC_TOKEN_AUTH_METHOD", "", ("", "client_secret_post", "client_secret_basic"))
if OIDC_SERVER_URL:
    if not OIDC_SERVER_URL.startswith(("https://", "http://")):
        raise ImproperlyConfigured("OIDC_SERVER_URL must be the provider's https:// issuer URL.")
    if not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured(
            "OIDC_SERVER_URL needs OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (the provider's client)."
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", OIDC_PROVIDER_ID):
        raise ImproperlyConfigured(
            "OIDC_PROVIDER_ID must be 1-40 lower-case letters, digits, '-' or '_' (it is part of the redirect URI)."
        )
_oidc_settings: dict[str, object] = {
    "server_url": OIDC_SERVER_URL,
    "button_label": OIDC_BUTTON_LABEL,
    "oauth_pkce_enabled": True,
    "email_authentication": OIDC_EMAIL_AUTHENTICATION,
}
if OIDC_TOKEN_AUTH_METHOD:
    _oidc_settings["token_auth_method"] = OIDC_TOKEN_AUTH_METHOD
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {
        "APPS": [
            {
                "provider_id": OIDC_PROVIDER_ID,
                "name": OIDC_PROVIDER_NAME,
                "client_id": OIDC_CLIENT_ID,
                "secret": OIDC_CLIENT_SECRET,
                "settings": _oidc_settings,
            }
        ]
        if OIDC_SERVER_URL
        else [],
    }
}
SOCIALACCOUNT_ADAPTER = "accounts.adapters.SocialAccountAdapter"
# Linked once by a verified address, the next sign-ins find the account by the provider's subject (sub).
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True

# --- Channels -----------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
# Messages a socket may have waiting before the layer drops more (a streaming reply
# sends one per delta; a client that misses one asks for a snapshot). Messages
# expire after 60 s, the layers' default.
_CHANNEL_CAPACITY = env_int("CHANNEL_LAYER_CAPACITY", 1000, minimum=100)
# channels-redis waits for a socket's next message with a blocking read of up to 5 s
# (RedisChannelLayer.brpop_timeout). redis-py's default socket_timeout is also 5 s, so an
# idle socket's read timed out ("Timeout reading") and killed its consumer: idle sockets
# dropped after 5-10 s (issue 12). The read timeout must be longer than the blocking read.
CHANNEL_LAYER_BLOCKING_READ_SECONDS = 5
REDIS_LAYER_SOCKET_TIMEOUT_SECONDS = CHANNEL_LAYER_BLOCKING_READ_SECONDS + 10
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": REDIS_LAYER_SOCKET_TIMEOUT_SECONDS,
                        "socket_connect_timeout": 2,
                        # A connection a firewall or a Redis restart cut silently is found out.
                        "socket_keepalive": True,
                        "health_check_interval": 30,
                    }
                ],
                "capacity": _CHANNEL_CAPACITY,
            },
        },
    }
else:
    # One process only: several workers need REDIS_URL to share events and stops.
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": _CHANNEL_CAPACITY}}
    }

# Live replies (conversations/live.py; docs/live.md). A generation that runs longer
# than LIVE_REPLY_MAX_SECONDS is ended as failed, and any reply left pending or
# streaming longer than that is closed as failed when next seen. The process running
# a generation proves it is alive every LIVE_HEARTBEAT_SECONDS (in the cache: Redis
# when REDIS_URL is set); a reply whose last beat is three beats old is closed as
# failed when next seen (its process died).
LIVE_REPLY_MAX_SECONDS = env_int("LIVE_REPLY_MAX_SECONDS", 600, minimum=10)
LIVE_HEARTBEAT_SECONDS = env_float("LIVE_HEARTBEAT_SECONDS", 5.0, minimum=0.1, maximum=60.0)
# Each worker closes stale replies (a dead process's) every LIVE_SWEEP_SECONDS on its own,
# whether or not anyone reads the conversation (conversations/sweeper.py; issue 12).
# 0 turns the periodic sweep off (the test suite's in-process servers; never in production).
LIVE_SWEEP_SECONDS = env_float("LIVE_SWEEP_SECONDS", 5.0, minimum=0.0, maximum=300.0)
# Idempotency keys (Idempotency-Key, a socket send's client_id) are kept this long (at least a day).
IDEMPOTENCY_KEY_SECONDS = env_int("IDEMPOTENCY_KEY_SECONDS", 86400, minimum=86400)
# The stale rule closes replies older than LIVE_REPLY_MAX_SECONDS: no answer may take that long.
if ASSISTANT_TIMEOUT_SECONDS >= LIVE_REPLY_MAX_SECONDS:
    raise ImproperlyConfigured("ASSISTANT_TIMEOUT_SECONDS must be shorter than LIVE_REPLY_MAX_SECONDS.")

# --- Cache (throttling counters) ---------------------------------------------
# Shared through Redis when REDIS_URL is set, so limits hold across workers.

if REDIS_URL:
    # An unreachable Redis reads as a miss (rate limits fail open), never a 500; a
    # Redis that hangs costs at most these seconds per call (chatsite/cache.py).
    CACHES = {
        "default": {
            "BACKEND": "chatsite.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Logging ------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    # The OpenAI SDK's HTTP client logs every request at INFO, and so does the MCP SDK's
    # stateless transport (the MCP door, tasks/mcp.py).
    "loggers": {"httpx2": {"level": "WARNING"}, "httpx": {"level": "WARNING"}, "mcp": {"level": "WARNING"}},
    "root": {
        "handlers": ["console"],
        "level": env_choice("DJANGO_LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper(),
    },
}
