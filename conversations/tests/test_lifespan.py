"""The ASGI lifespan scope (chatsite/lifespan.py): at shutdown the assistant closes its model connections."""

from __future__ import annotations

import asyncio
from typing import Any

from conversations.assistant import set_assistant
from conversations.assistant.openai import OpenAIAssistant
from conversations.tests.fake_openai import DEFAULT_REPLY, FakeOpenAI


async def run_lifespan(messages: list[str]) -> list[dict[str, Any]]:
    """Drive ``chatsite.asgi.application``'s lifespan scope as uvicorn does; the messages it sent back."""
    from chatsite.asgi import application

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for message in messages:
        inbox.put_nowait({"type": message})
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await asyncio.wait_for(application({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send), 5)
    return sent


async def test_startup_and_shutdown_are_acknowledged_and_shutdown_closes_the_model_client(
    fake_openai: FakeOpenAI,
) -> None:
    assistant = OpenAIAssistant(model="fake-model", base_url=fake_openai.base_url)
    set_assistant(assistant)
    assert "".join([d async for d in assistant.stream([])]) == DEFAULT_REPLY
    client = assistant.client()

    sent = await run_lifespan(["lifespan.startup", "lifespan.shutdown"])

    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert client.is_closed()


async def test_shutdown_with_the_offline_assistant_has_nothing_to_close() -> None:
    sent = await run_lifespan(["lifespan.startup", "lifespan.shutdown"])
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}


async def test_a_failure_while_closing_is_logged_and_shutdown_still_completes(caplog: Any) -> None:
    class Broken:
        name = "broken"

        async def aclose(self) -> None:
            raise RuntimeError("socket already gone")

    set_assistant(Broken())  # type: ignore[arg-type]
    sent = await run_lifespan(["lifespan.startup", "lifespan.shutdown"])
    assert sent[-1] == {"type": "lifespan.shutdown.complete"}
    assert "Closing the assistant backend at shutdown failed" in caplog.text
