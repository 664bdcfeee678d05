"""The built-in chat client (issue 7), end to end: headless Chromium against the real site
on loopback and the real test database. Only the ChatKit CDN URL is routed (blocked, or
served the test double); every request to the site itself goes through untouched.

Three sites serve these tests: `live_site` (the shared one: CHAT_WIDGET "auto", quick demo
answers), `slow_site` (CHAT_WIDGET "builtin", answers slow enough to stop mid-way) and
`failing_site` (CHAT_WIDGET "builtin", a model provider and an MCP server that are down,
so answers end in ChatKit error events and notices).
"""

import json
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone
from playwright.sync_api import expect
from rest_framework_simplejwt.tokens import AccessToken

from chat.models import Feedback, Thread, ThreadItem
from tests.browser.servers import LiveSite
from tests.browser.site import (
    ANSWER_END,
    CDN_URL,
    WIDGET_TIMEOUT,
    Chat,
    SitePage,
    login_and_open,
    wait_until,
)
from tests.browser.test_widget_config import chat_config
from tests.instances import free_port

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b0c2bc0000000049454e44ae426082"
)


# --- more sites ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_site(site_factory) -> LiveSite:
    """CHAT_WIDGET=builtin, demo answers of about ten seconds (time to stop one), and the
    direct upload strategy."""
    return site_factory(
        "slow-site",
        CHAT_WIDGET="builtin",
        CHAT_DEMO_WORD_DELAY="0.2",
        CHAT_ATTACHMENT_UPLOAD_STRATEGY="direct",
    )


@pytest.fixture(scope="module")
def failing_site(site_factory) -> LiveSite:
    """CHAT_WIDGET=builtin with a model provider and an MCP server that refuse connections."""
    dead = f"http://127.0.0.1:{free_port()}"
    return site_factory(
        "failing-site",
        CHAT_WIDGET="builtin",
        CHAT_MODEL_BASE_URL=f"{dead}/v1",
        CHAT_MODEL_TIMEOUT="5",
        CHAT_MCP_SERVERS=json.dumps([{"name": "docs", "url": f"{dead}/mcp", "timeout": 2}]),
    )


# --- the built-in client as a user drives it ---------------------------------------------


def thread_of(user) -> Thread:
    [thread] = Thread.objects.filter(owner=user)
    return thread


def stored_texts(thread: Thread) -> list[tuple[str, str]]:
    return [(item.type, item.text) for item in ThreadItem.objects.filter(thread=thread)]


# --- tests ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "mode"),
    [
        (None, "auto"),
        ("auto", "auto"),
        ("builtin", "builtin"),
        (" ChatKit ", "chatkit"),
        ("bogus", "auto"),
    ],
)
def test_page_config_carries_the_widget_mode(client, alice, settings, caplog, setting, mode):
    """CHAT_WIDGET as the page's JavaScript gets it (no browser needed)."""
    if setting is None:
        # Unset, whatever the environment says: the default applies.
        settings.CHAT_WIDGET = None
        del settings.CHAT_WIDGET
    else:
        settings.CHAT_WIDGET = setting
    client.force_login(alice)

    config = chat_config(client.get("/").content.decode())

    assert config["widget"] == mode
    assert config["attachmentUrl"] == "/chatkit/attachments/__id__/"
    assert ("is not one of" in caplog.text) == (setting == "bogus")


def test_auto_falls_back_to_builtin_when_the_cdn_is_blocked_and_answers_stream_in(
    open_site, make_user
):
    alice = make_user("alice")
    site = open_site(cdn="abort")

    chat = login_and_open(site, "alice")

    # The fallback says why in one line, with the reason one click away.
    expect(chat.root.get_by_role("status").first).to_contain_text(
        "The chat widget could not be loaded, so this is the site's built-in chat."
    )
    expect(site.page.locator("openai-chatkit")).to_have_count(0)
    expect(chat.composer).to_be_focused()
    chat.record_answer_text()

    chat.send("Hello built-in")

    final = chat.wait_for_answer(ANSWER_END)
    assert "You said: “Hello built-in”" in final
    states = chat.answer_states()
    partial = [state for state in states if state.strip() != final.strip()]
    assert len(partial) >= 2, f"the answer did not arrive in pieces: {states}"
    assert all(final.startswith(state.strip()) for state in partial), states
    expect(chat.user_messages()).to_have_text(["Hello built-in"])
    expect(chat.root.locator(".bc-title")).to_have_text("Hello built-in")

    thread = thread_of(alice)
    assert site.local_storage()[f"chat.thread.{alice.pk}"] == thread.id
    assert [kind for kind, _ in stored_texts(thread)] == ["user_message", "assistant_message"]
    [create] = [e for e in site.requests_to("/chatkit/") if "threads.create" in (e.body or "")]
    assert AccessToken(create.headers["authorization"].removeprefix("Bearer "))["user_id"] == str(
        alice.pk
    )
    assert site.request_json(create)["metadata"]["page"] == {
        "url": f"{site.base_url}/",
        "title": "Chat site",
    }

    # Reload: the panel reopens in the same thread, with its messages.
    site.page.reload()
    chat = Chat(site)
    expect(chat.root).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 5000)
    expect(chat.user_messages()).to_have_text(["Hello built-in"])
    expect(chat.answers()).to_have_count(1)
    assert chat.answers().first.inner_text().strip() == final.strip()
    expect(chat.root.locator(".bc-title")).to_have_text("Hello built-in")


MARKDOWN_MESSAGE = (
    "Format this:\n\n- **bold** item\n- `code` item\n\n"
    "```\ndef greet():\n    return 'hi'\n```\n\nThanks"
)


def test_screenshots_of_a_conversation_light_dark_and_phone(open_site, make_user, screenshot_dir):
    make_user("alice")
    site = open_site(cdn="abort", color_scheme="light")
    chat = login_and_open(site, "alice")
    chat.send("What time is it?")
    chat.wait_for_answer("current_time tool says")
    chat.send(MARKDOWN_MESSAGE)
    chat.wait_for_answer(ANSWER_END, index=1)
    site.wait_for_panel_settled()
    chat.wait_until_scrolled_to_end()
    site.page.screenshot(path=str(screenshot_dir / "builtin-light.png"))

    site.page.set_viewport_size({"width": 375, "height": 740})
    chat.wait_until_scrolled_to_end()
    site.page.screenshot(path=str(screenshot_dir / "builtin-phone-light.png"))
    # Readable at phone width: nothing sticks out sideways (code blocks scroll inside).
    widths = chat.root.evaluate(
        "root => [...root.querySelectorAll('.bc-scroller, .bc-composer, .bc-toolbar')]"
        ".map(e => e.scrollWidth - e.clientWidth)"
    )
    assert widths == [0, 0, 0]
    assert chat.root.evaluate("root => root.getBoundingClientRect().right") <= 375
    chat.button("Conversation history").click()
    expect(chat.root.locator(".bc-thread")).to_have_count(1)
    site.page.screenshot(path=str(screenshot_dir / "builtin-phone-history.png"))
    chat.button("Back to the conversation").click()

    # On a phone the panel covers the theme toggle: switch it at desktop width.
    site.page.set_viewport_size({"width": 1280, "height": 800})
    site.page.get_by_role("button", name="Dark mode").click()
    expect(site.page.locator("html")).to_have_attribute("data-theme", "dark")
    expect(chat.root).to_have_attribute("data-theme", "dark")
    chat.wait_until_scrolled_to_end()
    site.page.screenshot(path=str(screenshot_dir / "builtin-dark.png"))
    site.page.set_viewport_size({"width": 375, "height": 740})
    chat.wait_until_scrolled_to_end()
    site.page.screenshot(path=str(screenshot_dir / "builtin-phone-dark.png"))


def test_builtin_mode_never_loads_the_cdn_and_stop_keeps_the_partial_answer(
    open_on, slow_site, make_user
):
    alice = make_user("alice")
    site = open_on(slow_site, cdn="double")

    chat = login_and_open(site, "alice")

    # "builtin": the ChatKit script is not even requested, and nothing says it failed.
    assert CDN_URL not in site.urls
    expect(site.page.locator("openai-chatkit")).to_have_count(0)
    expect(chat.root.locator(".bc-fallback")).to_have_count(0)
    chat.send("Please stop me halfway")
    stop = chat.button("Stop the answer")
    expect(stop).to_be_visible()
    answer = chat.answers().last
    # Screen readers get the answer once complete, not word by word.
    expect(chat.log).to_have_attribute("aria-live", "polite")
    expect(answer.locator("xpath=..")).to_have_attribute("aria-busy", "true")
    site.page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('.bc-msg-assistant .bc-md')].at(-1);"
        " return a && a.textContent.split(' ').length >= 6; }"
    )

    stop.click()

    expect(chat.root.locator(".bc-stopped")).to_have_text("Stopped")
    expect(chat.button("Send message")).to_be_visible()
    shown = answer.inner_text().strip()
    assert ANSWER_END not in shown
    # The server saw the hang-up and kept the partial answer.
    thread = thread_of(alice)
    saved = wait_until(
        lambda: [text for kind, text in stored_texts(thread) if kind == "assistant_message"]
    )
    assert saved[0].startswith(shown) and ANSWER_END not in saved[0]

    site.page.reload()
    chat = Chat(site)
    expect(chat.answers()).to_have_count(1)
    reloaded = chat.answers().first.inner_text().strip()
    assert reloaded.startswith(shown), (reloaded, shown)
    assert ANSWER_END not in reloaded
    expect(chat.user_messages()).to_have_text(["Please stop me halfway"])


def test_autoscroll_follows_the_answer_until_the_user_scrolls_up(open_on, slow_site, make_user):
    make_user("alice")
    site = open_on(slow_site, cdn="abort")
    chat = login_and_open(site, "alice")
    scroller = chat.root.locator(".bc-scroller")
    metrics = "s => [s.scrollTop, s.scrollHeight, s.clientHeight]"
    # A long question, so the conversation is taller than the panel.
    chat.send("\n".join(f"Line {n} of a long question." for n in range(40)))
    site.page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('.bc-msg-assistant .bc-md')].at(-1);"
        " return a && a.textContent.split(' ').length >= 3; }"
    )
    top, height, client = scroller.evaluate(metrics)
    assert height > client and top + client >= height - 2, "not following the answer"

    scroller.hover()
    site.page.mouse.wheel(0, -400)
    site.page.wait_for_function(
        "s => s.scrollHeight - s.scrollTop - s.clientHeight > 200", arg=scroller.element_handle()
    )
    held = position_at_rest(scroller)
    grown = scroller.evaluate("s => s.scrollHeight")
    wait_until_taller(scroller, grown)
    assert position_at_rest(scroller) == held, "scrolled although the user scrolled up"

    # Back at the end, it follows again: the answer grows and the view is at its new end.
    site.page.mouse.wheel(0, 5000)
    chat.wait_until_scrolled_to_end()
    grown = scroller.evaluate("s => s.scrollHeight")
    site.page.wait_for_function(
        "([s, h]) => s.scrollHeight > h && s.scrollHeight - s.scrollTop - s.clientHeight < 2",
        arg=[scroller.element_handle(), grown],
    )
    chat.button("Stop the answer").click()


def position_at_rest(scroller) -> float:
    """The scroller's position once it stays put for ten frames (a wheel scroll may glide)."""
    return scroller.evaluate(
        """s => new Promise(resolve => {
            let last = s.scrollTop, still = 0;
            const check = () => {
                still = s.scrollTop === last ? still + 1 : 0;
                last = s.scrollTop;
                if (still >= 10) resolve(last); else requestAnimationFrame(check);
            };
            requestAnimationFrame(check);
        })"""
    )


def wait_until_taller(scroller, height: float) -> None:
    """Wait until the answer has grown the scroller's content beyond `height`."""
    scroller.page.wait_for_function(
        "([s, h]) => s.scrollHeight > h", arg=[scroller.element_handle(), height]
    )


def test_a_new_conversation_opens_at_its_greeting(open_site, make_user):
    """Offline, the start screen lists eight suggestions, more than the panel holds: it
    opens at the greeting, and so does the next new conversation."""
    make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    greeting = chat.root.locator(".bc-greeting")
    scroller = chat.root.locator(".bc-scroller")
    assert scroller.evaluate("s => s.scrollHeight > s.clientHeight")
    expect(greeting).to_be_in_viewport(ratio=1)

    chat.send("First question")
    chat.wait_for_answer(ANSWER_END)
    chat.button("New conversation").click()

    expect(greeting).to_be_in_viewport(ratio=1)


def test_feedback_rename_and_delete_are_stored(open_site, make_user):
    alice = make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    chat.send("First question")
    chat.wait_for_answer(ANSWER_END)
    first = thread_of(alice)
    chat.button("New conversation").click()
    expect(chat.answers()).to_have_count(0)
    expect(chat.root.locator(".bc-greeting")).to_be_visible()
    assert f"chat.thread.{alice.pk}" not in site.local_storage()
    chat.send("Second question")
    chat.wait_for_answer(ANSWER_END)
    second = Thread.objects.filter(owner=alice).exclude(pk=first.pk).get()
    answer_id = ThreadItem.objects.get(thread=second, type="assistant_message").item_id

    good = chat.root.locator("[data-vote=positive]")
    bad = chat.root.locator("[data-vote=negative]")
    good.click()
    expect(good).to_have_attribute("aria-pressed", "true")
    assert Feedback.objects.get(item__item_id=answer_id, user=alice).kind == "positive"
    bad.click()
    expect(bad).to_have_attribute("aria-pressed", "true")
    expect(good).to_have_attribute("aria-pressed", "false")
    assert Feedback.objects.get(item__item_id=answer_id, user=alice).kind == "negative"

    chat.button("Conversation history").click()
    rows = chat.root.locator(".bc-thread")
    expect(rows.locator(".bc-thread-title")).to_have_text(["Second question", "First question"])
    expect(rows.first.locator(".bc-thread-open")).to_have_attribute("aria-current", "true")

    # Rename the open conversation: stored, and its title follows in the toolbar.
    chat.button("Rename “Second question”").click()
    title_box = chat.root.get_by_role("textbox", name="New title")
    expect(title_box).to_be_focused()
    max_length = Thread._meta.get_field("title").max_length
    expect(title_box).to_have_attribute("maxlength", str(max_length))
    title_box.fill("Renamed by Alice")
    title_box.press("Enter")
    expect(rows.first.locator(".bc-thread-title")).to_have_text("Renamed by Alice")
    second.refresh_from_db()
    assert second.title == "Renamed by Alice"
    expect(chat.root.locator(".bc-title")).to_have_text("Renamed by Alice")

    # Escape cancels a rename without closing the panel.
    chat.button("Rename “First question”").click()
    title_box.fill("Never saved")
    title_box.press("Escape")
    site.expect_panel_still_open()
    expect(rows.nth(1).locator(".bc-thread-title")).to_have_text("First question")

    chat.button("Delete “First question”").click()
    chat.root.get_by_role("group", name="Confirm deletion").get_by_role(
        "button", name="Delete"
    ).click()
    expect(rows).to_have_count(1)
    assert not Thread.objects.filter(pk=first.pk).exists()

    # Open the one left from the history: its messages come back.
    rows.first.locator(".bc-thread-open").click()
    expect(chat.user_messages()).to_have_text(["Second question"])
    expect(chat.composer).to_be_focused()

    # Deleting the open conversation starts a new one, shown in place of the history.
    chat.button("Conversation history").click()
    history = chat.root.locator(".bc-history")
    expect(history).to_be_visible()
    chat.button("Delete “Renamed by Alice”").click()
    chat.root.get_by_role("group", name="Confirm deletion").get_by_role(
        "button", name="Delete"
    ).click()
    expect(chat.root.locator(".bc-threads-status")).to_have_text("No conversations yet.")
    expect(history).to_be_hidden()
    expect(chat.root.locator(".bc-greeting")).to_be_visible()
    site.expect_panel_still_open()
    assert f"chat.thread.{alice.pk}" not in site.local_storage()
    assert not Thread.objects.filter(owner=alice).exists()


def test_history_is_newest_first_and_pages_as_the_user_scrolls(open_site, make_user):
    alice = make_user("alice")
    now = timezone.now()
    for n in range(45):
        Thread.objects.create(
            id=f"thr_page_{n:02d}",
            owner=alice,
            title=f"Conversation {n:02d}",
            created_at=now - timedelta(minutes=n),
            updated_at=now - timedelta(minutes=n),
        )
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")

    chat.button("Conversation history").click()

    titles = chat.root.locator(".bc-thread-title")
    expect(titles).to_have_count(20)
    expect(titles.first).to_have_text("Conversation 00")
    scroller = chat.root.locator(".bc-threads-scroller")
    for expected in (40, 45):
        scroller.hover()
        site.page.mouse.wheel(0, 10_000)
        expect(titles).to_have_count(expected)
    assert titles.all_inner_texts() == [f"Conversation {n:02d}" for n in range(45)]
    # Pages of the search endpoint (by last activity), 20 at a time, each after the last.
    searches = [url for url in site.urls if "/chatkit/threads/search/" in url]
    pages = [parse_qs(urlsplit(url).query) for url in searches]
    assert len(pages) == 3
    assert [page.get("limit") for page in pages] == [["20"]] * 3
    assert "after" not in pages[0] and pages[1]["after"] != pages[2]["after"]


def test_a_long_thread_opens_at_its_newest_messages_and_loads_older_ones_on_scroll_up(
    open_site, make_user
):
    alice = make_user("alice")
    now = timezone.now()
    thread = Thread.objects.create(
        id="thr_long", owner=alice, title="Long one", created_at=now, updated_at=now
    )
    for n in range(70):
        created = now + timedelta(seconds=n)
        ThreadItem.objects.create(
            thread=thread,
            item_id=f"msg_{n:02d}",
            type="assistant_message",
            created_at=created,
            text=f"Message {n:02d}",
            data={
                "id": f"msg_{n:02d}",
                "thread_id": thread.id,
                "created_at": created.isoformat(),
                "type": "assistant_message",
                "content": [{"type": "output_text", "text": f"Message {n:02d}", "annotations": []}],
            },
        )
    site = open_site(cdn="abort")
    site.login("alice")
    site.page.evaluate(f"() => localStorage.setItem('chat.thread.{alice.pk}', 'thr_long')")
    chat = Chat(site).open()

    answers = chat.answers()
    expect(answers).to_have_count(30)
    expect(answers.last).to_have_text("Message 69")
    chat.wait_until_scrolled_to_end()
    scroller = chat.root.locator(".bc-scroller")
    for expected in (60, 70):
        scroller.hover()
        site.page.mouse.wheel(0, -100_000)
        expect(answers).to_have_count(expected)
    assert answers.all_inner_texts() == [f"Message {n:02d}" for n in range(70)]
    expect(chat.root.locator(".bc-title")).to_have_text("Long one")


def test_a_second_user_in_a_fresh_browser_sees_none_of_the_first_users_threads(
    open_site, make_user
):
    alice = make_user("alice")
    bob = make_user("bob")
    alices = open_site(cdn="abort")
    chat = login_and_open(alices, "alice")
    chat.send("Alice's secret plan")
    chat.wait_for_answer(ANSWER_END)
    alice_thread = thread_of(alice)

    bobs = open_site(cdn="abort")
    bob_chat = login_and_open(bobs, "bob")

    expect(bob_chat.root.locator(".bc-greeting")).to_be_visible()
    expect(bob_chat.log).not_to_contain_text("secret plan")
    bob_chat.button("Conversation history").click()
    expect(bob_chat.root.locator(".bc-threads-status")).to_have_text("No conversations yet.")
    expect(bob_chat.root.locator(".bc-thread")).to_have_count(0)
    # Even told Alice's thread id, Bob's client gets nothing from it and starts afresh.
    bobs.page.evaluate(
        "([key, id]) => localStorage.setItem(key, id)", [f"chat.thread.{bob.pk}", alice_thread.id]
    )
    bobs.page.reload()
    bob_chat = Chat(bobs)
    expect(bob_chat.root.locator(".bc-greeting")).to_be_visible()
    expect(bob_chat.log).not_to_contain_text("secret plan")
    [get] = [e for e in bobs.requests_to("/chatkit/") if "threads.get_by_id" in (e.body or "")]
    assert get.status == 404
    assert not any(key.startswith("chat.thread.") for key in bobs.local_storage())


def test_auto_uses_chatkit_when_its_script_is_served(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="double")
    site.login("alice")

    site.open_chat()

    expect(site.page.locator("openai-chatkit")).to_have_count(1)
    expect(site.panel.locator("[data-builtin-client]")).to_have_count(0)
    # Nor is the built-in client (or its libraries) even downloaded.
    assert not [url for url in site.urls if "/static/chat/builtin/" in url or "/vendor/" in url]


@pytest.mark.parametrize(
    ("mode", "script", "expected"),
    [
        ("auto", {"ok": True}, "chatkit"),
        ("auto", {"ok": False, "reason": "blocked"}, "builtin"),
        ("builtin", {"ok": True}, "builtin"),
        ("chatkit", {"ok": False, "reason": "blocked"}, "unavailable"),
        ("chatkit", {"ok": True}, "chatkit"),
        ("nonsense", {"ok": False, "reason": "blocked"}, "builtin"),
    ],
)
def test_choose_client_follows_the_widget_mode(open_site, make_user, mode, script, expected):
    """The decision itself (choose-client.js), for every mode, in the browser."""
    make_user("alice")
    site = open_site(cdn="double")
    site.login("alice")
    chosen = site.page.evaluate(
        """async ([mode, script]) => {
            const { chooseClient } = await import('/static/chat/choose-client.js');
            const page = JSON.parse(document.getElementById('chat-config').textContent);
            const config = { ...page, widget: mode };
            const theme = { current: () => 'light', onChange() {} };
            const notice = { show() {}, clear() {} };
            const client = await chooseClient({
                config, scriptLoad: Promise.resolve(script), chatFetch: fetch, theme, notice,
            });
            const box = document.createElement('div');
            document.body.append(box);
            client.mount(box);
            if (box.querySelector('openai-chatkit')) return 'chatkit';
            if (box.querySelector('[data-builtin-client]')) return 'builtin';
            if (box.textContent.includes('could not be loaded')) return 'unavailable';
            return box.innerHTML;
        }""",
        [mode, script],
    )
    assert chosen == expected


XSS = (
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
    "[link](javascript:window.__pwned=3) **bold**"
)


def test_html_and_script_in_messages_are_shown_as_text_and_never_run(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    site.page.evaluate(
        "() => { window.__violations = [];"
        " document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective)); }"
    )

    chat.send(XSS)
    answer = chat.wait_for_answer(ANSWER_END)

    expect(chat.user_messages()).to_have_text([XSS])
    assert '<img src=x onerror="window.__pwned=1">' in answer
    assert "<script>window.__pwned=2</script>" in answer
    log = chat.log
    expect(log.locator("img, script, iframe, [onerror]")).to_have_count(0)
    # Markdown still works, but a javascript: link loses its target.
    expect(log.locator(".bc-msg-assistant strong")).to_have_text("bold")
    links = log.locator(".bc-msg-assistant a")
    expect(links).to_have_count(1)
    assert not (links.first.get_attribute("href") or "").startswith("javascript:")
    links.first.click()
    assert site.page.evaluate("() => window.__pwned") is None
    assert site.page.evaluate("() => window.__violations") == []

    # The same after a reload, when the messages come from the server's list.
    site.page.reload()
    chat = Chat(site)
    expect(chat.user_messages()).to_have_text([XSS])
    expect(chat.log.locator("img, script, iframe, [onerror]")).to_have_count(0)
    assert site.page.evaluate("() => window.__pwned") is None


def test_markdown_renderer_sanitises_what_marked_lets_through(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    site.login("alice")
    rendered = site.page.evaluate(
        """async () => {
            const { renderMarkdown } = await import('/static/chat/builtin/markdown.js');
            const box = document.createElement('div');
            box.append(renderMarkdown([
                '[a](javascript:alert(1)) [b](https://example.com/x)',
                '![c](javascript:alert(2))',
                '<a href="javascript:alert(3)">raw</a>',
                '```html\\n<script>alert(4)</script>\\n```',
            ].join('\\n\\n')));
            return {
                html: box.innerHTML,
                hrefs: [...box.querySelectorAll('[href], [src]')]
                    .map(n => n.getAttribute('href') ?? n.getAttribute('src')),
                external: [...box.querySelectorAll('a[href^="https:"]')]
                    .map(a => [a.target, a.rel]),
                code: box.querySelector('pre code')?.textContent,
            };
        }"""
    )
    assert not [url for url in rendered["hrefs"] if "javascript" in url.lower()], rendered
    assert rendered["external"] == [["_blank", "noopener noreferrer nofollow"]]
    assert rendered["code"] == "<script>alert(4)</script>\n"
    assert "<script" not in rendered["html"]


def test_ask_ai_quotes_the_selection_and_sends_it_as_page_context(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    site.login("alice", next_path="/about/")
    expected = site.page.inner_text("#about-privacy")
    site.page.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.getElementById('about-privacy'));
            document.getSelection().removeAllRanges();
            document.getSelection().addRange(range);
        }"""
    )
    site.page.get_by_role("button", name="Ask AI", exact=True).click()

    chat = Chat(site)
    # The selection is a quote above the box (sent as the message's quoted_text).
    quote = chat.root.locator(".bc-quote-text")
    expect(quote).to_have_text(expected.strip(), timeout=WIDGET_TIMEOUT * 1000 + 5000)
    expect(chat.composer).to_be_focused()
    chat.composer.type("What does this mean?")
    chat.composer.press("Enter")
    chat.wait_for_answer(ANSWER_END)
    chat.send("And then?")
    chat.wait_for_answer("message 2 of this conversation")

    create, follow_up = [
        e
        for e in site.requests_to("/chatkit/")
        if '"threads.' in (e.body or "") and "input" in (e.body or "")
    ]
    assert site.request_json(create)["metadata"]["page"] == {
        "url": f"{site.base_url}/about/",
        "title": "About · Chat site",
        "selection": expected,
    }
    sent = site.request_json(create)["params"]["input"]
    assert sent["content"][0]["text"] == "What does this mean?"
    assert sent["quoted_text"] == expected.strip()
    assert "selection" not in site.request_json(follow_up)["metadata"]["page"]


def test_attachments_are_picked_or_dropped_uploaded_with_progress_and_shown(
    open_site, make_user, live_site
):
    from chat.models import Attachment

    alice = make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    site.page.evaluate(
        """() => {
            window.__progress = [];
            new MutationObserver(records => records.forEach(r => {
                if (r.target.localName === 'progress' && r.attributeName === 'value')
                    window.__progress.push(Number(r.target.getAttribute('value')));
            })).observe(document.querySelector('[data-builtin-client]'),
                        { subtree: true, attributes: true });
        }"""
    )
    big = "x" * 3_000_000

    # Dropped files (here one whose type the browser does not know) or picked ones.
    chat.root.evaluate(
        """root => {
            const data = new DataTransfer();
            data.items.add(new File(['# Plan'], 'plan.md', { type: '' }));
            for (const type of ['dragenter', 'dragover', 'drop']) {
                const init = { dataTransfer: data, bubbles: true, cancelable: true };
                root.dispatchEvent(new DragEvent(type, init));
            }
        }"""
    )
    chat.root.locator("input[type=file]").set_input_files(
        [
            {"name": "dot.png", "mimeType": "image/png", "buffer": PNG_1PX},
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": big.encode()},
            {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"},
        ]
    )

    chips = chat.root.locator(".bc-chip")
    expect(chips).to_have_count(3)
    expect(chat.root.locator(".bc-composer-problem")).to_contain_text(
        "“tool.exe” is not a type that can be attached"
    )
    expect(chips.and_(site.page.locator("[data-state=ready]"))).to_have_count(3, timeout=20_000)
    progress = site.page.evaluate("() => window.__progress")
    assert progress and max(progress) == 1, progress
    uploads = [e for e in site.exchanges if e.path.endswith("/upload/")]
    assert len(uploads) == 3 and all("token=" in url for url in site.urls if "/upload/?" in url)

    chat.send("Here are my files")
    chat.wait_for_answer(ANSWER_END)

    message = chat.log.locator(".bc-msg-user").last
    image = message.get_by_role("img", name="dot.png")
    expect(image).to_be_visible()
    site.page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=image.element_handle()
    )
    notes = message.get_by_role("link", name="notes.txt")
    expect(message.get_by_role("link", name="plan.md")).to_be_visible()
    stored = {row.name: row for row in Attachment.objects.filter(owner=alice)}
    assert set(stored) == {"dot.png", "notes.txt", "plan.md"}
    thread = thread_of(alice)
    assert all(row.thread_id == thread.id for row in stored.values())
    assert stored["plan.md"].mime_type == "text/markdown"
    # The file link works with the page's own session.
    href = notes.get_attribute("href")
    assert href == f"/chatkit/attachments/{stored['notes.txt'].pk}/"
    body = site.page.evaluate("url => fetch(url).then(r => r.text())", href)
    assert body == big

    # After a reload the attachments are still on the message.
    site.page.reload()
    chat = Chat(site)
    image = chat.log.get_by_role("img", name="dot.png")
    expect(image).to_be_visible()
    # Far up (the demo answer repeats the text file): images load lazily, once in view.
    image.scroll_into_view_if_needed()
    site.page.wait_for_function(
        "img => img.complete && img.naturalWidth === 1", arg=image.element_handle()
    )
    expect(chat.log.get_by_role("link", name="notes.txt")).to_be_visible()


def test_tool_calls_are_compact_and_the_last_answer_can_be_retried(open_site, make_user):
    alice = make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")

    chat.send("What time is it?")
    chat.wait_for_answer("The current_time tool says")

    tool = chat.log.locator(".bc-workflow")
    expect(tool).to_have_count(1)
    expect(tool.locator("summary")).to_have_text("Called current_time")
    expect(tool.locator(".bc-tasks")).to_be_hidden()
    tool.locator("summary").click()
    expect(tool.locator(".bc-task-content")).to_contain_text("Result:")

    thread = thread_of(alice)
    before = list(ThreadItem.objects.filter(thread=thread).values_list("type", "item_id"))
    user_id = next(item_id for kind, item_id in before if kind == "user_message")
    chat.button("Retry this answer").click()
    chat.wait_for_answer("The current_time tool says")

    [retry] = [e for e in site.requests_to("/chatkit/") if "retry_after_item" in (e.body or "")]
    assert site.request_json(retry)["params"] == {"thread_id": thread.id, "item_id": user_id}
    expect(chat.user_messages()).to_have_count(1)
    expect(chat.answers()).to_have_count(1)
    expect(tool).to_have_count(1)
    after = list(ThreadItem.objects.filter(thread=thread).values_list("type", "item_id"))
    assert [kind for kind, _ in after] == [kind for kind, _ in before]
    assert after[0] == before[0] and after[-1] != before[-1], "the answer was not replaced"


def test_error_events_are_readable_with_retry_and_notices_are_shown(
    open_on, failing_site, make_user
):
    alice = make_user("alice")
    site = open_on(failing_site, cdn="abort")
    chat = login_and_open(site, "alice")

    chat.send("Are you there?")

    error = chat.log.locator(".bc-error")
    expect(error).to_contain_text("could not reach its model provider", timeout=20_000)
    notice = chat.log.locator(".bc-inline-notice")
    expect(notice).to_contain_text("The “docs” tools are unavailable right now")
    expect(chat.user_messages()).to_have_text(["Are you there?"])
    expect(chat.button("Send message")).to_be_visible()

    error.get_by_role("button", name="Retry").click()

    expect(chat.log.locator(".bc-error")).to_contain_text("model provider", timeout=20_000)
    retries = [e for e in site.requests_to("/chatkit/") if "retry_after_item" in (e.body or "")]
    assert len(retries) == 1 and retries[0].status == 200
    thread = thread_of(alice)
    user_item = ThreadItem.objects.get(thread=thread, type="user_message")
    assert site.request_json(retries[0])["params"]["item_id"] == user_item.item_id


def focused_name(site: SitePage) -> str:
    return site.page.evaluate(
        "() => { const e = document.activeElement;"
        " return e.getAttribute('aria-label') || e.textContent.trim(); }"
    )


def test_keyboard_use_throughout(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    site.login("alice")
    site.launcher.focus()
    site.page.keyboard.press("Enter")
    chat = Chat(site)
    expect(chat.composer).to_be_focused(timeout=WIDGET_TIMEOUT * 1000 + 5000)

    # Shift+Enter is a new line; Enter sends.
    site.page.keyboard.type("line one")
    site.page.keyboard.press("Shift+Enter")
    site.page.keyboard.type("line two")
    expect(chat.composer).to_have_value("line one\nline two")
    assert not [e for e in site.requests_to("/chatkit/") if "threads.create" in (e.body or "")]
    site.page.keyboard.press("Enter")
    chat.wait_for_answer(ANSWER_END)
    expect(chat.user_messages()).to_have_text(["line one\nline two"])
    expect(chat.composer).to_have_value("")
    expect(chat.composer).to_be_focused()

    # Tab goes through the toolbar, the answer's actions and the composer, in that order.
    chat.button("Conversation history").focus()
    order = [focused_name(site)]
    for _ in range(10):
        site.page.keyboard.press("Tab")
        order.append(focused_name(site))
    answer = "This is the offline demo assistant (mess…"
    assert order == [
        "Conversation history",
        "New conversation",
        "Open the chat full page",
        "Edit this message",
        f"Copy answer: “{answer}”",
        f"Good answer: “{answer}”",
        f"Bad answer: “{answer}”",
        "Retry this answer",
        "Attach files",
        "Message to the assistant",
        "Send message",
    ]
    # Keyboard focus is visible.
    outline = site.page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")

    # Enter on a focused button works; Escape leaves the history before closing the panel.
    chat.button("Conversation history").focus()
    site.page.keyboard.press("Enter")
    expect(chat.root.locator(".bc-history")).to_be_visible()
    expect(chat.root.locator(".bc-thread-open").first).to_be_focused()
    site.page.keyboard.press("Escape")
    expect(chat.root.locator(".bc-history")).to_be_hidden()
    site.expect_panel_still_open()
    expect(chat.button("Conversation history")).to_be_focused()
    site.page.keyboard.press("Escape")
    expect(site.panel).to_be_hidden()
    expect(site.launcher).to_be_focused()


def test_theme_toggle_restyles_the_builtin_client(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort", color_scheme="light")
    chat = login_and_open(site, "alice")
    background = "el => getComputedStyle(el).backgroundColor"
    light = chat.root.locator(".bc-composer-row").evaluate(background)

    site.panel.get_by_role("button", name="Minimise chat").click()
    site.page.get_by_role("button", name="Dark mode").click()
    site.launcher.click()

    expect(chat.root).to_have_attribute("data-theme", "dark")
    dark = chat.root.locator(".bc-composer-row").evaluate(background)
    assert (light, dark) == ("rgb(255, 255, 255)", "rgb(20, 23, 28)")


def test_direct_uploads_go_with_the_bearer_token(open_on, slow_site, make_user):
    from chat.models import Attachment

    alice = make_user("alice")
    site = open_on(slow_site, cdn="abort")
    chat = login_and_open(site, "alice")

    chat.root.locator("input[type=file]").set_input_files(
        [{"name": "todo.csv", "mimeType": "text/csv", "buffer": b"task,done\nmilk,no\n"}]
    )

    expect(chat.root.locator(".bc-chip[data-state=ready]")).to_have_count(1)
    [upload] = site.requests_to("/chatkit/upload/")
    assert upload.status == 200
    assert AccessToken(upload.headers["authorization"].removeprefix("Bearer "))["user_id"] == str(
        alice.pk
    )
    chat.send("See the list")
    link = chat.log.locator(".bc-msg-user").get_by_role("link", name="todo.csv")
    expect(link).to_be_visible()
    chat.button("Stop the answer").click()
    [row] = Attachment.objects.filter(owner=alice)
    assert link.get_attribute("href") == f"/chatkit/attachments/{row.pk}/"
    assert row.thread_id == thread_of(alice).id


def test_a_thread_started_in_chatkit_continues_in_the_builtin_client_and_back(open_site, make_user):
    alice = make_user("alice")
    site = open_site(cdn="double")
    site.login("alice")
    site.open_chat()
    thread_id = site.chatkit("createThread", "Started in ChatKit")["threadId"]

    # The CDN goes away: after a reload the built-in client opens the same thread.
    site.page.context.route(CDN_URL, lambda route: route.abort("internetdisconnected"))
    site.page.reload()
    chat = Chat(site)
    expect(chat.user_messages()).to_have_text(["Started in ChatKit"], timeout=10_000)
    expect(chat.answers()).to_have_count(1)
    chat.send("Continued in the built-in client")
    chat.wait_for_answer("message 2 of this conversation")
    assert [t for t in Thread.objects.filter(owner=alice).values_list("id", flat=True)] == [
        thread_id
    ]

    # And back, in a later browser session (within one, the fallback is kept: issue 14):
    # ChatKit is given the same thread to open.
    site.page.context.unroute(CDN_URL)
    site.page.evaluate("() => sessionStorage.clear()")
    site.page.reload()
    assert site.wait_for_options()["initialThread"] == thread_id
