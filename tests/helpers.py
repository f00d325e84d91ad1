"""Helpers shared by the tests: creating connectors through the same form users fill in."""

from __future__ import annotations

import json
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


def _typed(fields, values: dict, prefix: str) -> dict:
    """Form fields for `values`, as each field's widget posts them."""
    from app.web.widgets import WIDGETS

    data: dict = {}
    for field in fields:
        value, key = values.get(field.key), f"{prefix}.{field.key}"
        if value is None:
            continue
        posted = getattr(WIDGETS.get(field.widget), "posted", None)  # a type's widget that says how it posts
        if posted is not None:
            data.update(posted(field, key, value))
        elif field.widget == "kv":
            data[f"{key}.name"], data[f"{key}.value"] = list(value), list(value.values())
        elif field.widget == "checkbox":
            data[key] = ["false", "true"] if value else ["false"]
        elif field.widget == "json":
            data[key] = json.dumps(value)
        else:
            data[key] = str(value)
    return data


def form_data(ctype, name: str, config: dict, secrets: dict) -> dict:
    """What a person types into a type's create or edit form for these values, as the browser posts it."""
    from app.types.fields import form_fields  # here, not at the top: helpers stay cheap to import

    return {"name": name, **_typed(form_fields(ctype.config), config, "config"),
            **_typed(form_fields(ctype.secrets, secret=True), secrets, "secrets")}


def pane_data(ctype, params: dict | None = None) -> dict:
    """The test pane's fields for `params` (Kibana's shape; the type's test params by default)."""
    from app.types.fields import form_fields

    params = ctype.test_params if params is None else params
    if not ctype.sub_actions:
        return {"params.__present": "1", **_typed(form_fields(ctype.params), params, "params")}
    sub = ctype.sub_actions[params["subAction"]]
    return {"params.__present": "1", "params.subAction": sub.name,
            **_typed(form_fields(sub.params), params.get("subActionParams") or {}, "params.sub")}
