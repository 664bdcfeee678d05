"""The page's side of the ChatKit protocol, with the ChatKit-widget double: the options it
is given (client tools, widget actions, @-mentions, composer, locale), and the double
routing a client tool, a client effect and widget actions the way the widget does,
against the real site and the offline demo agent."""

import pytest
from playwright.sync_api import expect

from chat.models import ThreadItem
from tests.browser.site import SitePage
from tests.chatkit_client import assistant_text

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def done_items(events: list[dict], item_type: str) -> list[dict]:
    return [
        event["item"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == item_type
    ]


def buttons(widget: dict) -> list[dict]:
    found = [widget] if widget.get("type") == "Button" else []
    for child in widget.get("children") or []:
        found += buttons(child)
    return found


def chat_as_alice(open_site, make_user) -> tuple[SitePage, dict]:
    make_user("alice")
    site = open_site()
    site.login("alice")
    return site, site.open_chat()


def test_the_widget_gets_the_protocol_options(open_site, make_user):
    site, options = chat_as_alice(open_site, make_user)

    assert options["hasClientTool"] and options["hasOnAction"]
    assert options["hasTagSearch"] and options["hasPreview"]
    assert options["composer"]["tools"] == [
        {"id": "search", "label": "Search my conversations", "icon": "search"}
    ]
    assert "dictation" not in options["composer"]  # offline: no transcription provider
    assert options["locale"] == "en"
    prompts = [prompt["prompt"] for prompt in options["startScreen"]["prompts"]]
    assert "Show me a widget" in prompts and "Switch to dark mode" in prompts


def test_a_client_tool_runs_in_the_page_and_the_answer_continues(open_site, make_user):
    site, _ = chat_as_alice(open_site, make_user)
    assert site.page.evaluate("document.documentElement.dataset.theme") == "light"

    result = site.chatkit("createThread", "Please switch to dark mode")

    [call] = site.chatkit_record("clientTools")
    assert call == {
        "name": "switch_theme",
        "params": {"theme": "dark"},
        "result": {"theme": "dark"},
    }
    expect(site.page.locator("html")).to_have_attribute("data-theme", "dark")
    follow_up = result["followUp"]
    assert follow_up["status"] == 200
    assert "switch_theme tool says" in assistant_text(follow_up["events"])
    # The widget follows the page's theme.
    site.page.wait_for_function(
        "() => window.__chatkit.options.at(-1).theme.colorScheme === 'dark'"
    )
    stored = ThreadItem.objects.get(thread_id=result["threadId"], type="client_tool_call")
    assert stored.data["status"] == "completed" and stored.data["output"] == {"theme": "dark"}


def test_a_client_effect_reaches_the_sites_registry(open_site, make_user):
    site, _ = chat_as_alice(open_site, make_user)
    # A site's own handler wins over the built-in one.
    site.page.evaluate(
        "() => { window.__seen = [];"
        " window.chat.effects.celebrate = (data) => window.__seen.push(data.message); }"
    )

    site.chatkit("createThread", "Let's celebrate!")

    [effect] = site.chatkit_record("effects")
    assert effect["name"] == "celebrate"
    assert site.page.evaluate("window.__seen") == [effect["data"]["message"]]


def test_the_built_in_celebration_shows_on_the_page(open_site, make_user, screenshot_dir):
    site, _ = chat_as_alice(open_site, make_user)

    site.chatkit("createThread", "Let's celebrate!")

    banner = site.page.get_by_role("status").filter(has_text="Hooray")
    expect(banner).to_be_visible()
    banner.evaluate("b => Promise.all(b.getAnimations().map(a => a.finished))")
    site.page.screenshot(path=screenshot_dir / "celebration.png")


def test_widget_actions_are_routed_to_the_server_or_the_page(open_site, make_user):
    site, _ = chat_as_alice(open_site, make_user)
    created = site.chatkit("createThread", "Show me a widget")
    [widget] = done_items(created["events"], "widget")
    count, like = buttons(widget["widget"])

    streamed = site.chatkit("clickAction", count["onClickAction"], widget)
    synced = site.chatkit("clickAction", like["onClickAction"], widget)
    site.page.evaluate(
        "() => { window.__opened = null;"
        " window.chat.actions['tests.open'] = async (action, item) =>"
        " { window.__opened = { payload: action.payload, item: item.id }; }; }"
    )
    client = site.chatkit(
        "clickAction", {"type": "tests.open", "handler": "client", "payload": {"page": 2}}, widget
    )

    assert streamed["handledBy"] == "threads.custom_action" and streamed["status"] == 200
    [replaced] = [e["item"] for e in streamed["events"] if e["type"] == "thread.item.replaced"]
    assert replaced["id"] == widget["id"]
    assert "clicked the demo widget's button 1 time" in assistant_text(streamed["events"])
    assert synced["handledBy"] == "threads.sync_custom_action" and synced["status"] == 200
    assert [b["label"] for b in buttons(synced["json"]["updated_item"]["widget"])][1] == "Liked"
    assert client == {"handledBy": "client"}
    assert site.page.evaluate("window.__opened") == {"payload": {"page": 2}, "item": widget["id"]}


def test_mentions_search_and_preview_the_users_conversations(open_site, make_user):
    site, _ = chat_as_alice(open_site, make_user)
    created = site.chatkit("createThread", "Budget for the trip")

    found = site.chatkit("searchTags", "budget")
    preview = site.chatkit("previewEntity", found[0])
    missing = site.chatkit("previewEntity", {"id": "thr_nobody", "title": "x"})

    assert [entity["id"] for entity in found] == [created["threadId"]]
    assert found[0]["title"] == "Budget for the trip"
    assert preview["preview"]["type"] == "Basic"
    assert missing == {"preview": None}
