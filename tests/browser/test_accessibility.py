"""Accessibility of the built-in client, checked by axe-core (vendored for the tests at
tests/browser/vendor/axe-core-4.14.1, MPL-2.0): no serious or critical violation on the
chat (conversation with code, math and votes; the history; the composer with a quote and a
refused file), the full-page chat and the widget gallery, in light and dark; and a new
answer or an error is announced by a live region.
"""

from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.site import ANSWER_END, Chat, SitePage, login_and_open
from tests.browser.test_client_expectations import RICH_ANSWER, open_thread, stored_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = (Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js").read_text()


def serious_violations(site: SitePage, selector: str = "body") -> list[str]:
    """axe-core's serious and critical findings inside `selector`, one line each."""
    # Evaluated through the DevTools protocol, so the page's CSP does not apply to it.
    site.page.evaluate(AXE)
    results = site.page.evaluate(
        """async selector => {
            const result = await axe.run(document.querySelector(selector), {
                resultTypes: ['violations'],
            });
            return result.violations
                .filter(v => v.impact === 'serious' || v.impact === 'critical')
                .map(v => `${v.id} (${v.impact}): ${v.help} at `
                    + v.nodes.map(n => n.target.join(' ')).slice(0, 5).join(', '));
        }""",
        selector,
    )
    return results


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_chat_has_no_serious_violations(open_site, make_user, scheme):
    alice = make_user("alice")
    stored_thread(alice, "rich", [("user", "Show me code"), ("assistant", RICH_ANSWER)])
    site = open_site(cdn="abort", color_scheme=scheme)
    chat = open_thread(site, alice, "rich")
    expect(chat.log.locator(".bc-code-lang")).to_have_text("Python")
    expect(chat.log.locator("div.bc-math .katex-display")).to_have_count(1)
    chat.root.locator("[data-vote=positive]").click()
    expect(chat.root.locator("[data-vote=positive]")).to_have_attribute("aria-pressed", "true")
    chat.composer.fill("x")
    chat.root.locator("input[type=file]").set_input_files(
        [{"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    expect(chat.root.locator(".bc-composer-problem li")).to_have_count(1)
    assert serious_violations(site) == []

    chat.button("Conversation history").click()
    expect(chat.root.locator(".bc-thread")).to_have_count(1)
    assert serious_violations(site) == []


def test_the_full_page_and_the_gallery_have_no_serious_violations(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    site.login("alice", next_path="/chat/")
    expect(Chat(site).root).to_be_visible(timeout=10_000)
    assert serious_violations(site) == []
    site.goto("/chat/widgets/")
    site.page.wait_for_function("() => document.documentElement.dataset.galleryReady")
    assert serious_violations(site) == []


def test_answers_and_errors_are_announced(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    # The conversation is a polite live log; an answer is busy (not read) until complete.
    expect(chat.log).to_have_attribute("aria-live", "polite")
    chat.send("Hello")
    chat.wait_for_answer(ANSWER_END)
    answer = chat.log.locator(".bc-msg-assistant").last
    expect(answer).to_have_attribute("aria-busy", "false")
    # An error is an alert.
    chat.root.locator("input[type=file]").set_input_files(
        [{"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    expect(chat.root.get_by_role("alert").filter(has_text="tool.exe")).to_be_visible()


def test_the_favicon_is_served(open_site):
    site = open_site(cdn="abort")
    site.goto("/")
    href = site.page.locator("link[rel=icon]").get_attribute("href")
    response = site.page.request.get(site.base_url + href)
    assert response.status == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
