"""Issue #7, accounts: where sign-in may send you, the sign-in throttle under attack, and sign-out."""

from __future__ import annotations

import pytest

from tests.conftest import FORM_CSRF_RE, PASSWORDS


def form_token(client) -> str:
    return FORM_CSRF_RE.search(client.get("/sign-in").get_data(as_text=True)).group(1)


def post_sign_in(client, username: str, password: str, token: str, address: str = "127.0.0.1", query: str = ""):
    return client.post("/sign-in" + query, data={"csrf_token": token, "username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


# ---- item 3: the page after sign-in is on this site, always ---------------------------------------

OFF_SITE = [
    "/%09/evil.example",  # a tab: browsers drop it, leaving //evil.example
    "/%0a/evil.example",  # a newline (was a 500)
    "/%0d%0a/evil.example",
    "%0a//evil.example",
    "/%5cevil.example",  # a backslash: browsers read /\ as //
    "/%5c%5cevil.example",
    "%5c%5cevil.example",
    "/%2f/evil.example",  # an encoded slash, decoded once by the server, once more by someone else
    "/%252f/evil.example",
    "//evil.example",
    "///evil.example",
    "/%20/evil.example",
    "%20//evil.example",
    "https://evil.example/",
    "HTTPS:%2f%2fevil.example",
    "javascript:alert(1)",
    "evil.example",
    "/%00/evil.example",
    "/%e2%80%8b/evil.example",  # a zero-width space
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_never_sends_you_off_site(app, target):
    client = app.test_client()
    response = post_sign_in(client, "viewer", PASSWORDS["viewer"], form_token(client), query=f"?next={target}")
    assert response.status_code == 303, target
    assert response.headers["Location"] == "/connectors", target
    # Signed in already: the same rule.
    again = client.get(f"/sign-in?next={target}")
    assert again.status_code == 302 and again.headers["Location"] == "/connectors", target


@pytest.mark.parametrize("target", ["/events?status=error", "/connectors/abc-1/edit", "/events?q=a%2Fb"])
def test_sign_in_still_returns_to_a_page_on_this_site(app, target):
    client = app.test_client()
    response = post_sign_in(client, "viewer", PASSWORDS["viewer"], form_token(client),
                            query="?next=" + target.replace("%", "%25").replace("?", "%3F").replace("&", "%26"))
    assert response.status_code == 303
    assert response.headers["Location"] == target
