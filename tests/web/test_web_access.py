"""Bound beyond loopback, the pages ask for the token; the probes and Slack do not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web_face import Client, start_face

TOKEN = "a-long-enough-test-token-0123456789"


@pytest.fixture(scope="module")
def guarded(filled_database: str) -> Iterator[Client]:
    # Listens on every interface so that it counts as "beyond loopback"; the test only
    # ever connects to 127.0.0.1.
    face = start_face(
        filled_database, INCIDENT_BOT_HTTP_HOST="0.0.0.0", INCIDENT_BOT_WEB_TOKEN=TOKEN
    )
    try:
        yield Client(face.url.replace("0.0.0.0", "127.0.0.1"))
    finally:
        face.stop()


def test_without_the_token_pages_are_refused(guarded: Client) -> None:
    for path in ("/", "/incidents/console/1", "/incidents/console/1/draft?format=md",
                 "/insights", "/insights.csv", "/metrics"):  # fmt: skip
        answer = guarded.get(path)
        assert answer.status == 401, path
        assert "Checkout" not in answer.text
    browser = guarded.get("/incidents/console/1", headers={"Accept": "text/html"})
    assert browser.status == 303
    assert browser.headers["location"] == "/login?next=%2Fincidents%2Fconsole%2F1"


def test_probes_stay_open(guarded: Client) -> None:
    assert guarded.get("/healthz").status == 200
    assert guarded.get("/readyz").status == 200


def test_a_bearer_token_is_accepted_and_a_wrong_one_is_not(guarded: Client) -> None:
    assert guarded.get("/", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200
    assert guarded.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status == 200
    assert guarded.get("/", headers={"Authorization": "Bearer wrong"}).status == 401


def test_the_login_form_sets_a_signed_httponly_cookie(guarded: Client) -> None:
    wrong = guarded.request(
        "POST", "/login", body=b"token=nope&next=%2F",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert wrong.status == 401
    assert "That is not the token" in wrong.text
    assert "set-cookie" not in wrong.headers
    right = guarded.request(
        "POST", "/login", body=f"token={TOKEN}&next=%2Fincidents%2Fconsole%2F1".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert right.status == 303
    assert right.headers["location"] == "/incidents/console/1"
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    assert TOKEN not in cookie
    session = cookie.split(";")[0]
    page = guarded.get("/incidents/console/1", headers={"Cookie": session})
    assert page.status == 200 and "Checkout returns 502" in page.text
    name, value = session.split("=", 1)
    forged = f"{name}=9999999999.{value.split('.')[1][::-1]}"
    assert guarded.get("/", headers={"Cookie": forged}).status == 401


def test_the_login_never_sends_a_reader_off_site(guarded: Client) -> None:
    answer = guarded.request(
        "POST", "/login", body=f"token={TOKEN}&next=https%3A%2F%2Fevil.example%2F".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )  # fmt: skip
    assert answer.headers["location"] == "/"


def test_a_trusted_proxy_header_names_the_reader(filled_database: str) -> None:
    face = start_face(
        filled_database,
        INCIDENT_BOT_HTTP_HOST="0.0.0.0",
        INCIDENT_BOT_WEB_TRUSTED_PROXY_HEADER="X-Forwarded-User",
    )
    client = Client(face.url.replace("0.0.0.0", "127.0.0.1"))
    try:
        assert client.get("/").status == 401
        assert client.get("/", headers={"X-Forwarded-User": "maria"}).status == 200
    finally:
        face.stop()
