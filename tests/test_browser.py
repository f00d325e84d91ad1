"""End to end in a real browser: Debian's chromium, driven by Playwright, against the app under gunicorn.

The app runs as it is deployed (tests/live_server.py); the outside services are the fakes in tests/fakes,
all on 127.0.0.1. Every wait is one of Playwright's bounded ones (expect / wait_for).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

# Debian's wrapper is /usr/bin/chromium; the real binary beside it skips the wrapper's shell noise.
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM = os.environ.get("CHROMIUM_PATH") or (
    "/usr/lib/chromium/chromium" if Path("/usr/lib/chromium/chromium").is_file() else DEBIAN_CHROMIUM
)
if not Path(CHROMIUM).is_file():
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)
pytest.importorskip("playwright.sync_api")

from playwright.sync_api import Page, expect  # noqa: E402

from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, FakeBedrock, reply_for  # noqa: E402
from tests.fakes.receiver import Receiver  # noqa: E402
from tests.live_server import LiveServer  # noqa: E402

pytestmark = pytest.mark.browser

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
SECRET_LABEL = re.compile(r"^Secret\b")  # not "Secret headers"; the label ends with a required mark
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


@pytest.fixture(scope="module")
def bedrock():
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture
def receiver():
    with Receiver() as fake:
        yield fake


@pytest.fixture(autouse=True)
def _bounded(page: Page):
    """Short timeouts everywhere, and no uncaught JavaScript error in any test."""
    page.set_default_timeout(TIMEOUT_MS)
    page.set_default_navigation_timeout(2 * TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield
    assert errors == [], f"JavaScript errors in the page: {errors}"


def csrf_token(page: Page) -> str:
    return json.loads(page.locator("body").get_attribute("hx-headers"))["X-CSRFToken"]


def create_webhook(page: Page, live: LiveServer, name: str, url: str = "http://127.0.0.1:9/hook") -> str:
    """Create a webhook through the create form's endpoint (no JS), with the page's cookies and token."""
    if not page.url.startswith(live.url):
        page.goto(live.url + "/connectors")
    response = page.request.post(
        f"{live.url}/connectors/new/.webhook",
        form={"name": name, "config.url": url, "config.method": "post", "config.hasAuth": "false"},
        headers={"X-CSRFToken": csrf_token(page)},
        max_redirects=0,
    )
    assert response.status == 303, response.text()[:2000]
    return response.headers["location"].rsplit("/", 1)[1]


def row_names(page: Page) -> list[str]:
    return page.locator("table.connectors tbody tr td:nth-child(2) > a").all_inner_texts()


# --- 1. Bedrock: create through the UI, test, stream -----------------------------------------------------


def test_create_bedrock_connector_then_test_and_stream(page: Page, live: LiveServer, bedrock: FakeBedrock):
    page.goto(live.url + "/connectors")
    page.get_by_role("button", name="Create connector").click()  # a link styled (and announced) as a button
    expect(page.get_by_role("heading", name="Pick a connector type")).to_be_visible()

    type_filter = page.get_by_role("searchbox", name="Filter connector types")
    expect(type_filter).to_be_focused()  # autofocus: the user can type at once
    type_filter.press_sequentially("bedr")
    cards = page.locator("#type-cards .type-card")
    expect(cards).to_have_count(1)
    expect(cards).to_contain_text("Amazon Bedrock")
    expect(page).to_have_url(re.compile(r"/connectors/new\?q=bedr$"))  # hx-push-url: the filter is linkable
    cards.click()

    expect(page.get_by_role("heading", name="New Amazon Bedrock connector")).to_be_visible()
    page.get_by_label("Name").fill("Bedrock e2e")
    url = page.get_by_label("URL")
    expect(url).to_have_value("https://bedrock-runtime.us-east-1.amazonaws.com")  # the type's default
    url.fill(bedrock.url)
    page.get_by_label("Access key").fill(ACCESS_KEY)
    page.get_by_label(SECRET_LABEL).fill(SECRET_KEY)
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    expect(page.get_by_role("heading", name="Bedrock e2e", level=1)).to_be_visible()
    expect(page.locator("#flashes")).to_contain_text('Created connector "Bedrock e2e".')
    expect(page.locator(".secret-list")).to_contain_text("accessKey stored")

    # The test pane starts on sub-action `test` with Kibana's default body.
    sub_action = page.get_by_label("Sub-action")
    expect(sub_action).to_have_value("test")
    body = page.get_by_label("Body")
    expect(body).to_have_value(re.compile(r'"content": "Hello world"'))
    assert json.loads(body.input_value())["messages"] == [{"content": "Hello world", "role": "user"}]
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result).to_contain_text(reply_for("Hello world"))
    expect(result.locator(".http-status")).to_have_text("200 OK")
    assert bedrock.last_request.signature_ok

    # invokeStream: the select swaps the params fields (htmx), then app.js streams the answer with fetch.
    sub_action.select_option("invokeStream")
    params = page.locator("#params-fields")
    expect(params).to_have_attribute("data-streams", "true")
    messages = page.get_by_label("Messages")
    expect(messages).to_be_visible()
    expect(page.get_by_label("Body")).to_have_count(0)
    messages.fill(json.dumps([{"role": "user", "content": "Stream this, please"}]))

    bedrock.frame_delay = 0.1  # slow enough to see the text arrive before the final result
    try:
        with page.expect_response(lambda r: r.url.endswith("/test") and r.request.method == "POST") as answer:
            page.get_by_role("button", name="Run test").click()
        assert answer.value.headers["content-type"].startswith("text/event-stream")
        streaming = page.locator('#test-result [data-status="streaming"] #stream-output')
        expect(streaming).to_contain_text("Fake Bedrock")
        expect(result).to_have_attribute("data-status", "ok")
    finally:
        bedrock.frame_delay = 0.01
    expect(result.locator("pre.streamed")).to_have_text(reply_for("Stream this, please"))
    expect(result).to_contain_text("completion")  # token usage from the stream's last frames
    expect(page.get_by_role("button", name="Run test")).not_to_have_attribute("aria-busy", "true")


# --- 2. Search the list ---------------------------------------------------------------------------------


def test_search_filters_rows_as_you_type(page: Page, live: LiveServer):
    for name in ("Search alpha hook", "Search beta hook", "Search gamma hook"):
        create_webhook(page, live, name)
    token = csrf_token(page)
    response = page.request.post(
        f"{live.url}/connectors/new/.server-log",
        form={"name": "Search alpha log"},
        headers={"X-CSRFToken": token},
        max_redirects=0,
    )
    assert response.status == 303, response.text()[:2000]

    page.goto(live.url + "/connectors")
    expect(page.get_by_role("search")).to_be_visible()  # the filters are a search landmark
    # Keyboard: Tab from the top of the page reaches the search box; typing filters as you type.
    search = page.get_by_role("searchbox", name="Search connectors")
    for _ in range(12):
        page.keyboard.press("Tab")
        if search.evaluate("el => el === document.activeElement"):
            break
    expect(search).to_be_focused()
    page.keyboard.type("search al")
    expect(page).to_have_url(re.compile(r"[?&]q=search(%20|\+)al&"))
    rows = page.locator("table.connectors tbody tr")
    expect(rows).to_have_count(2)
    assert sorted(row_names(page)) == ["Search alpha hook", "Search alpha log"]

    # Type filter on top of the search.
    page.get_by_label("Filter by type").select_option(label="Server log")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Search alpha log")
    expect(page).to_have_url(re.compile(r"type=\.server-log"))

    # Widen the search again: back to every type, fewer letters.
    page.get_by_label("Filter by type").select_option(label="All types")
    search.fill("search")
    expect(rows).to_have_count(4)

    # Nothing matches: a message, not an empty table.
    search.press_sequentially("zzz")
    expect(page.locator("#results")).to_contain_text("No connectors match “searchzzz”.")
    expect(rows).to_have_count(0)

    # The URL carries the search: reloading shows the same rows.
    search.fill("gamma")
    expect(rows).to_have_count(1)
    page.reload()
    expect(page.get_by_role("searchbox", name="Search connectors")).to_have_value("gamma")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Search gamma hook")


# --- 3. Bulk delete -------------------------------------------------------------------------------------


def test_bulk_delete_two_connectors(page: Page, live: LiveServer):
    for name in ("Bulk one", "Bulk two", "Bulk three"):
        create_webhook(page, live, name)
    page.goto(live.url + "/connectors?q=bulk")
    rows = page.locator("table.connectors tbody tr")
    expect(rows).to_have_count(3)

    page.get_by_role("checkbox", name="Select Bulk one").check()
    page.get_by_role("checkbox", name="Select Bulk three").check()
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    page.get_by_role("button", name="Delete selected").click()

    expect(page.locator("#toasts")).to_contain_text("Deleted 2 connectors.")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Bulk two")
    assert dialogs == ["Delete the selected connectors? This cannot be undone."]
    assert page.url.endswith("/connectors?q=bulk")  # the search survives the delete

    page.goto(live.url + "/connectors?q=bulk")
    assert row_names(page) == ["Bulk two"]


def test_bulk_delete_dismissed_keeps_everything(page: Page, live: LiveServer):
    for name in ("Keep one", "Keep two"):
        create_webhook(page, live, name)
    page.goto(live.url + "/connectors?q=keep")
    rows = page.locator("table.connectors tbody tr")
    page.get_by_role("checkbox", name="Select all on this page").check()
    expect(page.get_by_role("checkbox", name="Select Keep two")).to_be_checked()
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    dialogs: list[str] = []

    def dismiss(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.get_by_role("button", name="Delete selected").click()
    assert len(dialogs) == 1  # hx-confirm asks synchronously, inside the click
    page.reload()
    expect(rows).to_have_count(2)
    assert posts == []


# --- 4. Webhook: test unsaved values from the create form ---------------------------------------------


def test_webhook_test_from_create_form_with_unsaved_values(page: Page, live: LiveServer, receiver: Receiver):
    hook = receiver.reply("/hook", status=202, body='{"queued": true}')
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("Unsaved hook")
    page.get_by_label("URL").fill(hook)
    page.get_by_role("switch", name="Requires authentication").uncheck()

    page.get_by_text("Test these settings before saving").click()
    body = page.get_by_label("Body")
    expect(body).to_have_value('{"text": "Test message from Switchboard"}')
    body.fill('{"text": "from the browser"}')
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result.locator(".http-status")).to_have_text("202 ACCEPTED")
    expect(result).to_contain_text(f"POST {hook}")
    assert [r.body for r in receiver.received] == [b'{"text": "from the browser"}']

    # Nothing was saved, and the form still holds what was typed.
    expect(page.get_by_label("Name")).to_have_value("Unsaved hook")
    expect(page.get_by_label("URL")).to_have_value(hook)
    response = page.request.get(f"{live.url}/connectors?q=Unsaved+hook")
    assert "No connectors match" in response.text()

    # A receiver that refuses: the status and its message show in the panel.
    receiver.reply("/hook", status=500, body='{"message": "receiver is down"}')
    page.get_by_role("button", name="Run test").click()
    expect(result).to_have_attribute("data-status", "error")
    expect(result.locator(".http-status")).to_have_text(re.compile(r"^500 "))
    expect(result).to_contain_text("receiver is down")


# --- 5. Validation ----------------------------------------------------------------------------------------


def test_bad_url_shows_error_at_the_field_and_keeps_values(page: Page, live: LiveServer):
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("Bad URL hook")
    page.get_by_label("URL").fill("not a url")
    page.get_by_label("Method").select_option("put")
    page.get_by_role("switch", name="Requires authentication").uncheck()
    page.get_by_role("button", name="Create connector").click()

    url = page.get_by_label("URL")
    expect(url).to_have_attribute("aria-invalid", "true")
    help_id = url.get_attribute("aria-describedby")
    expect(page.locator(f"#{help_id} .error-text")).not_to_be_empty()
    expect(page.get_by_role("alert")).to_contain_text("The connector was not saved")
    assert page.url.endswith("/connectors/new/.webhook")

    expect(url).to_have_value("not a url")
    expect(page.get_by_label("Name")).to_have_value("Bad URL hook")
    expect(page.get_by_label("Method")).to_have_value("put")
    expect(page.get_by_role("switch", name="Requires authentication")).not_to_be_checked()

    # Fixing the field saves it.
    url.fill("http://127.0.0.1:9/fixed")
    page.get_by_role("button", name="Create connector").click()
    expect(page).to_have_url(UUID_URL)
    expect(page.get_by_role("heading", name="Bad URL hook", level=1)).to_be_visible()


def test_secrets_typed_before_a_failed_submit_are_kept_but_not_shown(
    page: Page, live: LiveServer, bedrock: FakeBedrock
):
    page.goto(live.url + "/connectors/new/.bedrock")
    page.get_by_label("Name").fill("Bedrock kept secrets")
    page.get_by_label("URL").fill("ftp://nowhere")
    page.get_by_label("Access key").fill(ACCESS_KEY)
    page.get_by_label(SECRET_LABEL).fill(SECRET_KEY)
    page.get_by_role("button", name="Create connector").click()
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(SECRET_LABEL)).to_have_value("")
    assert SECRET_KEY not in page.content()

    page.get_by_label("URL").fill(bedrock.url)
    page.get_by_role("button", name="Create connector").click()
    expect(page).to_have_url(UUID_URL)
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")


# --- 6. Screenshots ---------------------------------------------------------------------------------------

VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_screenshots(page: Page, live: LiveServer, bedrock: FakeBedrock, receiver: Receiver, tmp_path_factory,
                     viewport: str):
    """Pages at laptop and phone widths, none scrolling sideways. SWITCHBOARD_SCREENSHOTS=<dir> keeps them."""
    out = Path(os.environ.get("SWITCHBOARD_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    width = VIEWPORTS[viewport]["width"]
    page.set_viewport_size(VIEWPORTS[viewport])
    hook = receiver.reply("/shot", body='{"ok": true, "note": "a reply long enough to wrap on a phone screen"}')
    create_webhook(page, live, f"Screenshot hook {viewport}", hook)
    sideways: dict[str, int] = {}

    def shot(name: str) -> None:
        path = out / f"{viewport}-{name}.png"
        page.screenshot(path=path, full_page=True)
        assert path.stat().st_size > 0
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        if scroll_width > width:
            sideways[name] = scroll_width

    page.goto(live.url + "/connectors")
    expect(page.locator("table.connectors")).to_be_visible()
    shot("list")

    page.goto(live.url + "/connectors/new")
    expect(page.locator("#type-cards .type-card").first).to_be_visible()
    shot("pick-type")

    page.goto(live.url + "/connectors/new/.bedrock")
    expect(page.get_by_label("Name")).to_be_focused()
    shot("create-form")
    page.get_by_label("URL").fill("ftp://nowhere")
    page.get_by_role("button", name="Create connector").click()
    expect(page.get_by_label("URL")).to_have_attribute("aria-invalid", "true")
    shot("create-form-errors")

    page.goto(live.url + f"/connectors?q=Screenshot+hook+{viewport}")
    page.get_by_role("link", name=f"Screenshot hook {viewport}").click()
    expect(page).to_have_url(UUID_URL)
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    shot("detail-result")

    page.goto(live.url + "/connectors/new/.bedrock")
    page.get_by_label("Name").fill(f"Screenshot bedrock {viewport}")
    page.get_by_label("URL").fill(bedrock.url)
    page.get_by_label("Access key").fill(ACCESS_KEY)
    page.get_by_label(SECRET_LABEL).fill(SECRET_KEY)
    page.get_by_role("button", name="Create connector").click()
    expect(page).to_have_url(UUID_URL)
    page.get_by_label("Sub-action").select_option("invokeStream")
    page.get_by_label("Messages").fill(json.dumps([{"role": "user", "content": "Say something for the screenshot"}]))
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    expect(page.locator("#test-result .result pre.streamed")).to_be_visible()
    shot("detail-streamed")

    assert sideways == {}, f"pages that scroll sideways at {width} px: {sideways}"
