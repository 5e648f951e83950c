"""Two languages (issue 16, "Two languages"): the page in English and French, the API in English.

The page follows the browser's ``Accept-Language`` and the language cookie set by the settings
page's switcher (Django's ``set_language``); ``<html lang>`` says which. The API's bodies are the
contract's English, whatever the request asks for, on the lean Bearer path and on the full stack.
The French catalogue ships compiled: ``locale/fr/LC_MESSAGES/django.mo`` must be what ``msgfmt``
makes of ``django.po``, and nothing in the ``.po`` may be untranslated or fuzzy.
"""

from __future__ import annotations

import datetime as dt
import gettext
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import HttpCommunicator
from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, connections
from django.test import Client
from django.utils import timezone, translation

from chatsite.asgi import application
from conversations.auth import issue_token
from conversations.page_text import SOCKET_DETAILS, page_text
from conversations.templatetags.chat import message_months, sent_ago
from conversations.tests.conftest import bearer_client
from conversations.tests.factories import make_conversation

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}
FR = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
LOCALE = Path(settings.BASE_DIR) / "locale"
PO = LOCALE / "fr" / "LC_MESSAGES" / "django.po"
MO = LOCALE / "fr" / "LC_MESSAGES" / "django.mo"


@pytest.fixture(autouse=True)
def _english_afterwards() -> Iterator[None]:
    # The test client runs requests in this thread: LocaleMiddleware's French must not outlive the test.
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def page(client: Client, owner) -> Client:
    client.force_login(owner)
    return client


def _lang(html: str) -> str:
    return re.search(r'<html lang="([^"]*)"', html).group(1)


def _page_text(html: str) -> dict:
    found = re.search(r'<script id="page-text" type="application/json">(.*?)</script>', html, re.S)
    return json.loads(found.group(1))


# --- The page follows the browser ---------------------------------------------------------


def test_the_page_is_english_by_default(page: Client) -> None:
    response = page.get("/chat/new")
    html = response.content.decode()
    assert _lang(html) == "en"
    assert response["Content-Language"] == "en"
    assert "Accept-Language" in response["Vary"]
    assert "Welcome! How can I help you today?" in html and ">Send</button>" in html
    assert _page_text(html)["copied"] == "Copied"


def test_accept_language_fr_gives_the_page_in_french(page: Client, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Voyage", messages=2)
    response = page.get(f"/chat/{conversation.pk}", **FR)
    html = response.content.decode()
    assert _lang(html) == "fr"
    assert response["Content-Language"] == "fr"
    for french in (
        "Aller au contenu",  # skip link
        ">Paramètres</a>",
        ">Se déconnecter</button>",
        ">Nouvelle conversation",
        'placeholder="Écrire à l’assistant…"',
        ">Envoyer</button>",
        'aria-label="Copier"',  # a message's actions
        'aria-label="Modifier"',
        ">Renommer</summary>",
        ">Supprimer la conversation</button>",
        "L’assistant écrit…",  # the typing indicator's template
        "Raccourcis clavier",
        ">Tâches</button>",
    ):
        assert french in html, french
    for english in ("Skip to content", ">Send</button>", "Keyboard shortcuts", "Message the assistant…"):
        assert english not in html, english
    heading = re.search(r'<h3 class="conv-group__title">([^<]*)</h3>', html).group(1)  # the sidebar's date heading
    assert heading in ("Aujourd’hui", "Hier", "7 derniers jours", "30 derniers jours"), heading
    # The scripts' words come in French too, with the socket's English details mapped.
    words = _page_text(html)
    assert words["copied"] == "Copié"
    assert words["justNow"] == "à l’instant"
    assert words["months"][2] == "mars"
    assert words["details"]["The assistant could not answer right now. Please try again."] == (
        "L’assistant n’a pas pu répondre pour le moment. Veuillez réessayer."
    )


def test_an_unsupported_language_falls_back_to_english(page: Client) -> None:
    html = page.get("/chat/new", HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").content.decode()
    assert _lang(html) == "en"
    assert "Welcome! How can I help you today?" in html


def test_htmx_fragments_and_refusals_are_in_french(page: Client, owner_id: str) -> None:
    conversation = make_conversation(owner_id, title="Voyage", messages=2)
    refused = page.post(f"/chat/{conversation.pk}/send", {"text": "   "}, **HX, **FR)
    assert refused.status_code == 400
    # The services' English sentence ("Message content cannot be empty"), translated at the page's door.
    assert "Le message ne peut pas être vide" in refused.content.decode()
    too_long = page.post(f"/chat/{conversation.pk}/rename", {"title": "x" * 201}, **HX, **FR)
    assert "Le titre est trop long\u00a0: la limite est de 200 caractères" in too_long.content.decode()
    sidebar = page.get("/chat/conversations?archived=1", **HX, **FR).content.decode()
    assert "Aucune conversation archivée." in sidebar and "← Toutes les conversations" in sidebar


def test_the_error_pages_are_in_french(page: Client) -> None:
    response = page.get("/chat/00000000-0000-0000-0000-000000000000", **FR)
    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Introuvable</h1>" in html and "La ressource demandée est introuvable." in html


def test_the_session_expired_fragment_is_in_french(client: Client) -> None:
    response = client.get("/chat/new", **HX, **FR)
    assert response.status_code == 401
    body = response.content.decode()
    assert "Votre session a expiré. Veuillez vous reconnecter." in body and "Se reconnecter" in body


def test_the_tasks_panel_is_in_french(page: Client) -> None:
    panel = page.get("/chat/tasks", **HX, **FR).content.decode()
    assert ">Tâches</h2>" in panel and ">Ajouter</button>" in panel
    refused = page.post("/chat/tasks", {"title": "  "}, **HX, **FR)
    assert refused.status_code == 400
    assert "Le titre ne peut pas être vide" in refused.content.decode()


def test_a_tool_calls_summary_follows_the_page_but_is_stored_in_english(page: Client, owner_id: str) -> None:
    """The stored line (and the API's) stays English; the page words it in its own language."""
    from tasks.tools import summary

    call = {
        "name": "add_task",
        "arguments": {"title": "Lait"},
        "result": {"task_id": 4, "status": "created", "title": "Lait"},
    }
    with translation.override("fr"):
        assert summary(call) == "Added task 4: Lait"
    conversation = make_conversation(owner_id, messages=2)
    reply = conversation.messages.filter(role="assistant").get()
    reply.tool_calls = [{**call, "summary": summary(call)}]
    reply.save(update_fields=["tool_calls"])
    html = page.get(f"/chat/{conversation.pk}", **FR).content.decode()
    assert "Tâche 4 ajoutée\u00a0: Lait" in html


def test_the_code_blocks_copy_button_follows_the_page(page: Client, owner_id: str) -> None:
    conversation = make_conversation(owner_id, messages=2)
    reply = conversation.messages.filter(role="assistant").get()
    reply.content = "```python\nprint('hi')\n```"
    reply.save(update_fields=["content"])
    french = page.get(f"/chat/{conversation.pk}", **FR).content.decode()
    assert 'class="btn btn--small code__copy" aria-label="Copier le code">Copier</button>' in french
    english = page.get(f"/chat/{conversation.pk}").content.decode()
    assert 'class="btn btn--small code__copy" aria-label="Copy code">Copy</button>' in english


def test_message_times_are_worded_in_the_pages_language() -> None:
    now = timezone.make_aware(dt.datetime(2026, 3, 12, 15, 0))
    with translation.override("fr"):
        assert sent_ago(now - dt.timedelta(seconds=5), now) == "à l’instant"
        assert sent_ago(now - dt.timedelta(minutes=5), now) == "il y a 5 min"
        assert sent_ago(now - dt.timedelta(hours=3), now) == "il y a 3 h"
        assert sent_ago(now - dt.timedelta(days=1), now) == "hier"
        assert sent_ago(now - dt.timedelta(days=10), now) == "2 mars"
        assert sent_ago(now - dt.timedelta(days=400), now) == "5 fév. 2025"
        assert message_months()[6] == "juil."
    with translation.override("en"):
        assert sent_ago(now - dt.timedelta(minutes=5), now) == "5 min ago"
        assert sent_ago(now - dt.timedelta(days=10), now) == "2 Mar"
        assert sent_ago(now - dt.timedelta(days=400), now) == "5 Feb 2025"


def test_every_script_word_is_translated() -> None:
    with translation.override("en"):
        english = page_text()
    with translation.override("fr"):
        french = page_text()
    assert english.keys() == french.keys()
    same = {"tabTitle", "dayMonth", "dayMonthYear"}  # placeholders only: the same in both
    for key, text in english.items():
        if key in same or key == "details":
            continue
        assert french[key] and french[key] != text, key
    assert set(french["details"]) == set(SOCKET_DETAILS)
    assert all(french["details"][detail] != detail for detail in SOCKET_DETAILS)


# --- The switcher -----------------------------------------------------------------------------


def test_the_settings_page_has_the_switcher(page: Client) -> None:
    html = page.get("/chat/settings", **FR).content.decode()
    assert 'action="/i18n/setlang/"' in html
    assert '<option value="fr" lang="fr" selected>Français</option>' in html
    assert '<option value="en" lang="en">English</option>' in html


def test_the_switcher_sets_the_cookie_and_the_page_follows_it(page: Client) -> None:
    response = page.post("/i18n/setlang/", {"language": "fr", "next": "/chat/settings#language-title"})
    assert response.status_code == 302
    assert response["Location"] == "/chat/settings#language-title"
    cookie = response.cookies[settings.LANGUAGE_COOKIE_NAME]
    assert cookie.value == "fr"
    assert int(cookie["max-age"]) == settings.LANGUAGE_COOKIE_AGE
    assert cookie["samesite"] == "Lax"
    # The cookie wins over the browser's language, on every page, until changed back.
    html = page.get("/chat/new", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert _lang(html) == "fr" and ">Envoyer</button>" in html
    page.post("/i18n/setlang/", {"language": "en", "next": "/chat/settings"})
    html = page.get("/chat/new", **FR).content.decode()
    assert _lang(html) == "en" and ">Send</button>" in html


def test_a_language_not_offered_is_ignored(page: Client) -> None:
    """Django's set_language keeps any language Django itself has a catalogue for; the page only speaks LANGUAGES."""
    page.post("/i18n/setlang/", {"language": "de", "next": "/chat/settings"})
    assert _lang(page.get("/chat/new", **FR).content.decode()) == "fr"
    assert _lang(page.get("/chat/new").content.decode()) == "en"


# --- The settings page ----------------------------------------------------------------------


def test_the_settings_page_is_in_french(page: Client) -> None:
    html = page.get("/chat/settings", **FR).content.decode()
    assert _lang(html) == "fr"
    for french in (
        "<title>Paramètres · Chat</title>",
        "<h1>Paramètres</h1>",
        ">Mot de passe</h2>",
        ">Mot de passe actuel</label>",
        ">Changer le mot de passe</button>",
        ">Nouvelles conversations</h2>",
        ">Modèle par défaut</label>",
        "Jusqu’à 4000 caractères\u202f; laissez vide pour n’en donner aucune.",
        ">Tout exporter</a>",
        ">Fichier de conversations</label>",
        ">Importer</button>",
        # The delete-account section.
        ">Supprimer mon compte</h2>",
        "<strong>Cette action est irréversible.</strong> Votre compte et tout ce qu’il contient",
        "Pour confirmer, tapez votre nom d’utilisateur\u00a0: <strong>owner</strong>",
        ">Supprimer mon compte</button>",
    ):
        assert french in html, french
    for english in ("Delete my account", "This cannot be undone", "Change password", "Export all", "New conversations"):
        assert english not in html, english


def test_the_settings_pages_refusals_and_sentences_are_in_french(page: Client) -> None:
    wrong = page.post("/chat/settings/delete-account", {"username": "someone"}, **FR)
    assert wrong.status_code == 400
    assert "Ce n’est pas votre nom d’utilisateur. Tapez-le exactement" in wrong.content.decode()
    saved = page.post("/chat/settings/defaults", {"model": "", "instructions": "Réponds en français."}, **FR)
    assert saved.status_code == 302
    shown = page.get(saved["Location"], **FR).content.decode()
    assert "Enregistré. Les nouvelles conversations utiliseront ce modèle et ces instructions." in shown


def test_the_last_superusers_refusal_is_in_french(client: Client, django_user_model) -> None:  # type: ignore[no-untyped-def]
    admin = django_user_model.objects.create_superuser(username="admin", password="x" * 12)
    client.force_login(admin)
    html = client.post("/chat/settings/delete-account", {"username": "admin"}, **FR).content.decode()
    assert "Vous êtes superutilisateur\u00a0: votre compte ne peut être supprimé" in html  # the section's note
    assert "Vous êtes le seul superutilisateur\u00a0: votre compte ne peut donc pas être supprimé" in html
    assert "You are the only superuser" not in html


def test_the_deleted_account_sentence_is_in_french(page: Client) -> None:
    response = page.post("/chat/settings/delete-account", {"username": "owner"}, **FR)
    assert response.status_code == 302
    login = page.get(response["Location"], **FR).content.decode()
    assert "Votre compte et toutes ses données ont été supprimés." in login


def _import_on_the_page(page: Client, body: bytes, **headers: str):  # type: ignore[no-untyped-def]
    upload = SimpleUploadedFile("conversations.json", body, content_type="application/json")
    return page.post("/chat/import", {"file": upload}, **headers)


def _import_error(html: str) -> str:
    return re.search(r'<div id="import-error" class="alert" role="alert"><p>(.*?)</p></div>', html, re.S).group(1)


@pytest.mark.parametrize(
    ("body", "english", "french"),
    [
        pytest.param(
            b'["x"]',
            "conversations[0] must be an object",
            "conversations[0] doit être un objet",
            id="path-and-kind",
        ),
        pytest.param(
            b'[{"title": "t"}]',
            "conversations[0].mapping is missing",
            "il manque conversations[0].mapping",
            id="missing",
        ),
        pytest.param(
            b"not json",
            "The file is not valid JSON: Expecting value: line 1 column 1 (char 0).",
            # The parser's own reason is a parameter: it stays as Python words it.
            "Le fichier n’est pas du JSON valide\u00a0: Expecting value: line 1 column 1 (char 0).",
            id="not-json",
        ),
    ],
)
def test_an_import_error_is_french_on_the_page_and_english_in_the_api(
    page: Client, owner_id: str, body: bytes, english: str, french: str
) -> None:
    on_the_page = _import_on_the_page(page, body, **FR)
    assert on_the_page.status_code == 400
    assert _import_error(on_the_page.content.decode()) == f"Le fichier n’a pas pu être importé\u00a0: {french}"
    in_english = _import_on_the_page(page, body)
    assert _import_error(in_english.content.decode()) == f"The file could not be imported: {english}"
    api = bearer_client(owner_id).post(f"/api/{owner_id}/import", data=body, content_type="application/json", **FR)
    assert api.status_code == 400
    assert api.json() == {"error": "Validation error", "detail": english}
    assert "Content-Language" not in api


def test_the_import_result_and_the_size_limit_are_in_french(page: Client, owner_id: str, other_user, settings) -> None:  # type: ignore[no-untyped-def]
    make_conversation(owner_id, title="Voyage", messages=2)
    exported = b"".join(page.get("/chat/export").streaming_content)
    page.force_login(other_user)  # into someone else's account: one conversation to import
    first = _import_on_the_page(page, exported, **FR).content.decode()
    assert "Importation terminée\u00a0: 1 conversation et 2 messages." in first
    again = _import_on_the_page(page, exported, **FR).content.decode()
    assert "Importation terminée\u00a0: 0 conversation et 0 message." in again
    assert "1 conversation était déjà ici et n’a pas été modifiée." in again
    assert (
        "Imported 0 conversations and 0 messages. 1 was already here"
        in _import_on_the_page(page, exported).content.decode()
    )
    settings.IMPORT_MAX_BYTES = 10
    too_large = _import_on_the_page(page, exported, **FR)
    assert too_large.status_code == 413
    assert (
        _import_error(too_large.content.decode())
        == "Le fichier est trop volumineux\u00a0: la limite est de 10\u00a0octets."
    )
    empty = page.post("/chat/import", {}, **FR)
    assert _import_error(empty.content.decode()) == "Choisissez un fichier de conversations à importer."


# --- The API stays English ------------------------------------------------------------------


def test_the_api_answers_in_english_to_a_french_bearer_call(owner_id: str) -> None:
    api = bearer_client(owner_id)
    missing = api.get(f"/api/{owner_id}/conversations/00000000-0000-0000-0000-000000000000", **FR)
    assert missing.json() == {"error": "Not found", "detail": "Conversation not found"}
    assert "Content-Language" not in missing
    empty = api.post(f"/api/{owner_id}/chat", {"message": "   "}, format="json", **FR)
    assert empty.json() == {"error": "Validation error", "detail": "Message content cannot be empty"}
    too_long = api.post(f"/api/{owner_id}/chat", {"message": "x" * 4001}, format="json", **FR)
    assert too_long.json()["detail"] == "Message is too long: 4001 characters, the limit is 4000"
    unknown = api.post(f"/api/{owner_id}/chat", {"message": "hi", "colour": "red"}, format="json", **FR)
    assert unknown.status_code == 400 and unknown.json()["error"] == "Validation error"
    assert not re.search(r"[àâçéèêëîïôûùüÿœ«»]", unknown.json()["detail"])


def test_the_api_answers_in_english_to_a_french_session_call(page: Client, owner_id: str) -> None:
    """Session calls to /api/ take the page's middleware: the locale is English there all the same."""
    method = page.delete(f"/api/{owner_id}/conversations", **FR)
    assert method.status_code == 405
    assert method.json() == {"error": "Method not allowed", "detail": 'Method "DELETE" not allowed.'}
    assert "Content-Language" not in method
    missing = page.get(f"/api/{owner_id}/nowhere", **FR)
    assert missing.json() == {"error": "Not found", "detail": "The requested resource was not found."}


def test_a_french_page_after_a_french_api_call_in_the_same_thread_is_still_french(page: Client, owner_id: str) -> None:
    page.get(f"/api/{owner_id}/conversations", **FR)
    assert _lang(page.get("/chat/new", **FR).content.decode()) == "fr"


def _committed_user_and_cookie(django_user_model):  # type: ignore[no-untyped-def]
    try:
        user = django_user_model.objects.create_user(username="asgi", password="x" * 12)
        client = Client()
        client.force_login(user)
        return user, client.cookies[settings.SESSION_COOKIE_NAME].value
    finally:
        connection.close()


async def _asgi_get(path: str, headers: list[tuple[bytes, bytes]]) -> tuple[int, dict[str, str], bytes]:
    communicator = HttpCommunicator(application, "GET", path, headers=[(b"host", b"testserver"), *headers])
    response = await communicator.get_response(timeout=20)
    await communicator.wait(timeout=20)
    names = {name.decode().lower(): value.decode() for name, value in response["headers"]}
    return response["status"], names, response["body"]


@pytest.mark.django_db(transaction=True)
async def test_through_the_real_asgi_application(django_user_model) -> None:  # type: ignore[no-untyped-def]
    """The inline locale middleware under ASGI: the page in French, both API paths in English."""
    user, session = await sync_to_async(_committed_user_and_cookie)(django_user_model)
    french = (b"accept-language", b"fr-FR,fr;q=0.9")
    cookie = (b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode())
    try:
        status, headers, body = await _asgi_get("/chat/new", [french, cookie])
        assert status == 200 and headers["content-language"] == "fr"
        assert b'<html lang="fr">' in body and b"Nouvelle conversation" in body

        token, _ = issue_token(user_id=str(user.pk))
        bearer = (b"authorization", f"Bearer {token}".encode())
        missing = f"/api/{user.pk}/conversations/00000000-0000-0000-0000-000000000000"
        for auth in (bearer, cookie):  # the lean path, then the full stack
            status, headers, body = await _asgi_get(missing, [french, auth])
            assert status == 404 and "content-language" not in headers
            assert json.loads(body) == {"error": "Not found", "detail": "Conversation not found"}
        status, _, body = await _asgi_get(f"/api/{user.pk}/conversations", [french])
        assert status == 401 and json.loads(body)["detail"] == "Invalid or expired JWT token"
    finally:
        await sync_to_async(connections.close_all)()


# --- Mail ---------------------------------------------------------------------------------


def test_the_password_reset_mail_is_in_the_requests_language(client: Client, owner) -> None:
    """allauth ships French mails; they go out in the language of the page that asked."""
    owner.email = "owner@example.com"
    owner.save(update_fields=["email"])
    page = client.get("/accounts/password/reset/", **FR).content.decode()
    assert "Réinitialiser votre mot de passe" in page
    client.post("/accounts/password/reset/", {"email": "owner@example.com"}, **FR)
    (message,) = mail.outbox
    assert message.subject == "[Chat] E-mail de réinitialisation de mot de passe"
    assert "mot de passe" in message.body and "/accounts/password/reset/key/" in message.body


# --- The catalogue ----------------------------------------------------------------------------


def _msgfmt() -> str:
    found = shutil.which("msgfmt")
    assert found, "msgfmt (GNU gettext) is missing: apt-get install gettext (.ci/system-deps.sh installs it)"
    return found


def _catalogue(mo: Path) -> dict:
    with mo.open("rb") as handle:
        messages = dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]
    messages.pop("", None)  # the header: its dates change with every makemessages
    return messages


def test_the_po_compiles_and_every_message_is_translated(tmp_path: Path) -> None:
    result = subprocess.run(
        [_msgfmt(), "--check", "--statistics", "-o", str(tmp_path / "django.mo"), str(PO)],
        capture_output=True,
        text=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    # "253 translated messages." -- and no "fuzzy translations" or "untranslated messages".
    assert re.fullmatch(r"\d+ translated messages\.\n", result.stderr), result.stderr
    assert "#, fuzzy" not in PO.read_text(encoding="utf-8")


def test_the_committed_mo_is_the_compiled_po(tmp_path: Path) -> None:
    fresh = tmp_path / "django.mo"
    subprocess.run([_msgfmt(), "--check", "-o", str(fresh), str(PO)], check=True, capture_output=True)
    assert MO.exists(), "locale/fr/LC_MESSAGES/django.mo is missing: run make messages"
    assert _catalogue(MO) == _catalogue(fresh), "django.mo is out of date: run make messages (compilemessages)"


def test_every_marked_text_is_in_the_catalogue(tmp_path: Path) -> None:
    """makemessages on a copy of the sources adds no message: nothing marked is left untranslated."""
    _msgfmt()
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "src"
    copy.mkdir()
    shutil.copy(root / "manage.py", copy / "manage.py")
    for name in ("chatsite", "conversations", "tasks", "accounts", "templates", "locale"):
        shutil.copytree(root / name, copy / name, ignore=shutil.ignore_patterns("tests", "__pycache__", "*.mo"))
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "fr", "--add-location", "file", "--no-obsolete"],
        cwd=copy,
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "chatsite.settings",
            "DJANGO_DEBUG": "1",
            "DATABASE_URL": "",
        },
    )
    assert result.returncode == 0, result.stderr
    statistics = subprocess.run(
        [_msgfmt(), "--statistics", "-o", "/dev/null", str(copy / "locale/fr/LC_MESSAGES/django.po")],
        capture_output=True,
        text=True,
        env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"},
    ).stderr
    assert re.fullmatch(r"\d+ translated messages\.\n", statistics), (
        f"marked text without a French translation ({statistics.strip()}): run make messages, "
        "then translate the new entries of locale/fr/LC_MESSAGES/django.po"
    )
