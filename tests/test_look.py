"""How the pages look and answer the keyboard: type icons, the favicon, the phone layout, focus rings.

Issue #8, items 15 (type icons, favicon), 16 (phone: stacked cards, folding navigation) and 19 (focus you can
see). The browser tests run Debian's chromium against gunicorn (tests/browser.py) and check what a person
sees: the icon image loaded and for the right type, no request that fails, the key elements of a row inside
a 390 px wide screen, the menu opening, and a focus ring's computed width and contrast.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from playwright.sync_api import Page, Response, expect

from app.types import REGISTRY
from app.web.template_helpers import TypeIcons, icon_slug
from tests.browser import create_server_log, create_webhook, drives_browser
from tests.helpers import create_via_form
from tests.live_server import LiveServer

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "static"
ICONS = STATIC / "icons" / "types"
SVG = "{http://www.w3.org/2000/svg}svg"
# Kibana's thirty connector types and the AI assistant ("Quick index" of the connector-types reference):
# every one has its own icon, registered here yet or not, so a type added later finds its file.
KIBANA_TYPE_IDS = (
    ".bedrock", ".cases", ".crowdstrike", ".d3security", ".gemini", ".inference", ".email",
    ".microsoft_defender_endpoint", ".sentinelone", ".resilient", ".jira", ".servicenow", ".servicenow-sir",
    ".servicenow-itom", ".index", ".server-log", ".pagerduty", ".opsgenie", ".slack", ".slack_api", ".teams",
    ".webhook", ".cases-webhook", ".xmatters", ".swimlane", ".tines", ".torq", ".thehive", ".xsoar", ".gen-ai",
    ".observability-ai-assistant",
)
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1280, "height": 900}


# --- Icons: files, licences, which file a type gets ---------------------------------------------------------


def test_every_kibana_and_registered_type_has_its_own_svg_icon():
    icons = TypeIcons(STATIC)
    for type_id in sorted({*KIBANA_TYPE_IDS, *REGISTRY}):
        assert icons.file_for(type_id) == f"icons/types/{icon_slug(type_id)}.svg", type_id
    assert icon_slug(".servicenow-sir") == "servicenow_sir" and icon_slug(".slack_api") == "slack_api"


@pytest.mark.parametrize("path", sorted(ICONS.glob("*.svg")), ids=lambda p: p.name)
def test_each_icon_is_an_svg_drawn_in_the_current_colour(path: Path):
    root = ET.parse(path).getroot()
    assert root.tag == SVG and root.get("viewBox") == "0 0 24 24"
    text = path.read_text()
    assert "currentColor" in text  # Simple Icons fill it, Lucide strokes it
    # An <img> does not pass the page's colour into the SVG: the file carries light and dark colours itself.
    assert "prefers-color-scheme:dark" in text
    assert not re.search(r"<script|\son\w+=|href=\"http", text)  # nothing runs, nothing is fetched


def test_icon_sets_are_recorded_with_their_licences():
    versions = (STATIC / "vendor" / "VERSIONS").read_text()
    assert "simple-icons@16.37.0" in versions and "CC0-1.0" in versions
    assert "lucide-static@1.87.0" in versions and "ISC" in versions
    assert "CC0 1.0 Universal" in (STATIC / "icons" / "simple-icons-LICENSE.md").read_text()
    assert "ISC License" in (STATIC / "icons" / "lucide-LICENSE").read_text()
    sources = (STATIC / "icons" / "SOURCES").read_text()
    for path in ICONS.glob("*.svg"):
        assert f"types/{path.name} " in sources, path.name


def test_a_type_may_name_its_icon_and_an_unknown_type_gets_the_generic_one(monkeypatch):
    icons = TypeIcons(STATIC)
    monkeypatch.setattr(REGISTRY[".webhook"], "icon", "jira")
    assert icons.file_for(".webhook") == "icons/types/jira.svg"
    monkeypatch.setattr(REGISTRY[".webhook"], "icon", "no-such-icon")  # a name with no file: the slug's
    assert icons.file_for(".webhook") == "icons/types/webhook.svg"
    assert icons.file_for(".some-type-this-switchboard-lacks") == "icons/types/generic.svg"
    assert icons.file_for(None) == "icons/types/generic.svg"


def test_icon_files_are_looked_up_once_at_start_up(tmp_path):
    (tmp_path / "icons" / "types").mkdir(parents=True)
    icons = TypeIcons(tmp_path)
    (tmp_path / "icons" / "types" / "webhook.svg").write_text("<svg/>")  # appears after start-up
    assert icons.file_for(".webhook") == "icons/types/generic.svg"
    assert TypeIcons(tmp_path).file_for(".webhook") == "icons/types/webhook.svg"


def test_the_list_picker_and_detail_page_show_each_type_icon(app, web):
    cid = create_via_form(web, ".server-log", {"name": "ops log"})
    img = r'<img class="type-icon" src="/static/icons/types/{}\.svg" alt="" aria-hidden="true"'
    listing = web.get("/connectors").get_data(as_text=True)
    assert re.search(r'<td class="type" data-label="Type">' + img.format("server_log"), listing)
    picker = web.get("/connectors/new").get_data(as_text=True)
    for type_id in REGISTRY:
        assert re.search(img.format(icon_slug(type_id)), picker), type_id
    detail = web.get(f"/connectors/{cid}").get_data(as_text=True)
    assert re.search(r'<p class="muted">' + img.format("server_log"), detail)
    # HTMX answers render a block alone, without the template's top-level imports: the icons are there too.
    for url, part in ((f"/connectors/{cid}", '<p class="muted">'), ("/connectors?q=ops", '<td class="type" data-label="Type">'),
                      ("/connectors/new?q=server", "<header>")):
        fragment = web.get(url, htmx=True).get_data(as_text=True)
        assert "<html" not in fragment, url
        assert re.search(re.escape(part) + img.format("server_log"), fragment), url


def test_favicon_answers_with_an_image_and_every_page_links_it(app, web):
    with web.get("/favicon.ico") as response:
        assert response.status_code == 200
        assert response.mimetype == "image/svg+xml"
        assert ET.fromstring(response.data).tag == SVG
    anonymous = app.test_client()
    sign_in = anonymous.get("/sign-in").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in sign_in
    with anonymous.get("/static/favicon.svg") as response:  # what the sign-in page's link loads
        assert response.status_code == 200 and ET.fromstring(response.data).tag == SVG
    with anonymous.get("/favicon.ico") as response:  # a browser asks for it before anyone signs in
        assert response.status_code == 200 and ET.fromstring(response.data).tag == SVG


# --- In the browser -------------------------------------------------------------------------------------------


def failed_requests(page: Page) -> list[str]:
    """Every response of 400 or more this page gets, as "status url" (collected while the test runs)."""
    failed: list[str] = []

    def seen(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", seen)
    return failed


def icon_of(locator) -> str:
    """The file name of the one type icon in `locator`, after checking the browser drew it."""
    img = locator.locator("img.type-icon")
    expect(img).to_have_count(1)
    assert img.evaluate("el => el.complete && el.naturalWidth > 0"), "the icon image did not load"
    assert img.get_attribute("alt") == "" and img.get_attribute("aria-hidden") == "true"
    box = img.bounding_box()
    assert box and 12 <= box["width"] <= 32 and box["width"] == box["height"], box  # sized by CSS, square
    return img.get_attribute("src").rsplit("/", 1)[1]


@drives_browser
def test_icons_show_beside_each_type_and_no_page_load_fails(page: Page, anon_page: Page, live: LiveServer):
    failed = failed_requests(page)
    anon_failed = failed_requests(anon_page)
    anon_page.goto(live.url + "/sign-in")
    expect(anon_page.get_by_label("User name")).to_be_visible()
    icon_url = anon_page.evaluate("document.querySelector('link[rel=icon]').href")
    assert anon_page.request.get(icon_url).status == 200  # what the tab shows, before signing in
    assert anon_failed == [], f"requests that failed: {anon_failed}"
    hook_id = create_webhook(page, live, "Icon hook")
    log_id = create_server_log(page, live, "Icon log")

    page.goto(live.url + "/connectors/new")
    for type_id in REGISTRY:
        card = page.locator("#type-cards .type-card").filter(has=page.locator(f'small:text-is("{type_id}")'))
        assert icon_of(card) == f"{icon_slug(type_id)}.svg", type_id

    page.goto(live.url + "/connectors?q=Icon")
    rows = page.locator("table.connectors tbody tr")
    expect(rows).to_have_count(2)
    assert icon_of(page.locator(f'tr[data-connector-id="{hook_id}"] td.type')) == "webhook.svg"
    assert icon_of(page.locator(f'tr[data-connector-id="{log_id}"] td.type')) == "server_log.svg"

    page.get_by_role("link", name="Icon log").click()
    expect(page.get_by_role("heading", name="Icon log", level=1)).to_be_visible()
    assert icon_of(page.locator(".page-head")) == "server_log.svg"
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")

    page.goto(live.url + "/events")
    expect(page.locator("table.events tbody tr").first).to_be_visible()
    favicon = page.request.get(live.url + "/favicon.ico")
    assert favicon.status == 200 and favicon.headers["content-type"].startswith("image/")
    assert page.evaluate("document.querySelector('link[rel=icon]').href") == live.url + "/static/favicon.svg"
    assert failed == [], f"requests that failed: {failed}"
    # The event log's table is the event-log work's (templates/events/): it shows icons once it uses the macro.
    row = page.locator("table.events tbody tr", has_text="Icon log").first
    if row.locator("img.type-icon").count() == 0:
        pytest.skip("templates/events/_table.html does not draw type icons yet (the `icon` macro in _macros.html)")
    assert icon_of(row) == "server_log.svg"


ICON_INK = """img => {
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = 48;
  const g = canvas.getContext("2d");
  g.drawImage(img, 0, 0, 48, 48);
  const px = g.getImageData(0, 0, 48, 48).data;
  let best = null;
  for (let i = 0; i < px.length; i += 4) if (!best || px[i + 3] > best[3]) best = [px[i], px[i + 1], px[i + 2], px[i + 3]];
  return best;
}"""


@drives_browser
def test_icons_are_dark_ink_in_light_mode_and_light_ink_in_dark_mode(page: Page, live: LiveServer, tmp_path: Path):
    page.set_viewport_size(LAPTOP)
    page.goto(live.url + "/connectors/new")
    img = page.locator('#type-cards img.type-icon[src$="/webhook.svg"]')
    expect(img).to_be_visible()
    for scheme, page_luminance_between in (("light", (0.0, 0.1)), ("dark", (0.5, 1.0))):
        page.emulate_media(color_scheme=scheme)
        page.reload()
        expect(img).to_be_visible()
        r, g, b, alpha = img.evaluate(ICON_INK)
        assert alpha > 200, (scheme, r, g, b, alpha)
        low, high = page_luminance_between
        assert low <= luminance((r, g, b)) <= high, (scheme, r, g, b)
        text = parse_rgb(page.locator("body").evaluate("el => getComputedStyle(el).color"))
        assert contrast((r, g, b), page_background(page)) >= 3, scheme  # as visible as text is
        assert abs(luminance((r, g, b)) - luminance(text[:3])) < 0.2, scheme
        page.screenshot(path=tmp_path / f"laptop-pick-type-{scheme}.png")


# --- The phone layout -------------------------------------------------------------------------------------------


def assert_inside(page: Page, locator, width: int, what: str) -> None:
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None, what
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, f"{what} is outside the {width} px screen: {box}"


def assert_no_sideways_scroll(page: Page, width: int, what: str) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"{what} scrolls sideways: {scroll_width} > {width}"


@drives_browser
def test_phone_list_and_event_log_are_cards_and_the_menu_folds(page: Page, live: LiveServer, tmp_path: Path):
    failed = failed_requests(page)
    log_id = create_server_log(page, live, "Phone log with a rather long name to wrap on a phone screen")
    create_webhook(page, live, "Phone hook")
    page.goto(f"{live.url}/connectors/{log_id}")
    page.get_by_role("button", name="Run test").click()
    expect(page.locator("#test-result .result")).to_have_attribute("data-status", "ok")

    page.set_viewport_size(PHONE)
    page.goto(live.url + "/connectors?q=Phone")
    rows = page.locator("table.connectors tbody tr")
    expect(rows).to_have_count(2)
    page.screenshot(path=tmp_path / "phone-list.png", full_page=True)
    assert_no_sideways_scroll(page, PHONE["width"], "the list")
    for row in rows.all():
        name = row.locator("td.name > a")
        assert_inside(page, name, PHONE["width"], "the name")
        assert_inside(page, row.locator("td.type img.type-icon"), PHONE["width"], "the type icon")
        assert_inside(page, row.locator("td.type"), PHONE["width"], "the type")
        assert_inside(page, row.locator("td.last-run"), PHONE["width"], "the last run")
        assert_inside(page, row.get_by_role("button", name=re.compile("^Delete")), PHONE["width"], "Delete")
        # A card: the type and the last run are under the name, each named, not squeezed beside it.
        assert row.locator("td.type").bounding_box()["y"] > name.bounding_box()["y"]
        assert row.locator("td.last-run").evaluate("el => getComputedStyle(el, '::before').content") == '"Last run"'
    ran = rows.filter(has_text="Phone log")
    expect(ran.locator("td.last-run")).to_contain_text("ok")
    # Select all and sorting stay on a phone, in one line above the cards.
    assert_inside(page, page.get_by_role("checkbox", name="Select all on this page"), PHONE["width"], "select all")
    assert_inside(page, page.locator("thead").get_by_role("link", name=re.compile("^Name")), PHONE["width"], "sort")

    # The navigation folds behind a Menu button, which opens and leads on.
    nav = page.get_by_role("navigation", name="Main")
    menu = nav.locator("summary", has_text="Menu")
    event_log = nav.get_by_role("link", name="Event log")
    expect(menu).to_be_visible()
    expect(event_log).to_be_hidden()
    assert nav.bounding_box()["height"] < 100  # brand and menu button on one line
    menu.click()
    expect(event_log).to_be_visible()
    assert_inside(page, event_log, PHONE["width"], "the opened menu")
    expect(nav.get_by_role("button", name=re.compile("^Sign out"))).to_be_visible()
    page.screenshot(path=tmp_path / "phone-menu-open.png", full_page=True)
    event_log.click()
    expect(page).to_have_url(live.url + "/events")

    events = page.locator("table.events tbody tr")
    expect(events.first).to_be_visible()
    page.screenshot(path=tmp_path / "phone-events.png", full_page=True)
    assert_no_sideways_scroll(page, PHONE["width"], "the event log")
    first = events.first
    cells = first.locator("td")
    for i in range(cells.count()):
        if cells.nth(i).is_visible():
            assert_inside(page, cells.nth(i), PHONE["width"], f"event cell {i + 1}")
    assert_inside(page, first.locator("time"), PHONE["width"], "the run's time")
    assert_inside(page, first.get_by_role("link", name=re.compile("^Phone log")), PHONE["width"], "the connector")
    assert_inside(page, first.locator(".badge"), PHONE["width"], "the outcome")

    for name, path in (("pick-type", "/connectors/new"), ("detail", f"/connectors/{log_id}")):
        page.goto(live.url + path)
        assert_no_sideways_scroll(page, PHONE["width"], path)
        page.screenshot(path=tmp_path / f"phone-{name}.png", full_page=True)

    # On a laptop: a table with its header, the links in the bar, no Menu button.
    page.set_viewport_size(LAPTOP)
    page.goto(live.url + "/connectors?q=Phone")
    expect(page.locator("table.connectors thead th", has_text="Last run")).to_be_visible()
    expect(menu).to_be_hidden()
    expect(event_log).to_be_visible()
    name_y = rows.first.locator("td.name").bounding_box()["y"]
    assert abs(rows.first.locator("td.type").bounding_box()["y"] - name_y) < 2  # one line: a table row
    page.screenshot(path=tmp_path / "laptop-list.png", full_page=True)
    page.goto(live.url + "/events")
    page.screenshot(path=tmp_path / "laptop-events.png", full_page=True)
    assert_no_sideways_scroll(page, LAPTOP["width"], "the event log")
    assert failed == [], f"requests that failed: {failed}"
    assert len(list(tmp_path.glob("*.png"))) == 7


@drives_browser
def test_phone_menu_opens_without_javascript(new_context, admin_state, live: LiveServer):
    page = new_context(storage_state=admin_state, java_script_enabled=False, viewport=PHONE).new_page()
    page.goto(live.url + "/connectors")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="API", exact=True)).to_be_hidden()
    nav.locator("summary", has_text="Menu").click()
    nav.get_by_role("link", name="API", exact=True).click()
    expect(page).to_have_url(live.url + "/api-docs")


# --- Focus rings ------------------------------------------------------------------------------------------------------


def parse_rgb(css: str) -> tuple[float, ...]:
    values = [float(v) for v in re.findall(r"[\d.]+", css)]
    return (*values[:3], values[3] if len(values) > 3 else 1.0)


def luminance(rgb) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


# The colours behind an element, nearest ancestor first, up to the root (which Pico paints).
BACKGROUNDS = """el => {
  const out = [];
  for (let e = el; e; e = e.parentElement) out.push(getComputedStyle(e).backgroundColor);
  return out;
}"""


def page_background(page: Page, selector: str = "body") -> tuple[float, float, float]:
    """What shows behind `selector`'s outside: its ancestors' backgrounds, composed from the root down."""
    layers = [parse_rgb(c) for c in page.locator(selector).first.evaluate(BACKGROUNDS)]
    r, g, b = (255.0, 255.0, 255.0)  # the canvas
    for lr, lg, lb, alpha in reversed(layers):
        r, g, b = (lr * alpha + r * (1 - alpha), lg * alpha + g * (1 - alpha), lb * alpha + b * (1 - alpha))
    return (r, g, b)


RING = """el => {
  const s = getComputedStyle(el);
  const behind = [];
  for (let e = el.parentElement; e; e = e.parentElement) behind.push(getComputedStyle(e).backgroundColor);
  return {style: s.outlineStyle, width: parseFloat(s.outlineWidth), offset: parseFloat(s.outlineOffset),
          color: s.outlineColor, behind, focusVisible: el.matches(":focus-visible")};
}"""


def tab_to(page: Page, locator, limit: int = 40) -> None:
    """Press Tab until `locator` has the focus, as a keyboard user would."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError(f"Tab never reached {locator}")


def assert_ring(page: Page, locator, what: str) -> None:
    ring = locator.evaluate(RING)
    assert ring["focusVisible"], what
    assert ring["style"] == "solid", (what, ring)
    assert ring["width"] >= 2, (what, ring)
    assert ring["offset"] >= 1, (what, ring)  # apart from the control, so it never blends with its border
    r, g, b = (255.0, 255.0, 255.0)
    for lr, lg, lb, alpha in reversed([parse_rgb(c) for c in ring["behind"]]):
        r, g, b = (lr * alpha + r * (1 - alpha), lg * alpha + g * (1 - alpha), lb * alpha + b * (1 - alpha))
    color = parse_rgb(ring["color"])
    assert color[3] == 1.0, (what, ring)  # solid, not a tint
    assert contrast(color, (r, g, b)) >= 3, (what, ring, contrast(color, (r, g, b)))


@drives_browser
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_tab_shows_a_clear_focus_ring(page: Page, live: LiveServer, scheme: str):
    create_server_log(page, live, f"Focus log {scheme}")
    page.emulate_media(color_scheme=scheme)
    page.set_viewport_size(LAPTOP)
    page.goto(live.url + f"/connectors?q=Focus+log+{scheme}")
    expect(page.locator("table.connectors tbody tr")).to_have_count(1)
    targets = [
        ("a link", page.get_by_role("navigation", name="Main").get_by_role("link", name="Event log")),
        ("an outline button", page.get_by_role("button", name=re.compile("^Sign out"))),
        ("an outline link button", page.get_by_role("button", name="Import")),
        ("an input", page.get_by_role("searchbox", name="Search connectors")),
        ("a select", page.get_by_label("Filter by type")),
        ("a checkbox", page.get_by_role("checkbox", name="Select all on this page")),
        ("an outline button in the table bar", page.get_by_role("button", name="Export")),
        ("a row's Delete", page.get_by_role("button", name=re.compile("^Delete Focus"))),
    ]
    page.locator("body").click(position={"x": 5, "y": 5})  # start from the top, as after a page load
    for what, target in targets:
        tab_to(page, target)
        assert_ring(page, target, f"{what} ({scheme})")

    page.goto(live.url + "/connectors/new")  # type cards: the ring goes round the whole card
    card = page.locator("#type-cards .type-card").first
    tab_to(page, card)
    assert_ring(page, card, f"a type card ({scheme})")
    page.set_viewport_size(PHONE)
    menu = page.get_by_role("navigation", name="Main").locator("summary")
    page.locator("body").click(position={"x": 5, "y": 5})
    tab_to(page, menu)
    assert_ring(page, menu, f"the phone menu button ({scheme})")
