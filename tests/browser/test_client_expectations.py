"""What users of the best chat apps expect of the built-in client (issue 14, items 3-12),
end to end in headless Chromium against the real site: code, math and copy; votes kept and
undone; stopped answers kept and continued; edit and resend; the history searched, grouped
and paged; times, jump to latest and the full page; errors that help; the remembered
fallback; Ask AI; another language. Screenshots (light, dark, phone) go to screenshot_dir.
"""

import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from chat import models
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

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

RICH_ANSWER = """Here is some code:

```python
def greet(name):
    return f"Hello {name}"  # a comment
```

And math: $$E = mc^2$$

Inline too: \\(a^2 + b^2 = c^2\\), while $5 and $10 stay money."""


@pytest.fixture(scope="module")
def strict_site(site_factory) -> LiveSite:
    """CHAT_WIDGET=builtin, two messages an hour (a fixed window: a minute's could turn over
    between the second message and the third), small requests (a short message limit)."""
    return site_factory(
        "strict-site",
        CHAT_WIDGET="builtin",
        CHAT_RATE_LIMIT="2/hour",
        CHAT_MAX_REQUEST_BYTES="20000",
    )


@pytest.fixture(scope="module")
def slow_site(site_factory) -> LiveSite:
    """CHAT_WIDGET=builtin with answers slow enough to stop mid-way."""
    return site_factory("slow-site", CHAT_WIDGET="builtin", CHAT_DEMO_WORD_DELAY="0.2")


def stored_thread(user, thread_id: str, texts: list[tuple[str, str]], *, minutes_ago: float = 0):
    """A thread of `user` with (type, text) items, one second apart, last active
    `minutes_ago`; returns it."""
    from chatkit.types import (
        AssistantMessageContent,
        AssistantMessageItem,
        InferenceOptions,
        UserMessageItem,
        UserMessageTextContent,
    )

    from chat.chatkit.store import item_fields

    start = timezone.now() - timedelta(minutes=minutes_ago) - timedelta(seconds=len(texts) + 1)
    thread = models.Thread.objects.create(
        id=thread_id,
        owner=user,
        title=texts[0][1][:40] if texts else thread_id,
        created_at=start,
        updated_at=start + timedelta(seconds=len(texts)),
    )
    for n, (kind, text) in enumerate(texts):
        at = start + timedelta(seconds=n + 1)
        if kind == "user":
            item = UserMessageItem(
                id=f"{thread_id}_u{n}",
                thread_id=thread_id,
                created_at=at,
                content=[UserMessageTextContent(text=text)],
                inference_options=InferenceOptions(),
            )
        else:
            item = AssistantMessageItem(
                id=f"{thread_id}_a{n}",
                thread_id=thread_id,
                created_at=at,
                content=[AssistantMessageContent(text=text)],
            )
        models.ThreadItem.objects.create(thread=thread, item_id=item.id, **item_fields(item))
    return thread


def open_thread(site: SitePage, user, thread_id: str, path: str = "/") -> Chat:
    """Log in with `thread_id` remembered as the user's thread, and open the chat."""
    site.page.add_init_script(f"localStorage.setItem('chat.thread.{user.pk}', {thread_id!r})")
    return login_and_open(site, user.username, path)


def edit_page_config(site: SitePage, change) -> None:
    """Pass every page's chat config through `change(config)` on its way to the browser
    (for options another change's settings will offer). Only documents: API requests go
    straight on."""
    import json as json_module
    import re

    pattern = re.compile(
        r'(<script id="chat-config" type="application/json">)(.*?)(</script>)', re.S
    )

    def rewrite(route):
        if route.request.resource_type != "document":
            route.fallback()
            return
        response = route.fetch()
        html = response.text()
        match = pattern.search(html)
        if not match:
            route.fulfill(response=response)
            return
        config = json_module.loads(match.group(2))
        change(config)
        encoded = json_module.dumps(config).replace("<", "\\u003C")
        route.fulfill(
            response=response, body=html[: match.start(2)] + encoded + html[match.end(2) :]
        )

    site.page.route("**/*", rewrite)


# --- 3. code, math, copy ------------------------------------------------------------------


def test_code_is_highlighted_labelled_and_copied_and_math_typeset(
    open_site, make_user, screenshot_dir
):
    alice = make_user("alice")
    stored_thread(alice, "rich", [("user", "Show me code"), ("assistant", RICH_ANSWER)])
    site = open_site(cdn="abort")
    site.page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    chat = open_thread(site, alice, "rich")

    code = chat.log.locator("figure.bc-code")
    expect(code.locator(".bc-code-lang")).to_have_text("Python")
    expect(code.locator(".hljs-keyword").first).to_have_text("def")
    expect(code.locator(".hljs-comment")).to_have_text("# a comment")
    code.get_by_role("button", name="Copy code").click()
    expect(code.get_by_role("button", name="Copied")).to_be_visible()
    copied = site.page.evaluate("() => navigator.clipboard.readText()")
    assert copied == 'def greet(name):\n    return f"Hello {name}"  # a comment\n'

    # KaTeX typesets display and inline math; dollars that are money stay text.
    expect(chat.log.locator("div.bc-math .katex-display")).to_have_count(1)
    expect(chat.log.locator("span.bc-math .katex")).to_have_count(1)
    expect(chat.answers().last).to_contain_text("while $5 and $10 stay money")

    chat.log.get_by_role("button", name="Copy answer: “Here is some code:").click()
    assert site.page.evaluate("() => navigator.clipboard.readText()") == RICH_ANSWER
    site.wait_for_panel_settled()
    site.page.screenshot(path=str(screenshot_dir / "expect-code-light.png"))


UNLABELLED_FENCES = """A short one:

```
def greet():
    return 'hi'
```

A note:

```
Dear team, the meeting moves to Friday.
```

A longer one:

```
import os
from pathlib import Path

def files(root: str) -> list[str]:
    \"\"\"Every file under root.\"\"\"
    out = []
    for dirpath, _, names in os.walk(root):
        for name in names:
            out.append(os.path.join(dirpath, name))
    return out

if __name__ == '__main__':
    print(files('.'))
```

And a language the highlighter does not know:

```elixir
defmodule Greeter do
  def hello(name), do: "Hello " <> name
end
```"""


def test_a_fence_without_a_language_is_named_only_when_the_guess_is_sure(
    open_site, make_user
):
    """highlight.js guesses a short Python function to be Ruby and a sentence to be VB.NET:
    such guesses show as plain text, and only code with enough to go on gets a name."""
    alice = make_user("alice")
    stored_thread(alice, "fences", [("user", "Show me"), ("assistant", UNLABELLED_FENCES)])
    site = open_site(cdn="abort")
    chat = open_thread(site, alice, "fences")

    blocks = chat.log.locator("figure.bc-code")
    expect(blocks).to_have_count(4)
    expect(blocks.locator(".bc-code-lang")).to_have_text(["text", "text", "Python", "elixir"])
    for plain in (0, 1, 3):
        expect(blocks.nth(plain).locator("[class^='hljs-']")).to_have_count(0)
    expect(blocks.nth(2).locator(".hljs-keyword").first).to_have_text("import")


# --- 4. votes -----------------------------------------------------------------------------


def test_votes_are_labelled_shown_after_a_reload_and_undone(open_site, make_user):
    alice = make_user("alice")
    stored_thread(
        alice,
        "votes",
        [
            ("user", "one"),
            ("assistant", "First answer here"),
            ("user", "two"),
            ("assistant", "Second answer here"),
        ],
    )
    site = open_site(cdn="abort")
    chat = open_thread(site, alice, "votes")

    good_first = chat.button("Good answer: “First answer here”")
    bad_second = chat.button("Bad answer: “Second answer here”")
    good_first.click()
    expect(good_first).to_have_attribute("aria-pressed", "true")
    bad_second.click()
    expect(bad_second).to_have_attribute("aria-pressed", "true")
    wait_until(lambda: models.Feedback.objects.filter(user=alice).count() == 2)

    site.page.reload()
    chat = Chat(site)
    expect(chat.button("Good answer: “First answer here”")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(chat.button("Bad answer: “Second answer here”")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(chat.button("Good answer: “Second answer here”")).to_have_attribute(
        "aria-pressed", "false"
    )

    # A second click takes the vote back, here and on the server.
    chat.button("Good answer: “First answer here”").click()
    expect(chat.button("Good answer: “First answer here”")).to_have_attribute(
        "aria-pressed", "false"
    )
    wait_until(
        lambda: not models.Feedback.objects.filter(user=alice, item__item_id="votes_a1").exists()
    )
    site.page.reload()
    chat = Chat(site)
    expect(chat.button("Bad answer: “Second answer here”")).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(chat.button("Good answer: “First answer here”")).to_have_attribute(
        "aria-pressed", "false"
    )


# --- 5. stopped answers -------------------------------------------------------------------


def test_a_stopped_answer_stays_marked_after_a_reload_and_continues(
    open_site, make_user, slow_site
):
    alice = make_user("alice")
    site = open_site(cdn="abort")
    site.base_url = slow_site.url
    chat = login_and_open(site, "alice")
    chat.send("Tell me a long story")
    site.page.wait_for_function(
        "() => { const a = document.querySelector('.bc-msg-assistant .bc-md');"
        " return a && a.textContent.split(' ').length >= 4; }"
    )
    chat.button("Stop the answer").click()
    expect(chat.root.locator(".bc-stopped")).to_have_text("Stopped")
    wait_until(lambda: models.Turn.objects.filter(state="stopped").exists())

    site.page.reload()
    chat = Chat(site)
    expect(chat.root.locator(".bc-stopped")).to_have_text("Stopped", timeout=10_000)
    continue_button = chat.button("Continue")
    expect(continue_button).to_be_visible()
    continue_button.click()
    chat.wait_for_answer(ANSWER_END, timeout=60_000)
    expect(chat.root.locator(".bc-stopped")).to_have_count(0)
    retry = [e for e in site.requests_to("/chatkit/") if "retry_after_item" in (e.body or "")]
    user_item = models.ThreadItem.objects.get(type="user_message", thread__owner=alice)
    assert site.request_json(retry[-1])["params"]["item_id"] == user_item.item_id


# --- 6. edit and resend -------------------------------------------------------------------


def test_a_sent_message_is_edited_and_answered_again(open_site, make_user):
    alice = make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    chat.send("What is Djnago?")
    chat.wait_for_answer(ANSWER_END)

    chat.button("Edit this message").click()
    editor = chat.root.get_by_role("textbox", name="Edit your message")
    expect(editor).to_have_value("What is Djnago?")
    editor.fill("What is Django?")
    editor.press("Enter")
    chat.wait_for_answer("What is Django?")
    expect(chat.user_messages()).to_have_text(["What is Django?"])
    expect(chat.answers()).to_have_count(1)
    thread = models.Thread.objects.get(owner=alice)
    stored = list(thread.items.order_by("created_at", "id").values_list("type", "text"))
    assert [kind for kind, _ in stored if kind in ("user_message", "assistant_message")] == [
        "user_message",
        "assistant_message",
    ]
    assert stored[0][1] == "What is Django?"
    assert "What is Django?" in [text for kind, text in stored if kind == "assistant_message"][0]


# --- 7. the history -----------------------------------------------------------------------


def test_history_is_grouped_by_activity_searched_and_paged(open_site, make_user, screenshot_dir):
    alice = make_user("alice")
    bob = make_user("bob")
    stored_thread(alice, "today", [("user", "Plans for today")])
    # Yesterday at noon (the browser's time zone is this machine's): 24.5 hours ago was the
    # day before yesterday whenever the test ran in the first half hour after midnight.
    now = datetime.now().astimezone()
    noon = (now - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    yesterday = (now - noon).total_seconds() / 60
    stored_thread(alice, "yesterday", [("user", "Yesterday's recipe")], minutes_ago=yesterday)
    stored_thread(
        alice,
        "week",
        [("user", "Trip ideas"), ("assistant", "Visit the lighthouse at dawn")],
        minutes_ago=60 * 24 * 3 + 5,
    )
    for n in range(25):
        stored_thread(
            alice, f"old{n:02}", [("user", f"Old topic {n:02}")], minutes_ago=60 * 24 * 30 + n
        )
    stored_thread(bob, "bobs", [("user", "Bob's lighthouse")], minutes_ago=1)
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    chat.button("Conversation history").click()

    groups = chat.root.locator(".bc-thread-group")
    expect(groups).to_have_text(["Today", "Yesterday", "Previous 7 days", "Older"])
    rows = chat.root.locator(".bc-thread")
    expect(rows.first).to_contain_text("Plans for today")
    # 20 a page: scrolling down loads the rest.
    expect(rows).to_have_count(20)
    chat.root.locator(".bc-threads-scroller").evaluate("s => s.scrollTo(0, s.scrollHeight)")
    expect(rows).to_have_count(28)
    site.page.screenshot(path=str(screenshot_dir / "expect-history-light.png"))

    search = chat.root.get_by_role("searchbox", name="Search conversations by title or message")
    search.fill("lighthouse")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Trip ideas")
    expect(rows.first.locator(".bc-thread-excerpt")).to_contain_text("Visit the lighthouse")
    search.fill("no such words")
    expect(chat.root.locator(".bc-threads-status")).to_contain_text("No conversation mentions")
    search.press("Escape")
    expect(rows).to_have_count(20)


# --- 8. times, jump to latest, expand ------------------------------------------------------


def test_times_jump_to_latest_and_the_full_page(open_site, make_user, screenshot_dir):
    alice = make_user("alice")
    long_texts = []
    for n in range(12):
        long_texts += [
            ("user", f"Question {n}"),
            ("assistant", f"Answer {n}\n\n" + "Some text. " * 40),
        ]
    stored_thread(alice, "long", long_texts, minutes_ago=90)
    site = open_site(cdn="abort")
    chat = open_thread(site, alice, "long")

    stamp = chat.log.locator(".bc-msg-assistant time.bc-time").last
    expect(stamp).to_have_text("1 hour ago")
    assert stamp.get_attribute("title")  # the exact date and time on hover
    jump = chat.button("Jump to latest")
    expect(jump).to_be_hidden()
    chat.root.locator(".bc-scroller").evaluate("s => s.scrollTo(0, s.scrollHeight / 3)")
    expect(jump).to_be_visible()
    site.page.screenshot(path=str(screenshot_dir / "expect-jump-light.png"))
    jump.click()
    chat.wait_until_scrolled_to_end()
    expect(jump).to_be_hidden()

    # Expand: the same client and thread, full page.
    with site.page.expect_navigation():
        chat.root.get_by_role("link", name="Open the chat full page").click()
    assert site.page.url.endswith("/chat/")
    full = Chat(site)
    expect(full.root).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 5000)
    expect(full.answers().last).to_contain_text("Answer 11")
    expect(site.launcher).to_be_hidden()
    site.page.screenshot(path=str(screenshot_dir / "expect-fullpage-light.png"))


# --- 9. errors that help --------------------------------------------------------------------


def test_rate_limit_length_and_refused_files_say_what_to_do(
    open_site, make_user, strict_site, screenshot_dir
):
    make_user("alice")
    site = open_site(cdn="abort")
    site.base_url = strict_site.url
    chat = login_and_open(site, "alice")

    # The length counter shows near the limit and stops a message that is too long.
    chat.composer.fill("x" * 3000)
    counter = chat.root.locator(".bc-counter")
    expect(counter).to_contain_text("3,000 of 3,616 characters")
    chat.composer.fill("x" * 4000)
    expect(counter).to_contain_text("Too long")
    expect(chat.button("Send message")).to_be_disabled()
    chat.composer.press("Enter")
    assert not [e for e in site.requests_to("/chatkit/") if "threads.create" in (e.body or "")]
    chat.composer.fill("")

    # Two refused files: each says why and which types are accepted.
    chat.root.locator("input[type=file]").set_input_files(
        [
            {"name": "tool.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"},
            {"name": "song.mp3", "mimeType": "audio/mpeg", "buffer": b"ID3"},
        ]
    )
    problems = chat.root.locator(".bc-composer-problem li")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text(
        "“tool.exe” is not a type that can be attached. Accepted:"
    )
    expect(problems.nth(1)).to_contain_text("“song.mp3”")
    expect(problems.nth(1)).to_contain_text(".png")

    # The rate limit says which limit it is (the server's words) and when to send again
    # (from Retry-After).
    chat.send("one")
    chat.wait_for_answer(ANSWER_END)
    chat.send("two")
    chat.wait_for_answer("message 2")
    chat.send("three")
    error = chat.log.locator(".bc-error")
    expect(error).to_contain_text(
        "Too many messages: at most 2 in 1\xa0hour. You can send again in"
    )
    expect(chat.composer).to_have_value("three")
    site.page.screenshot(path=str(screenshot_dir / "expect-errors-light.png"))


# --- 10. the remembered fallback -------------------------------------------------------------


def test_the_fallback_is_remembered_for_the_session_and_its_notice_dismissed(open_site, make_user):
    make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice")
    notice = chat.root.locator(".bc-fallback")
    expect(notice).to_be_visible()
    assert site.urls.count(CDN_URL) == 1
    notice.get_by_role("button", name="Dismiss this message").click()
    expect(notice).to_have_count(0)

    # The next page neither asks the CDN again nor waits for it, and the notice stays away.
    site.goto("/about/")
    chat = Chat(site)
    # The panel was left open: it opens again, with the built-in client at once.
    expect(chat.root).to_be_visible(timeout=1500)
    expect(chat.root.locator(".bc-fallback")).to_have_count(0)
    assert site.urls.count(CDN_URL) == 1


# --- 11. Ask AI -----------------------------------------------------------------------------


def test_ask_ai_never_covers_the_selection_quotes_it_and_can_start_a_new_chat(open_site, make_user):
    alice = make_user("alice")
    site = open_site(cdn="abort")
    chat = login_and_open(site, "alice", "/about/")
    chat.send("First conversation")
    chat.wait_for_answer(ANSWER_END)
    site.panel.get_by_role("button", name="Minimise chat").click()
    expected = site.page.inner_text("#about-privacy")
    site.page.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.getElementById('about-privacy'));
            document.getSelection().removeAllRanges();
            document.getSelection().addRange(range);
        }"""
    )
    ask = site.page.locator("#chat-ask")
    expect(ask).to_be_visible()
    overlap = site.page.evaluate(
        """() => {
            const a = document.getSelection().getRangeAt(0).getBoundingClientRect();
            const b = document.getElementById('chat-ask').getBoundingClientRect();
            return !(b.right <= a.left || b.left >= a.right
                     || b.bottom <= a.top || b.top >= a.bottom);
        }"""
    )
    assert overlap is False
    ask.get_by_role("button", name="in a new chat").click()

    chat = Chat(site)
    quote = chat.root.locator(".bc-quote-text")
    expect(quote).to_have_text(expected.strip())
    expect(chat.composer).to_have_value("")
    chat.send("What does this mean?")
    chat.wait_for_answer(ANSWER_END)
    expect(chat.log.locator(".bc-msg-user blockquote")).to_have_text(expected.strip())
    expect(chat.user_messages()).to_have_text(["What does this mean?"])
    assert models.Thread.objects.filter(owner=alice).count() == 2
    create = [e for e in site.requests_to("/chatkit/") if '"threads.create"' in (e.body or "")][-1]
    assert site.request_json(create)["params"]["input"]["quoted_text"] == expected.strip()


# --- 12. another language -------------------------------------------------------------------


def test_the_site_and_the_client_speak_french(chromium, live_site, make_user, screenshot_dir):
    from tests.browser.site import route_network

    make_user("alice")
    context = chromium.new_context(locale="fr-FR", viewport={"width": 1280, "height": 800})
    context.route("**/*", lambda route: route_network(route, "abort"))
    try:
        site = SitePage(page=context.new_page(), base_url=live_site.url)
        site.goto("/accounts/login/?next=/")
        site.page.locator("input[name=username]").fill("alice")
        site.page.locator("input[name=password]").fill("browser-password-1")
        with site.page.expect_navigation():
            site.page.locator("main form button[type=submit]").click()
        assert site.page.evaluate("() => document.documentElement.lang") == "fr"
        expect(site.page.get_by_role("link", name="À propos")).to_be_visible()
        site.page.get_by_role("button", name="Ouvrir le chat").click()
        root = site.panel.locator("[data-builtin-client]")
        expect(root).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 5000)
        expect(root.get_by_role("button", name="Nouvelle conversation", exact=True)).to_be_visible()
        expect(root.get_by_label("Message à l’assistant", exact=True)).to_be_visible()
        expect(root.locator(".bc-fallback")).to_contain_text("chat intégré")
        # The site's default greeting, prompts and placeholder are translated too.
        expect(root.locator(".bc-greeting")).to_have_text(
            "Comment puis-je vous aider aujourd’hui ?"
        )
        expect(root.get_by_role("button", name="Résumer cette page")).to_be_visible()
        expect(root.get_by_label("Message à l’assistant", exact=True)).to_have_attribute(
            "placeholder", "Posez votre question à l’assistant…"
        )
        site.page.screenshot(path=str(screenshot_dir / "expect-french.png"))
        # The offline demo's prompts: a French label, a French message the demo understands.
        root.get_by_role("button", name="Changer le thème de la page").click()
        expect(root.get_by_text("Passe en mode sombre", exact=True)).to_be_visible()
        expect(site.page.locator("html")).to_have_attribute("data-theme", "dark")
        # The answer has finished when the stop button is the send button again.
        send = root.get_by_role("button", name="Envoyer le message", exact=True)
        expect(send).to_be_visible(timeout=20_000)

        site.page.get_by_role("link", name="Mes données").click()
        expect(site.page.get_by_role("heading", level=1)).to_have_text("Mes données")
        expect(site.page.locator("#my-data-holdings")).to_have_text(
            re.compile(r"Vous avez 1 conversation \(\d+ messages et autres éléments\) et 0 pièce")
        )
        site.page.get_by_label("Tapez supprimer pour confirmer :").fill("supprimer")
        with site.page.expect_navigation():
            site.page.get_by_role("button", name="Supprimer toutes mes conversations").click()
        expect(site.page.locator("ul.messages")).to_contain_text(
            "Suppression effectuée : 1 conversation ("
        )
        expect(site.page.locator("#my-data-holdings")).to_contain_text("Vous avez 0 conversation")
        site.page.screenshot(path=str(screenshot_dir / "expect-french-my-data.png"))
    finally:
        context.close()


# --- screenshots: dark and phone ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("dark", {"color_scheme": "dark"}),
        ("phone-light", {"viewport": {"width": 390, "height": 780}}),
        ("phone-dark", {"color_scheme": "dark", "viewport": {"width": 390, "height": 780}}),
    ],
)
def test_screenshots_dark_and_phone(open_site, make_user, screenshot_dir, name, options):
    alice = make_user("alice")
    stored_thread(
        alice, "rich", [("user", "Show me code"), ("assistant", RICH_ANSWER)], minutes_ago=3
    )
    site = open_site(cdn="abort", **options)
    chat = open_thread(site, alice, "rich")
    expect(chat.log.locator(".bc-code-lang")).to_have_text("Python")
    expect(chat.log.locator("div.bc-math .katex-display")).to_have_count(1)
    site.wait_for_panel_settled()
    site.page.screenshot(path=str(screenshot_dir / f"expect-code-{name}.png"))
    chat.button("Conversation history").click()
    expect(chat.root.locator(".bc-thread-group")).to_have_text(["Today"])
    site.page.screenshot(path=str(screenshot_dir / f"expect-history-{name}.png"))


# --- 2. sources under answers -------------------------------------------------------------


def test_sources_show_under_the_answer(open_site, make_user):
    from chatkit.types import Annotation, AssistantMessageContent, AssistantMessageItem, URLSource

    from chat.chatkit.store import item_fields

    alice = make_user("alice")
    thread = stored_thread(alice, "cited", [("user", "Where is it from?")])
    cited = AssistantMessageItem(
        id="cited_answer",
        thread_id="cited",
        created_at=timezone.now(),
        content=[
            AssistantMessageContent(
                text="From the docs.",
                annotations=[
                    Annotation(
                        source=URLSource(title="Django docs", url="https://docs.djangoproject.com/")
                    ),
                    Annotation(
                        source=URLSource(title="Django docs", url="https://docs.djangoproject.com/")
                    ),
                    Annotation(source=URLSource(title="Bad link", url="javascript:alert(1)")),
                ],
            )
        ],
    )
    models.ThreadItem.objects.create(thread=thread, item_id=cited.id, **item_fields(cited))
    site = open_site(cdn="abort")
    chat = open_thread(site, alice, "cited")
    sources = chat.log.locator(".bc-sources")
    expect(sources.locator("summary")).to_have_text("Sources (2)")
    sources.locator("summary").click()
    expect(sources.get_by_role("link", name="Django docs")).to_have_attribute(
        "href", "https://docs.djangoproject.com/"
    )
    expect(sources.get_by_role("link")).to_have_count(1)  # the javascript: one is plain text


def test_ask_ai_in_a_new_chat_with_the_chatkit_widget(open_site, make_user):
    alice = make_user("alice")
    site = open_site(cdn="double")
    site.login("alice", next_path="/about/")
    site.open_chat()
    thread_id = site.chatkit("createThread", "An earlier question")["threadId"]
    site.panel.get_by_role("button", name="Minimise chat").click()
    site.page.evaluate(
        """() => {
            const range = document.createRange();
            range.selectNodeContents(document.getElementById('about-privacy'));
            document.getSelection().removeAllRanges();
            document.getSelection().addRange(range);
        }"""
    )
    site.page.locator("#chat-ask").get_by_role("button", name="in a new chat").click()
    site.page.wait_for_function("() => window.__chatkit.composer.length > 0")
    assert thread_id and site.chatkit_record("threadId") is None
    assert site.chatkit_record("composer")[0].startswith("> Conversations are stored")
    assert models.Thread.objects.filter(owner=alice).count() == 1


# --- 2. client tools and client effects ---------------------------------------------------

CLIENT_TOOL_EVENTS = [
    {
        "type": "thread.created",
        "thread": {
            "id": "thr_tool",
            "title": "Colours",
            "created_at": "2026-01-01T00:00:00Z",
            "status": {"type": "active"},
            "metadata": {},
            "items": {"data": [], "has_more": False, "after": None},
        },
    },
    {
        "type": "thread.item.done",
        "item": {
            "type": "user_message",
            "id": "msg_u1",
            "thread_id": "thr_tool",
            "created_at": "2026-01-01T00:00:01Z",
            "content": [{"type": "input_text", "text": "Pick a colour"}],
            "attachments": [],
            "inference_options": {},
        },
    },
    {"type": "client_effect", "name": "flash", "data": {"n": 1}},
    {
        "type": "thread.item.done",
        "item": {
            "type": "client_tool_call",
            "id": "cal_1",
            "thread_id": "thr_tool",
            "created_at": "2026-01-01T00:00:02Z",
            "status": "pending",
            "call_id": "call_1",
            "name": "pick_color",
            "arguments": {"hint": "warm"},
        },
    },
]
TOOL_ANSWER_EVENTS = [
    {
        "type": "thread.item.done",
        "item": {
            "type": "assistant_message",
            "id": "msg_a1",
            "thread_id": "thr_tool",
            "created_at": "2026-01-01T00:00:03Z",
            "content": [
                {"type": "output_text", "text": "Your page picked red.", "annotations": []}
            ],
        },
    },
]


def test_client_tools_run_in_the_page_and_answer_back(open_site, make_user):
    """A client tool call ends the stream; the page's registry (window.chat.clientTools)
    runs the tool and its result goes back as threads.add_client_tool_output; a client
    effect runs the page's effect. (The server is stood in for by a routed /chatkit/: its
    side of client tools is another change's.)"""
    import json as json_module

    make_user("alice")
    site = open_site(cdn="abort")
    site.page.add_init_script(
        """window.chat = {
            clientTools: { pick_color: (params) => ({ color: 'red', hint: params.hint }) },
            effects: { flash: (data) => { (window.__effects ??= []).push(data); } },
        };"""
    )
    sent = []

    def stream(events):
        return "".join(f"data: {json_module.dumps(event)}\n\n" for event in events)

    def answer(route):
        body = json_module.loads(route.request.post_data or "{}")
        if body.get("type") == "threads.create":
            sent.append(body)
            route.fulfill(
                status=200, content_type="text/event-stream", body=stream(CLIENT_TOOL_EVENTS)
            )
        elif body.get("type") == "threads.add_client_tool_output":
            sent.append(body)
            route.fulfill(
                status=200, content_type="text/event-stream", body=stream(TOOL_ANSWER_EVENTS)
            )
        else:
            route.fallback()

    site.page.route("**/chatkit/", answer)
    chat = login_and_open(site, "alice")
    chat.send("Pick a colour")
    chat.wait_for_answer("Your page picked red.")
    assert [body["type"] for body in sent] == ["threads.create", "threads.add_client_tool_output"]
    assert sent[1]["params"] == {
        "thread_id": "thr_tool",
        "result": {"color": "red", "hint": "warm"},
    }
    assert site.page.evaluate("() => window.__effects") == [{"n": 1}]


# --- 2. model and tool pickers ------------------------------------------------------------


def test_model_and_tool_pickers_go_with_the_message(open_site, make_user):
    """When the page config offers models and tools (composer.models, composer.tools), the
    composer shows pickers and the choice goes in inference_options. (The config is edited
    on its way to the page: which models a site offers is another change's setting.)"""
    import json as json_module

    make_user("alice")
    site = open_site(cdn="abort")

    def with_choices(config):
        config["chatkit"]["composer"]["models"] = [
            {"id": "fast", "label": "Fast"},
            {"id": "smart", "label": "Smart", "default": True},
        ]
        config["chatkit"]["composer"]["tools"] = [
            {
                "id": "search",
                "label": "Search the docs",
                "shortLabel": "Docs",
                "placeholderOverride": "Search for…",
            },
        ]

    edit_page_config(site, with_choices)
    chat = login_and_open(site, "alice")
    model = chat.root.get_by_role("combobox", name="Model")
    expect(model).to_have_value("smart")
    model.select_option("fast")
    docs = chat.root.get_by_role("button", name="Docs")
    docs.click()
    expect(docs).to_have_attribute("aria-pressed", "true")
    expect(chat.composer).to_have_attribute("placeholder", "Search for…")
    with site.page.expect_request(lambda r: '"threads.create"' in (r.post_data or "")) as request:
        chat.send("Which version?")
    sent = json_module.loads(request.value.post_data)["params"]["input"]["inference_options"]
    assert sent == {"model": "fast", "tool_choice": {"id": "search"}}
    # The tool is for one message; the model stays chosen.
    expect(docs).to_have_attribute("aria-pressed", "false")
    expect(model).to_have_value("fast")


# --- 2. dictation -------------------------------------------------------------------------

FAKE_MICROPHONE = """
    navigator.mediaDevices.getUserMedia = async () => ({ getTracks: () => [{ stop() {} }] });
    window.MediaRecorder = class extends EventTarget {
        constructor() { super(); this.mimeType = 'audio/webm'; }
        start() {}
        stop() {
            const event = new Event('dataavailable');
            event.data = new Blob(['fake audio'], { type: 'audio/webm' });
            this.dispatchEvent(event);
            this.dispatchEvent(new Event('stop'));
        }
    };
"""


def test_dictation_fills_the_composer(open_site, make_user):
    """With composer.dictation on, the microphone button records, and input.transcribe's
    text goes into the box. (The recorder and the server's transcription are stood in for:
    headless Chromium has no microphone, and transcription is another change's.)"""
    import base64
    import json as json_module

    make_user("alice")
    site = open_site(cdn="abort")
    site.page.add_init_script(FAKE_MICROPHONE)

    def with_dictation(config):
        config["chatkit"]["composer"]["dictation"] = {"enabled": True}

    transcribed = []

    def transcribe(route):
        body = json_module.loads(route.request.post_data or "{}")
        if body.get("type") != "input.transcribe":
            route.fallback()
            return
        transcribed.append(body["params"])
        route.fulfill(
            status=200, content_type="application/json", body='{"text": "hello from the mic"}'
        )

    edit_page_config(site, with_dictation)
    site.page.route("**/chatkit/", transcribe)
    chat = login_and_open(site, "alice")
    chat.composer.fill("Say:")
    mic = chat.root.get_by_role("button", name="Dictate a message")
    mic.click()
    stop = chat.root.get_by_role("button", name="Stop dictating")
    expect(stop).to_have_attribute("aria-pressed", "true")
    stop.click()
    expect(chat.composer).to_have_value("Say: hello from the mic")
    assert transcribed[0]["mime_type"] == "audio/webm"
    assert base64.b64decode(transcribed[0]["audio_base64"]) == b"fake audio"


# --- 2. @-mentions ------------------------------------------------------------------------


def test_mentions_are_searched_previewed_and_sent_as_tags(open_site, make_user):
    """With entity search offered (the page config's entityUrls), "@" and letters list
    matches; the chosen one is a tag (its preview one click away) and goes with the message
    as an input_tag part. (The endpoints are stood in for: they are another change's.)"""
    import json as json_module

    make_user("alice")
    site = open_site(cdn="abort")

    def with_mentions(config):
        config["entityUrls"] = {
            "search": "/chatkit/entities/",
            "preview": "/chatkit/entities/preview/",
        }

    entities = [
        {
            "id": "thr_1",
            "title": "Trip planning",
            "group": "Conversations",
            "data": {"kind": "thread"},
        },
        {
            "id": "thr_2",
            "title": "Tax questions",
            "group": "Conversations",
            "data": {"kind": "thread"},
        },
    ]
    searched = []

    def search(route):
        query = route.request.url.split("q=", 1)[-1]
        searched.append(query)
        found = [e for e in entities if e["title"].lower().startswith(query.lower())]
        route.fulfill(
            status=200, content_type="application/json", body=json_module.dumps({"entities": found})
        )

    def preview(route):
        widget = {"type": "Card", "children": [{"type": "Text", "value": "A preview of the trip"}]}
        route.fulfill(
            status=200, content_type="application/json", body=json_module.dumps({"preview": widget})
        )

    edit_page_config(site, with_mentions)
    site.page.route("**/chatkit/entities/?q=*", search)
    site.page.route("**/chatkit/entities/preview/?id=*", preview)
    chat = login_and_open(site, "alice")
    # With mentions, the message box is a combobox (its suggestions are a listbox).
    chat.composer = chat.root.get_by_role("combobox", name="Message to the assistant")
    chat.composer.type("Remember @Tr")
    options = chat.root.get_by_role("option")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("Trip planning")
    chat.composer.press("Enter")  # picks the mention, does not send
    expect(chat.composer).to_have_value("Remember ")
    tag = chat.root.locator(".bc-tags .bc-tag")
    expect(tag).to_contain_text("@Trip planning")
    tag.get_by_role("button", name="@Trip planning").click()
    expect(tag).to_contain_text("A preview of the trip")
    chat.composer.type("this")
    with site.page.expect_request(lambda r: '"threads.create"' in (r.post_data or "")) as request:
        chat.composer.press("Enter")
    content = json_module.loads(request.value.post_data)["params"]["input"]["content"]
    assert content == [
        {"type": "input_text", "text": "Remember this"},
        {
            "type": "input_tag",
            "id": "thr_1",
            "text": "Trip planning",
            "data": {"kind": "thread"},
            "group": "Conversations",
            "interactive": False,
        },
    ]
    chat.wait_for_answer(ANSWER_END)
    expect(chat.log.locator(".bc-msg-user .bc-msg-tags")).to_have_text("@Trip planning")
