"""A Kibana export with one connector of every registered type imports, flags the ones that need secrets,
and each of them runs after its Fix (the edit form with the secrets entered). Reads the registry."""

from __future__ import annotations

import json
import socket

from app.services import transfer
from app.types import all_types
from tests.helpers import connectors, events, form_data, pane_data
from tests.type_examples import local_example, slug


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kibana_export(base_url: str) -> bytes:
    """One saved object per type, as Kibana writes them: secrets stripped, `isMissingSecrets: true`."""
    lines = []
    for ctype in all_types():
        config, _ = local_example(ctype, base_url)
        lines.append({
            "attributes": {"actionTypeId": ctype.id, "config": config, "isMissingSecrets": True,
                           "name": f"Imported {ctype.name}", "secrets": {}},
            "coreMigrationVersion": "8.8.0", "created_at": "2024-01-01T00:00:00.000Z",
            "id": f"imported-{slug(ctype).replace('_', '-')}", "managed": False, "references": [],
            "type": "action", "typeMigrationVersion": "8.3.0", "updated_at": "2024-01-01T00:00:00.000Z",
        })
    details = {"excludedObjects": [], "excludedObjectsCount": 0, "exportedCount": len(lines),
               "missingRefCount": 0, "missingReferences": []}
    return "\n".join(json.dumps(line) for line in [*lines, details]).encode()


def test_every_type_imports_from_kibana_and_runs_after_its_fix(app, web):
    base_url = f"http://127.0.0.1:{closed_port()}/"
    with app.app_context():
        result = transfer.import_ndjson(kibana_export(base_url))
    assert result.errors == [] and result.successCount == len(all_types())

    imported = {c.connector_type_id: c for c in connectors(app)}
    listed = web.get("/connectors?missing=1").get_data(as_text=True)
    for ctype in all_types():
        connector = imported[ctype.id]
        assert connector.is_missing_secrets, f"{ctype.id} was not flagged"  # the file says so
        assert f"Imported {ctype.name}" in listed

        # Before the Fix a run is refused, and logged.
        refused = web.post(f"/connectors/{connector.id}/test", data=pane_data(ctype), htmx=True)
        assert "missing secrets" in refused.get_data(as_text=True), ctype.id

        config, secrets = local_example(ctype, base_url)
        fixed = web.post(f"/connectors/{connector.id}/edit", data=form_data(ctype, connector.name, config, secrets))
        assert fixed.status_code == 303, (ctype.id, fixed.get_data(as_text=True)[:1500])

        before = len(events(app))
        ran = web.post(f"/connectors/{connector.id}/test", data=pane_data(ctype), htmx=True)
        page = ran.get_data(as_text=True)
        assert ran.status_code == 200 and "missing secrets" not in page, ctype.id
        event = events(app)[before]
        assert event.connector_id == connector.id
        if not ctype.calls_out:
            assert event.status == "ok", ctype.id
        elif 'class="exchange"' in page:  # it really tried the service: the closed port refused it
            assert "refused" in page, (ctype.id, page[:1500])
        else:  # its test params need a pick first (Tines' webhook): it ran, and said what is missing
            assert event.status == "error" and event.message, ctype.id

    assert not any(c.is_missing_secrets for c in connectors(app))
    assert "Imported" not in web.get("/connectors?missing=1", htmx=True).get_data(as_text=True)
