"""The page's message actions (issue 14, "On the page"): Regenerate, Edit, the version switcher, Copy.

Async tests through Django's ``AsyncClient`` (an ASGI request): Regenerate and Edit start a live
generation in the test's own event loop, and ``settled`` waits for it before the test reads the
result. The WSGI way (the reply answered before the pane comes back) is driven by
``test_branches_browser.py`` (pytest-django's live server is WSGI).
"""

from __future__ import annotations

import asyncio
import re

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from conversations import live, services
from conversations.assistant import set_assistant
from conversations.models import Message
from conversations.tests import test_live as live_tests
from conversations.tests.factories import make_conversation
from conversations.tests.test_api_branches import Counting

pytestmark = pytest.mark.django_db(transaction=True)

live_layer = live_tests.live_layer  # the fixture: a fresh channel layer, generations stopped after

HTMX = {"HX-Request": "true"}


async def settled() -> None:
    """Wait for every live generation this process runs (the replies the actions started)."""
    for _ in range(100):
        running = live.running_generations()
        if not running:
            return
        await asyncio.gather(*running, return_exceptions=True)
    raise AssertionError("generations still running")


@pytest.fixture
async def page(owner, live_layer) -> AsyncClient:  # type: ignore[no-untyped-def]
    client = AsyncClient()
    await client.aforce_login(owner)
    return client


async def one_turn(owner_id: str, text: str = "Hi") -> tuple[object, Message, Message]:
    """A conversation with one answered message, made through the services (as a send would)."""
    start = await sync_to_async(services.chat_begin)(user_id=owner_id, conversation_id=None, text=text)
    reply = await services.reply_generate(start=start)
    return start.conversation.pk, start.user_message, reply


def labels(html: str) -> list[str]:
    return re.findall(r'aria-label="([^"]+)"', html)


async def test_regenerate_swaps_in_the_pane_with_a_version_switcher(page: AsyncClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id, _, first = await one_turn(owner_id)

    response = await page.post(f"/chat/{conversation_id}/regenerate", {"reply_id": str(first.pk)}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    # Under ASGI the pane comes back at once, the new reply pending (the page's socket follows it).
    assert 'id="pane"' in html and "The assistant is still writing this reply" in html and "reply 1 to Hi" not in html
    await settled()
    html = (await page.get(f"/chat/{conversation_id}")).content.decode()
    assert "reply 2 to Hi" in html and "reply 1 to Hi" not in html
    assert '<span class="versions__count" aria-hidden="true">2 / 2</span>' in html
    assert {"Previous version", "Next version", "Copy", "Edit", "Regenerate"} <= set(labels(html))
    # "Next version" is disabled on the newest version; the reply's Markdown source is there to copy.
    assert re.search(r'aria-label="Next version"[^>]*disabled', html)
    assert '<template class="msg__source">reply 2 to Hi</template>' in html


async def test_a_stale_regenerate_button_regenerates_nothing(page: AsyncClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id, _, first = await one_turn(owner_id)
    await page.post(f"/chat/{conversation_id}/regenerate", {"reply_id": str(first.pk)}, headers=HTMX)
    await settled()

    response = await page.post(f"/chat/{conversation_id}/regenerate", {"reply_id": str(first.pk)}, headers=HTMX)

    assert response.status_code == 409
    assert 'data-error="nothing-to-regenerate"' in response.content.decode()
    assert await Message.objects.filter(conversation_id=conversation_id, role="assistant").acount() == 2


async def test_edit_opens_an_editor_cancels_and_saves_a_new_version(page: AsyncClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id, question, _ = await one_turn(owner_id, "Helo")
    url = f"/chat/{conversation_id}/messages/{question.pk}/edit"

    editor = (await page.get(url, headers=HTMX)).content.decode()
    assert "<textarea" in editor and ">Helo</textarea>" in editor and 'aria-label="Edit"' not in editor
    cancelled = (await page.get(url + "?cancel=1", headers=HTMX)).content.decode()
    assert '<div class="msg__text">Helo</div>' in cancelled and "<textarea" not in cancelled

    response = await page.post(url, {"text": "Hello"}, headers=HTMX)

    assert response.status_code == 200 and 'id="pane"' in response.content.decode()
    await settled()
    html = (await page.get(f"/chat/{conversation_id}")).content.decode()
    assert '<div class="msg__text">Hello</div>' in html and "reply 2 to Hello" in html
    assert '<div class="msg__text">Helo</div>' not in html
    assert '<span class="versions__count" aria-hidden="true">2 / 2</span>' in html


async def test_an_empty_edit_is_refused_and_saves_nothing(page: AsyncClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id, question, _ = await one_turn(owner_id)
    response = await page.post(f"/chat/{conversation_id}/messages/{question.pk}/edit", {"text": "  "}, headers=HTMX)
    assert response.status_code == 400
    # The editor comes back over the message itself (not the pane), the reason next to the text.
    assert response["HX-Retarget"] == f"#msg-{question.pk}" and response["HX-Reswap"] == "outerHTML"
    html = response.content.decode()
    assert 'aria-invalid="true"' in html and 'class="field-error" role="alert"' in html and "<textarea" in html
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 2


async def test_the_switcher_shows_the_other_version_and_its_branch(page: AsyncClient, owner_id: str) -> None:
    set_assistant(Counting())
    conversation_id, question, _ = await one_turn(owner_id, "one")
    await page.post(f"/chat/{conversation_id}/messages/{question.pk}/edit", {"text": "ONE"}, headers=HTMX)
    await settled()
    edited = await Message.objects.aget(conversation_id=conversation_id, content="ONE")

    response = await page.post(f"/chat/{conversation_id}/messages/{edited.pk}/version", {"version": "1"}, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "reply 1 to one" in html and "ONE" not in html
    assert f'id="msg-{question.pk}"' in html and "msg--found" in html
    # Remembered: the next visit shows it too.
    again = (await page.get(f"/chat/{conversation_id}")).content.decode()
    assert "reply 1 to one" in again and "reply 2 to ONE" not in again
    missing = await page.post(f"/chat/{conversation_id}/messages/{edited.pk}/version", {"version": "9"}, headers=HTMX)
    assert missing.status_code == 404


async def test_the_actions_refuse_someone_elses_conversation(page: AsyncClient, owner_id: str, other_id: str) -> None:
    set_assistant(Counting())
    conversation_id, question, reply = await one_turn(other_id)
    for response in (
        await page.post(f"/chat/{conversation_id}/regenerate", {"reply_id": str(reply.pk)}, headers=HTMX),
        await page.get(f"/chat/{conversation_id}/messages/{question.pk}/edit", headers=HTMX),
        await page.post(f"/chat/{conversation_id}/messages/{question.pk}/edit", {"text": "x"}, headers=HTMX),
        await page.post(f"/chat/{conversation_id}/messages/{question.pk}/version", {"version": "1"}, headers=HTMX),
    ):
        assert response.status_code == 404
    assert await Message.objects.filter(conversation_id=conversation_id).acount() == 2


async def test_a_finished_reply_comes_with_the_message_it_answers(page: AsyncClient, owner_id: str) -> None:
    """What the page fetches once a live reply has streamed: both messages, so the one sent live gets Edit and Copy."""
    set_assistant(Counting())
    conversation_id, question, reply = await one_turn(owner_id)
    html = (await page.get(f"/chat/{conversation_id}/messages/{reply.pk}")).content.decode()
    assert html.index(f'data-id="{question.pk}"') < html.index(f'data-id="{reply.pk}"')
    assert html.count('aria-label="Copy"') == 2 and 'aria-label="Edit"' in html


async def test_a_long_conversation_page_renders_actions_without_extra_queries(page: AsyncClient, owner_id: str) -> None:
    conversation = await sync_to_async(make_conversation)(owner_id, messages=120)
    html = (await page.get(f"/chat/{conversation.pk}")).content.decode()
    assert html.count('aria-label="Copy"') == 50
    assert "versions__count" not in html  # one version each: no switcher
