"""Browser-test fixtures and helpers, for tests/test_browser.py and any type's own test module.

Debian's chromium, driven by Playwright, against the app under gunicorn (tests/live_server.py), with an
admin and a viewer account. Signing in costs a scrypt hash on the server, so each role signs in once per
module through the real sign-in page and every test starts from that browser state: `page` is the admin's,
`viewer_page` the viewer's, `anon_page` nobody's. The fixtures are registered in tests/conftest.py; a test
that drives the browser carries the `browser_test` marks (`pytestmark = browser_test` for a whole module,
`@drives_browser` for one test), so it is skipped, saying why, where chromium is missing. Every wait is one of Playwright's bounded ones (expect / wait_for).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.live_server import Account, LiveServer

# Debian's wrapper is /usr/bin/chromium; the real binary beside it skips the wrapper's shell noise.
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or (
    "/usr/lib/chromium/chromium" if Path("/usr/lib/chromium/chromium").is_file() else DEBIAN_CHROMIUM
)
HAVE_CHROMIUM = Path(CHROMIUM).is_file()
# The marks of a test that drives the browser: skipped, saying why, where chromium is missing.
browser_test = [
    pytest.mark.browser,
    pytest.mark.skipif(not HAVE_CHROMIUM, reason=f"no chromium at {CHROMIUM} (apt-get install -y chromium)"),
]


def drives_browser(test):
    """Decorate one test function with the `browser_test` marks (a module uses `pytestmark = browser_test`)."""
    for mark in browser_test:
        test = mark(test)
    return test

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 5000
UUID_URL = re.compile(r"/connectors/[0-9a-f-]{36}$")
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch args, pointed at Debian's chromium (never `playwright install`)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [*browser_type_launch_args.get("args", []), *CHROMIUM_ARGS],
    }


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with LiveServer(tmp_path_factory.mktemp("live")) as server:
        yield server


# --- Signed-in pages --------------------------------------------------------------------------------------


def fill_sign_in(page: Page, account: Account, password: str | None = None) -> None:
    page.get_by_label("User name").fill(account.username)
    page.get_by_label("Password").fill(account.password if password is None else password)
    page.get_by_role("button", name="Sign in").click()


def _signed_in_state(browser: Browser, context_args: dict, live: LiveServer, role: str) -> dict:
    """Sign in through the sign-in page once; the cookies it leaves are reused by every test."""
    context = browser.new_context(**context_args)
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(live.url + "/sign-in")
        fill_sign_in(page, live.accounts[role])
        expect(page).to_have_url(live.url + "/connectors")
        expect(page.get_by_role("button", name=re.compile(r"^Sign out"))).to_contain_text(role)
        return context.storage_state()
    finally:
        context.close()


@pytest.fixture(scope="module")
def admin_state(browser: Browser, browser_context_args, live: LiveServer) -> dict:
    return _signed_in_state(browser, browser_context_args, live, "admin")


@pytest.fixture(scope="module")
def viewer_state(browser: Browser, browser_context_args, live: LiveServer) -> dict:
    return _signed_in_state(browser, browser_context_args, live, "viewer")


@pytest.fixture
def js_errors():
    """No uncaught JavaScript error in any page of a test."""
    errors: list[str] = []
    yield errors
    assert errors == [], f"JavaScript errors in the page: {errors}"


def _bounded(page: Page, errors: list[str]) -> Page:
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(2 * TIMEOUT_MS)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return page


@pytest.fixture
def context(new_context, admin_state) -> BrowserContext:
    """pytest-playwright's `context`, signed in as the admin."""
    return new_context(storage_state=admin_state)


@pytest.fixture
def page(context: BrowserContext, js_errors) -> Page:
    return _bounded(context.new_page(), js_errors)


@pytest.fixture
def viewer_page(new_context, viewer_state, js_errors) -> Page:
    return _bounded(new_context(storage_state=viewer_state).new_page(), js_errors)


@pytest.fixture
def anon_page(new_context, js_errors) -> Page:
    return _bounded(new_context().new_page(), js_errors)


# --- Helpers ------------------------------------------------------------------------------------------------


def csrf_token(page: Page) -> str:
    return json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRFToken"]


def post_create(page: Page, live: LiveServer, type_id: str, form: dict) -> str:
    """Create a connector through the create form's endpoint (no JS), with the page's cookies and token."""
    if not page.url.startswith(live.url):
        page.goto(live.url + "/connectors")
    response = page.request.post(
        f"{live.url}/connectors/new/{type_id}", form=form, headers={"X-CSRFToken": csrf_token(page)}, max_redirects=0
    )
    assert response.status == 303, response.text()[:2000]
    return response.headers["location"].rsplit("/", 1)[1]


def create_webhook(page: Page, live: LiveServer, name: str, url: str = "http://127.0.0.1:9/hook") -> str:
    return post_create(
        page, live, ".webhook", {"name": name, "config.url": url, "config.method": "post", "config.hasAuth": "false"}
    )


def create_server_log(page: Page, live: LiveServer, name: str) -> str:
    return post_create(page, live, ".server-log", {"name": name})


def sign_in_next(page: Page) -> str:
    """Where the sign-in page will go after signing in (its `next`), once the browser is on it."""
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    return parse_qs(urlsplit(page.url).query)["next"][0]


def row_names(page: Page) -> list[str]:
    return page.locator("table.connectors tbody tr td.name > a").all_inner_texts()


