"""The `.slack_api` type end to end, against the fake Slack Web API: `postMessage` and `postBlockkit` post to
`chat.postMessage` with the bot token, `validChannelId` asks `conversations.info`; Slack's `ok: false` on
HTTP 200 is an error with Slack's code beside it; a channel outside `allowedChannels` is refused before
Slack is called; and the form's channel checker names a typed channel ID."""

from __future__ import annotations

import html
import json
import logging
import re
import socket
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from app.settings import OutboundSettings
from app.types import get_type
from app.types.slack_api import ERROR_POSTING, NO_CHANNEL, NOT_ALLOWED, RETRY_LATER
from tests.api_client import Api
from tests.browser import UUID_URL, csrf_token, drives_browser
from tests.conftest import Browserish, make_app
from tests.fakes.slack_api import ALERTS, GENERAL, NOT_JOINED, TOKEN, TS, FakeSlack
from tests.helpers import assert_secret_kept_out, connectors, create_via_form, events
from tests.live_server import LiveServer

SLACK_API = get_type(".slack_api")
ROWS = "config.allowedChannels"


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        yield fake


def slack_fields(api_url: str, token: str = TOKEN, name: str = "slack", rows: list[tuple[str, str]] = ()) -> dict:
    return {"name": name, "config.apiUrl": api_url, "secrets.token": token,
            f"{ROWS}.id": [r[0] for r in rows], f"{ROWS}.name": [r[1] for r in rows]}


def run_test_pane(web, connector_id: str, sub_action: str = "postMessage", **params) -> str:
    """What the test pane posts; list params are typed as JSON, as its fields take them."""
    fields = {k: json.dumps(v) if isinstance(v, list) else v for k, v in params.items()}
    data = {"params.__present": "1", "params.subAction": sub_action, **{f"params.sub.{k}": v for k, v in fields.items()}}
    response = web.post(f"/connectors/{connector_id}/test", data=data, htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return html.unescape(response.get_data(as_text=True))


def api_connector(api: Api, api_url: str, token: str = TOKEN, allowed: list[dict] | None = None) -> str:
    config = {"apiUrl": api_url, **({"allowedChannels": allowed} if allowed is not None else {})}
    body = {"name": "slack", "connector_type_id": ".slack_api", "config": config, "secrets": {"token": token}}
    return api.created(body)["id"]


def run_api(app, api_url: str, sub_action: str = "postMessage", *, allowed: list[dict] | None = None,
            token: str = TOKEN, **params) -> tuple[str, dict]:
    api = Api.with_key(app)
    cid = api_connector(api, api_url, token, allowed)
    return cid, api.execute(cid, {"subAction": sub_action, "subActionParams": params}).get_json()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- posting ----------------------------------------------------------------------------------------------


def test_test_pane_posts_the_message_with_the_bot_token(app, web, slack):
    cid = create_via_form(web, ".slack_api", slack_fields(slack.api_url))

    page = run_test_pane(web, cid, channelNames=["#general"], text="Deploy finished")

    got = slack.received[-1]
    assert (got.method, got.path, got.query) == ("POST", "/api/chat.postMessage", "")
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    assert got.headers["Content-Type"] == "application/json; charset=UTF-8"
    assert got.json == {"channel": "#general", "text": "Deploy finished"}
    assert 'data-status="ok"' in page and "200 OK" in page and f'"ts": "{TS}"' in page
    assert "Authorization" in page and TOKEN not in page  # the header's name is shown, never its value
    event = events(app)[-1]
    assert (event.connector_type_id, event.sub_action, event.status, event.http_status) == (
        ".slack_api", "postMessage", "ok", 200)


def test_post_message_through_the_api_answers_with_slacks_response(app, slack):
    cid, result = run_api(app, slack.api_url, channelIds=[GENERAL[0]], text="hello")

    assert result["connector_id"] == cid and result["status"] == "ok"
    assert result["data"] == {**result["data"], "ok": True, "channel": GENERAL[0], "ts": TS}
    assert slack.received[-1].json == {"channel": GENERAL[0], "text": "hello"}


def test_post_blockkit_sends_the_bodys_blocks(app, slack):
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Disk* almost full"}}]

    _, result = run_api(app, slack.api_url, "postBlockkit", channelNames=["#alerts"],
                        text=json.dumps({"blocks": blocks, "ignored": True}))

    assert result["status"] == "ok"
    assert slack.received[-1].json == {"channel": "#alerts", "blocks": blocks}


def test_the_prefilled_test_params_run(app, web, slack):
    cid = create_via_form(web, ".slack_api", slack_fields(slack.api_url))
    detail = html.unescape(web.get(f"/connectors/{cid}").get_data(as_text=True))
    assert '<option value="postMessage" selected>' in detail and "Hello from Switchboard" in detail

    result = Api.with_key(app).execute(cid, SLACK_API.test_params).get_json()

    assert result["status"] == "ok"
    assert slack.received[-1].json == {"channel": "#general", "text": "Hello from Switchboard"}


@pytest.mark.parametrize(
    ("channels", "sent_to"),
    [
        ({"channelNames": ["#alerts"], "channelIds": [GENERAL[0]], "channels": ["general"]}, "#alerts"),
        ({"channelIds": [GENERAL[0]], "channels": ["alerts"]}, GENERAL[0]),
        ({"channels": ["alerts"]}, "alerts"),  # deprecated, still honoured
    ],
)
def test_channel_names_come_before_ids_and_ids_before_the_deprecated_channels(app, slack, channels, sent_to):
    _, result = run_api(app, slack.api_url, text="hi", **channels)

    assert result["status"] == "ok"
    assert slack.received[-1].json["channel"] == sent_to


def test_a_message_without_any_channel_is_refused_before_slack(app, slack):
    _, result = run_api(app, slack.api_url, text="hi", channelNames=[])

    assert (result["message"], result["service_message"], result["retry"]) == (ERROR_POSTING, NO_CHANNEL, False)
    assert slack.received == []


# ---- the channel checker's sub-action ----------------------------------------------------------------------


def test_valid_channel_id_asks_conversations_info_for_the_channel(app, slack):
    _, result = run_api(app, slack.api_url, "validChannelId", channelId=ALERTS[0])

    got = slack.received[-1]
    assert (got.method, got.path, got.args) == ("GET", "/api/conversations.info", {"channel": [ALERTS[0]]})
    assert got.headers["Authorization"] == f"Bearer {TOKEN}" and got.body == b""
    assert result["status"] == "ok"
    assert result["data"]["channel"] == {**result["data"]["channel"], "id": ALERTS[0], "name": "alerts"}


def test_an_unknown_channel_id_is_slacks_channel_not_found(app, slack):
    _, result = run_api(app, slack.api_url, "validChannelId", channelId="C000NOPE")

    assert (result["status"], result["message"], result["service_message"]) == (
        "error", ERROR_POSTING, "channel_not_found")


@pytest.mark.parametrize("params", [{}, {"channelId": ""}])
def test_an_empty_channel_id_is_refused_without_asking_slack(app, slack, params):
    _, result = run_api(app, slack.api_url, "validChannelId", **params)

    assert (result["message"], result["service_message"]) == (ERROR_POSTING, "The channel id is empty")
    assert slack.received == []


# ---- reading: Kibana's newest sub-actions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_action", "params", "path", "query", "answered"),
    [
        ("getConversationsList", {}, "/api/conversations.list", {"exclude_archived": ["true"], "limit": ["200"]},
         "channels"),
        ("getConversationsList", {"types": "private_channel", "cursor": "dXNlcjpVMEc5V0ZYTlo=",
                                  "excludeArchived": False, "limit": 5},
         "/api/conversations.list", {"types": ["private_channel"], "cursor": ["dXNlcjpVMEc5V0ZYTlo="], "limit": ["5"]},
         "channels"),
        ("getConversationsHistory", {"channel": GENERAL[0], "oldest": 1700000000},
         "/api/conversations.history", {"channel": [GENERAL[0]], "oldest": ["1700000000"], "limit": ["100"]},
         "messages"),
        ("getConversationsReplies", {"channel": GENERAL[0], "ts": TS},
         "/api/conversations.replies", {"channel": [GENERAL[0]], "ts": [TS]}, "messages"),
        ("getUsersList", {"limit": 50}, "/api/users.list", {"limit": ["50"]}, "members"),
    ],
)
def test_reads_ask_slack_with_kibanas_query(app, slack, sub_action, params, path, query, answered):
    _, result = run_api(app, slack.api_url, sub_action, **params)

    got = slack.received[-1]
    assert (got.method, got.path, got.args, got.body) == ("GET", path, query, b"")
    assert got.headers["Authorization"] == f"Bearer {TOKEN}"
    assert result["status"] == "ok" and result["data"][answered]


def test_a_read_slack_refuses_is_an_error_with_its_code(app, slack):
    _, result = run_api(app, slack.api_url, "getConversationsHistory", channel=NOT_JOINED[0])

    assert (result["status"], result["message"], result["service_message"]) == (
        "error", ERROR_POSTING, "not_in_channel")


def test_read_limits_are_kibanas(app, slack):
    _, result = run_api(app, slack.api_url, "getUsersList", limit=1001)

    assert result["message"].startswith("error validating action params: [limit]: ")
    assert slack.received == []


# ---- allowed channels --------------------------------------------------------------------------------------

ALLOWED = [{"id": GENERAL[0], "name": "#general"}, {"name": "alerts"}]


@pytest.mark.parametrize("sub_action", ["postMessage", "postBlockkit"])
@pytest.mark.parametrize("channels", [{"channelNames": ["#random"]}, {"channelIds": ["C0NOTALLOWED"]}])
def test_a_channel_outside_the_allowed_list_is_refused_without_calling_slack(app, slack, sub_action, channels):
    text = "hi" if sub_action == "postMessage" else json.dumps({"blocks": []})

    _, result = run_api(app, slack.api_url, sub_action, allowed=ALLOWED, text=text, **channels)

    assert result == {**result, "status": "error", "message": ERROR_POSTING, "service_message": NOT_ALLOWED,
                      "retry": False}
    assert slack.received == []


@pytest.mark.parametrize("channels", [{"channelNames": ["#alerts"]}, {"channelNames": ["#general"]},
                                      {"channelIds": [GENERAL[0]]}])
def test_allowed_names_match_with_or_without_their_hash(app, slack, channels):
    _, result = run_api(app, slack.api_url, allowed=ALLOWED, text="hi", **channels)

    assert result["status"] == "ok"


def test_ids_are_checked_only_against_allowed_channels_that_have_ids(app, slack):
    # Kibana's rule: names-only allowed channels leave channelIds (and the deprecated channels) unchecked.
    _, by_id = run_api(app, slack.api_url, allowed=[{"name": "alerts"}], text="hi", channelIds=[GENERAL[0]])
    _, legacy = run_api(app, slack.api_url, allowed=ALLOWED, text="hi", channels=[ALERTS[0]])

    assert (by_id["status"], legacy["status"]) == ("ok", "ok")
    assert [r.json["channel"] for r in slack.received] == [GENERAL[0], ALERTS[0]]


def test_allowed_channels_are_saved_from_the_forms_rows(app, web, slack):
    cid = create_via_form(web, ".slack_api", slack_fields(
        slack.api_url, rows=[(GENERAL[0], "general"), ("", "#alerts"), ("", "")]))

    (connector,) = connectors(app)
    assert connector.config == {"allowedChannels": [{"id": GENERAL[0], "name": "general"}, {"name": "#alerts"}],
                                "apiUrl": slack.api_url}
    shown = Api.with_key(app).get(f"/api/actions/connector/{cid}").get_json()
    assert shown["config"]["allowedChannels"] == connector.config["allowedChannels"] and "secrets" not in shown
    edit = html.unescape(web.get(f"/connectors/{cid}/edit").get_data(as_text=True))
    assert f'value="{GENERAL[0]}"' in edit and 'value="#alerts"' in edit


def test_a_row_with_an_id_but_no_name_is_refused_at_the_field(web, slack):
    response = web.post("/connectors/new/.slack_api", data=slack_fields(slack.api_url, rows=[(GENERAL[0], "")]))

    assert response.status_code == 422
    assert f"Enter a name for the channel {GENERAL[0]}." in html.unescape(response.get_data(as_text=True))


def test_more_than_500_allowed_channels_are_refused(app):
    api = Api.with_key(app)
    config = {"allowedChannels": [{"name": f"c{i}"} for i in range(501)]}

    response = api.post("/api/actions/connector", json={
        "name": "s", "connector_type_id": ".slack_api", "config": config, "secrets": {"token": TOKEN}})

    assert response.status_code == 400
    assert "allowedChannels" in response.get_json()["message"]


# ---- Slack's failures --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "token", "code"),
    [
        ({"channelNames": ["#general"]}, "xoxb-not-the-token", "invalid_auth"),
        ({"channelNames": ["#nowhere"]}, TOKEN, "channel_not_found"),
        ({"channelIds": [NOT_JOINED[0]]}, TOKEN, "not_in_channel"),
    ],
)
def test_ok_false_on_http_200_is_an_error_with_slacks_code(app, slack, params, token, code):
    _, result = run_api(app, slack.api_url, token=token, text="hi", **params)

    assert result == {**result, "status": "error", "message": ERROR_POSTING, "service_message": code,
                      "retry": False}
    event = events(app)[-1]
    assert (event.status, event.http_status) == ("error", 200)


def test_a_blank_token_is_slacks_not_authed(app, slack):
    _, result = run_api(app, slack.api_url, token="   ", text="hi", channelNames=["#general"])

    assert slack.received[-1].headers["Authorization"].strip() == "Bearer"
    assert (result["message"], result["service_message"]) == (ERROR_POSTING, "not_authed")


def test_throttling_asks_for_a_retry_at_slacks_retry_after(app, web, slack):
    cid = create_via_form(web, ".slack_api", slack_fields(slack.api_url))
    slack.throttle(retry_after="30")
    before = datetime.now(UTC)

    page = run_test_pane(web, cid, channelNames=["#general"], text="hi")

    when = datetime.fromisoformat(events(app)[-1].retry.replace("Z", "+00:00"))
    assert 29 <= (when - before).total_seconds() <= 32
    assert f"error posting a slack message, retry at {events(app)[-1].retry}" in page
    assert "[429] Too Many Requests: ratelimited" in page
    assert events(app)[-1].http_status == 429


def test_throttling_without_retry_after_asks_for_a_retry_later(app, slack):
    slack.throttle(retry_after=None)

    _, result = run_api(app, slack.api_url, text="hi", channelNames=["#general"])

    assert (result["message"], result["retry"]) == (RETRY_LATER, True)


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_asks_for_a_retry(app, slack, status):
    slack.outage(status)

    _, result = run_api(app, slack.api_url, "validChannelId", channelId=GENERAL[0])

    assert (result["message"], result["retry"]) == (RETRY_LATER, True)
    assert result["service_message"].startswith(f"[{status}] ")


@pytest.mark.parametrize(("status", "reason"), [(401, "Unauthorized"), (403, "Forbidden"), (404, "Not Found")])
def test_another_http_status_is_unexpected_and_final(app, slack, status, reason):
    slack.answer_next(status, {"ok": False, "error": "invalid_auth"})

    _, result = run_api(app, slack.api_url, text="hi", channelNames=["#general"])

    assert (result["status"], result["message"], result["retry"]) == (
        "error", f"unexpected http response from slack: {status} {reason}", False)


def test_a_wrong_api_path_is_slacks_unknown_method(app, slack):
    _, result = run_api(app, slack.url + "/v2/", text="hi", channelNames=["#general"])

    assert result["message"] == "unexpected http response from slack: 404 Not Found"
    assert result["service_message"] == "[404] Not Found: unknown_method"


@pytest.mark.parametrize("body", ["", "null"])
def test_an_empty_answer_is_unexpected(app, slack, body):
    slack.answer_next(200, body)

    _, result = run_api(app, slack.api_url, text="hi", channelNames=["#general"])

    assert (result["status"], result["message"]) == ("error", "unexpected null response from slack")


def test_an_answer_that_is_not_slacks_json_is_not_a_success(app, slack):
    slack.answer_next(200, "<html>Gateway says hello</html>")

    _, result = run_api(app, slack.api_url, text="hi", channelNames=["#general"])

    assert (result["status"], result["message"]) == ("error", ERROR_POSTING)
    assert "Gateway says hello" in result["service_message"]


def test_a_refused_connection_is_an_error_posting_with_the_cause(app):
    _, result = run_api(app, f"http://127.0.0.1:{free_port()}/api/", text="hi", channelNames=["#general"])

    assert (result["status"], result["message"], result["retry"]) == ("error", ERROR_POSTING, False)
    assert "connection to http://127.0.0.1:" in result["service_message"]
    assert events(app)[-1].http_status is None


# ---- params --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sub_action", "params", "says"),
    [
        ("postMessage", {"channelNames": ["general"], "text": "hi"}, "Channel name must start with #"),
        ("postMessage", {"channelNames": ["#"], "text": "hi"}, "at least 2 characters"),
        ("postMessage", {"channelIds": ["C1", "C2"], "text": "hi"}, "at most 1 item"),
        ("postMessage", {"channelIds": ["C1"], "text": ""}, "[text]: String should have at least 1 character"),
        ("postBlockkit", {"channelIds": ["C1"], "text": "not json"}, "block kit body is not valid JSON - "),
        ("postBlockkit", {"channelIds": ["C1"], "text": '{"text": "hi"}'}, 'block kit body must contain field "blocks"'),
        ("postBlockkit", {"channelNames": [""], "text": '{"blocks": []}'}, "Channel name cannot be empty"),
        ("validChannelId", {"channelId": "C1", "team": "T1"}, "[team]: Extra inputs are not permitted"),
    ],
)
def test_bad_params_are_refused_in_kibanas_words_before_slack(app, slack, sub_action, params, says):
    _, result = run_api(app, slack.api_url, sub_action, **params)

    assert result["status"] == "error"
    assert result["message"].startswith("error validating action params: ")
    assert says in result["message"]
    assert slack.received == []


def test_an_unknown_sub_action_is_refused(app, slack):
    cid, result = run_api(app, slack.api_url, "getAllowedChannels")

    assert result["message"] == (f'Sub action "getAllowedChannels" is not registered. Connector id: {cid}. '
                                 "Connector name: slack. Connector type: .slack_api")


# ---- settings ------------------------------------------------------------------------------------------------


def test_slack_outside_the_allowed_hosts_is_refused_in_kibanas_words(tmp_path, slack):
    app = make_app(tmp_path, OutboundSettings(allowed_hosts=("127.0.0.1",)))
    web = Browserish(app.test_client())

    refused = web.post("/connectors/new/.slack_api", data=slack_fields(""))
    allowed = web.post("/connectors/new/.slack_api", data=slack_fields(slack.api_url))

    assert refused.status_code == 422
    assert ('error configuring slack action: target hostname "slack.com" is not in the allowed hosts list'
            in html.unescape(refused.get_data(as_text=True)))
    assert allowed.status_code == 303


def test_without_an_api_url_the_connector_keeps_kibanas_config(app, web):
    create_via_form(web, ".slack_api", slack_fields(""))

    assert connectors(app)[0].config == {}


def test_a_token_is_required(web, slack):
    response = web.post("/connectors/new/.slack_api", data=slack_fields(slack.api_url, token=""))

    assert response.status_code == 422


# ---- secrets -------------------------------------------------------------------------------------------------


def test_a_blank_token_on_edit_keeps_the_stored_one(app, web, slack):
    cid = create_via_form(web, ".slack_api", slack_fields(slack.api_url))
    assert TOKEN not in web.get(f"/connectors/{cid}/edit").get_data(as_text=True)

    edit = web.post(f"/connectors/{cid}/edit", data=slack_fields(slack.api_url, token="", name="renamed"))
    run_test_pane(web, cid, channelNames=["#general"], text="hi")

    assert edit.status_code == 303
    assert slack.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert connectors(app)[0].name == "renamed"


def test_the_token_is_sent_but_never_shown_in_pages_logs_or_events(app, web, slack, caplog):
    caplog.set_level(logging.DEBUG)
    cid = create_via_form(web, ".slack_api", slack_fields(slack.api_url))
    slack.answer_next(200, {"ok": False, "error": f"token {TOKEN} was revoked"})  # a service that echoes it
    slack.answer_next(500, f"upstream refused Bearer {TOKEN}")

    page = run_test_pane(web, cid, channelNames=["#general"], text="hi")
    failed = run_test_pane(web, cid, "validChannelId", channelId=GENERAL[0])
    unsaved = web.post("/connectors/new/.slack_api/test", htmx=True, data={
        **slack_fields(slack.api_url), "params.__present": "1", "params.subAction": "validChannelId",
        "params.sub.channelId": GENERAL[0]}).get_data(as_text=True)

    assert [r.headers["Authorization"] for r in slack.received] == [f"Bearer {TOKEN}"] * 3
    assert "token •••••• was revoked" in page
    assert_secret_kept_out(app, web, TOKEN, cid, page, failed, unsaved, log=caplog.text)


# ---- the form's channel checker (HTMX fragments) -------------------------------------------------------------


def check_channel(web, channel_id: str, **fields) -> str:
    data = {**slack_fields(fields.pop("api_url")), "slack_api.checkChannelId": channel_id, **fields}
    response = web.post("/types/.slack_api/channel", data=data, htmx=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def test_the_checker_names_a_typed_channel_id_and_offers_it_as_a_row(app, web, slack):
    answer = check_channel(web, ALERTS[0], api_url=slack.api_url)

    assert "#alerts" in answer and f"<code>{ALERTS[0]}</code>" in answer
    assert slack.received[-1].args == {"channel": [ALERTS[0]]}
    event = events(app)[-1]
    assert (event.sub_action, event.status, event.source) == ("validChannelId", "ok", "form")
    row = re.search(r'hx-get="([^"]+)"', answer).group(1)
    fragment = web.get(row, htmx=True).get_data(as_text=True)
    assert f'name="{ROWS}.id" value="{ALERTS[0]}"' in fragment and f'name="{ROWS}.name" value="alerts"' in fragment


def test_the_checker_shows_slacks_error(web, slack):
    assert f"{ERROR_POSTING}: channel_not_found" in check_channel(web, "C000NOPE", api_url=slack.api_url)


def test_the_checker_says_what_the_form_lacks(web, slack):
    answer = check_channel(web, GENERAL[0], api_url=slack.api_url, **{"secrets.token": ""})

    assert "error validating connector config or secrets: [secrets.token]: " in answer
    assert slack.received == []


def test_the_checker_asks_nothing_for_a_blank_id(web, slack):
    assert "error" not in check_channel(web, "  ", api_url=slack.api_url)
    assert slack.received == []


def test_the_checker_uses_the_stored_token_when_editing(app, web, slack):
    cid = create_via_form(web, ".slack_api", slack_fields(slack.api_url))

    answer = check_channel(web, GENERAL[0], api_url=slack.api_url, connector_id=cid, **{"secrets.token": ""})

    assert "#general" in answer
    assert slack.received[-1].headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_viewer_cannot_use_the_checker(viewer, slack):
    response = viewer.post("/types/.slack_api/channel", data={"slack_api.checkChannelId": GENERAL[0]}, htmx=True)

    assert response.status_code == 403
    assert slack.received == []


# ---- in the browser ------------------------------------------------------------------------------------------


@drives_browser
def test_typed_channel_is_named_added_saved_and_enforced(page: Page, live: LiveServer, slack: FakeSlack):
    page.goto(live.url + "/connectors/new/.slack_api")
    page.get_by_role("textbox", name="Name", exact=True).fill("Slack e2e")
    page.get_by_label("Slack API URL").fill(slack.api_url)
    page.get_by_label("API Token").fill(TOKEN)

    page.get_by_label("Look up a channel ID").fill(GENERAL[0])
    found = page.locator(".slack-channel-found")
    expect(found).to_contain_text("#general")
    found.get_by_role("button", name="Add #general to the allowed channels").click()
    expect(page.get_by_label("Allowed channels ID")).to_have_value(GENERAL[0])
    lookup = page.get_by_label("Look up a channel ID")
    lookup.fill("C000NOPE")
    lookup.press("Enter")  # checks now; the connector form is not submitted
    expect(page.locator(".slack-channel-error")).to_have_text(f"{ERROR_POSTING}: channel_not_found")
    expect(page).to_have_url(live.url + "/connectors/new/.slack_api")
    page.get_by_role("button", name="Add a channel by name").click()
    page.get_by_label("Allowed channels name").last.fill("#alerts")
    page.get_by_role("button", name="Create connector").click()

    expect(page).to_have_url(UUID_URL)
    connector_id = page.url.rsplit("/", 1)[1]
    shown = page.request.get(f"{live.url}/api/actions/connector/{connector_id}")
    assert shown.ok, shown.text()[:500]
    assert shown.json()["config"]["allowedChannels"] == [{"id": GENERAL[0], "name": "general"}, {"name": "#alerts"}]
    assert TOKEN not in page.content()

    asked_before = len(slack.received)
    refused = page.request.post(
        f"{live.url}/api/actions/connector/{connector_id}/_execute",
        data={"params": {"subAction": "postMessage", "subActionParams": {"channelNames": ["#random"], "text": "hi"}}},
        headers={"kbn-xsrf": "true", "X-CSRFToken": csrf_token(page)},
    )
    assert refused.ok, refused.text()[:500]
    assert (refused.json()["status"], refused.json()["service_message"]) == ("error", NOT_ALLOWED)
    assert len(slack.received) == asked_before
