"""What a gunicorn worker holds in memory: libraries that few runs need load on first use, and then work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
ON_FIRST_USE = ("alembic", "botocore", "email.policy", "jwt", "markdown_it", "pystache")

# The app as gunicorn's preload builds it (wsgi.py), in a fresh interpreter; then one use of each library.
_SCRIPT = """
import json, sys
import wsgi

loaded = [name for name in {names!r} if name in sys.modules]

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.types.cases_webhook.mustache import render
from app.types.email.message import mime_message
from app.types.kit.tokens import jwt_assertion

pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
message = mime_message(sender="a@example.com", to=["b@example.com"], cc=[], reply_to=None, subject="Hi",
                       text="hello", html="<p>hello</p>")
print(json.dumps({{
    "loaded": loaded,
    "mustache": render("{{{{case.title}}}}", {{"case": {{"title": "Disk full"}}}}),
    "mail_to": message["To"],
    "jwt_parts": len(jwt_assertion(pem, None, key_id="k1", issuer="i", audience="a", subject="s").split(".")),
}}))
"""


def test_a_worker_loads_rarely_used_libraries_on_first_use(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env.update(SWITCHBOARD_INSTANCE_PATH=str(tmp_path), SWITCHBOARD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
               SWITCHBOARD_SECRET_KEY="test-secret")
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(names=ON_FIRST_USE)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["loaded"] == []
    assert result["mustache"] == "Disk full"
    assert result["mail_to"] == "b@example.com"
    assert result["jwt_parts"] == 3
