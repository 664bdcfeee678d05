"""The offline demo's protocol features end to end in the built-in client: the real
endpoint and demo model, the client's widget renderer, and the page's registry of client
tools and effects (static/chat/client-tools.js) that the ChatKit widget uses too."""

import pytest
from playwright.sync_api import expect

from tests.browser.site import login_and_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_widget_from_the_demo_answers_its_streamed_action(open_site, make_user):
    make_user("alice")
    chat = login_and_open(open_site(cdn="abort"), "alice")

    chat.send("Show me a widget")
    card = chat.log.locator("[data-w-type=Card]").last
    expect(card).to_contain_text("Clicked 0 times", timeout=20_000)
    chat.wait_until_ready()
    card.get_by_role("button", name="Count").click()

    expect(chat.log.locator("[data-w-type=Card]").last).to_contain_text(
        "Clicked 1 time", timeout=20_000
    )


def test_the_built_in_client_runs_the_client_tool_and_the_effect(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    expect(site.page.locator("html")).to_have_attribute("data-theme", "light")

    chat.send("Please switch to dark mode")
    # The answer pauses for the page's switch_theme tool, then goes on with its result.
    expect(site.page.locator("html")).to_have_attribute("data-theme", "dark", timeout=20_000)
    chat.wait_for_answer("switch_theme")

    chat.send("Let's celebrate!")
    expect(site.page.locator(".chat-celebration")).to_be_visible(timeout=20_000)
