"""Per-type pages (DESIGN, "The shape of a type"): a type package that needs interaction the generic
form cannot give ships a `views.py` beside its pure module, with a Blueprint named `bp` and templates
in a `templates/` folder next to it. Each is found here from the registry and served under
`/types/<type id>/…`; nothing else is edited to add one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from flask import Blueprint, Flask, render_template, request

from app.services import connectors as store
from app.services import executions
from app.types import REGISTRY
from app.types.kit import ConnectorType
from app.web.auth import principal
from app.web.connectors import form_target


def views_module(type_module: str) -> str | None:
    """`app.types.bedrock.views` for a type declared in the package `app.types.bedrock`, if it exists."""
    package = sys.modules[type_module]
    if not hasattr(package, "__path__"):
        return None  # a single-module type has no views
    name = f"{type_module}.views"
    return name if importlib.util.find_spec(name) is not None else None


def register(app: Flask) -> None:
    for ctype in REGISTRY.values():
        name = views_module(type(ctype).__module__)
        if name is None:
            continue
        bp = getattr(importlib.import_module(name), "bp", None)
        if not isinstance(bp, Blueprint):
            raise TypeError(f"{name} must define a Blueprint named `bp`")
        app.register_blueprint(bp, url_prefix=f"/types/{ctype.id}")


def lookup_from_form(ctype: ConnectorType, name: str, params: dict | None = None) -> executions.Run:
    """Run the type's lookup `name` with the connector form's values (an event row records it)."""
    return executions.execute(form_target(ctype), params or {}, source="form", actor=principal().actor, lookup=name)


def picker_target(ctype: ConnectorType, form_marker: str, connector_field: str) -> executions.Target | None:
    """What a type's picker asks about: the connector form's unsaved values when the request carries
    them (`form_marker`, one of its config fields; admins only, as `form_target` checks), else the saved
    connector of this type that `connector_field` names, else None."""
    if form_marker in request.form:
        return form_target(ctype)
    connector = store.get(request.form.get(connector_field, ""))
    if connector is None or connector.connector_type_id != ctype.id:
        return None
    return executions.target_for(connector)


def choices(field_id: str, run: executions.Run, pairs: list[tuple[str, str]], noun: str) -> str:
    """A `suggest` widget's answer: the choices, or the run's error in words a person reads."""
    result = run.result
    if not result.is_ok:
        message = " ".join(filter(None, [result.message, result.service_message]))
        return render_template("widgets/_choices.html", field_id=field_id, choices=[], message=message, error=True)
    message = f"{len(pairs)} {noun}{'s' if len(pairs) != 1 else ''} listed; type to filter."
    return render_template("widgets/_choices.html", field_id=field_id, choices=pairs, message=message, error=False)
