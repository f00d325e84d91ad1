"""Each registered type's own example connector, pointed at a local address: tests that span all types
read the registry through this, so adding a type never edits another test."""

from __future__ import annotations

from typing import Any

from app.types import all_types
from app.types.kit import ConnectorType, url_fields


def slug(ctype: ConnectorType) -> str:
    """`.server-log` -> `server_log`: the name of the type's test module and fake."""
    return ctype.id.strip(".").replace("-", "_")


def local_example(ctype: ConnectorType, base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The type's example config and secrets with every URL field aimed at `base_url`."""
    sections = []
    for model, values in ((ctype.config, ctype.example["config"]), (ctype.secrets, ctype.example["secrets"])):
        values = dict(values)
        for key in url_fields(model):
            if values.get(key):
                values[key] = base_url
        sections.append(values)
    return sections[0], sections[1]


def seeds(base_url: str) -> dict[str, tuple[str, dict[str, Any], dict[str, Any]]]:
    """{"fuzz-<slug>": (type id, config, secrets)} for every registered type."""
    return {f"fuzz-{slug(t).replace('_', '-')}": (t.id, *local_example(t, base_url)) for t in all_types()}
