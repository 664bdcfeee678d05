"""Login, logout and signup as a browser would drive them, plus the demo-user command."""

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from tests.factories import PASSWORD

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


@pytest.fixture
def browser() -> Client:
    """A client that enforces CSRF like a real browser session would."""
    return Client(enforce_csrf_checks=True)


def csrf_from(response) -> str:
    match = CSRF_INPUT.search(response.content.decode())
    assert match, "page has no CSRF token field"
    return match.group(1)


def submit_login(client: Client, username: str, password: str, next_url: str = ""):
    page = client.get("/accounts/login/", {"next": next_url} if next_url else {})
    assert page.status_code == 200
    data = {"username": username, "password": password, "next": next_url}
    return client.post("/accounts/login/", {**data, "csrfmiddlewaretoken": csrf_from(page)})


def logged_in_username(client: Client) -> str | None:
    """Whom the site header says is logged in, as a user sees it."""
    page = client.get("/accounts/login/")
    match = re.search(r'<span class="whoami">([^<]*)</span>', page.content.decode())
    return match.group(1) if match else None


@pytest.mark.django_db
class TestLogin:
    def test_login_form_logs_in_and_redirects_home(self, browser, alice):
        response = submit_login(browser, "alice", PASSWORD)
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert logged_in_username(browser) == "alice"

    def test_login_honours_safe_next(self, browser, alice):
        response = submit_login(browser, "alice", PASSWORD, next_url="/accounts/signup/")
        assert response["Location"] == "/accounts/signup/"

    def test_login_ignores_offsite_next(self, browser, alice):
        response = submit_login(browser, "alice", PASSWORD, next_url="https://evil.example/")
        assert response["Location"] == "/"

    def test_wrong_password_shows_error_and_stays_anonymous(self, browser, alice):
        response = submit_login(browser, "alice", "wrong-password")
        assert response.status_code == 200
        assert "errorlist" in response.content.decode()
        assert logged_in_username(browser) is None

    def test_login_page_uses_stacked_form(self, client):
        body = client.get("/accounts/login/").content.decode()
        assert 'class="stacked"' in body
        assert 'name="username"' in body and 'name="password"' in body

    def test_login_without_csrf_token_is_rejected(self, browser, alice):
        response = browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
        assert response.status_code == 403


@pytest.mark.django_db
class TestLogout:
    def test_logout_by_post_ends_session(self, browser, alice):
        submit_login(browser, "alice", PASSWORD)
        page = browser.get("/accounts/login/")
        response = browser.post("/accounts/logout/", {"csrfmiddlewaretoken": csrf_from(page)})
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert logged_in_username(browser) is None

    def test_logout_by_get_is_not_allowed(self, client, alice):
        client.force_login(alice)
        assert client.get("/accounts/logout/").status_code == 405
        assert logged_in_username(client) == "alice"


def signup_data(page, username: str = "newbie", **extra) -> dict:
    return {
        "username": username,
        "password1": "A-long-unusual-pass-42",
        "password2": "A-long-unusual-pass-42",
        "csrfmiddlewaretoken": csrf_from(page),
        **extra,
    }


@pytest.mark.django_db
class TestSignupEnabled:
    @pytest.fixture(autouse=True)
    def _enabled(self, settings):
        settings.ACCOUNTS_SIGNUP_ENABLED = True

    def test_login_page_links_to_signup(self, client):
        assert 'href="/accounts/signup/' in client.get("/accounts/login/").content.decode()

    def test_signup_creates_user_logs_in_and_redirects_home(self, browser):
        page = browser.get("/accounts/signup/")
        assert page.status_code == 200
        assert 'class="stacked"' in page.content.decode()
        response = browser.post("/accounts/signup/", signup_data(page))
        assert response.status_code == 302
        assert response["Location"] == "/"
        assert get_user_model().objects.filter(username="newbie").exists()
        assert logged_in_username(browser) == "newbie"

    def test_signup_follows_safe_next_only(self, browser):
        page = browser.get("/accounts/signup/")
        ok = browser.post("/accounts/signup/", signup_data(page, "one", next="/accounts/login/"))
        assert ok["Location"] == "/accounts/login/"
        other = Client(enforce_csrf_checks=True)
        page = other.get("/accounts/signup/")
        evil = other.post(
            "/accounts/signup/", signup_data(page, "two", next="//evil.example/steal")
        )
        assert evil["Location"] == "/"

    def test_mismatched_passwords_show_errors(self, browser):
        page = browser.get("/accounts/signup/")
        response = browser.post(
            "/accounts/signup/", signup_data(page, password2="something-else-entirely")
        )
        assert response.status_code == 200
        assert "errorlist" in response.content.decode()
        assert not get_user_model().objects.filter(username="newbie").exists()


@pytest.mark.django_db
class TestSignupDisabled:
    @pytest.fixture(autouse=True)
    def _disabled(self, settings):
        settings.ACCOUNTS_SIGNUP_ENABLED = False

    def test_get_is_404(self, client):
        assert client.get("/accounts/signup/").status_code == 404

    def test_post_is_404_and_creates_nobody(self, client):
        response = client.post(
            "/accounts/signup/",
            {"username": "sneaky", "password1": "A-long-pass-42", "password2": "A-long-pass-42"},
        )
        assert response.status_code == 404
        assert not get_user_model().objects.filter(username="sneaky").exists()

    def test_login_page_has_no_signup_link(self, client):
        body = client.get("/accounts/login/").content.decode()
        assert "/accounts/signup/" not in body


def run_demo_command() -> str:
    out = StringIO()
    call_command("ensure_demo_user", stdout=out)
    return out.getvalue()


@pytest.mark.django_db
class TestEnsureDemoUser:
    def test_defaults_create_a_user_who_can_log_in(self, browser, monkeypatch):
        monkeypatch.delenv("DEMO_USERNAME", raising=False)
        monkeypatch.delenv("DEMO_PASSWORD", raising=False)
        output = run_demo_command()
        assert "Demo user ready: username=demo password=demo-password" in output
        assert "/accounts/login/" in output
        assert submit_login(browser, "demo", "demo-password")["Location"] == "/"

    def test_a_second_run_keeps_the_password_and_the_sessions(self, client, monkeypatch):
        monkeypatch.setenv("DEMO_USERNAME", "tester")
        monkeypatch.setenv("DEMO_PASSWORD", "first-pass")
        run_demo_command()
        assert client.login(username="tester", password="first-pass")
        user = get_user_model().objects.get(username="tester")
        user.set_password("chosen-by-the-user")
        user.save()
        assert client.login(username="tester", password="chosen-by-the-user")

        monkeypatch.setenv("DEMO_PASSWORD", "second-pass")
        output = run_demo_command()

        assert "username=tester (exists; its password was not changed)" in output
        assert get_user_model().objects.filter(username="tester").count() == 1
        assert get_user_model().objects.get(username="tester").check_password(
            "chosen-by-the-user"
        )
        # Still logged in: the session's password hash still matches.
        assert client.get("/").wsgi_request.user.is_authenticated

    def test_reset_password_is_explicit(self, monkeypatch):
        monkeypatch.setenv("DEMO_USERNAME", "tester")
        monkeypatch.setenv("DEMO_PASSWORD", "first-pass")
        run_demo_command()
        user = get_user_model().objects.get(username="tester")
        user.is_active = False
        user.save()

        monkeypatch.setenv("DEMO_PASSWORD", "second-pass")
        out = StringIO()
        call_command("ensure_demo_user", "--reset-password", stdout=out)

        assert "username=tester password=second-pass" in out.getvalue()
        user = get_user_model().objects.get(username="tester")
        assert user.is_active
        assert user.check_password("second-pass")
