"""Typed readers for settings that come from the environment.

Each reader fails loudly with ``ImproperlyConfigured`` naming the variable, so a
bad value stops the process at start-up instead of surfacing later as a strange
runtime error (style.md, convention 6).
"""

from __future__ import annotations

import os
import re

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """Return the variable ``name`` as text, or ``default`` when it is unset."""
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    """Return ``name`` as a boolean.

    Accepts ``1/true/yes/on`` and ``0/false/no/off`` (any case).

    Raises:
        ImproperlyConfigured: the value is anything else.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {raw!r}.")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``name`` as an integer within ``[minimum, maximum]``.

    Raises:
        ImproperlyConfigured: the value is not an integer or is out of range.
    """
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}.")
    return value


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``name`` as a float within ``[minimum, maximum]``.

    Raises:
        ImproperlyConfigured: the value is not a number or is out of range.
    """
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {value}.")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    """Return ``name`` split on commas, blanks dropped (``"a, b"`` -> ``["a", "b"]``)."""
    raw = os.environ.get(name)
    if raw is None:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    """Return ``name`` lower-cased, which must be one of ``choices``.

    Raises:
        ImproperlyConfigured: the value is not one of ``choices``.
    """
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}, got {raw!r}.")
    return value


_RATE = re.compile(r"^\s*([1-9][0-9]*)\s*/\s*(s|sec|second|m|min|minute|h|hour|d|day)\s*$", re.IGNORECASE)


def env_rate(name: str, default: str) -> str | None:
    """Return ``name`` as a DRF throttle rate such as ``"30/minute"``; empty turns the limit off (``None``).

    Checked here because DRF only parses a rate on the first request, where a typo
    would become a 500 on every call.

    Raises:
        ImproperlyConfigured: not ``<positive integer>/<second|minute|hour|day>``.
    """
    raw = os.environ.get(name, default)
    if raw.strip() == "":
        return None
    match = _RATE.match(raw)
    if match is None:
        raise ImproperlyConfigured(
            f"{name} must be a rate like 30/minute (a positive number per second, minute, hour or day), got {raw!r}."
        )
    return f"{match.group(1)}/{match.group(2).lower()}"
