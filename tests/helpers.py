"""Helpers shared by the tests: creating connectors through the same form users fill in."""

from __future__ import annotations

import re

from app.db import db
from app.models import Connector, Event

ID_RE = re.compile(r"/connectors/([0-9a-f-]{36})$")


def create_via_form(web, type_id: str, fields: dict) -> str:
    """POST the create form like a browser without JS; return the new connector's id."""
    response = web.post(f"/connectors/new/{type_id}", data=fields)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return ID_RE.search(response.headers["Location"]).group(1)


def webhook_fields(url: str, name: str = "hook", **extra) -> dict:
    fields = {"name": name, "config.url": url, "config.method": "post", "config.hasAuth": ["false"]}
    fields.update(extra)
    return fields


def connectors(app) -> list[Connector]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(Connector).order_by(Connector.name)))
        db.session.expunge_all()
        return rows


def events(app) -> list[Event]:
    with app.app_context():
        rows = list(db.session.scalars(db.select(Event).order_by(Event.id)))
        db.session.expunge_all()
        return rows


def assert_secret_kept_out(app, web, secret: str, connector_id: str, *pages: str, log: str = "") -> None:
    """`secret` appears in none of `pages`, the pages that show the connector and its runs, the app's log
    text (`caplog.text`) or the stored event rows."""
    shown = "".join(pages) + "".join(
        web.get(path).get_data(as_text=True)
        for path in ("/events", f"/connectors/{connector_id}", f"/connectors/{connector_id}/edit", "/connectors")
    )
    assert secret not in shown
    assert secret not in log
    for event in events(app):
        assert secret not in repr(vars(event))
