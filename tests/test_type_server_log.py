"""Server log writes the message to the application log at the chosen level."""

from __future__ import annotations

import logging

from tests.helpers import create_via_form, events


def test_message_is_logged_at_the_level_without_control_characters(app, web, caplog):
    cid = create_via_form(web, ".server-log", {"name": "audit"})
    caplog.set_level(logging.DEBUG, logger="switchboard.server_log")
    response = web.post(
        f"/connectors/{cid}/test",
        data={"params.__present": "1", "params.message": "deploy done\nFAKE LINE", "params.level": "warn"},
        htmx=True,
    )
    assert 'data-status="ok"' in response.get_data(as_text=True)
    (record,) = [r for r in caplog.records if r.name == "switchboard.server_log"]
    assert record.levelno == logging.WARNING
    assert record.getMessage() == "Server log: deploy doneFAKE LINE"
    assert events(app)[-1].status == "ok"


def test_empty_message_is_a_params_error_naming_the_field(web):
    cid = create_via_form(web, ".server-log", {"name": "audit"})
    response = web.post(f"/connectors/{cid}/test", data={"params.__present": "1", "params.message": ""}, htmx=True)
    page = response.get_data(as_text=True)
    assert "error validating action params: [message]: Field required" in page
