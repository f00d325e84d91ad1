"""End to end in a real browser: Debian's chromium, driven by Playwright, against the app under gunicorn.

The app runs as it is deployed (tests/live_server.py), with an admin and a viewer account; the outside
services are the fakes in tests/fakes, all on 127.0.0.1. Every wait is one of Playwright's bounded ones
(expect / wait_for).

Signing in costs a scrypt hash on the server, so each role signs in once per module through the real
sign-in page and every other test starts from that browser state (cookies): `page` is the admin's,
`viewer_page` the viewer's, `anon_page` nobody's.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser import (
    CHROMIUM,
    HAVE_CHROMIUM,
    UUID_URL,
    create_server_log,
    create_webhook,
    csrf_token,
    fill_sign_in,
    post_create,
    row_names,
    sign_in_next,
)
from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, FakeBedrock, reply_for
from tests.fakes.receiver import Receiver
from tests.live_server import Account, LiveServer

if not HAVE_CHROMIUM:
    pytest.skip(f"no chromium at {CHROMIUM} (apt-get install -y chromium)", allow_module_level=True)

pytestmark = pytest.mark.browser
SECRET_LABEL = re.compile(r"^Secret\b")  # not "Secret headers"; the label ends with a required mark
KIBANA_EXPORT = Path(__file__).parent / "data" / "kibana-connectors-export.ndjson"
KIBANA_WEBHOOK_ID = "4d2d8da0-4d1f-11ee-9367-577408be4681"  # "my-webhook": hasAuth, basic, no secrets
KIBANA_BEDROCK_ID = "b7c1e0f2-9a64-4c41-8d3e-2f7a1b5c9d10"


@pytest.fixture(scope="module")
def bedrock():
    with FakeBedrock() as fake:
        yield fake


@pytest.fixture
def receiver():
    with Receiver() as fake:
        yield fake


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
    create_server_log(page, live, "Search alpha log")

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


def answer_dialogs(page: Page, *, accept: bool) -> list[str]:
    """Accept or dismiss every confirm() the page shows; the returned list collects their messages."""
    messages: list[str] = []

    def answer(dialog):
        messages.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.on("dialog", answer)
    return messages


def test_bulk_delete_two_connectors(page: Page, live: LiveServer):
    for name in ("Bulk one", "Bulk two", "Bulk three"):
        create_webhook(page, live, name)
    page.goto(live.url + "/connectors?q=bulk")
    rows = page.locator("table.connectors tbody tr")
    expect(rows).to_have_count(3)

    page.get_by_role("checkbox", name="Select Bulk one").check()
    page.get_by_role("checkbox", name="Select Bulk three").check()
    dialogs = answer_dialogs(page, accept=True)
    page.get_by_role("button", name="Delete selected").click()

    expect(page.locator("#toasts")).to_contain_text("Deleted 2 connectors.")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Bulk two")
    assert dialogs == ["Delete the selected connectors? This cannot be undone."]
    assert page.url.endswith("/connectors?q=bulk")  # the search survives the delete

    page.goto(live.url + "/connectors?q=bulk")
    assert row_names(page) == ["Bulk two"]


def connector_status(page: Page, live: LiveServer, connector_id: str) -> int:
    """What the API answers for the connector: 200 while it exists, 404 once it is gone."""
    return page.request.get(f"{live.url}/api/actions/connector/{connector_id}").status


def test_row_delete_asks_then_deletes_the_connector(page: Page, live: LiveServer):
    doomed = create_webhook(page, live, "Row doomed")
    kept = create_webhook(page, live, "Row kept")
    page.goto(live.url + "/connectors?q=row")
    rows = page.locator("table.connectors tbody tr")
    expect(rows).to_have_count(2)

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete Row doomed").click()
    expect(page.locator("#progress")).to_be_hidden()  # nothing was sent (htmx stops at the dismissed confirm)
    expect(rows).to_have_count(2)
    assert connector_status(page, live, doomed) == 200

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Delete Row doomed").click()

    expect(page.locator("#toasts")).to_contain_text('Deleted connector "Row doomed".')
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Row kept")
    assert asked == ["Delete connector “Row doomed”? This cannot be undone."] * 2
    assert connector_status(page, live, doomed) == 404
    assert connector_status(page, live, kept) == 200


def test_detail_page_delete_goes_back_to_the_list(page: Page, live: LiveServer):
    doomed = create_webhook(page, live, "Detail doomed")
    page.goto(f"{live.url}/connectors/{doomed}")
    answer_dialogs(page, accept=True)
    page.get_by_role("button", name="Delete").click()

    expect(page).to_have_url(live.url + "/connectors")
    expect(page.locator("#flashes")).to_contain_text('Deleted connector "Detail doomed".')
    assert connector_status(page, live, doomed) == 404


def test_bulk_delete_dismissed_keeps_everything(page: Page, live: LiveServer):
    for name in ("Keep one", "Keep two"):
        create_webhook(page, live, name)
    page.goto(live.url + "/connectors?q=keep")
    rows = page.locator("table.connectors tbody tr")
    page.get_by_role("checkbox", name="Select all on this page").check()
    expect(page.get_by_role("checkbox", name="Select Keep two")).to_be_checked()
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    dialogs = answer_dialogs(page, accept=False)
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


# --- 6. Accounts: sign in, sign out, come back where you were ---------------------------------------------


def test_sign_in_form_errors_redirects_back_and_signs_out(anon_page: Page, live: LiveServer):
    page, admin = anon_page, live.accounts["admin"]
    # Not signed in: a page sends you to the sign-in form, which remembers where you were going.
    page.goto(live.url + "/connectors?q=nothing+here")
    assert sign_in_next(page) == "/connectors?q=nothing+here"
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("User name")).to_be_focused()  # autofocus
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Connectors")).to_have_count(0)

    fill_sign_in(page, admin, password="not-" + admin.password)
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page.get_by_label("User name")).to_have_value(admin.username)  # kept; the password is not
    expect(page.get_by_label("User name")).to_have_attribute("aria-describedby", "sign-in-error")
    expect(page.get_by_label("Password")).to_have_value("")
    assert sign_in_next(page) == "/connectors?q=nothing+here"  # the way back survives a failed attempt

    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live.url + "/connectors?q=nothing+here")
    expect(page.get_by_role("searchbox", name="Search connectors")).to_have_value("nothing here")
    sign_out = page.get_by_role("button", name=re.compile(r"^Sign out"))
    expect(sign_out).to_contain_text(admin.username)

    # The session ends elsewhere (another tab signs out): the next HTMX request leads to the sign-in page
    # (401 + HX-Redirect), and signing in again comes back to the same search.
    response = page.request.post(live.url + "/sign-out", headers={"X-CSRFToken": csrf_token(page)}, max_redirects=0)
    assert response.status == 303
    page.get_by_role("searchbox", name="Search connectors").fill("gone")
    assert sign_in_next(page).startswith("/connectors?q=gone&")  # the filter form's GET, all its fields
    fill_sign_in(page, admin)
    expect(page).to_have_url(re.compile(r"/connectors\?q=gone"))
    expect(page.get_by_role("searchbox", name="Search connectors")).to_have_value("gone")

    # Sign out with the button in the nav.
    page.get_by_role("button", name=re.compile(r"^Sign out")).click()
    expect(page).to_have_url(live.url + "/sign-in")
    expect(page.locator("#flashes")).to_contain_text("Signed out.")
    page.goto(live.url + "/connectors")
    assert sign_in_next(page).startswith("/connectors")


# --- 7. Import a Kibana export, fix the missing secrets, test it -----------------------------------------


def test_import_kibana_export_fix_secrets_and_test(page: Page, live: LiveServer, receiver: Receiver):
    hook = receiver.reply("/imported", status=200, body='{"received": true}')
    page.goto(live.url + "/connectors")
    page.get_by_role("button", name="Import").click()  # a link styled as a button
    expect(page).to_have_url(live.url + "/connectors/import")
    expect(page.get_by_role("heading", name="Import connectors")).to_be_visible()
    expect(page.get_by_role("radio", name="Keep the existing one (report a conflict)")).to_be_checked()
    page.get_by_label("Export file (.ndjson)").set_input_files(KIBANA_EXPORT)
    page.get_by_role("button", name="Import", exact=True).click()

    result = page.locator("article.import-result")
    expect(result.locator("header")).to_have_text("Imported 3 connectors")
    warning = result.locator(".flash-warning")
    expect(warning).to_contain_text("2 connectors have sensitive information that require updates.")
    expect(result.get_by_role("listitem")).to_have_text(["my-webhook", "Ops log", "Claude on Bedrock"])
    expect(result.locator(".import-errors")).to_have_count(0)

    # "Go to connectors" opens the list filtered to the connectors that need secrets.
    warning.get_by_role("link", name="Go to connectors").click()
    expect(page).to_have_url(re.compile(r"/connectors\?missing=1$"))
    expect(page.locator("#results")).to_contain_text("Showing connectors that need their secrets entered.")
    webhook = page.locator(f'tr[data-connector-id="{KIBANA_WEBHOOK_ID}"]')
    expect(webhook.locator(".badge")).to_have_text(["missing secrets"])
    expect(page.locator(f'tr[data-connector-id="{KIBANA_BEDROCK_ID}"] .badge')).to_have_text(["missing secrets"])
    expect(page.locator('tr[data-connector-id="my-server-log"]')).to_have_count(0)  # needs no secrets

    # Fix: the edit form, scrolled to its secrets.
    webhook.get_by_role("button", name="Fix").click()
    expect(page).to_have_url(f"{live.url}/connectors/{KIBANA_WEBHOOK_ID}/edit#secrets")
    expect(page.locator("fieldset#secrets")).to_be_in_viewport()
    url = page.get_by_label("URL")
    expect(url).to_have_value("https://example.com/hook")  # as exported; any host is allowed here
    expect(page.get_by_role("switch", name="Requires authentication")).to_be_checked()
    # Kibana's file has hasAuth and no authType, which means basic: user and password.
    expect(page.get_by_label("Authentication", exact=True)).to_have_value("")
    url.fill(hook)  # the fake receiver stands in for example.com
    page.get_by_label("User", exact=True).fill("imported-user")
    page.get_by_label("Password", exact=True).fill("imported-password")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(f"{live.url}/connectors/{KIBANA_WEBHOOK_ID}")
    expect(page.locator("#flashes")).to_contain_text('Saved connector "my-webhook".')
    expect(page.locator(".secret-list")).to_contain_text("user stored")
    expect(page.locator(".secret-list")).to_contain_text("password stored")
    expect(page.get_by_text("This connector cannot run until its secrets are entered.")).to_have_count(0)

    # Back on the list the badge is gone (the Bedrock one still needs its keys).
    page.get_by_role("navigation", name="breadcrumb").get_by_role("link", name="Connectors").click()
    webhook = page.locator(f'tr[data-connector-id="{KIBANA_WEBHOOK_ID}"]')
    expect(webhook).to_contain_text("my-webhook")
    expect(webhook.locator(".badge")).to_have_count(0)
    expect(webhook.get_by_role("button", name="Fix")).to_have_count(0)
    expect(page.locator(f'tr[data-connector-id="{KIBANA_BEDROCK_ID}"] .badge')).to_have_text(["missing secrets"])

    # The test pane reaches the receiver with the new secrets, and never shows them.
    webhook.get_by_role("link", name="my-webhook").click()
    page.get_by_role("button", name="Run test").click()
    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "ok")
    expect(result.locator(".http-status")).to_have_text("200 OK")
    expect(result).to_contain_text(f"POST {hook}")
    basic = base64.b64encode(b"imported-user:imported-password").decode()
    assert [(r.path, r.headers.get("Authorization")) for r in receiver.received] == [("/imported", f"Basic {basic}")]
    content = page.content()
    assert "imported-password" not in content and basic not in content

    # The same file again changes nothing: three conflicts, and the secrets just entered stay.
    page.goto(live.url + "/connectors/import")
    page.get_by_label("Export file (.ndjson)").set_input_files(KIBANA_EXPORT)
    page.get_by_role("button", name="Import", exact=True).click()
    result = page.locator("article.import-result")
    expect(result.locator("header")).to_have_text("Imported 0 connectors · 3 not imported")
    expect(result.locator(".import-errors > li")).to_have_count(3)
    expect(result.locator(".import-errors > li").first).to_contain_text(
        "my-webhook: A connector with this id already exists."
    )
    expect(result.locator(".flash-warning")).to_have_count(0)
    page.goto(f"{live.url}/connectors/{KIBANA_WEBHOOK_ID}")
    expect(page.locator(".secret-list")).to_contain_text("password stored")


# --- 8. A viewer looks and tests, and changes nothing ------------------------------------------------------


def test_viewer_can_view_and_test_but_not_change(page: Page, viewer_page: Page, live: LiveServer):
    create_webhook(page, live, "Viewer hook")
    log_id = create_server_log(page, live, "Viewer log")
    viewer = viewer_page

    viewer.goto(live.url + "/connectors?q=viewer")
    rows = viewer.locator("table.connectors tbody tr")
    expect(rows).to_have_count(2)
    expect(viewer.get_by_role("button", name=re.compile(r"^Sign out"))).to_contain_text("viewer")
    for name in ("Create connector", "Import", "Export", "Delete selected"):
        expect(viewer.get_by_role("button", name=name)).to_have_count(0)
    expect(viewer.get_by_role("button", name=re.compile(r"^Delete"))).to_have_count(0)  # no row Delete either
    expect(viewer.get_by_role("checkbox")).to_have_count(0)
    expect(viewer.get_by_role("link", name="API keys")).to_have_count(0)

    # The detail page: no Edit or Delete, but the test pane runs.
    viewer.get_by_role("link", name="Viewer log").click()
    expect(viewer).to_have_url(f"{live.url}/connectors/{log_id}")
    expect(viewer.get_by_role("heading", name="Viewer log", level=1)).to_be_visible()
    expect(viewer.get_by_role("button", name="Edit")).to_have_count(0)
    expect(viewer.get_by_role("button", name="Delete")).to_have_count(0)
    viewer.get_by_role("button", name="Run test").click()
    expect(viewer.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    runs = viewer.locator("#recent-runs tbody tr")
    expect(runs).to_have_count(1)  # the run is logged, as the viewer's
    expect(runs).to_contain_text("test_pane · viewer")

    # Asking the server directly, with a valid CSRF token, is refused as well.
    headers = {"X-CSRFToken": csrf_token(viewer)}
    response = viewer.request.delete(f"{live.url}/connectors/{log_id}", headers={**headers, "HX-Request": "true"})
    assert response.status == 403, response.text()[:500]
    response = viewer.request.post(f"{live.url}/connectors/{log_id}/delete", headers=headers, max_redirects=0)
    assert response.status == 403
    assert "Only admins can do that" in response.text()
    for path in ("/connectors/import", "/connectors/new", f"/connectors/{log_id}/edit"):
        assert viewer.request.get(live.url + path, max_redirects=0).status == 403, path
    viewer.reload()
    expect(viewer.get_by_role("heading", name="Viewer log", level=1)).to_be_visible()


# --- 9. Screenshots ---------------------------------------------------------------------------------------

ENDLESS_ANIMATIONS = """document.getAnimations().filter(
    a => a.playState === "running" && a.effect.getComputedTiming().iterations === Infinity).length"""
VIEWPORTS = {"laptop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}


def test_screenshots(page: Page, anon_page: Page, viewer_page: Page, live: LiveServer, bedrock: FakeBedrock,
                     receiver: Receiver, tmp_path_factory, tmp_path: Path):
    """Pages at laptop and phone widths, none scrolling sideways. SWITCHBOARD_SCREENSHOTS=<dir> keeps them.

    Each page is loaded once and shot at every width (a resize is much cheaper than the steps to get there).
    """
    out = Path(os.environ.get("SWITCHBOARD_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out.mkdir(parents=True, exist_ok=True)
    hook = receiver.reply("/shot", body='{"ok": true, "note": "a reply long enough to wrap on a phone screen"}')
    create_webhook(page, live, "Screenshot hook", hook)
    sideways: dict[str, int] = {}
    endless: list[str] = []

    def shot(name: str, on: Page = page) -> None:
        for viewport, size in VIEWPORTS.items():
            on.set_viewport_size(size)
            path = out / f"{viewport}-{name}.png"
            on.screenshot(path=path, full_page=True)
            assert path.stat().st_size > 0
            scroll_width = on.evaluate("document.documentElement.scrollWidth")
            if scroll_width > size["width"]:
                sideways[f"{viewport}-{name}"] = scroll_width
        # An endless animation on an idle page repaints every frame: CPU and battery for nothing.
        if on.evaluate(ENDLESS_ANIMATIONS):
            endless.append(name)

    anon_page.goto(live.url + "/sign-in")
    expect(anon_page.get_by_label("User name")).to_be_focused()
    shot("sign-in", anon_page)
    fill_sign_in(anon_page, Account("nobody", "not-a-password", "viewer"))
    expect(anon_page.get_by_role("alert")).to_be_visible()
    shot("sign-in-error", anon_page)

    # The import result with everything it can show: new copies, the warning, and objects not imported.
    export = tmp_path / "mixed.ndjson"
    export.write_text(KIBANA_EXPORT.read_text() + "\n" + "\n".join(json.dumps(o) for o in (
        {"type": "index-pattern", "id": "logs-index-pattern-with-a-long-identifier-0123456789",
         "attributes": {"title": "logs-*"}, "references": []},
        {"type": "action", "id": "an-unknown-connector-type-with-a-long-identifier-0123456789",
         "attributes": {"actionTypeId": ".some-type-this-switchboard-lacks", "name": "Not here", "config": {}}},
    )))
    page.goto(live.url + "/connectors/import")
    page.get_by_label("Export file (.ndjson)").set_input_files(export)
    page.get_by_role("radio", name="Import everything as new copies with new ids").check()
    page.get_by_role("button", name="Import", exact=True).click()
    expect(page.locator("article.import-result header")).to_contain_text("Imported 3 connectors · 2 not imported")
    shot("import-result")

    viewer_page.goto(live.url + "/connectors")
    expect(viewer_page.locator("table.connectors")).to_be_visible()
    shot("viewer-list", viewer_page)

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

    page.goto(live.url + "/connectors?q=Screenshot+hook")
    page.get_by_role("link", name="Screenshot hook").click()
    expect(page).to_have_url(UUID_URL)
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    shot("detail-result")

    bedrock_id = post_create(page, live, ".bedrock", {  # the create form itself is in the shots above
        "name": "Screenshot bedrock", "config.apiUrl": bedrock.url,
        "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY,
    })
    page.goto(f"{live.url}/connectors/{bedrock_id}")
    page.get_by_label("Sub-action").select_option("invokeStream")
    page.get_by_label("Messages").fill(json.dumps([{"role": "user", "content": "Say something for the screenshot"}]))
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    expect(page.locator("#test-result .result pre.streamed")).to_be_visible()
    shot("detail-streamed")

    assert sideways == {}, f"pages that scroll sideways (page: scrollWidth): {sideways}"
    assert endless == [], f"pages with an endless animation while idle: {endless}"


# --- 10. Bedrock's Default model: the models the service lists --------------------------------------------


def test_bedrock_default_model_offers_the_models_the_service_lists(page: Page, live: LiveServer, bedrock: FakeBedrock):
    page.goto(live.url + "/connectors/new/.bedrock")
    page.get_by_label("Name").fill("Bedrock picked model")
    page.get_by_label("URL").fill(bedrock.url)
    page.get_by_label("Access key").fill(ACCESS_KEY)
    page.get_by_label(SECRET_LABEL).fill(SECRET_KEY)
    default_model = page.get_by_label("Default model")
    expect(default_model).to_have_value("us.anthropic.claude-sonnet-4-5-20250929-v1:0")  # Kibana's default
    expect(default_model).to_have_attribute("list", "config-defaultModel-choices")
    asked_before = len(bedrock.requests)

    page.locator('.field[data-field="config.defaultModel"]').get_by_role("button", name="List choices").click()
    box = page.locator("#config-defaultModel-choices-box")
    expect(box.get_by_role("status")).to_have_text(re.compile(r"^\d+ models listed; type to filter\.$"))
    choices = page.locator("#config-defaultModel-choices option")
    listed = int(box.get_by_role("status").inner_text().split()[0])
    assert listed > 1
    expect(choices).to_have_count(listed)
    llama = page.locator('#config-defaultModel-choices option[value="meta.llama3-8b-instruct-v1:0"]')
    expect(llama).to_have_text("Llama 3 8B Instruct — Meta")
    expect(page.locator('#config-defaultModel-choices option[value="anthropic.claude-v2:1"]')).to_have_count(0)  # LEGACY
    calls = bedrock.requests[asked_before:]
    assert [(c.method, c.path, c.signature_ok) for c in calls] == [
        ("GET", "/foundation-models", True), ("GET", "/inference-profiles", True)
    ]
    assert SECRET_KEY not in page.content()

    default_model.clear()
    default_model.press_sequentially("meta.llama3-8b-instruct-v1:0")
    default_model.press("Escape")  # close the datalist's suggestions before moving on
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    expect(page.get_by_role("heading", name="Bedrock picked model", level=1)).to_be_visible()
    connector_id = page.url.rsplit("/", 1)[1]
    response = page.request.get(f"{live.url}/api/actions/connector/{connector_id}")
    assert response.ok, response.text()[:500]
    assert response.json()["config"]["defaultModel"] == "meta.llama3-8b-instruct-v1:0"


def test_enter_in_a_test_pane_field_runs_the_test_and_saves_nothing(page: Page, live: LiveServer, bedrock: FakeBedrock):
    connector_id = post_create(page, live, ".bedrock", {
        "name": "Enter test", "config.apiUrl": bedrock.url, "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY,
    })
    page.goto(f"{live.url}/connectors/{connector_id}/edit")
    page.get_by_label("Name").fill("Renamed but not saved")
    page.get_by_text("Test these settings before saving").click()
    page.get_by_label("Sub-action").select_option("invokeAI")
    # The sub-action's fields are swapped in: wait for one only invokeAI has, or "Model" may be the old one.
    expect(page.get_by_label("Messages")).to_be_visible()
    model = page.get_by_label("Model", exact=True)
    model.fill("anthropic.claude-3-haiku-20240307-v1:0")
    model.press("Enter")

    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")
    expect(page).to_have_url(f"{live.url}/connectors/{connector_id}/edit")
    saved = page.request.get(f"{live.url}/api/actions/connector/{connector_id}").json()
    assert saved["name"] == "Enter test"


def test_delete_selected_waits_for_a_tick_and_its_message_covers_no_row(page: Page, live: LiveServer):
    for name in ("Tick one", "Tick two"):
        create_webhook(page, live, name)
    page.goto(live.url + "/connectors?q=tick")
    delete_selected = page.get_by_role("button", name="Delete selected")
    expect(delete_selected).to_be_disabled()
    box = page.get_by_role("checkbox", name="Select Tick one")
    box.check()
    expect(delete_selected).to_be_enabled()
    box.uncheck()
    expect(delete_selected).to_be_disabled()

    box.check()
    answer_dialogs(page, accept=True)
    delete_selected.click()
    toast = page.locator("#toasts .flash")
    expect(toast).to_contain_text("Deleted 1 connector.")
    shown = toast.bounding_box()
    for row in page.locator("table.connectors tbody tr").all():
        r = row.bounding_box()
        overlaps = not (shown["y"] + shown["height"] <= r["y"] or r["y"] + r["height"] <= shown["y"])
        assert not overlaps, "the message covers a row"
    assert row_names(page) == ["Tick two"]


def test_back_after_searching_shows_the_search_and_filter_used(page: Page, live: LiveServer):
    hook = create_webhook(page, live, "History hook")
    create_server_log(page, live, "History log")
    page.goto(live.url + "/connectors")
    search, type_filter = page.get_by_role("searchbox", name="Search connectors"), page.get_by_label("Filter by type")
    rows = page.locator("table.connectors tbody tr")
    search.fill("history")
    expect(rows).to_have_count(2)
    type_filter.select_option(label="Webhook")
    expect(page).to_have_url(re.compile(r"q=history.*type=\.webhook"))
    expect(rows).to_have_count(1)
    type_filter.select_option(label="Server log")
    expect(rows).to_contain_text("History log")

    # Back within the list's own history: htmx puts back its saved copy of the page.
    page.go_back()
    expect(page).to_have_url(re.compile(r"type=\.webhook"))
    expect(rows).to_contain_text("History hook")
    expect(search).to_have_value("history")
    expect(type_filter).to_have_value(".webhook")

    # Back from a connector's page.
    page.get_by_role("link", name="History hook").click()
    expect(page).to_have_url(f"{live.url}/connectors/{hook}")
    page.go_back()
    expect(search).to_have_value("history")
    expect(type_filter).to_have_value(".webhook")
    assert row_names(page) == ["History hook"]


def test_a_new_api_key_is_shown_once_with_a_copy_button_and_a_reload_makes_no_second_key(page: Page, live: LiveServer):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page.goto(live.url + "/settings/api-keys")
    page.get_by_label("Name").fill("browser key")
    page.get_by_role("button", name="Create key").click()

    header = page.get_by_label("Authorization header")
    expect(header).to_have_value(re.compile(r"^ApiKey [A-Za-z0-9+/=]+$"))
    value = header.input_value()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == value
    assert page.request.get(live.url + "/api/actions/connectors",
                            headers={"Authorization": value}).status == 200  # the key works

    page.reload()
    expect(header).to_have_count(0)  # shown once
    expect(page.locator("tr[data-key-id]")).to_have_count(1)  # and the reload made no second key
    assert value.removeprefix("ApiKey ") not in page.content()


def test_field_errors_share_one_style_and_words_and_focus_goes_to_the_first_bad_field(page: Page, live: LiveServer):
    page.goto(live.url + "/connectors/new/.bedrock")
    page.get_by_label("URL").fill("ftp://nowhere")
    page.get_by_label("Access key").fill("AKIA-ONLY")
    page.get_by_role("button", name="Create connector").click()

    name_error = page.locator("#name-help .error-text")
    secret_error = page.locator("#secrets-secret-help .error-text")
    expect(name_error).to_have_text("Name is required.")
    expect(secret_error).to_have_text("Required.")  # not pydantic's "Field required"
    colour = "el => getComputedStyle(el).color"
    assert name_error.evaluate(colour) == secret_error.evaluate(colour)
    expect(page.get_by_label("Name")).to_be_focused()  # the first bad field

    page.get_by_label("Name").fill("Now named")  # typing clears that field's error
    expect(name_error).to_have_count(0)
    expect(page.get_by_label("Name")).not_to_have_attribute("aria-invalid", "true")
    expect(secret_error).to_have_count(1)


def test_a_long_run_shows_its_waiting_time_and_cancel_stops_a_stream(page: Page, live: LiveServer, bedrock: FakeBedrock):
    connector_id = post_create(page, live, ".bedrock", {
        "name": "Slow stream", "config.apiUrl": bedrock.url, "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY,
    })
    page.goto(f"{live.url}/connectors/{connector_id}")
    page.get_by_label("Sub-action").select_option("invokeStream")
    page.get_by_label("Messages").fill(json.dumps([{"role": "user", "content": "a long answer, please " * 20}]))
    bedrock.frame_delay = 0.4
    try:
        page.get_by_role("button", name="Run test").click()
        timer = page.get_by_role("timer")
        expect(timer).to_be_visible()
        expect(timer).not_to_have_text("0.0 s")  # it counts while waiting
        expect(page.locator("#stream-output")).not_to_be_empty()  # the stream has begun
        page.get_by_role("button", name="Cancel").click()
        expect(page.locator('#test-result [data-status="cancelled"]')).to_contain_text("Stopped waiting after")
        expect(timer).to_be_hidden()
        expect(page.get_by_role("button", name="Run test")).not_to_have_attribute("aria-busy", "true")

        # The server stopped too, and logged the run as cancelled (it notices at its next write).
        for _ in range(50):
            events = page.request.get(f"{live.url}/connectors/{connector_id}/events").text()
            if "cancelled before it finished" in events:
                break
            page.wait_for_timeout(100)
        assert "the run was cancelled before it finished" in events
    finally:
        bedrock.frame_delay = 0.01


def test_a_header_value_without_a_name_is_refused_at_the_field(page: Page, live: LiveServer):
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("Nameless header")
    page.get_by_label("URL").fill("https://hooks.example.com/nameless")
    page.get_by_role("button", name="Add headers").click()
    page.get_by_label("Headers value").last.fill("orphan")
    page.get_by_role("button", name="Create connector").click()

    field = page.locator('[data-field="config.headers"]')
    expect(field.locator(".error-text")).to_have_text("A headers row has a value but no name: name it, or clear the value.")
    expect(page).to_have_url(live.url + "/connectors/new/.webhook")  # not saved
    assert "Nameless header" not in page.request.get(live.url + "/connectors?q=Nameless").text().split("</form>")[-1]


def test_removing_a_needed_password_says_so_once_and_keeps_the_box_ticked(page: Page, live: LiveServer):
    connector_id = post_create(page, live, ".webhook", {
        "name": "Basic hook", "config.url": "https://hooks.example.com/basic", "config.method": "post",
        "config.hasAuth": "true", "config.authType": "webhook-authentication-basic",
        "secrets.user": "ops", "secrets.password": "s3cret-pass"})
    page.goto(f"{live.url}/connectors/{connector_id}/edit")
    page.get_by_label("Remove the stored password").check()
    page.get_by_role("button", name="Save").click()

    field = page.locator('[data-field="secrets.password"]')
    expect(field.locator(".error-text")).to_have_text(
        "The stored password was not removed: the settings above need it. Keep it, or change them first.")
    expect(field.locator(".stored")).to_have_count(0)
    expect(page.get_by_label("Remove the stored password")).to_be_checked()


def test_bad_json_params_are_a_failed_run_in_recent_runs(page: Page, live: LiveServer, bedrock: FakeBedrock):
    connector_id = post_create(page, live, ".bedrock", {
        "name": "Bad params", "config.apiUrl": bedrock.url, "secrets.accessKey": ACCESS_KEY, "secrets.secret": SECRET_KEY,
    })
    page.goto(f"{live.url}/connectors/{connector_id}")
    page.get_by_label("Body").fill("{not json")  # the `test` sub-action's body
    page.get_by_role("button", name="Run test").click()

    result = page.locator("#test-result .result")
    expect(result).to_have_attribute("data-status", "error")
    expect(result).to_contain_text("error validating action params: [body]: Invalid JSON")
    expect(page.locator("#recent-runs tbody tr")).to_have_count(1)  # logged like any other run
    expect(page.locator("#recent-runs tbody tr")).to_contain_text("error")


def test_without_javascript_a_header_is_added_and_a_row_deleted(new_context, admin_state, live: LiveServer):
    page = new_context(storage_state=admin_state, java_script_enabled=False).new_page()
    page.goto(live.url + "/connectors/new/.webhook")
    page.get_by_label("Name").fill("No JS hook")
    page.get_by_label("URL").fill("https://hooks.example.com/nojs")
    page.get_by_label("Headers: a new entry's key", exact=True).fill("X-Team")
    page.get_by_label("Headers: a new entry's value", exact=True).fill("ops")
    page.get_by_role("button", name="Create connector").click()
    expect(page).to_have_url(UUID_URL)
    connector_id = page.url.rsplit("/", 1)[1]
    saved = page.request.get(f"{live.url}/api/actions/connector/{connector_id}").json()
    assert saved["config"]["headers"] == {"X-Team": "ops"}

    page.goto(live.url + "/connectors?q=No+JS")
    page.get_by_role("button", name="Delete No JS hook").click()  # a link to a page that asks
    expect(page.get_by_role("heading", name="Delete connector “No JS hook”?")).to_be_visible()
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(live.url + "/connectors")
    assert page.request.get(f"{live.url}/api/actions/connector/{connector_id}").status == 404
