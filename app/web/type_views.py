"""Per-type pages (DESIGN, "The shape of a type"): a type package that needs interaction the generic
form cannot give ships a `views.py` beside its pure module, with a Blueprint named `bp` and templates
in a `templates/` folder next to it. Each is found here from the registry and served under
`/types/<type id>/…`; nothing else is edited to add one.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from flask import Blueprint, Flask

from app.types import REGISTRY


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
