"""The chat page in French, in Chromium (issue 16, "Two languages").

The browser's own language is French (Playwright's ``locale="fr-FR"``: ``Accept-Language`` and
``navigator.language``), so the page is: its labels and buttons, the message actions, the relative
times ``static/js/times.js`` writes, and the sentences the scripts write themselves (their words come
from the server: ``conversations/page_text.py``). The settings page's switcher then turns it to
English. The other browser tests run in Chromium's default en-US and find elements by English names.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from conversations.assistant import set_assistant
from conversations.assistant.offline import OfflineAssistant
from conversations.models import Message
from conversations.tests.factories import make_conversation
from conversations.tests.test_a11y_browser import assert_no_violations, open_page, settle
from conversations.tests.test_a11y_browser import conversation as a11y_conversation  # noqa: F401 - a fixture
from conversations.tests.test_page_browser import screenshot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NBSP = "\u00a0"


@pytest.fixture
def french(browser, live_server, owner) -> Iterator[object]:
    """The owner's browser, in French, signed in with a session made by Django's test client."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800}, locale="fr-FR")
    context.set_default_timeout(10_000)
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    yield context
    context.close()


def composer(page):
    return page.get_by_role("textbox", name="Message")  # "Message" in both languages


def test_the_chat_page_speaks_french(french, owner_id) -> None:
    set_assistant(OfflineAssistant(chunk_delay=0.05))
    conversation = make_conversation(owner_id, title="Voyage", messages=2, start=timezone.now() - dt.timedelta(days=1))
    last = conversation.messages.order_by("created_at").last()
    Message.objects.create(
        conversation=conversation,
        user_id=owner_id,
        role="user",
        content="Et maintenant ?",
        created_at=timezone.now() - dt.timedelta(minutes=5, seconds=30),
        parent=last,
    )
    page = french.new_page()
    page.goto(f"/chat/{conversation.pk}")
    expect(page.locator("html")).to_have_attribute("lang", "fr")

    # Labels and buttons.
    expect(page.get_by_role("link", name="Aller au contenu")).to_be_attached()
    nav = page.get_by_role("navigation", name="Principale")
    expect(nav.get_by_role("link", name="Discussion")).to_be_visible()
    expect(nav.get_by_role("link", name="Paramètres")).to_be_visible()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    expect(page.get_by_role("link", name="Nouvelle conversation")).to_be_visible()
    expect(page.get_by_role("searchbox", name="Rechercher dans les conversations")).to_be_visible()
    expect(composer(page)).to_have_attribute("placeholder", "Écrire à l’assistant…")
    expect(page.get_by_role("button", name="Envoyer")).to_be_disabled()
    expect(page.get_by_text("Entrée pour envoyer · Maj+Entrée pour aller à la ligne")).to_be_visible()
    expect(page.get_by_role("heading", name="Tâches")).to_be_visible()
    expect(page.get_by_role("button", name="Ajouter", exact=True)).to_be_visible()
    expect(page.locator("#tasks-panel")).to_contain_text("Aucune tâche pour l’instant.")

    # The message actions, by their French names; Copy says so in French (chat.js's words).
    reply = page.locator(".msg--assistant").first
    reply.hover()
    copy = reply.get_by_role("button", name="Copier")
    expect(copy).to_be_visible()
    expect(reply.locator(".msg__regen")).to_have_attribute("aria-label", "Régénérer")  # shown on the newest reply only
    expect(page.locator(".msg--user").first.get_by_role("button", name="Modifier")).to_be_attached()
    copy.click()
    expect(copy).to_have_text("Copié")
    page.locator("#conv-header summary", has_text="Plus").click()
    expect(page.get_by_role("group", name="Autres actions").get_by_role("button", name="Épingler")).to_be_visible()
    page.keyboard.press("Escape")

    # The relative times, worded again by times.js in French.
    times = page.locator("#message-log .msg time")
    expect(times).to_have_count(3)
    expect(times.nth(2)).to_have_text("il y a 5 min")
    expect(times.nth(0)).to_have_text("hier")
    assert re.fullmatch(r"\w+ \d{1,2} \w+ \d{4} à \d\d:\d\d", times.nth(0).get_attribute("title"))
    screenshot(page, "i18n-fr-1280")

    # A notice the script writes itself: nothing to send, then a message over the limit.
    composer(page).fill("   ")
    composer(page).press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        f"Rien à envoyer{NBSP}: un message ne peut pas être vide ni ne contenir que des espaces."
    )
    composer(page).fill("x" * 3990)
    expect(page.locator("#composer-count")).to_have_text("10 caractères restants")
    composer(page).evaluate("(box) => { box.value = 'x'.repeat(4001); }")
    composer(page).press("Enter")
    expect(page.get_by_role("alert")).to_have_text(
        f"Non envoyé{NBSP}: votre message compte 4001 caractères, la limite est de 4000. "
        "Raccourcissez-le, puis envoyez-le."
    )

    # The server cannot be reached: the kept message says so in French; then it goes by itself.
    page.route("**/send", lambda route: route.abort("connectionrefused"))
    composer(page).fill("Tu es là ?")
    composer(page).press("Enter")
    expect(page.get_by_text("Le serveur est injoignable. Votre message est conservé")).to_be_visible()
    expect(page.locator(".msg--unsent").get_by_role("button", name="Réessayer")).to_be_visible()
    page.unroute("**/send")
    expect(page.locator(".msg--assistant").filter(has_text="Tu es là ?")).to_be_visible(timeout=15_000)
    expect(page.locator(".msg--assistant").last.locator("time")).to_have_text("à l’instant")

    # The keyboard shortcuts' dialog.
    page.locator("#message-log").focus()
    page.keyboard.press("?")
    expect(page.get_by_role("dialog", name="Raccourcis clavier")).to_be_visible()
    page.get_by_role("button", name="Fermer").click()


def test_the_switcher_turns_the_page_to_english_and_back(french) -> None:
    page = french.new_page()
    page.goto("/chat/settings")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_role("heading", name="Langue", exact=True)).to_be_visible()
    page.get_by_label("Langue de la page").select_option("en")
    page.get_by_role("button", name="Utiliser cette langue").click()
    expect(page).to_have_url(re.compile(r"/chat/settings#language-title$"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Language of the page")).to_have_value("en")
    page.goto("/chat/new")  # remembered: every page follows, whatever the browser's language
    expect(page.get_by_role("button", name="Send")).to_be_visible()
    cookies = {c["name"]: c for c in french.cookies()}
    assert cookies[settings.LANGUAGE_COOKIE_NAME]["value"] == "en"
    assert cookies[settings.LANGUAGE_COOKIE_NAME]["expires"] > 0  # kept, not a session cookie

    page.goto("/chat/settings")
    page.get_by_label("Language of the page").select_option("fr")
    page.get_by_role("button", name="Use this language").click()
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    page.goto("/chat/new")
    expect(page.get_by_role("button", name="Envoyer")).to_be_visible()


@pytest.mark.parametrize(("path", "width"), [("chat", 360), ("chat", 1280), ("/chat/settings", 1280)])
def test_the_french_pages_have_no_axe_violation(french, a11y_conversation, path, width) -> None:  # noqa: F811
    """The longer French words still fit, and every name is French (axe-core, as test_a11y_browser.py)."""
    page = open_page(french, f"/chat/{a11y_conversation.pk}" if path == "chat" else path, width=width)
    settle(page)
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    assert_no_violations(page, f"{path} in French")
