"""The typed environment readers behind chatsite/settings.py (style.md, convention 6)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite.env import env_bool, env_choice, env_float, env_int, env_list, env_str


def test_env_str_returns_the_default_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("X_TEST", raising=False)
    assert env_str("X_TEST", "d") == "d"


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("YES", True), ("on", True), ("0", False), ("off", False), ("", False)]
)
def test_env_bool_reads_common_spellings(monkeypatch: pytest.MonkeyPatch, raw: str, value: bool) -> None:
    monkeypatch.setenv("X_TEST", raw)
    assert env_bool("X_TEST", not value) is value


def test_env_int_reads_integers_within_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST", " 42 ")
    assert env_int("X_TEST", 1, minimum=0, maximum=100) == 42
    monkeypatch.setenv("X_TEST", "")
    assert env_int("X_TEST", 7) == 7


@pytest.mark.parametrize(
    ("raw", "message"), [("abc", "must be an integer"), ("-1", "must be at least 0"), ("101", "must be at most 100")]
)
def test_env_int_refuses_bad_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("X_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match=f"X_TEST {message}"):
        env_int("X_TEST", 1, minimum=0, maximum=100)


@pytest.mark.parametrize(
    ("raw", "message"), [("fast", "must be a number"), ("-0.5", "must be at least 0"), ("9", "must be at most 5")]
)
def test_env_float_refuses_bad_values_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, raw: str, message: str
) -> None:
    monkeypatch.setenv("X_TEST", raw)
    with pytest.raises(ImproperlyConfigured, match=f"X_TEST {message}"):
        env_float("X_TEST", 1.0, minimum=0.0, maximum=5.0)


def test_env_float_reads_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST", "2.5")
    assert env_float("X_TEST", 1.0) == 2.5
    monkeypatch.delenv("X_TEST")
    assert env_float("X_TEST", 1.0) == 1.0


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST", "a, b,,c ")
    assert env_list("X_TEST", []) == ["a", "b", "c"]
    monkeypatch.delenv("X_TEST")
    assert env_list("X_TEST", ["d"]) == ["d"]


def test_env_choice_accepts_only_its_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_TEST", "OpenAI")
    assert env_choice("X_TEST", "offline", ("offline", "openai")) == "openai"
    monkeypatch.setenv("X_TEST", "gpt")
    with pytest.raises(ImproperlyConfigured, match="X_TEST must be one of offline, openai"):
        env_choice("X_TEST", "offline", ("offline", "openai"))
