"""The embedded chat as a user meets it: headless Chromium against the real site (issue 3).

The ChatKit CDN script is replaced by tests/browser/chatkit_double.js, which records the
options the page gives the widget and makes real protocol calls through `api.fetch`.
"""

import json
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework_simplejwt.tokens import AccessToken

from chat.assistant.choices import composer_tools
from chat.attachments.policy import composer_attachment_options
from chat.conf import app_settings
from chat.context import PAGE_LIMITS
from chat.models import Attachment, Thread
from chat.templatetags.chat_widget import demo_prompts
from tests.browser.site import CDN_URL, WIDGET_TIMEOUT, SitePage
from tests.chatkit_client import assistant_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ASKED_TEXT_DELTA = "assistant_message.content_part.text_delta"


def bearer_of(exchange) -> str:
    header = exchange.headers.get("authorization", "")
    assert header.startswith("Bearer "), f"no Bearer token on {exchange.path}: {header!r}"
    return header.removeprefix("Bearer ")


def text_deltas(events: list[dict]) -> list[str]:
    return [
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated" and event["update"]["type"] == ASKED_TEXT_DELTA
    ]


def in_bottom_right(site: SitePage, locator, margin: float = 48) -> bool:
    box = locator.bounding_box()
    viewport = site.page.viewport_size
    return (
        viewport["width"] - margin <= box["x"] + box["width"] <= viewport["width"]
        and viewport["height"] - margin <= box["y"] + box["height"] <= viewport["height"]
    )


def test_anonymous_visitor_gets_login_link_and_launcher_after_logging_in(open_site, make_user):
    make_user("alice")
    site = open_site()
    site.goto("/about/")

    link = site.page.get_by_role("link", name="Log in to chat")
    expect(link).to_be_visible()
    expect(site.launcher).to_have_count(0)
    assert CDN_URL not in site.urls, "the ChatKit script was loaded for an anonymous visitor"

    link.click()
    site.page.get_by_label("Username").fill("alice")
    site.page.get_by_label("Password").fill("browser-password-1")
    with site.page.expect_navigation():
        site.page.locator("main form").get_by_role("button", name="Log in").click()

    assert site.page.url == f"{site.base_url}/about/", "login did not come back to the page"
    expect(site.launcher).to_be_visible()
    expect(site.page.get_by_role("link", name="Log in to chat")).to_have_count(0)
    assert in_bottom_right(site, site.launcher)
    # The panel exists but is closed, and the widget is not created before it is opened.
    site.wait_for_scripts()
    expect(site.panel).to_have_count(1)
    expect(site.panel).to_be_hidden()
    expect(site.page.locator("openai-chatkit")).to_have_count(0)


def test_opening_the_panel_mounts_the_widget_and_streams_an_answer(open_site, make_user):
    alice = make_user("alice")
    site = open_site()
    site.login("alice")

    options = site.open_chat()

    expect(site.panel).to_be_visible()
    expect(site.launcher).to_be_hidden()
    [mount] = site.chatkit_record("mounts")
    assert mount["rendered"] and mount["width"] > 200 and mount["height"] > 200, mount
    assert options["api"]["url"] == "/chatkit/"
    assert options["api"]["domainKey"] == app_settings.DOMAIN_KEY
    assert options["hasFetch"]
    assert options["history"] == {"enabled": True, "showDelete": True, "showRename": True}
    assert options["startScreen"] == {
        "greeting": app_settings.GREETING,
        # Offline, the demo's prompts follow the site's (tests/browser/test_protocol_widget.py).
        "prompts": app_settings.PROMPTS + demo_prompts(),
    }
    assert options["composer"] == {
        "placeholder": app_settings.COMPOSER_PLACEHOLDER,
        "attachments": composer_attachment_options(),
        "tools": composer_tools(),
    }
    assert options["threadItemActions"] == {"feedback": True, "retry": True}
    assert options["theme"] == {"colorScheme": "light"}
    assert options["initialThread"] is None

    result = site.chatkit("createThread", "Hello from the page")

    assert result["status"] == 200
    assert result["contentType"].startswith("text/event-stream")
    assert "You said: “Hello from the page”" in assistant_text(result["events"])
    # Streamed: the answer came as many deltas over several network reads.
    assert len(text_deltas(result["events"])) >= 5
    assert result["chunks"] >= 2
    [call] = site.requests_to("/chatkit/")
    assert call.status == 200
    assert AccessToken(bearer_of(call))["user_id"] == str(alice.pk)
    page_context = site.request_json(call)["metadata"]["page"]
    assert page_context == {"url": f"{site.base_url}/", "title": "Chat site"}
    [token_call] = site.requests_to("/api/token/session/")
    assert token_call.method == "POST" and token_call.status == 200
    assert token_call.headers.get("x-csrftoken")

    listed = site.chatkit("listItems", result["threadId"])
    assert listed["status"] == 200
    item_types = [item["type"] for item in listed["page"]["data"]]
    assert item_types == ["user_message", "assistant_message"]
    assert Thread.objects.filter(owner=alice, id=result["threadId"]).exists()


def test_composer_announces_attachments_and_the_double_uploads_with_bearer(
    open_site, make_user, live_site
):
    alice = make_user("alice")
    site = open_site()
    site.login("alice")

    options = site.open_chat()
    uploaded = site.chatkit("upload", "notes.txt", "text/plain", "remember the milk")

    attachments = options["composer"]["attachments"]
    assert attachments["enabled"] is True
    assert "text/plain" in attachments["accept"] and attachments["maxCount"] >= 1
    assert options["api"]["uploadStrategy"] == {"type": "two_phase"}
    assert (uploaded["createStatus"], uploaded["uploadStatus"]) == (200, 200)
    upload_path = urlsplit(uploaded["uploadUrl"]).path
    [upload_call] = site.requests_to(upload_path)
    assert AccessToken(bearer_of(upload_call))["user_id"] == str(alice.pk)
    stored = Attachment.objects.get(pk=uploaded["attachment"]["id"])
    assert (stored.owner_id, stored.upload_state) == (alice.pk, Attachment.UploadState.UPLOADED)
    assert (live_site.media_root / stored.file.name).read_bytes() == b"remember the milk"


def test_expired_token_is_renewed_once_and_the_request_retried(open_site, make_user):
    alice = make_user("alice")
    expired = AccessToken.for_user(alice)
    expired.set_exp(from_time=timezone.now() - timedelta(minutes=10), lifetime=timedelta(minutes=1))
    site = open_site()
    site.login("alice")
    served = []

    def first_token_is_expired(route):
        if served:
            route.continue_()
            return
        served.append(str(expired))
        body = {"access": str(expired), "expires_in": 300, "user_id": alice.pk}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    site.page.route("**/api/token/session/", first_token_is_expired)
    site.open_chat()

    result = site.chatkit("createThread", "Still there?")

    assert result["status"] == 200
    assert "You said: “Still there?”" in assistant_text(result["events"])
    first, retry = site.requests_to("/chatkit/")
    assert (first.status, retry.status) == (401, 200)
    assert bearer_of(first) == str(expired)
    assert bearer_of(retry) != str(expired)
    assert AccessToken(bearer_of(retry))["user_id"] == str(alice.pk)
    assert first.body == retry.body, "the retry must resend the same request"
    assert [call.status for call in site.requests_to("/api/token/session/")] == [200, 200]


def test_token_is_renewed_before_it_expires(open_site, make_user):
    make_user("alice")
    site = open_site()
    # The page's clock is the test's: it jumps past the token's lifetime below.
    site.page.clock.install()
    site.login("alice")
    shortened = []

    def first_token_lives_one_second(route):
        if shortened:
            route.continue_()
            return
        response = route.fetch()
        body = {**response.json(), "expires_in": 1}
        shortened.append(body["access"])
        route.fulfill(response=response, body=json.dumps(body))

    site.page.route("**/api/token/session/", first_token_lives_one_second)
    site.open_chat()
    first = site.chatkit("createThread", "One")
    site.page.clock.fast_forward(1200)
    second = site.chatkit("listItems", first["threadId"])

    assert second["status"] == 200
    calls = site.requests_to("/chatkit/")
    assert [call.status for call in calls] == [200, 200], "no request may hit a stale token"
    assert bearer_of(calls[0]) == shortened[0]
    assert bearer_of(calls[1]) != shortened[0]
    assert len(site.requests_to("/api/token/session/")) == 2


def test_thread_survives_reload_and_stays_with_its_user(open_site, make_user):
    alice = make_user("alice")
    bob = make_user("bob")
    site = open_site()
    site.login("alice")
    site.open_chat()
    thread_id = site.chatkit("createThread", "Remember me")["threadId"]
    assert site.local_storage()[f"chat.thread.{alice.pk}"] == thread_id

    site.page.reload()

    # The panel was left open: it comes back open, in the same thread.
    options = site.wait_for_options()
    expect(site.panel).to_be_visible()
    assert options["initialThread"] == thread_id

    site.logout()
    site.login("bob")
    site.wait_for_scripts()
    expect(site.panel).to_be_hidden()
    options = site.open_chat()
    assert options["initialThread"] is None
    assert f"chat.thread.{bob.pk}" not in site.local_storage()


def test_minimise_reopen_and_escape(open_site, make_user):
    make_user("alice")
    site = open_site()
    site.login("alice")
    site.open_chat()
    minimise = site.page.get_by_role("button", name="Minimise chat")

    minimise.click()
    expect(site.panel).to_be_hidden()
    expect(site.launcher).to_be_visible()
    expect(site.launcher).to_be_focused()

    site.page.reload()
    site.wait_for_scripts()
    expect(site.launcher).to_be_visible()
    expect(site.panel).to_be_hidden()
    expect(site.page.locator("openai-chatkit")).to_have_count(0)

    site.launcher.press("Enter")
    expect(site.panel).to_be_visible()
    site.wait_for_options()
    site.page.keyboard.press("Escape")
    expect(site.panel).to_be_hidden()
    expect(site.launcher).to_be_focused()

    site.launcher.click()
    expect(site.panel).to_be_visible()
    # Reopening shows the same widget: it is created once per page, not per opening.
    expect(site.page.locator("openai-chatkit")).to_have_count(1)
    assert len(site.chatkit_record("mounts")) == 1


def test_theme_toggle_reaches_the_widget_with_the_full_option_set(open_site, make_user):
    make_user("alice")
    site = open_site(color_scheme="light")
    site.login("alice")
    first = site.open_chat()
    assert first["theme"] == {"colorScheme": "light"}
    toggle = site.page.get_by_role("button", name="Dark mode")
    expect(toggle).to_have_attribute("aria-pressed", "false")

    toggle.click()

    second = site.wait_for_options(count=2)
    assert second["theme"] == {"colorScheme": "dark"}
    # setOptions replaces everything: the second call must repeat every other option.
    assert {**second, "theme": first["theme"]} == first
    expect(site.page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(toggle).to_have_attribute("aria-pressed", "true")

    site.page.reload()
    expect(site.page.locator("html")).to_have_attribute("data-theme", "dark")
    assert site.wait_for_options()["theme"] == {"colorScheme": "dark"}


def test_theme_follows_the_system_until_chosen(open_site, make_user):
    make_user("alice")
    site = open_site(color_scheme="dark")
    site.login("alice")
    expect(site.page.locator("html")).to_have_attribute("data-theme", "dark")
    assert site.open_chat()["theme"] == {"colorScheme": "dark"}
    background = site.page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(20, 23, 28)", "the site itself must turn dark too"


def test_ask_ai_quotes_the_selection_into_the_composer(open_site, make_user):
    make_user("alice")
    site = open_site()
    site.login("alice", next_path="/about/")
    ask = site.page.get_by_role("button", name="Ask AI")
    expected = site.page.inner_text("#about-privacy")

    # Inside the chat panel or outside the page content: the button shown for the
    # previous selection goes away.
    for elsewhere in (".chat-panel-title", ".brand"):
        select_contents(site, "#about-privacy")
        expect(ask).to_be_visible()
        select_contents(site, elsewhere)
        expect(ask).to_be_hidden()

    select_contents(site, "#about-privacy")
    expect(ask).to_be_visible()
    paragraph = site.page.locator("#about-privacy").bounding_box()
    button = ask.bounding_box()
    assert paragraph["y"] <= button["y"] <= paragraph["y"] + paragraph["height"] + 40

    ask.click()

    expect(site.panel).to_be_visible()
    site.page.wait_for_function("() => window.__chatkit && window.__chatkit.composer.length > 0")
    quoted = "\n".join(f"> {line}" for line in expected.splitlines()) + "\n\n"
    assert site.chatkit_record("composer") == [quoted]
    expect(ask).to_be_hidden()

    # The next message carries the selection as page context, later requests do not.
    thread_id = site.chatkit("createThread", "What does this mean?")["threadId"]
    site.chatkit("listItems", thread_id)
    create, listing = site.requests_to("/chatkit/")
    assert site.request_json(create)["metadata"]["page"] == {
        "url": f"{site.base_url}/about/",
        "title": "About · Chat site",
        "selection": expected,
    }
    assert "selection" not in site.request_json(listing)["metadata"]["page"]


def test_a_long_selection_is_cut_to_what_the_server_keeps(open_site, make_user):
    make_user("alice")
    site = open_site()
    site.login("alice")
    limit = PAGE_LIMITS["selection"]
    site.page.evaluate(
        """n => {
            const paragraph = document.createElement('p');
            paragraph.id = 'long';
            paragraph.textContent = 'word '.repeat(n);
            document.getElementById('content').append(paragraph);
        }""",
        limit,
    )
    select_contents(site, "#long")
    site.page.get_by_role("button", name="Ask AI").click()
    site.wait_for_options()

    site.chatkit("createThread", "What is this?")

    [create] = site.requests_to("/chatkit/")
    selection = site.request_json(create)["metadata"]["page"]["selection"]
    assert selection == ("word " * limit)[:limit]


def select_contents(site: SitePage, selector: str) -> None:
    site.page.evaluate(
        """selector => {
            const range = document.createRange();
            range.selectNodeContents(document.querySelector(selector));
            const selection = document.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }""",
        selector,
    )


def test_blocked_cdn_shows_why_the_widget_is_missing(open_site, make_user, screenshot_dir):
    make_user("alice")
    site = open_site(cdn="abort")
    site.login("alice")

    site.launcher.click()

    message = site.panel.get_by_text("The chat widget could not be loaded")
    expect(message).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 2000)
    expect(site.panel).to_contain_text("cdn.platform.openai.com did not load")
    expect(site.page.locator("openai-chatkit")).to_have_count(0)
    site.wait_for_panel_settled()
    site.page.screenshot(path=str(screenshot_dir / "chat-panel-unavailable.png"))


def test_cdn_script_without_the_widget_times_out_with_a_message(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="empty")
    site.login("alice")

    site.launcher.click()

    # Within the site's timeout (and a margin for the page), not whenever.
    message = site.panel.get_by_text("The chat widget could not be loaded")
    expect(message).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 3000)
    expect(site.panel).to_contain_text(
        f"cdn.platform.openai.com loaded but did not provide the chat widget within "
        f"{WIDGET_TIMEOUT:g} seconds"
    )


def test_widget_errors_are_shown_in_plain_words_and_logged(open_site, make_user):
    make_user("alice")
    site = open_site()
    site.login("alice")
    site.open_chat()

    site.chatkit("fail", "Thread not found")

    alert = site.panel.get_by_role("alert")
    expect(alert).to_contain_text("Something went wrong in the chat (Thread not found)")
    assert any("ChatKit error" in line for line in site.console_errors), site.console_errors
    alert.get_by_role("button", name="Dismiss message").click()
    expect(alert).to_be_hidden()


@pytest.mark.parametrize(
    ("name", "color_scheme", "viewport"),
    [
        ("light", "light", {"width": 1280, "height": 800}),
        ("dark", "dark", {"width": 1280, "height": 800}),
        ("phone", "light", {"width": 375, "height": 740}),
    ],
)
def test_screenshot_of_the_open_panel(
    open_site, make_user, screenshot_dir, name, color_scheme, viewport
):
    make_user("alice")
    site = open_site(color_scheme=color_scheme, viewport=viewport)
    site.login("alice", next_path="/about/")
    assert in_bottom_right(site, site.launcher)
    site.open_chat()
    expect(site.panel).to_be_visible()
    site.wait_for_panel_settled()

    path = screenshot_dir / f"chat-panel-{name}.png"
    site.page.screenshot(path=str(path))
    print(f"screenshot: {path}")

    panel = site.panel.bounding_box()
    assert panel["x"] >= 0 and panel["x"] + panel["width"] <= viewport["width"]
    assert panel["y"] >= 0 and panel["y"] + panel["height"] <= viewport["height"]
    assert in_bottom_right(site, site.panel, margin=32)
