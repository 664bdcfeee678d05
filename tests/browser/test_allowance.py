"""The panel shows what is left of the user's daily token quota (issue 17: quotas per user
and group, "the user sees the remaining allowance"), and nothing when no quota applies."""

import re

import pytest
from playwright.sync_api import expect

from chat.models import QuotaOverride
from tests.browser.site import login_and_open

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_remaining_tokens_show_and_go_down_after_an_answer(open_site, make_user):
    alice = make_user("alice")
    QuotaOverride.objects.create(user=alice, daily_token_quota=5000)
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    allowance = site.panel.locator("[data-chat-allowance]")

    expect(allowance).to_have_text("5,000 of 5,000 tokens left today")
    assert site.requests_to("/chatkit/limits/")
    chat.send("hello there")
    chat.wait_for_answer("hello")

    expect(allowance).not_to_have_text("5,000 of 5,000 tokens left today")
    left = int(re.match(r"([\d,]+) of 5,000", allowance.inner_text()).group(1).replace(",", ""))
    assert 0 < left < 5000


def test_nothing_shows_without_a_quota(open_site, make_user):
    make_user("bob")
    site = open_site(cdn="abort")
    login_and_open(site, "bob")
    site.page.wait_for_load_state("networkidle")

    expect(site.panel.locator("[data-chat-allowance]")).to_be_hidden()
    # Nothing to show, so nothing asked.
    assert site.requests_to("/chatkit/limits/") == []
