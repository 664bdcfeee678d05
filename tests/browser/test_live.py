"""Answers outlive the page, and every tab of a user stays in step (issue "Answers outlive
the page"), end to end in Chromium against the real site.

The site of this module answers slowly (CHAT_DEMO_WORD_DELAY), so a test can leave a page,
stop, or look from another tab while an answer runs. CHAT_WIDGET is "auto": with the CDN
blocked the panel runs the built-in client, with the CDN served the ChatKit test double
(chatkit_double.js), whose fetchUpdates() re-reads the thread and shows it, like the widget.
"""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat.models import Thread, ThreadItem, Turn
from tests.browser.servers import LiveSite
from tests.browser.site import (
    ANSWER_END,
    WIDGET_TIMEOUT,
    Chat,
    SitePage,
    login_and_open,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Long enough to act mid-answer (a demo answer has some 45 words), short enough to wait for.
WORD_DELAY = "0.15"


@pytest.fixture(scope="module")
def slow_site(site_factory) -> LiveSite:
    return site_factory("live-sync-site", CHAT_DEMO_WORD_DELAY=WORD_DELAY)


def new_thread(user, thread_id: str) -> Thread:
    now = timezone.now()
    return Thread.objects.create(
        id=thread_id, owner=user, title="Earlier", created_at=now, updated_at=now
    )


def thread_of(user) -> Thread:
    [thread] = Thread.objects.filter(owner=user)
    return thread


def stored_answers(thread: Thread) -> list[str]:
    return list(
        ThreadItem.objects.filter(thread=thread, type="assistant_message").values_list(
            "text", flat=True
        )
    )


def turn_states(thread: Thread) -> list[str]:
    return list(
        Turn.objects.filter(thread=thread).order_by("started_at").values_list("state", flat=True)
    )


def stop_requests(site: SitePage) -> list:
    return [e for e in site.exchanges if e.path.endswith("/stop/")]


def wait_for_words(site: SitePage, count: int) -> None:
    """Wait until the built-in client's last answer shows at least `count` words."""
    site.page.wait_for_function(
        "n => { const a = [...document.querySelectorAll('.bc-msg-assistant .bc-md')].at(-1);"
        " return a && a.textContent.trim().split(/\\s+/).length >= n; }",
        arg=count,
    )


def open_tab(open_site, site: SitePage) -> Chat:
    """Another tab of the same browser on the site; its panel opens by itself (the panel's
    state is the user's, in localStorage), with the remembered thread."""
    tab = open_site(tab_of=site)
    tab.goto("/")
    chat = Chat(tab)
    expect(chat.root).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 5000)
    return chat


# --- the built-in client ----------------------------------------------------------------------


def test_an_answer_keeps_streaming_on_the_next_page_and_ends_complete(
    open_on, slow_site, make_user, screenshot_dir
):
    alice = make_user("alice")
    site = open_on(slow_site, cdn="abort")
    chat = login_and_open(site, "alice")
    chat.send("Keep answering while I move on")
    wait_for_words(site, 5)
    before = chat.answers().last.inner_text().strip()

    site.goto("/about/")

    chat = Chat(site)
    expect(chat.root).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 5000)
    expect(chat.button("Stop the answer")).to_be_visible()
    chat.record_answer_text()
    expect(chat.user_messages()).to_have_text(["Keep answering while I move on"])
    expect(chat.answers()).to_have_count(1)
    wait_for_words(site, len(before.split()) + 5)
    site.wait_for_panel_settled()
    site.page.screenshot(path=str(screenshot_dir / "builtin-resumed-after-navigation.png"))

    final = chat.wait_for_answer(ANSWER_END, timeout=30_000)

    # It went on growing here, from where it was: nothing lost, nothing twice.
    states = chat.answer_states()
    assert len(states) >= 2, states
    assert all(final.startswith(state.strip()) for state in states), states
    assert final.startswith(before)
    expect(chat.user_messages()).to_have_count(1)
    expect(chat.answers()).to_have_count(1)
    thread = thread_of(alice)
    assert stored_answers(thread) == [final]
    assert wait_until(lambda: turn_states(thread) == ["complete"])
    # The next page resumed it; leaving the first one stopped nothing.
    resumed = site.requests_to(f"/chatkit/threads/{thread.id}/resume/")
    assert [exchange.status for exchange in resumed] == [200]
    assert stop_requests(site) == []


def test_the_stop_button_stops_the_answer_on_the_server_after_a_page_change(
    open_on, slow_site, make_user
):
    alice = make_user("alice")
    site = open_on(slow_site, cdn="abort")
    chat = login_and_open(site, "alice")
    chat.send("Stop me on the next page")
    wait_for_words(site, 3)
    site.goto("/about/")
    chat = Chat(site)
    expect(chat.button("Stop the answer")).to_be_enabled(timeout=WIDGET_TIMEOUT * 1000 + 5000)
    wait_for_words(site, 12)

    chat.button("Stop the answer").click()

    expect(chat.root.locator(".bc-stopped")).to_have_text("Stopped")
    chat.wait_until_ready()
    thread = thread_of(alice)
    [stop] = stop_requests(site)
    assert (stop.path, stop.status) == (f"/chatkit/threads/{thread.id}/stop/", 200)
    shown = chat.answers().last.inner_text().strip()
    # What the user sees is what the server kept: the answer as far as it had come.
    assert [text.strip() for text in stored_answers(thread)] == [shown]
    assert ANSWER_END not in shown and len(shown.split()) >= 12
    assert turn_states(thread) == ["stopped"]


# --- two tabs of one browser ---------------------------------------------------------------


def test_two_tabs_show_each_others_answers_renames_and_deletions(
    open_on, open_site, slow_site, make_user, screenshot_dir
):
    make_user("alice")
    first = open_on(slow_site, cdn="abort")
    a = login_and_open(first, "alice")
    a.send("First question")
    a.wait_for_answer(ANSWER_END, timeout=30_000)
    b = open_tab(open_site, first)
    expect(b.user_messages()).to_have_text(["First question"])

    # A new answer in tab A streams into tab B as well.
    a.send("Second question")
    expect(b.user_messages()).to_have_text(["First question", "Second question"])
    expect(b.button("Stop the answer")).to_be_visible()
    b.record_answer_text()
    expect(b.answers()).to_have_count(2)
    wait_for_words(b.site, 8)
    b.site.wait_for_panel_settled()
    b.site.page.screenshot(path=str(screenshot_dir / "builtin-two-tabs-b-answering.png"))
    answer = b.wait_for_answer("message 2 of this conversation", index=1, timeout=30_000)
    assert ANSWER_END in answer
    assert len(b.answer_states()) >= 2, "the answer did not grow in the other tab"
    expect(b.answers()).to_have_count(2)
    expect(b.user_messages()).to_have_count(2)
    a.wait_until_ready()

    # Renamed in tab A: the title changes in tab B's header and history.
    b.button("Conversation history").click()
    b_rows = b.root.locator(".bc-thread")
    expect(b_rows.locator(".bc-thread-title")).to_have_text(["First question"])
    a.button("Conversation history").click()
    a.button("Rename “First question”").click()
    a.root.get_by_role("textbox", name="New title").fill("Renamed in tab A")
    a.root.get_by_role("textbox", name="New title").press("Enter")
    expect(b_rows.locator(".bc-thread-title")).to_have_text(["Renamed in tab A"])
    expect(b.root.locator(".bc-title")).to_have_text("Renamed in tab A")
    expect(b.button("Delete “Renamed in tab A”")).to_be_visible()
    for tab, name in ((first, "a"), (b.site, "b")):
        tab.wait_for_panel_settled()
        tab.page.screenshot(path=str(screenshot_dir / f"builtin-two-tabs-{name}.png"))

    # A conversation started in tab A appears at the top of tab B's history.
    a.button("Back to the conversation").click()
    a.button("New conversation").click()
    a.send("Another topic")
    expect(b_rows.locator(".bc-thread-title")).to_have_text(["Another topic", "Renamed in tab A"])
    a.wait_for_answer(ANSWER_END, timeout=30_000)

    # Tab B's open conversation is deleted in tab A: its row goes, tab B starts afresh.
    a.button("Conversation history").click()
    a.button("Delete “Renamed in tab A”").click()
    a.root.get_by_role("group", name="Confirm deletion").get_by_role(
        "button", name="Delete"
    ).click()
    expect(b_rows.locator(".bc-thread-title")).to_have_text(["Another topic"])
    expect(b.root.locator(".bc-title")).to_have_text("New conversation")
    b.button("Back to the conversation").click()
    expect(b.root.locator(".bc-greeting")).to_be_visible()
    expect(b.answers()).to_have_count(0)
    assert stop_requests(first) == [] and stop_requests(b.site) == []


# --- the ChatKit widget (its test double) -------------------------------------------------


def shown_by_double(site: SitePage, kind: str):
    """The messages of `kind` the double shows (what its last fetchUpdates read)."""
    return site.page.locator("openai-chatkit").locator(f".message.{kind}")


def test_the_widget_reads_a_background_answer_as_it_grows(open_on, open_site, slow_site, make_user):
    alice = make_user("alice")
    thread = new_thread(alice, "thr_background")
    watching = open_on(slow_site, cdn="double")
    watching.login("alice")
    watching.page.evaluate(
        "([key, id]) => localStorage.setItem(key, id)", [f"chat.thread.{alice.pk}", thread.id]
    )
    watching.open_chat()
    assert watching.chatkit_record("threadId") == thread.id

    # Another tab asks; this tab's widget streams nothing itself.
    asking = open_site(tab_of=watching)
    asking.goto("/")
    asking.wait_for_options()
    asking.chatkit("startStream", "Asked in the other tab", thread.id)

    answer = shown_by_double(watching, "assistant_message")
    expect(shown_by_double(watching, "user_message")).to_have_text(["Asked in the other tab"])
    expect(answer).to_contain_text("This is the offline demo assistant")
    partial = answer.inner_text()
    assert ANSWER_END not in partial, "shown only once complete"
    expect(answer).to_contain_text(ANSWER_END, timeout=30_000)
    assert turn_states(thread) == ["complete"]
    updates = [u for u in watching.chatkit_record("updates") if u["threadId"] == thread.id]
    assert len(updates) >= 3, updates
    # The tab streaming the answer itself did not re-read the thread meanwhile.
    asking.page.wait_for_function("() => window.__chatkit.stream.done")
    stream = asking.chatkit_record("stream")
    assert stream["error"] is None and stream["status"] == 200
    during = [u for u in asking.chatkit_record("updates") if u["at"] < stream["endedAt"]]
    assert during == []


def test_the_widgets_stop_becomes_a_stop_request_and_keeps_the_partial_answer(
    open_on, slow_site, make_user
):
    alice = make_user("alice")
    site = open_on(slow_site, cdn="double")
    site.login("alice")
    site.open_chat()
    site.chatkit("startStream", "Stop me, widget", None)
    site.page.wait_for_function("() => window.__chatkit.streamedText().split(' ').length >= 8")

    with site.page.expect_response(lambda response: response.url.endswith("/stop/")) as stopped:
        site.chatkit("abortStream")

    thread = thread_of(alice)
    stop = stopped.value
    assert (stop.request.method, stop.url, stop.status) == (
        "POST",
        f"{site.base_url}/chatkit/threads/{thread.id}/stop/",
        200,
    )
    assert stop.json() == {"stopped": True}
    assert wait_until(lambda: turn_states(thread) == ["stopped"])
    [stored] = stored_answers(thread)
    shown = site.chatkit("streamedText")
    assert stored.startswith(shown.strip()) and ANSWER_END not in stored
    assert site.chatkit_record("stream")["error"] == "AbortError"


@pytest.mark.parametrize("aborted_on", ["beforeunload", "pagehide"])
def test_leaving_the_page_with_the_widget_streaming_stops_nothing(
    open_on, slow_site, make_user, aborted_on
):
    alice = make_user("alice")
    thread = new_thread(alice, f"thr_leave_{aborted_on}")
    site = open_on(slow_site, cdn="double")
    site.login("alice")
    site.page.evaluate(
        "([key, id]) => localStorage.setItem(key, id)", [f"chat.thread.{alice.pk}", thread.id]
    )
    site.open_chat()
    # A widget may abort its request as the page goes: that is no stop.
    site.page.evaluate("event => { window.__chatkit.abortOnLeave = event; }", aborted_on)
    site.chatkit("startStream", "Go on without me", thread.id)
    site.page.wait_for_function("() => window.__chatkit.streamedText().split(' ').length >= 4")

    site.goto("/about/")

    # On the next page the widget re-reads the thread while the answer runs, to its end.
    site.wait_for_options()
    answer = shown_by_double(site, "assistant_message")
    expect(answer).to_contain_text("This is the offline demo assistant")
    assert ANSWER_END not in answer.inner_text()
    expect(answer).to_contain_text(ANSWER_END, timeout=30_000)
    assert turn_states(thread) == ["complete"]
    assert stop_requests(site) == []
