"""The models people may choose for a conversation (issue 14, "Models and instructions").

With a model server, the models it lists (``GET /v1/models`` through the official SDK,
``OpenAIAssistant.list_models``), remembered in Django's cache for
``ASSISTANT_MODELS_CACHE_SECONDS`` (shared by every worker when ``REDIS_URL`` is set) and
narrowed to ``ASSISTANT_MODELS`` when that allow-list is set. ``OPENAI_MODEL``, the default,
is always offered: it is what a conversation uses unless told otherwise, and some servers
(llama.cpp's) list a name of their own that they do not check. Offline (the built-in
assistant, or any backend that lists no models) the one choice is ``OFFLINE_MODEL``.

A server that cannot be reached raises ``ModelsUnavailable`` (the API answers 503, the page
shows the current model alone); that failure is remembered ``UNREACHABLE_SECONDS`` so a down
server is not asked again by every page view. Reads only: what a conversation stores is
decided by ``services.model_clean``.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

from conversations.assistant import get_assistant
from conversations.models import MODEL_NAME_MAX_LENGTH

logger = logging.getLogger(__name__)

OFFLINE_MODEL = "offline"
# A model server that could not be listed is not asked again for this many seconds.
UNREACHABLE_SECONDS = 30
_UNREACHABLE = "unreachable"


class ModelsUnavailable(Exception):
    """The model server could not be asked which models it offers (the API answers 503)."""


@dataclass(frozen=True)
class Offer:
    """The models on offer, the default first, and the default (``OPENAI_MODEL``, or offline ``OFFLINE_MODEL``)."""

    models: tuple[str, ...]
    default: str


def default_model() -> str:
    """The model a conversation without one of its own uses: ``OPENAI_MODEL``, offline ``OFFLINE_MODEL``."""
    assistant = get_assistant()
    if getattr(assistant, "list_models", None) is None:
        return OFFLINE_MODEL
    return str(getattr(assistant, "model", "") or settings.OPENAI_MODEL)


def models_offered() -> Offer:
    """The models a conversation may use now.

    Raises:
        ModelsUnavailable: the model server could not be reached or answered an error (also for
            ``UNREACHABLE_SECONDS`` after such a failure).
    """
    assistant = get_assistant()
    list_models = getattr(assistant, "list_models", None)
    if list_models is None:
        return Offer(models=(OFFLINE_MODEL,), default=OFFLINE_MODEL)
    key = _cache_key(str(getattr(assistant, "base_url", "") or ""))
    listed = cache.get(key)
    if listed == _UNREACHABLE:
        raise ModelsUnavailable
    if listed is None:
        try:
            listed = [str(name) for name in list_models()]
        except Exception as exc:
            logger.warning("could not list the model server's models: %s", exc)
            cache.set(key, _UNREACHABLE, UNREACHABLE_SECONDS)
            raise ModelsUnavailable from exc
        cache.set(key, listed, settings.ASSISTANT_MODELS_CACHE_SECONDS)
    default = default_model()
    allowed = set(settings.ASSISTANT_MODELS)
    others = sorted(
        {
            name
            for name in listed
            if name and name != default and len(name) <= MODEL_NAME_MAX_LENGTH and (not allowed or name in allowed)
        }
    )
    return Offer(models=(default, *others), default=default)


def forget_models() -> None:
    """Ask the model server again next time (tests; after changing servers without a restart)."""
    cache.delete(_cache_key(str(getattr(get_assistant(), "base_url", "") or "")))


def _cache_key(base_url: str) -> str:
    # Per server: pointing OPENAI_BASE_URL elsewhere (another deployment sharing Redis) lists anew.
    return "assistant:models:" + hashlib.sha256(base_url.encode()).hexdigest()[:16]
