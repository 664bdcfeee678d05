"""The built-in client's widget renderer (static/chat/builtin/widgets.js) on the widget
gallery page: one of each chatkit.widgets component (openai-chatkit 1.6.5), built by the
server from the SDK's models; streamed text, component and root updates; actions with their
form values; light, dark and phone screenshots."""

import json

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat.widget_gallery import COMPONENT_TYPES
from tests.browser.site import SitePage

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def open_gallery(open_site, **options) -> SitePage:
    site = open_site(cdn="abort", **options)
    site.goto("/chat/widgets/")
    site.page.wait_for_function("() => document.documentElement.dataset.galleryReady")
    return site


def actions(site: SitePage) -> list[dict]:
    return site.page.evaluate("() => window.__gallery.actions()")


def test_the_gallery_shows_every_component(open_site):
    site = open_gallery(open_site)
    shown = set(
        site.page.evaluate(
            "() => [...document.querySelectorAll('[data-w-type]')].map(e => e.dataset.wType)"
        )
    )
    assert shown == set(COMPONENT_TYPES)
    page = site.page
    expect(page.locator("[data-w-type=Title]").first).to_have_text("Trip to Lisbon")
    expect(page.locator("[data-w-type=Markdown] strong")).to_have_text("Markdown")
    expect(page.locator("[data-w-type=Badge]").first).to_have_text("Confirmed")
    expect(page.locator("svg[data-icon=star] path")).to_have_count(1)  # an SVG, not a glyph
    expect(page.get_by_role("img", name="Site logo")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name")).to_have_attribute(
        "placeholder", "Ada Lovelace"
    )
    expect(page.get_by_role("combobox", name="Meal")).to_have_value("fish")
    expect(page.get_by_role("checkbox", name="Travel insurance")).to_be_checked()
    expect(page.get_by_role("radio", name="Window")).to_be_checked()
    expect(page.locator("input[type=date][name=date]")).to_have_value("2026-05-01")
    chart = page.get_by_role("img", name="Chart: Rain, Sun, Wind")
    expect(chart.locator("rect.w-bar")).to_have_count(3)
    expect(chart.locator("polyline.w-line")).to_have_count(2)
    expect(chart.locator("polygon.w-area")).to_have_count(1)
    expect(page.locator(".w-legend-item")).to_have_text(["Rain", "Sun", "Wind"])
    expect(page.get_by_role("button", name="Disabled")).to_be_disabled()
    # A list limited to two shows two, then the rest on request.
    items = page.locator("[data-w-type=ListView] .w-list > li")
    expect(items.and_(page.locator(":visible"))).to_have_count(2)
    page.get_by_role("button", name="Show more").click()
    expect(items.and_(page.locator(":visible"))).to_have_count(3)


def test_actions_carry_their_payload_and_form_values(open_site):
    site = open_gallery(open_site)
    page = site.page
    page.get_by_role("button", name="Book").click()
    page.get_by_role("button", name="Not now").click()
    page.get_by_role("button", name="Flight 2").click()
    # The card that is a form: its fields go with its confirm action.
    page.get_by_role("textbox", name="Name").fill("Grace Hopper")
    page.get_by_role("radio", name="Aisle").check()
    page.get_by_role("checkbox", name="Travel insurance").uncheck()
    page.get_by_role("button", name="Send").click()
    # A Form with a submit button.
    page.get_by_role("textbox").and_(page.locator("[name=query]")).fill("LIS")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("#widget-actions li")).to_have_count(5)
    book, dismiss, flight, details, search = actions(site)
    assert (book["type"], book["payload"], book["streaming"]) == (
        "trip.book",
        {"trip": "lisbon"},
        True,
    )
    assert (dismiss["type"], dismiss["streaming"]) == ("trip.dismiss", False)
    assert (flight["type"], flight["payload"]) == ("flight.pick", {"id": 2})
    assert details["type"] == "details.submit"
    assert details["values"] == {
        "name": "Grace Hopper",
        "notes": "Window seat",
        "meal": "fish",
        "insurance": False,
        "seat": "aisle",
        "date": "2026-05-01",
    }
    assert (search["type"], search["values"], search["streaming"]) == (
        "search.run",
        {"query": "LIS"},
        False,
    )


def test_a_required_field_holds_the_form_back(open_site):
    site = open_gallery(open_site)
    site.page.get_by_role("button", name="Send").click()
    assert actions(site) == []


def test_streamed_text_and_component_and_root_updates(open_site):
    site = open_gallery(open_site)
    page = site.page
    streamed = page.locator("[data-w-id=streamed]")
    expect(streamed).to_have_attribute("aria-busy", "true")
    page.evaluate(
        """() => {
            window.__gallery.update(0, { type: 'widget.streaming_text.value_delta',
                component_id: 'streamed', delta: ' grows', done: false });
            window.__gallery.update(0, { type: 'widget.streaming_text.value_delta',
                component_id: 'streamed', delta: ' and ends', done: true });
        }"""
    )
    expect(streamed).to_have_text("Streaming text grows and ends")
    expect(streamed).to_have_attribute("aria-busy", "false")
    page.evaluate(
        """() => window.__gallery.update(0, { type: 'widget.component.updated',
            component_id: 'streamed',
            component: { type: 'Badge', id: 'streamed', label: 'Replaced' } })"""
    )
    expect(page.locator("[data-w-id=streamed]")).to_have_text("Replaced")
    page.evaluate(
        """() => window.__gallery.update(1, { type: 'widget.root.updated',
            widget: { type: 'Card', children: [{ type: 'Text', value: 'A new root' }] } })"""
    )
    expect(page.get_by_text("A new root")).to_be_visible()
    expect(page.get_by_role("textbox", name="Name")).to_have_count(0)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("light", {}),
        ("dark", {"color_scheme": "dark"}),
        ("phone-light", {"viewport": {"width": 390, "height": 844}}),
        ("phone-dark", {"color_scheme": "dark", "viewport": {"width": 390, "height": 844}}),
    ],
)
def test_screenshots_of_the_gallery(open_site, screenshot_dir, name, options):
    site = open_gallery(open_site, **options)
    overflow = site.page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, "nothing wider than the screen"
    site.page.screenshot(path=str(screenshot_dir / f"widgets-{name}.png"), full_page=True)


def test_a_widget_in_a_conversation_sends_its_actions_to_the_server(open_site, make_user):
    """In the chat, a widget's actions go to /chatkit/: streamed ones as
    threads.custom_action, the others as threads.sync_custom_action, with the item's id and
    the form's values in the payload."""
    from chatkit.types import WidgetItem

    from chat import models
    from chat.chatkit.store import item_fields
    from chat.widget_gallery import gallery_widgets
    from tests.browser.site import login_and_open

    alice = make_user("alice")
    thread = models.Thread.objects.create(
        id="thr_widget",
        owner=alice,
        title="A widget",
        created_at=timezone.now(),
        updated_at=timezone.now(),
    )
    widgets = dict(gallery_widgets())
    for n, title in enumerate(["A card as a form", "A form and buttons"]):
        item = WidgetItem.model_validate(
            {
                "id": f"wid_{n}",
                "thread_id": thread.id,
                "created_at": timezone.now(),
                "widget": widgets[title],
                "copy_text": title,
            }
        )
        models.ThreadItem.objects.create(thread=thread, item_id=item.id, **item_fields(item))
    site = open_site(cdn="abort")
    site.page.add_init_script(f"localStorage.setItem('chat.thread.{alice.pk}', 'thr_widget')")
    chat = login_and_open(site, "alice")

    # (The server side of actions is another change's: what is checked here is what the
    # client sends.)
    def body_of(kind):
        return lambda request: f'"{kind}"' in (request.post_data or "")

    chat.root.locator("[name=query]").fill("LIS")
    with site.page.expect_request(body_of("threads.sync_custom_action")) as sync_request:
        chat.root.get_by_role("button", name="Search").click()
    synced = json.loads(sync_request.value.post_data)["params"]
    assert synced == {
        "thread_id": "thr_widget",
        "item_id": "wid_1",
        "action": {"type": "search.run", "payload": {"query": "LIS"}},
    }
    chat.wait_until_ready()
    chat.root.get_by_role("textbox", name="Name").fill("Ada")
    with site.page.expect_request(body_of("threads.custom_action")) as stream_request:
        chat.root.get_by_role("button", name="Send", exact=True).click()
    streamed = json.loads(stream_request.value.post_data)["params"]
    assert stream_request.value.headers["accept"] == "text/event-stream"
    assert streamed["item_id"] == "wid_0"
    assert streamed["action"]["type"] == "details.submit"
    assert streamed["action"]["payload"]["form"] == "details"
    assert streamed["action"]["payload"]["name"] == "Ada"
    assert streamed["action"]["payload"]["seat"] == "window"
