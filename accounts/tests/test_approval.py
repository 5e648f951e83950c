"""``SIGNUP_MODE=approval``: a new account waits for a staff member; until then every door refuses it (issue 16).

The socket and the MCP door are in ``test_approval_doors.py``; the admin in a browser in
``test_approval_browser.py``.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts import approval, services
from accounts.models import Account
from conversations.auth import issue_token
from conversations.tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a long new passphrase 42"
PENDING = {
    "error": "Forbidden",
    "detail": "Your account is waiting for approval by an administrator. You can use the chat once it is approved.",
}


@pytest.fixture
def newcomer(client: Client, signup_mode):
    """A person who signed up with SIGNUP_MODE=approval, signed in (``client``)."""
    signup_mode("approval")
    response = client.post(
        "/accounts/signup/",
        {"username": "newcomer", "email": "", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "next": ""},
    )
    assert (response.status_code, response["Location"]) == (302, "/accounts/pending/")
    return get_user_model().objects.get(username="newcomer")


def bearer(user_id: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_token(user_id=user_id)[0]}")
    return api


def approve(user, by) -> None:
    services.accounts_approve(accounts=Account.objects.filter(user=user), approved_by=by)


def test_a_new_account_waits_and_sees_the_waiting_page(client: Client, newcomer) -> None:
    assert newcomer.account.approved_at is None
    page = client.get("/accounts/pending/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Your account awaits approval" in body and "newcomer" in body
    assert 'action="/accounts/logout/"' in body  # signing out stays possible


@pytest.mark.parametrize("path", ["/chat", "/chat/new", "/chat/settings", "/chat/tasks", "/"])
def test_the_chat_pages_send_a_waiting_account_to_the_waiting_page(client: Client, newcomer, path: str) -> None:
    response = client.get(path, follow=True)
    assert response.redirect_chain[-1] == ("/accounts/pending/", 302)


def test_an_htmx_call_of_a_waiting_account_takes_the_whole_page_to_the_waiting_page(client: Client, newcomer) -> None:
    response = client.get("/chat/conversations", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == "/accounts/pending/"
    assert b"conversation" not in response.content


def test_a_waiting_account_cannot_send_a_message_from_the_page(client: Client, newcomer) -> None:
    response = client.post("/chat/send", {"message": "hello"})
    assert response["Location"] == "/accounts/pending/"
    assert not newcomer.account.is_approved


def test_the_token_endpoint_refuses_a_waiting_account_with_403_and_a_sentence(client: Client, newcomer) -> None:
    api = APIClient()
    response = api.post("/api/auth/token", {"username": "newcomer", "password": NEW_PASSWORD}, format="json")
    assert (response.status_code, response.json()) == (403, PENDING)
    # The wrong password still says only that: waiting is told to the account's owner alone.
    wrong = api.post("/api/auth/token", {"username": "newcomer", "password": "nope"}, format="json")
    assert wrong.status_code == 401


def test_the_api_refuses_a_jwt_of_a_waiting_account(newcomer) -> None:
    user_id = str(newcomer.pk)
    for path in (f"/api/{user_id}/conversations", f"/api/{user_id}/tasks", "/api/models"):
        response = bearer(user_id).get(path)
        assert (response.status_code, response.json()) == (403, PENDING), path
    chat = bearer(user_id).post(f"/api/{user_id}/chat", {"message": "hello"}, format="json")
    assert (chat.status_code, chat.json()) == (403, PENDING)


def test_the_browsable_api_refuses_the_session_of_a_waiting_account(client: Client, newcomer) -> None:
    response = client.get(f"/api/{newcomer.pk}/conversations", HTTP_ACCEPT="application/json")
    assert (response.status_code, response.json()) == (403, PENDING)


def test_once_approved_every_door_lets_the_account_in(client: Client, newcomer, django_user_model) -> None:
    staff = django_user_model.objects.create_superuser(username="staff", password=PASSWORD)
    approve(newcomer, by=staff)
    newcomer.account.refresh_from_db()
    assert newcomer.account.approved_by == staff and newcomer.account.approved_at is not None
    assert client.get("/chat").status_code == 200
    assert client.get("/accounts/pending/")["Location"] == "/chat"
    token = APIClient().post("/api/auth/token", {"username": "newcomer", "password": NEW_PASSWORD}, format="json")
    assert token.status_code == 200
    assert bearer(str(newcomer.pk)).get(f"/api/{newcomer.pk}/conversations").status_code == 200


def test_signing_in_again_while_waiting_lands_on_the_waiting_page(newcomer) -> None:
    response = Client().post("/accounts/login/", {"login": "newcomer", "password": NEW_PASSWORD})
    assert response["Location"] == "/accounts/pending/"


def test_an_approved_person_skips_the_waiting_page(client: Client, owner) -> None:
    client.force_login(owner)
    assert client.get("/accounts/pending/")["Location"] == "/chat"


def test_an_anonymous_visitor_of_the_waiting_page_is_asked_to_sign_in(client: Client) -> None:
    assert client.get("/accounts/pending/")["Location"] == "/accounts/login/?next=/accounts/pending/"


# --- The admin ---------------------------------------------------------------------------------


def test_the_admin_lists_waiting_accounts_and_approves_them(client: Client, newcomer, django_user_model) -> None:
    staff = django_user_model.objects.create_superuser(username="staff", password=PASSWORD)
    client.force_login(staff)
    waiting = client.get("/admin/accounts/account/?approval=awaiting").content.decode()
    assert "newcomer" in waiting and "Awaiting approval" in waiting
    assert f"/admin/accounts/account/{staff.pk}/change/" not in waiting
    response = client.post(
        "/admin/accounts/account/",
        {"action": "approve", "_selected_action": [newcomer.pk, staff.pk]},
        follow=True,
    )
    assert "Approved 1 account: they can use the chat now." in response.content.decode()
    assert Account.objects.get(pk=newcomer.pk).approved_by == staff
    assert "newcomer" not in client.get("/admin/accounts/account/?approval=awaiting").content.decode()


def test_approval_cannot_be_edited_in_the_admin(client: Client, newcomer, django_user_model) -> None:
    client.force_login(django_user_model.objects.create_superuser(username="staff", password=PASSWORD))
    page = client.get(f"/admin/accounts/account/{newcomer.pk}/change/").content.decode()
    assert 'name="approved_at' not in page
    assert client.get("/admin/accounts/account/add/").status_code == 403


# --- The cost of the check (the chat and the page are benchmarked) -----------------------------


def test_an_approved_user_costs_no_query_and_a_newcomer_one_primary_key_lookup(
    owner, newcomer, django_assert_num_queries, django_assert_max_num_queries
) -> None:
    with django_assert_num_queries(0):  # remembered when its row was made
        assert not approval.is_pending(str(owner.pk))
    approval.forget_all()  # as a freshly started worker
    with django_assert_num_queries(1):
        assert not approval.is_pending(str(owner.pk))
    with django_assert_num_queries(0):
        assert not approval.is_pending(owner.pk)
    for _ in range(2):  # waiting is never remembered: an approval counts at the next request
        with django_assert_num_queries(1) as captured:
            assert approval.is_pending(str(newcomer.pk))
        assert 'WHERE "accounts_account"."user_id" = ' in captured.captured_queries[0]["sql"]


def test_subjects_that_are_no_django_user_id_are_never_looked_up(django_assert_num_queries) -> None:
    with django_assert_num_queries(0):
        for subject in ("ba-user-42", "", "12a", "１２", "9" * 40):
            assert not approval.is_pending(subject)


def test_a_user_without_an_account_row_is_not_waiting(owner) -> None:
    Account.objects.filter(user=owner).delete()
    assert not approval.is_pending(str(owner.pk))


def test_the_jwt_api_and_the_page_of_an_approved_user_add_no_query(
    client: Client, owner, django_assert_max_num_queries
) -> None:
    client.force_login(owner)
    for call in (lambda: bearer(str(owner.pk)).get(f"/api/{owner.pk}/conversations"), lambda: client.get("/chat")):
        with django_assert_max_num_queries(10) as captured:
            assert call().status_code == 200
        assert not [q for q in captured.captured_queries if "accounts_account" in q["sql"]]
