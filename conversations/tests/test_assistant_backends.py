"""Which backend the settings select, and the offline assistant's streaming (issue "Real assistant replies")."""

from __future__ import annotations

import pytest

from conversations.assistant import ChatTurn, backend_name, get_assistant, reset_assistant
from conversations.assistant.offline import OfflineAssistant, offline_reply
from conversations.assistant.openai import PLACEHOLDER_API_KEY, OpenAIAssistant


@pytest.fixture
def bare(settings):  # type: ignore[no-untyped-def]
    """Settings of a bare machine: no backend forced, no OpenAI variables."""
    settings.ASSISTANT_BACKEND = ""
    settings.OPENAI_API_KEY = ""
    settings.OPENAI_BASE_URL = ""
    reset_assistant()
    return settings


def test_a_bare_machine_gets_the_offline_assistant(bare) -> None:  # type: ignore[no-untyped-def]
    bare.OFFLINE_ASSISTANT_CHUNK_DELAY = 0.25
    assistant = get_assistant()
    assert backend_name() == "offline"
    assert isinstance(assistant, OfflineAssistant)
    assert assistant.chunk_delay == 0.25


def test_a_base_url_selects_the_openai_backend_with_its_settings(bare) -> None:  # type: ignore[no-untyped-def]
    bare.OPENAI_BASE_URL = "http://127.0.0.1:11434/v1"
    bare.OPENAI_MODEL = "llama3.2"
    bare.ASSISTANT_SYSTEM_PROMPT = "Be kind."
    bare.ASSISTANT_TEMPERATURE = 0.3
    bare.ASSISTANT_MAX_OUTPUT_TOKENS = 256
    bare.ASSISTANT_TIMEOUT_SECONDS = 20.0
    bare.ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS = 4.0
    bare.ASSISTANT_MAX_RETRIES = 2
    assistant = get_assistant()
    assert isinstance(assistant, OpenAIAssistant)
    assert (assistant.model, assistant.base_url, assistant.system_prompt) == (
        "llama3.2",
        "http://127.0.0.1:11434/v1",
        "Be kind.",
    )
    assert (assistant.temperature, assistant.max_output_tokens) == (0.3, 256)
    assert (assistant.timeout, assistant.first_token_timeout, assistant.max_retries) == (20.0, 4.0, 2)
    # A local server needs no key; the SDK still wants one.
    assert assistant.api_key == PLACEHOLDER_API_KEY


def test_an_api_key_alone_selects_openai_itself(bare) -> None:  # type: ignore[no-untyped-def]
    bare.OPENAI_API_KEY = "sk-test"
    assistant = get_assistant()
    assert isinstance(assistant, OpenAIAssistant)
    assert assistant.api_key == "sk-test" and assistant.base_url is None


def test_assistant_backend_offline_wins_over_openai_variables(bare) -> None:  # type: ignore[no-untyped-def]
    bare.OPENAI_API_KEY = "sk-test"
    bare.ASSISTANT_BACKEND = "offline"
    assert isinstance(get_assistant(), OfflineAssistant)


def test_assistant_backend_openai_is_refused_without_a_key_or_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings fail at start-up naming the variables (style.md, convention 6)."""
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import chatsite.settings

    monkeypatch.setenv("ASSISTANT_BACKEND", "openai")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ImproperlyConfigured, match="OPENAI_API_KEY"):
        importlib.reload(chatsite.settings)
    monkeypatch.undo()
    importlib.reload(chatsite.settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ASSISTANT_TIMEOUT_SECONDS", "soon", "must be a number"),
        ("ASSISTANT_FIRST_TOKEN_TIMEOUT_SECONDS", "90", "must not exceed ASSISTANT_TIMEOUT_SECONDS"),
        ("ASSISTANT_MAX_RETRIES", "9", "at most 5"),
        ("ASSISTANT_TEMPERATURE", "3", "at most 2.0"),
        ("ASSISTANT_TIMEOUT_SECONDS", "600", "shorter than LIVE_REPLY_MAX_SECONDS"),
    ],
)
def test_bad_assistant_settings_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    import importlib

    from django.core.exceptions import ImproperlyConfigured

    import chatsite.settings

    monkeypatch.setenv(variable, value)
    with pytest.raises(ImproperlyConfigured, match=message):
        importlib.reload(chatsite.settings)
    monkeypatch.undo()
    importlib.reload(chatsite.settings)


async def test_the_offline_assistant_streams_its_reply_in_chunks() -> None:
    history = [ChatTurn("user", "Plan my week")]
    chunks = [c async for c in OfflineAssistant(words_per_chunk=3).stream(history)]
    assert len(chunks) > 10
    assert "".join(chunks) == offline_reply(history)


def test_the_offline_reply_says_what_it_is_quotes_the_user_and_says_how_to_connect_a_model() -> None:
    reply = offline_reply([ChatTurn("user", "first"), ChatTurn("assistant", "ok"), ChatTurn("user", "Plan   my\nweek")])
    assert "offline assistant" in reply
    assert "“Plan my week”" in reply
    assert "message 2 of our conversation" in reply
    assert "OPENAI_BASE_URL" in reply and "OPENAI_API_KEY" in reply
