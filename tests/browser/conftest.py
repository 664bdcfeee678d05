"""Browser-test infrastructure: the real site served by daphne on a loopback port, driven
by Debian's headless Chromium through Playwright.

The site runs in its own process against the pytest-django test database (SQLite file or
PostgreSQL), so a test's rows must be committed before the site can see them: use
`@pytest.mark.django_db(transaction=True)`. Every request the browser makes is routed: the
ChatKit CDN URL is answered with `chatkit_double.js` (or made to fail), loopback requests
go through untouched, and anything else is aborted, so nothing leaves the machine.

Reusable pieces: `live_site` (URL and log of the server), `site_factory` (more sites with
settings of their own, for one module), `chromium` (the browser), `open_site` (a fresh
browser context + page as a `SitePage`), `open_on` (the same on another site), `SitePage`
helpers (log in through the form, open the chat, call the ChatKit double),
`screenshot_dir`.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections

from tests.browser.servers import LiveSite, start_site, stop_site
from tests.browser.site import PASSWORD, SitePage, route_network
from tests.instances import database_url_for

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


# --- The live site -----------------------------------------------------------------------


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (.ci/run does)")


@pytest.fixture(scope="session")
def live_site(django_db_setup, django_db_blocker, tmp_path_factory) -> Iterator[LiveSite]:
    """The real site (chatsite.asgi under daphne) on a free loopback port, on the test DB."""
    require_chromium()
    with django_db_blocker.unblock():
        database_url = database_url_for(connection.settings_dict)
    folder = tmp_path_factory.mktemp("live-site")
    process, site = start_site(folder, database_url, CHAT_DEMO_WORD_DELAY="0.02")
    print(f"\nlive site {site.url}/ (log: {site.log_path})")
    try:
        yield site
    finally:
        stop_site(process)


@pytest.fixture(scope="module")
def site_factory(
    live_site, django_db_blocker, tmp_path_factory
) -> Iterator[Callable[..., LiveSite]]:
    """Start further sites (name, then settings for their environment) for one test
    module; all stop when the module is done."""
    with django_db_blocker.unblock():
        database_url = database_url_for(connection.settings_dict)
    processes = []

    def start(name: str, **settings: str) -> LiveSite:
        process, site = start_site(tmp_path_factory.mktemp(name), database_url, **settings)
        processes.append(process)
        print(f"\n{name} {site.url}/ (log: {site.log_path})")
        return site

    yield start
    for process in processes:
        stop_site(process)


# --- The browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium(live_site) -> Iterator[Any]:
    """Headless Chromium for one test module; each test gets fresh contexts from it.

    Module scope, not session: Playwright's sync API leaves an asyncio loop marked as
    running on the main thread for as long as it is started, which would break the async
    and ORM tests that run after this folder. While it runs, Django would take every plain
    ORM call of the tests and of pytest-django (creating users, flushing tables) for a call
    from async code and refuse it; they are sync code beside an idle loop, so
    DJANGO_ALLOW_ASYNC_UNSAFE allows them, for exactly this lifetime. Depending on
    `live_site` makes the test database exist before the loop starts.
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture(autouse=True)
def close_async_orm_connections():
    """Overrides the async fixture of tests/conftest.py for this folder: pytest-asyncio
    cannot run a loop beside Playwright's, and these tests use no async ORM anyway."""
    yield
    connections.close_all()


@pytest.fixture(autouse=True)
def no_turn_outlives_its_test():
    """Overrides the async fixture of tests/conftest.py for this folder, for the same
    reason: the turns of these tests run in the live site's own process, not in this one."""
    yield


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("screenshots")
    print(f"\nscreenshots in {path}")
    return path


@pytest.fixture
def open_site(chromium, live_site) -> Iterator[Callable[..., SitePage]]:
    """Factory: a fresh browser context (own cookies and storage) and page on the site.

    Keyword arguments: cdn ("double" | "abort" | "empty"), color_scheme ("light" | "dark"),
    viewport ({"width", "height"}); tab_of (a SitePage): a new page in that page's
    context instead (another tab of the same browser: same cookies and storage) on the
    same site. Uncaught page errors fail the test.
    """
    contexts = []
    pages: list[SitePage] = []

    def open_(
        cdn: str = "double",
        color_scheme: str = "light",
        viewport=None,
        tab_of: SitePage | None = None,
    ) -> SitePage:
        if tab_of is not None:
            tab = SitePage(page=tab_of.page.context.new_page(), base_url=tab_of.base_url)
            pages.append(tab)
            return tab
        context = chromium.new_context(
            color_scheme=color_scheme,
            viewport=viewport or {"width": 1280, "height": 800},
            service_workers="block",
        )
        context.set_default_timeout(15_000)
        context.route("**/*", lambda route: route_network(route, cdn))
        contexts.append(context)
        site_page = SitePage(page=context.new_page(), base_url=live_site.url)
        pages.append(site_page)
        return site_page

    yield open_
    for context in contexts:
        context.close()
    errors = [error for site_page in pages for error in site_page.page_errors]
    assert not errors, f"uncaught errors in the page: {errors}"


@pytest.fixture
def open_on(open_site) -> Callable[..., SitePage]:
    """open_site for another site: the same browser setup, pointed at `site`."""

    def open_(site: LiveSite, **options) -> SitePage:
        page = open_site(**options)
        page.base_url = site.url
        return page

    return open_


@pytest.fixture
def make_user(django_user_model) -> Callable[[str], Any]:
    """Create a user the live site can see (needs django_db(transaction=True))."""

    def make(username: str) -> Any:
        return django_user_model.objects.create_user(username=username, password=PASSWORD)

    return make
