"""A script's view of the REST API: an `Authorization` header, `kbn-xsrf`, JSON in and out.

Every response body is kept in `seen`, so a test can check that a secret never came back.
"""

from __future__ import annotations

import base64

from app.services import accounts

WEBHOOK = ".webhook"
BEARER = "webhook-authentication-bearer"


def new_api_key(app, role: str = "admin", name: str | None = None) -> str:
    """The value to send after `Authorization: ApiKey ` for a fresh key (made without the page: cheap)."""
    with app.app_context():
        return accounts.create_api_key(name or f"{role} script", role, None).encoded


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Api:
    def __init__(self, client, authorization: str | None, *, xsrf: bool = True):
        self.client = client
        self.headers = {}
        if authorization is not None:
            self.headers["Authorization"] = authorization
        if xsrf:
            self.headers["kbn-xsrf"] = "true"
        self.seen: list[str] = []

    @classmethod
    def with_key(cls, app, role: str = "admin", **kw) -> Api:
        return cls(app.test_client(), "ApiKey " + new_api_key(app, role), **kw)

    def call(self, method: str, path: str, **kw):
        headers = {**self.headers, **kw.pop("headers", {})}
        response = self.client.open(path, method=method, headers=headers, **kw)
        self.seen.append(response.get_data(as_text=True))
        return response

    def get(self, path: str, **kw):
        return self.call("GET", path, **kw)

    def post(self, path: str, json=None, **kw):
        return self.call("POST", path, json=json, **kw)

    def put(self, path: str, json=None, **kw):
        return self.call("PUT", path, json=json, **kw)

    def delete(self, path: str, **kw):
        return self.call("DELETE", path, **kw)

    # ---- shortcuts for the connector routes --------------------------------------------------

    def create(self, body: dict, connector_id: str | None = None):
        path = "/api/actions/connector" + (f"/{connector_id}" if connector_id else "")
        return self.post(path, json=body)

    def created(self, body: dict, connector_id: str | None = None) -> dict:
        response = self.create(body, connector_id)
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def execute(self, connector_id: str, params: dict, prefix: str = ""):
        return self.post(f"{prefix}/api/actions/connector/{connector_id}/_execute", json={"params": params})


def webhook(url: str, name: str = "hook", **config) -> dict:
    """A create body for a webhook without authentication."""
    return {"name": name, "connector_type_id": WEBHOOK, "config": {"url": url, "hasAuth": False, **config}}


def bearer_webhook(url: str, token: str, name: str = "bearer hook", **secrets) -> dict:
    return {
        "name": name,
        "connector_type_id": WEBHOOK,
        "config": {"url": url, "hasAuth": True, "authType": BEARER},
        "secrets": {"token": token, **secrets},
    }


def boom(response) -> dict:
    """Kibana's error body, checked for shape: {statusCode, error, message}."""
    body = response.get_json()
    assert set(body) == {"statusCode", "error", "message"}, body
    assert body["statusCode"] == response.status_code
    return body
