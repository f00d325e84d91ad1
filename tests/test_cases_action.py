"""The `.cases` system action, run through `_execute` on its fixed connector id as a rule would: alerts
grouped into cases, time windows, closed cases, the circuit breaker; never listed or created."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.case_models import Case, CaseOracleRecord
from app.db import db
from app.models import utcnow
from tests.api_client import Api
from tests.helpers import events

SYSTEM_ID = "system-connector-.cases"
EXECUTE = f"/api/actions/connector/{SYSTEM_ID}/_execute"
RULE = {"id": "rule-cpu", "name": "High CPU", "tags": ["infra"], "ruleUrl": None}


def alert(n: int, host: str | None = None, **extra) -> dict:
    found = {"_id": f"alert-{n}", "_index": ".alerts-default", **extra}
    if host is not None:
        found["host.name"] = host
    return found


def run(api: Api, alerts: list[dict], **params):
    body = {"alerts": alerts, "groupingBy": ["host.name"], "owner": "cases", "rule": RULE, **params}
    response = api.post(EXECUTE, json={"params": {"subAction": "run", "subActionParams": body}})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def stored_cases(app) -> list[Case]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(Case).order_by(Case.title)))
        for row in rows:
            _ = (row.alerts, row.comments)
        db.session.expunge_all()
        return rows


def alerts_of(case: Case) -> list[str]:
    return sorted(a.alert_id for a in case.alerts)


@pytest.fixture
def api(app) -> Api:
    return Api.with_key(app)


def test_alerts_are_grouped_into_one_case_per_host(app, api):
    answer = run(api, [alert(1, "web-1"), alert(2, "web-2"), alert(3, "web-1"), alert(4)])
    assert answer["status"] == "ok" and answer["connector_id"] == SYSTEM_ID
    assert sorted((c["title"], c["created"], c["alertsAttached"]) for c in answer["data"]["cases"]) == [
        ("High CPU - Grouping by unknown (Auto-created)", True, 1),
        ("High CPU - Grouping by web-1 (Auto-created)", True, 2),
        ("High CPU - Grouping by web-2 (Auto-created)", True, 1),
    ]
    by_title = {c.title: c for c in stored_cases(app)}
    web1 = by_title["High CPU - Grouping by web-1 (Auto-created)"]
    assert alerts_of(web1) == ["alert-1", "alert-3"]
    assert web1.description == ("This case was created by the rule High CPU. "
                                "The assigned alerts are grouped by `host.name: web-1`.")
    assert web1.tags == ["auto-generated", "rule:rule-cpu", "host.name", "host.name:web-1", "infra"]
    assert (web1.status, web1.severity, web1.owner, web1.rule_id, web1.rule_name) == (
        "open", "low", "cases", "rule-cpu", "High CPU")
    assert alerts_of(by_title["High CPU - Grouping by unknown (Auto-created)"]) == ["alert-4"]


def test_a_nested_grouping_field_is_read_as_a_path(app, api):
    run(api, [{"_id": "a", "_index": "i", "host": {"name": "db-1"}}])
    [case] = stored_cases(app)
    assert case.title == "High CPU - Grouping by db-1 (Auto-created)"


def test_every_run_is_an_event_of_the_system_connector(app, api):
    run(api, [alert(1, "web-1")])
    [event] = events(app)
    assert (event.connector_id, event.connector_type_id, event.sub_action, event.source, event.status) == (
        SYSTEM_ID, ".cases", "run", "http_request", "ok")


def test_its_runs_in_the_event_log_lead_to_the_cases_page_not_a_deleted_connector(app, api, viewer):
    run(api, [alert(1, "web-1")])
    [event] = events(app)
    for page in (viewer.get("/events").get_data(as_text=True), viewer.get(f"/events/{event.id}").get_data(as_text=True)):
        assert "system action" in page and 'href="/cases' in page and "deleted" not in page


def test_an_import_cannot_give_a_connector_the_system_actions_id(app):
    import json

    from app.services.transfer import import_ndjson

    line = {"id": SYSTEM_ID, "type": "action", "attributes": {"actionTypeId": ".server-log", "name": "shadow",
                                                              "config": {}, "secrets": {}, "isMissingSecrets": False}}
    with app.app_context():
        result = import_ndjson(json.dumps(line).encode())
    assert result.successCount == 0 and "system action" in result.errors[0]["error"]["message"]


def test_later_runs_feed_the_same_case_and_attach_an_alert_once(app, api):
    run(api, [alert(1, "web-1")])
    answer = run(api, [alert(1, "web-1"), alert(2, "web-1")])
    [outcome] = answer["data"]["cases"]
    assert (outcome["created"], outcome["alertsAttached"]) == (False, 1)
    [case] = stored_cases(app)
    assert alerts_of(case) == ["alert-1", "alert-2"]


def test_a_new_case_opens_when_the_time_window_has_passed(app, api):
    run(api, [alert(1, "web-1")], timeWindow="7d")
    with app.app_context():
        record = db.session.scalars(db.select(CaseOracleRecord)).one()
        record.created_at = utcnow() - timedelta(days=8)
        db.session.commit()
    run(api, [alert(2, "web-1")], timeWindow="7d")
    first, second = stored_cases(app)
    assert first.title == "High CPU - Grouping by web-1 (2) (Auto-created)" and alerts_of(first) == ["alert-2"]
    assert second.title == "High CPU - Grouping by web-1 (Auto-created)" and alerts_of(second) == ["alert-1"]


def test_within_the_time_window_the_case_stays(app, api):
    run(api, [alert(1, "web-1")], timeWindow="7d")
    with app.app_context():
        record = db.session.scalars(db.select(CaseOracleRecord)).one()
        record.created_at = utcnow() - timedelta(days=6)
        db.session.commit()
    run(api, [alert(2, "web-1")], timeWindow="7d")
    [case] = stored_cases(app)
    assert alerts_of(case) == ["alert-1", "alert-2"]


def close_all(app):
    with app.app_context():
        for case in db.session.scalars(db.select(Case)):
            case.status = "closed"
        db.session.commit()


def test_a_closed_case_is_followed_by_a_new_one(app, api):
    run(api, [alert(1, "web-1")])
    close_all(app)
    [outcome] = run(api, [alert(2, "web-1")])["data"]["cases"]
    assert outcome["created"] is True
    new, old = stored_cases(app)
    assert (new.title, new.status, alerts_of(new)) == ("High CPU - Grouping by web-1 (2) (Auto-created)", "open", ["alert-2"])
    assert (old.status, alerts_of(old)) == ("closed", ["alert-1"])


def test_reopen_closed_cases_reopens_the_same_case(app, api):
    run(api, [alert(1, "web-1")])
    close_all(app)
    [outcome] = run(api, [alert(2, "web-1")], reopenClosedCases=True)["data"]["cases"]
    assert (outcome["created"], outcome["reopened"]) == (False, True)
    [case] = stored_cases(app)
    assert (case.status, case.closed_at, alerts_of(case)) == ("open", None, ["alert-1", "alert-2"])


def test_more_groups_than_allowed_fall_back_to_one_case(app, api):
    answer = run(api, [alert(n, f"host-{n}") for n in range(4)], maximumCasesToOpen=3)
    [outcome] = answer["data"]["cases"]
    [case] = stored_cases(app)
    assert case.title == "High CPU (Auto-created)" == outcome["title"]
    assert case.description == "This case was created by the rule High CPU."
    assert len(case.alerts) == 4


def test_without_grouping_all_alerts_share_one_case(app, api):
    run(api, [alert(1, "a"), alert(2, "b")], groupingBy=[])
    [case] = stored_cases(app)
    assert case.title == "High CPU (Auto-created)" and alerts_of(case) == ["alert-1", "alert-2"]


def test_a_rule_url_is_linked_in_the_description(app, api):
    body = {"alerts": [alert(1)], "groupingBy": [], "owner": "cases",
            "rule": {**RULE, "ruleUrl": "https://kibana.example/rules/1"}}
    api.post(EXECUTE, json={"params": {"subAction": "run", "subActionParams": body}})
    [case] = stored_cases(app)
    assert case.description == "This case was created by the rule ['High CPU'](https://kibana.example/rules/1)."


def test_a_long_rule_name_and_grouping_are_trimmed_as_kibana_trims_them(app, api):
    rule = {**RULE, "name": "R" * 120}
    body = {"alerts": [alert(1, "h" * 200)], "groupingBy": ["host.name"], "owner": "cases", "rule": rule}
    api.post(EXECUTE, json={"params": {"subAction": "run", "subActionParams": body}})
    [case] = stored_cases(app)
    assert case.title.startswith("R" * 97 + "... - Grouping by " + "h" * 10)
    assert case.title.endswith("h" * 27 + "... (Auto-created)") and len(case.title) == 160


def test_grouped_alerts_bring_their_title_and_comments(app, api):
    groups = [{"alerts": [alert(1)], "grouping": {"attack": "a-1"}, "title": "Attack a-1", "comments": ["Summary"]}]
    run(api, [alert(1)], groupedAlerts=groups)
    [case] = stored_cases(app)
    assert case.title == "Attack a-1" and [c.comment for c in case.comments] == ["Summary"]


def test_no_alerts_is_a_run_that_does_nothing(app, api):
    assert run(api, [])["data"] == {"cases": []}
    assert stored_cases(app) == []


def test_a_full_case_takes_no_more_alerts(app, api):
    run(api, [alert(n, "web-1") for n in range(999)])
    [outcome] = run(api, [alert(1000, "web-1"), alert(1001, "web-1")])["data"]["cases"]
    assert (outcome["alertsAttached"], outcome["alertsSkipped"]) == (0, 2)
    [case] = stored_cases(app)
    assert len(case.alerts) == 999


@pytest.mark.parametrize(("params", "message"), [
    ({"timeWindow": "3m"}, "[timeWindow]: Time window should be at least 5 minutes"),
    ({"timeWindow": "7x"}, "[timeWindow]: Not a valid time window"),
    ({"timeWindow": "99999999999d"}, "[timeWindow]: Not a valid time window"),
    ({"groupingBy": ["host.name", "user.name"]}, "[groupingBy]"),
    ({"alerts": [{"_id": "a"}]}, "[alerts]: Alert ID and index must be defined"),
    ({"maximumCasesToOpen": 21}, "[maximumCasesToOpen]"),
    ({"owner": None}, "[owner]"),
    ({"surprise": 1}, "[surprise]"),
])
def test_bad_params_fail_the_run_with_kibanas_words_and_store_nothing(app, api, params, message):
    body = {"alerts": [alert(1, "web-1")], "groupingBy": ["host.name"], "owner": "cases", "rule": RULE, **params}
    response = api.post(EXECUTE, json={"params": {"subAction": "run", "subActionParams": body}})
    answer = response.get_json()
    assert response.status_code == 200 and answer["status"] == "error"
    assert answer["message"].startswith("Request validation failed (") and message in answer["message"]
    assert stored_cases(app) == []


def test_an_unknown_sub_action_is_refused(app, api):
    answer = api.post(EXECUTE, json={"params": {"subAction": "push", "subActionParams": {}}}).get_json()
    assert answer["status"] == "error" and 'Sub action "push" is not registered' in answer["message"]


def test_a_viewer_may_not_run_it(app):
    viewer = Api.with_key(app, "viewer")
    body = {"alerts": [alert(1, "web-1")], "groupingBy": [], "owner": "cases", "rule": RULE}
    response = viewer.post(EXECUTE, json={"params": {"subAction": "run", "subActionParams": body}})
    assert response.status_code == 403 and response.get_json()["message"] == 'Unauthorized to execute a ".cases" action'
    assert stored_cases(app) == [] and events(app) == []


def test_a_viewer_may_not_change_it_either(app):
    viewer = Api.with_key(app, "viewer")
    assert viewer.put(f"/api/actions/connector/{SYSTEM_ID}", json={"name": "mine"}).status_code == 403
    assert viewer.delete(f"/api/actions/connector/{SYSTEM_ID}").status_code == 403


def test_it_needs_kbn_xsrf_like_every_change(app):
    api = Api.with_key(app, xsrf=False)
    assert api.post(EXECUTE, json={"params": {"subAction": "run", "subActionParams": {}}}).status_code == 400


def test_it_is_never_listed_fetched_or_created_as_a_connector(app, api, web):
    run(api, [alert(1, "web-1")])
    assert SYSTEM_ID not in {c["id"] for c in api.get("/api/actions/connectors").get_json()}
    assert ".cases" not in {t["id"] for t in api.get("/api/actions/connector_types").get_json()}
    assert api.get(f"/api/actions/connector/{SYSTEM_ID}").status_code == 404
    created = api.post("/api/actions/connector", json={"name": "c", "connector_type_id": ".cases"})
    assert created.status_code == 400
    assert created.get_json()["message"] == "System action creation is forbidden. Action type: .cases."
    taken = api.post(f"/api/actions/connector/{SYSTEM_ID}", json={"name": "c", "connector_type_id": ".server-log"})
    assert taken.status_code == 400 and "already exists in a system action" in taken.get_json()["message"]
    assert 'href="/connectors/new/.cases"' not in web.get("/connectors/new").get_data(as_text=True)
    updated = api.put(f"/api/actions/connector/{SYSTEM_ID}", json={"name": "mine"})
    assert updated.status_code == 400 and updated.get_json()["message"] == f"System action {SYSTEM_ID} can not be updated."
    deleted = api.delete(f"/api/actions/connector/{SYSTEM_ID}")
    assert deleted.status_code == 400 and deleted.get_json()["message"] == f"System action {SYSTEM_ID} can not be deleted."
    assert web.get("/connectors/new/.cases").status_code == 404
    assert SYSTEM_ID not in web.get("/connectors").get_data(as_text=True)


def test_its_cases_and_alerts_show_on_the_cases_page(app, api, viewer):
    run(api, [alert(1, "web-1"), alert(2, "web-1")])
    [case] = stored_cases(app)
    listed = viewer.get("/cases").get_data(as_text=True)
    assert "High CPU - Grouping by web-1 (Auto-created)" in listed and "from rule High CPU" in listed
    page = viewer.get(f"/cases/{case.id}").get_data(as_text=True)
    assert "alert-1" in page and "alert-2" in page and "auto-generated" in page


def test_a_counter_moved_by_another_run_is_a_conflict_not_a_second_new_case(app, api):
    from app.services.cases import SystemCaseStore
    from app.types.cases import Conflict

    run(api, [alert(1, "web-1")])
    with app.app_context():
        store = SystemCaseStore("admin")
        [row] = db.session.scalars(db.select(CaseOracleRecord))
        seen = store.oracle_record(row.id)
        store.bump_counter(seen)  # the other run got there first
        with pytest.raises(Conflict):
            store.bump_counter(seen)
        db.session.commit()
        assert db.session.get(CaseOracleRecord, row.id).counter == 2
