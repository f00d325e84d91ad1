"""Settings from the environment and the TOML file; a bad file is a clear start-up error."""

from __future__ import annotations

import pytest

from app import create_app
from app.settings import ConfigError, load_file_config


def test_toml_file_sets_outbound_policy(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("placeholder")
    path = tmp_path / "switchboard.toml"
    path.write_text(
        f"""
[outbound]
allowed_hosts = ["hooks.example.com", "bedrock-runtime.us-east-1.amazonaws.com"]
read_timeout = 30
max_response_bytes = 2_000_000
[outbound.tls]
verification_mode = "certificate"
ca_files = ["{ca}"]
[outbound.proxy]
url = "http://proxy.internal:3128"
bypass_hosts = ["hooks.example.com"]
"""
    )
    config = load_file_config(path).outbound
    assert config.allowed_hosts == ("hooks.example.com", "bedrock-runtime.us-east-1.amazonaws.com")
    assert config.read_timeout == 30 and config.connect_timeout == 60
    assert config.tls.verification_mode == "certificate" and config.proxy.bypass_hosts == ("hooks.example.com",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[outbound\n", "not valid TOML"),
        ('[outbound]\nallowed_host = ["x"]\n', "outbound.allowed_host: Extra inputs are not permitted"),
        ('[outbound.tls]\nverification_mode = "sometimes"\n', "outbound.tls.verification_mode"),
        ('[outbound.tls]\nca_files = ["/nope.pem"]\n', "CA file not found: /nope.pem"),
        ('[[outbound.hosts]]\nurl = "ftp://jira.corp"\n', 'outbound.hosts.0.url: Value error, must be "https://host'),
        ('[[outbound.hosts]]\nurl = "https://jira.corp"\nssl.verify = "full"\n', "outbound.hosts.0.ssl.verify: Extra inputs"),
        ('[[outbound.hosts]]\nurl = "https://jira.corp"\nssl.ca_data = "junk"\n', "outbound.hosts.0.ssl.ca_data: Value error, not PEM"),
        ('[[outbound.hosts]]\nurl = "smtp://mail.corp"\nsmtp = { ignore_tls = true, require_tls = true }\n',
         "outbound.hosts.0.smtp: Value error, ignore_tls and require_tls cannot both be true"),
        ('[[outbound.hosts]]\nurl = "https://jira.corp"\n[[outbound.hosts]]\nurl = "https://JIRA.corp:443"\n',
         "https://jira.corp:443 is listed twice"),
        ('[outbound.proxy]\nverification_mode = "loose"\n', "outbound.proxy.verification_mode"),
        ('[webhook]\npfx = false\n', "webhook.pfx: Extra inputs"),
    ],
)
def test_bad_config_file_names_the_problem(tmp_path, text, message):
    path = tmp_path / "switchboard.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_file_config(path)


def test_environment_chooses_database_and_config(tmp_path, monkeypatch):
    monkeypatch.setenv("SWITCHBOARD_DATABASE_URL", f"sqlite:///{tmp_path}/other.db")
    monkeypatch.setenv("SWITCHBOARD_CONFIG", str(tmp_path / "absent.toml"))
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/other.db"
    assert app.config["SWITCHBOARD"].outbound.allowed_hosts == ("*",)
