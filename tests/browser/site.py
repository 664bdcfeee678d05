"""Helpers shared by the browser tests: the network rules and a page object for the site.

Kept out of conftest.py so test modules (and later suites) can import them.
"""

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from playwright.sync_api import expect

from chat.conf import DEFAULTS as CHAT_DEFAULTS

DOUBLE_SCRIPT = (Path(__file__).parent / "chatkit_double.js").read_text()
CDN_URL = CHAT_DEFAULTS["CDN_URL"]
LOOPBACK_HOSTS = {"127.0.0.1", "localhost"}
# The site's CHAT_WIDGET_TIMEOUT in these tests: short, so the could-not-load path is quick.
WIDGET_TIMEOUT = 3.0
PASSWORD = "browser-password-1"
# The demo model's answer ends with this sentence; a stopped answer never gets there.
ANSWER_END = "then restart the site."


def route_network(route: Any, cdn: str) -> None:
    """Answer the CDN URL as `cdn` says; let loopback through; abort everything else.

    cdn: "double" serves chatkit_double.js, "abort" fails the request like a blocked
    network, "empty" serves a script that defines nothing (a wrong or broken script).
    """
    url = route.request.url
    if url == CDN_URL:
        if cdn == "double":
            route.fulfill(status=200, content_type="text/javascript", body=DOUBLE_SCRIPT)
        elif cdn == "empty":
            route.fulfill(status=200, content_type="text/javascript", body="/* no widget */")
        else:
            route.abort("internetdisconnected")
    elif urlsplit(url).hostname in LOOPBACK_HOSTS:
        route.continue_()
    else:
        route.abort("blockedbyclient")


@dataclass
class Exchange:
    """One request the page made to the site, with the answer it got."""

    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    status: int | None = None


@dataclass
class SitePage:
    """A Playwright page on the live site, with the steps the tests share."""

    page: Any
    base_url: str
    exchanges: list[Exchange] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        pending: dict[Any, Exchange] = {}

        def on_request(request: Any) -> None:
            self.urls.append(request.url)
            path = urlsplit(request.url).path
            if path.startswith(("/chatkit/", "/api/token/")):
                exchange = Exchange(request.method, path, request.headers, request.post_data)
                pending[request] = exchange
                self.exchanges.append(exchange)

        def on_response(response: Any) -> None:
            exchange = pending.pop(response.request, None)
            if exchange is not None:
                exchange.status = response.status

        self.page.on("request", on_request)
        self.page.on("response", on_response)
        self.page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        self.page.on(
            "console",
            lambda message: message.type == "error" and self.console_errors.append(message.text),
        )

    def goto(self, path: str = "/") -> None:
        self.page.goto(self.base_url + path)

    def login(self, username: str, password: str = PASSWORD, next_path: str = "/") -> None:
        """Log in through the real login form and land on `next_path`."""
        self.goto(f"/accounts/login/?next={quote(next_path)}")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        with self.page.expect_navigation():
            self.page.locator("main form").get_by_role("button", name="Log in").click()

    def wait_for_scripts(self) -> None:
        """Wait until the page's script has run: it sets the theme on <html> first, and in
        the same run puts the chat panel back the way the user left it."""
        self.page.wait_for_function("() => document.documentElement.dataset.theme")

    def logout(self) -> None:
        with self.page.expect_navigation():
            self.page.get_by_role("button", name="Log out").click()

    @property
    def launcher(self) -> Any:
        return self.page.get_by_role("button", name="Open chat")

    @property
    def panel(self) -> Any:
        return self.page.locator("#chat-panel")

    def open_chat(self) -> dict:
        """Click the launcher and wait until the widget has its options; return them."""
        self.launcher.click()
        return self.wait_for_options()

    def expect_panel_still_open(self) -> None:
        """The panel did not close. A closing panel fades out and counts as visible until it
        has; the launcher comes back the moment it closes."""
        expect(self.launcher).to_be_hidden()
        expect(self.panel).to_be_visible()

    def wait_for_panel_settled(self) -> None:
        """Wait until the opening transition is over (for screenshots)."""
        self.page.wait_for_function(
            "() => getComputedStyle(document.getElementById('chat-panel')).opacity === '1'"
        )

    def wait_for_options(self, count: int = 1) -> dict:
        self.page.wait_for_function(
            "n => window.__chatkit && window.__chatkit.options.length >= n", arg=count
        )
        return self.chatkit("lastOptions")

    def chatkit(self, helper: str, *args: Any) -> Any:
        """Call a helper of the ChatKit double (window.__chatkit) and return its result."""
        return self.page.evaluate(
            "([helper, args]) => window.__chatkit[helper](...args)", [helper, list(args)]
        )

    def chatkit_record(self, name: str) -> Any:
        """A record of the double (options, composer, mounts...) as plain JSON."""
        script = "name => JSON.parse(JSON.stringify(window.__chatkit[name]))"
        return self.page.evaluate(script, name)

    def local_storage(self) -> dict[str, str]:
        return self.page.evaluate("() => ({...window.localStorage})")

    def requests_to(self, path: str) -> list[Exchange]:
        return [exchange for exchange in self.exchanges if exchange.path == path]

    def request_json(self, exchange: Exchange) -> dict:
        return json.loads(exchange.body or "null")


# --- the built-in client ------------------------------------------------------------------


class Chat:
    """The built-in client in the panel of `site`."""

    def __init__(self, site: SitePage):
        self.site = site
        self.page = site.page
        self.root = site.panel.locator("[data-builtin-client]")
        self.composer = self.root.get_by_label("Message to the assistant", exact=True)
        self.log = self.root.get_by_role("log")

    def open(self) -> "Chat":
        self.site.launcher.click()
        expect(self.root).to_be_visible(timeout=WIDGET_TIMEOUT * 1000 + 5000)
        return self

    def answers(self):
        return self.log.locator(".bc-msg-assistant .bc-md")

    def user_messages(self):
        return self.log.locator(".bc-msg-user .bc-user-text")

    def button(self, name: str):
        return self.root.get_by_role("button", name=name, exact=True)

    def send(self, text: str) -> None:
        self.composer.fill(text)
        self.composer.press("Enter")

    def wait_for_answer(self, text: str, index: int = -1, timeout: float = 20_000) -> str:
        """Wait until the answer shows `text` and the composer offers to send again (the
        answer's stream has closed, so the server is done with the turn); return the
        answer's text."""
        answer = self.answers().nth(index) if index >= 0 else self.answers().last
        expect(answer).to_contain_text(text, timeout=timeout)
        self.wait_until_ready(timeout)
        # Complete for screen readers too.
        expect(answer.locator("xpath=..")).to_have_attribute("aria-busy", "false")
        return answer.inner_text()

    def wait_until_ready(self, timeout: float = 20_000) -> None:
        """Wait until the composer can send: the stop button is the send button again."""
        send = self.button("Send message")
        expect(send).to_be_visible(timeout=timeout)
        expect(send).to_be_enabled()

    def wait_until_scrolled_to_end(self) -> None:
        self.page.wait_for_function(
            """() => {
                const s = document.querySelector('[data-builtin-client] .bc-scroller');
                return s.scrollHeight - s.scrollTop - s.clientHeight < 2;
            }"""
        )

    def record_answer_text(self) -> None:
        """Record every text the last assistant message shows, from now on."""
        self.page.evaluate(
            """() => {
                window.__answerStates = [];
                const log = document.querySelector('[data-builtin-client] .bc-log');
                const record = () => {
                    const answers = log.querySelectorAll('.bc-msg-assistant .bc-md');
                    const text = answers.length ? answers[answers.length - 1].textContent : '';
                    if (text && window.__answerStates.at(-1) !== text) {
                        window.__answerStates.push(text);
                    }
                };
                new MutationObserver(record).observe(log, {
                    subtree: true, childList: true, characterData: true,
                });
            }"""
        )

    def answer_states(self) -> list[str]:
        return self.page.evaluate("() => window.__answerStates")


def login_and_open(site: SitePage, username: str, path: str = "/") -> Chat:
    site.login(username, next_path=path)
    return Chat(site).open()


def wait_until(condition, timeout: float = 10.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {condition}")
