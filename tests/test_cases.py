"""The Cases pages: create, edit, comment, close and reopen a case; who may; bad input is a 4xx at the field."""

from __future__ import annotations

import re

import pytest

from app.case_models import Case, CaseComment
from app.db import db
from app.services import cases as case_store

CASE_URL = re.compile(r"/cases/([0-9a-f-]{36})$")


def case_rows(app) -> list[Case]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(Case).order_by(Case.created_at)))
        for row in rows:
            _ = (row.comments, row.alerts, row.externals)  # loaded before the session closes
        db.session.expunge_all()
        return rows


def create_case(web, title="Disk full on db-1", **extra) -> str:
    form = {"title": title, "description": "The disk is at 99%.", "severity": "high", "tags": "disk, db"}
    response = web.post("/cases/new", data={**form, **extra})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return CASE_URL.search(response.headers["Location"]).group(1)


def test_admin_creates_a_case_and_sees_it_listed(app, web):
    case_id = create_case(web)
    [case] = case_rows(app)
    assert (case.id, case.title, case.severity, case.status, case.tags) == (case_id, "Disk full on db-1", "high", "open",
                                                                            ["disk", "db"])
    assert case.created_by == "admin" and case.description == "The disk is at 99%."
    listed = web.get("/cases").get_data(as_text=True)
    assert f'data-case-id="{case_id}"' in listed and "Disk full on db-1" in listed
    assert "Disk full on db-1" in web.get(f"/cases/{case_id}").get_data(as_text=True)


def test_the_list_searches_titles_and_filters_by_status(app, web):
    first, second = create_case(web, "Disk full on db-1"), create_case(web, "Login page slow")
    web.post(f"/cases/{second}/status", data={"status": "closed"})
    found = web.get("/cases?q=disk", htmx=True).get_data(as_text=True)
    assert first in found and second not in found
    closed = web.get("/cases?status=closed", htmx=True).get_data(as_text=True)
    assert second in closed and first not in closed


def test_a_case_without_a_title_is_refused_at_the_field_and_nothing_is_stored(app, web):
    response = web.post("/cases/new", data={"title": "  ", "description": "x", "severity": "low", "tags": ""})
    assert response.status_code == 422
    assert "Title is required." in response.get_data(as_text=True)
    assert case_rows(app) == []


@pytest.mark.parametrize(("field", "value", "message"), [
    ("title", "x" * 161, "Title must be at most 160 characters"),
    ("title", "a\x00b", "control characters"),
    ("severity", "urgent", "Choose one of: low, medium, high, critical."),
    ("tags", "ok, " + "t" * 257, "Each tag must be at most 256 characters."),
    ("description", "d" * 30001, "Description must be at most 30000 characters"),
])
def test_bad_case_input_gets_a_message_at_its_field(app, web, field, value, message):
    form = {"title": "A case", "description": "", "severity": "low", "tags": "", field: value}
    response = web.post("/cases/new", data=form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert case_rows(app) == []


def test_editing_a_case_changes_its_fields_and_keeps_its_comments(app, web):
    case_id = create_case(web)
    web.post(f"/cases/{case_id}/comments", data={"comment": "Looking into it."})
    response = web.post(f"/cases/{case_id}/edit", data={"title": "Disk full on db-2", "description": "Now db-2.",
                                                        "severity": "critical", "status": "in-progress", "tags": "disk"})
    assert response.status_code == 303
    [case] = case_rows(app)
    assert (case.title, case.description, case.severity, case.status, case.tags) == (
        "Disk full on db-2", "Now db-2.", "critical", "in-progress", ["disk"])
    assert [c.comment for c in case.comments] == ["Looking into it."]


def test_a_failed_edit_changes_nothing(app, web):
    case_id = create_case(web)
    response = web.post(f"/cases/{case_id}/edit", data={"title": "", "description": "gone", "severity": "low",
                                                        "status": "open", "tags": ""}, htmx=True)
    assert response.status_code == 422 and "Title is required." in response.get_data(as_text=True)
    [case] = case_rows(app)
    assert case.title == "Disk full on db-1" and case.description == "The disk is at 99%."


def test_comments_are_kept_in_order_with_their_author(app, web):
    case_id = create_case(web)
    for text in ("First look.", "Second\nline two."):
        assert web.post(f"/cases/{case_id}/comments", data={"comment": text}).status_code == 303
    [case] = case_rows(app)
    assert [(c.comment, c.created_by) for c in case.comments] == [("First look.", "admin"), ("Second\nline two.", "admin")]
    assert "Second\nline two." in web.get(f"/cases/{case_id}").get_data(as_text=True)


def test_an_empty_comment_is_refused(app, web):
    case_id = create_case(web)
    response = web.post(f"/cases/{case_id}/comments", data={"comment": "   "})
    assert response.status_code == 422 and "Write a comment first." in response.get_data(as_text=True)
    assert case_rows(app)[0].comments == []


def test_closing_and_reopening_a_case(app, web):
    case_id = create_case(web)
    assert web.post(f"/cases/{case_id}/status", data={"status": "closed"}).status_code == 303
    [case] = case_rows(app)
    assert case.status == "closed" and case.closed_at is not None
    web.post(f"/cases/{case_id}/status", data={"status": "open"})
    [case] = case_rows(app)
    assert case.status == "open" and case.closed_at is None


def test_an_unknown_status_is_a_400(app, web):
    case_id = create_case(web)
    assert web.post(f"/cases/{case_id}/status", data={"status": "solved"}).status_code == 400
    assert case_rows(app)[0].status == "open"


def test_an_unknown_case_is_a_404(app, web):
    assert web.get("/cases/no-such-case").status_code == 404
    assert web.get("/cases/" + "x" * 5000).status_code == 404
    assert web.post("/cases/no-such-case/comments", data={"comment": "x"}).status_code == 404


def test_a_viewer_reads_cases_but_cannot_change_or_push_them(app, web, viewer):
    case_id = create_case(web)
    assert viewer.get("/cases").status_code == 200
    page = viewer.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "Disk full on db-1" in page and "push-form" not in page and 'name="comment"' not in page
    refused = [
        viewer.get("/cases/new"),
        viewer.post("/cases/new", data={"title": "Mine", "severity": "low"}),
        viewer.get(f"/cases/{case_id}/edit"),
        viewer.post(f"/cases/{case_id}/edit", data={"title": "Changed", "severity": "low", "status": "open"}),
        viewer.post(f"/cases/{case_id}/comments", data={"comment": "hello"}),
        viewer.post(f"/cases/{case_id}/status", data={"status": "closed"}),
        viewer.get(f"/cases/{case_id}/push?connector_id=x"),
        viewer.post(f"/cases/{case_id}/push", data={"connector_id": "x"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    [case] = case_rows(app)
    assert (case.title, case.status, case.comments) == ("Disk full on db-1", "open", [])


def test_changes_need_the_csrf_token(app, web):
    case_id = create_case(web)
    client = web.client  # signed in, but posting without the page's token
    for url, data in ((f"/cases/{case_id}/comments", {"comment": "x"}), (f"/cases/{case_id}/status", {"status": "closed"}),
                      ("/cases/new", {"title": "t", "severity": "low"})):
        assert client.post(url, data=data).status_code == 400
    [case] = case_rows(app)
    assert case.status == "open" and case.comments == []


def test_signed_out_visitors_are_sent_to_sign_in(app):
    response = app.test_client().get("/cases")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]


def test_the_nav_links_the_cases_page(web):
    page = web.get("/connectors").get_data(as_text=True)
    assert 'href="/cases"' in page


def test_comment_order_survives_the_same_clock_tick(app):
    with app.app_context():
        case = case_store.create(case_store.CaseInput("t", "", "low", []), "admin")
        for n in range(5):
            case_store.add_comment(case, f"c{n}", "admin")
        ids = [c.id for c in db.session.scalars(db.select(CaseComment).order_by(CaseComment.id))]
        assert [c.comment for c in db.session.get(Case, case.id).comments] == [f"c{n}" for n in range(5)]
        assert ids == sorted(ids)
