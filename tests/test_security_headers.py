"""Security headers on every response, and pages that work under a Content-Security-Policy with no inline
script or style (issue #7 item 13)."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.api_client import Api
from tests.browser import UUID_URL, create_webhook, drives_browser
from tests.conftest import sign_in
from tests.fakes.bedrock import ACCESS_KEY, SECRET_KEY, FakeBedrock, reply_for
from tests.fakes.receiver import Receiver
from tests.helpers import create_via_form, webhook_fields
from tests.live_server import LiveServer

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
CSP_NEEDS = ["default-src 'self'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'",
             "object-src 'none'", "base-uri 'none'"]


def _check(response) -> None:
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (response.request.path, name, response.headers.get(name))
    csp = response.headers.get("Content-Security-Policy", "")
    for directive in CSP_NEEDS:
        assert directive in csp, (response.request.path, directive, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_every_kind_of_response_carries_the_security_headers(app, web):
    cid = create_via_form(web, ".webhook", webhook_fields("http://127.0.0.1:9/x"))
    anonymous = app.test_client()
    responses = [
        anonymous.get("/sign-in"), anonymous.get("/connectors"), anonymous.get("/static/app.js"),
        anonymous.get("/favicon.ico"), anonymous.get("/healthz"), anonymous.get("/api/actions/connectors"),
        web.get("/connectors"), web.get("/connectors", htmx=True), web.get(f"/connectors/{cid}"),
        web.get(f"/connectors/{cid}/edit"), web.get("/connectors/new/.webhook"), web.get("/events"),
        web.get("/settings/api-keys"), web.get("/api-docs"), web.get("/connectors/nope"),
        web.post(f"/connectors/{cid}/test", data={"params.__present": "1"}, htmx=True),
        web.post("/connectors/new/.webhook", data=webhook_fields("not a url")),
        Api.with_key(app).get("/api/actions/connectors"),
        Api.with_key(app).execute(cid, {"body": "{}"}),
    ]
    for response in responses:
        _check(response)
        response.close()  # the static file's


def test_sign_in_redirect_carries_the_headers_too(app):
    _check(sign_in(app.test_client(), "admin"))


def test_the_allowed_inline_style_is_exactly_the_vendored_htmx_indicator_style():
    from app.web.security import CONTENT_SECURITY_POLICY, HTMX_INDICATOR_STYLE_HASH

    htmx = next((TEMPLATES.parent / "static" / "vendor").glob("htmx-*.min.js")).read_text()
    template = re.search(r"`\.\$\{t\}(\{[^`]*\})\s*`\+`\.\$\{n\} \.\$\{t\}, \.\$\{n\}\.\$\{t\}(\{[^`]*\})`", htmx)
    assert template, "htmx's indicator style template changed: recompute HTMX_INDICATOR_STYLE_HASH"
    css = (f".htmx-indicator{template[1]} "
           f".htmx-request .htmx-indicator, .htmx-request.htmx-indicator{template[2]}")
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"sha256-{digest}" == HTMX_INDICATOR_STYLE_HASH
    assert f"style-src 'self' '{HTMX_INDICATOR_STYLE_HASH}'" in CONTENT_SECURITY_POLICY


INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),  # a script block
    re.compile(r"\son[a-z]+\s*=", re.I),  # onclick=, onload=...
    re.compile(r"\shx-on[:-]", re.I),  # htmx's inline handlers
    re.compile(r"javascript:", re.I),
    re.compile(r"\sstyle\s*=", re.I),  # style-src has no 'unsafe-inline'
    re.compile(r"<style", re.I),
]


# The app's templates and every type's own (beside its views module).
ALL_TEMPLATES = sorted([*TEMPLATES.rglob("*.html"), *(TEMPLATES.parent / "app" / "types").rglob("templates/**/*.html")])
TRIGGER_FILTER = re.compile(r"hx-trigger=\"[^\"]*\[")  # htmx evaluates [filters] as script


@pytest.mark.parametrize("template", ALL_TEMPLATES, ids=lambda p: str(p.relative_to(TEMPLATES.parent)))
def test_no_template_has_inline_script_handlers_or_styles(template):
    text = template.read_text()
    for pattern in (*INLINE, TRIGGER_FILTER):
        assert not pattern.search(text), f"{template}: {pattern.pattern}"


# --- In a real browser: no page reports a CSP violation, and everything still works ------------------------

WATCH_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI + " " + (e.sample || "")));
"""


def _watch(page: Page) -> list[str]:
    reported: list[str] = []
    page.add_init_script(WATCH_VIOLATIONS)
    page.on("console", lambda m: reported.append(m.text) if "Content Security Policy" in m.text else None)
    return reported


def _violations(page: Page, console: list[str]) -> list[str]:
    return console + page.evaluate("window.__csp || []")


@drives_browser
def test_every_main_page_loads_with_no_csp_violation(page: Page, live: LiveServer):
    console = _watch(page)
    cid = create_webhook(page, live, "csp hook")
    paths = ["/connectors", "/connectors/new", "/connectors/new/.webhook", "/connectors/new/.bedrock",
             f"/connectors/{cid}", f"/connectors/{cid}/edit", f"/connectors/{cid}/events", "/events",
             "/connectors/import", "/settings/api-keys", "/api-docs"]
    seen = []
    for path in paths:
        response = page.goto(live.url + path)
        assert response is not None and response.ok, path
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        expect(page.locator("#progress")).to_have_count(1)  # base.html, with htmx and app.js loaded
        page.wait_for_load_state("load")
        seen += _violations(page, console)
        console.clear()
    assert seen == []


@drives_browser
def test_create_test_pane_and_stream_work_under_the_policy(page: Page, live: LiveServer):
    console = _watch(page)
    with Receiver() as receiver, FakeBedrock() as bedrock:
        hook = receiver.reply("/hook", status=202, body='{"queued": true}')
        # Create through the form, then run the test pane (htmx).
        page.goto(live.url + "/connectors/new/.webhook")
        page.get_by_label("Name").fill("csp webhook")
        page.get_by_label("URL").fill(hook)
        page.get_by_role("switch", name="Requires authentication").uncheck()
        page.get_by_role("button", name="Create connector").click()
        expect(page).to_have_url(UUID_URL)
        page.get_by_role("button", name="Run test").click()
        result = page.locator("#test-result .result")
        expect(result).to_have_attribute("data-status", "ok")
        expect(result.locator(".http-status")).to_have_text("202 ACCEPTED")
        violations = _violations(page, console)

        # Stream (app.js reads the event stream with fetch).
        page.goto(live.url + "/connectors/new/.bedrock")
        page.get_by_label("Name").fill("csp bedrock")
        page.get_by_label("URL").fill(bedrock.url)
        page.get_by_label("Access key").fill(ACCESS_KEY)
        page.get_by_label(re.compile(r"^Secret\b")).fill(SECRET_KEY)
        page.get_by_role("button", name="Create connector").click()
        expect(page).to_have_url(UUID_URL)
        page.get_by_label("Sub-action").select_option("invokeStream")
        messages = page.get_by_label("Messages")
        expect(messages).to_be_visible()
        messages.fill('[{"role": "user", "content": "Stream under CSP"}]')
        page.get_by_role("button", name="Run test").click()
        expect(result).to_have_attribute("data-status", "ok")
        expect(result.locator("pre.streamed")).to_have_text(reply_for("Stream under CSP"))
        violations += _violations(page, console)
    assert violations == []


def test_form_values_with_stored_secrets_are_an_admins_only_whichever_view_asks(app, web):
    """`form_target` (typed values plus a saved connector's stored secrets) refuses viewers itself, so a
    type's picker that forgets its own role check cannot send stored secrets to a viewer's URL."""
    from flask import g
    from werkzeug.exceptions import Forbidden

    from app.services.accounts import Principal
    from app.types import get_type
    from app.web.connectors import form_target
    from tests.helpers import create_via_form, webhook_fields

    basic = {"config.hasAuth": ["false", "true"], "config.authType": "webhook-authentication-basic"}
    cid = create_via_form(web, ".webhook", webhook_fields("https://hooks.example.com/a", **basic,
                                                          **{"secrets.user": "u", "secrets.password": "pw-1234"}))
    posted = {**webhook_fields("https://attacker.example/steal", **basic), "connector_id": cid}
    with app.test_request_context("/types/.webhook/anything", method="POST", data=posted):
        g.principal = Principal("viewer", "viewer", "user")
        with pytest.raises(Forbidden):
            form_target(get_type(".webhook"))
        g.principal = Principal("admin", "admin", "user")
        target = form_target(get_type(".webhook"))
        assert target.config["url"] == "https://attacker.example/steal" and target.secrets["password"] == "pw-1234"
