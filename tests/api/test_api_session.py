"""Web sessions: signed HttpOnly cookie rotated at sign-in, CSRF on unsafe methods, throttled failures."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api

pytestmark = pytest.mark.anyio

REPAIR = {
    "type": "equipment_repair",
    "title": "Press 3 stops",
    "fields": {"device_no": "PR-0003", "device_type": "press", "area": "workshop_a"},
}


async def sign_in(api: Api, password: str = "worker-pass-1") -> dict[str, Any]:
    api.client.cookies.clear()
    r = await api.client.post("/api/v1/session", json={"username": "wang.worker", "password": password})
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    body: dict[str, Any] = r.json()
    return body


async def test_session_cookie_with_csrf(api: Api) -> None:
    me = await sign_in(api)
    assert me["username"] == "wang.worker" and me["roles"] == ["worker"] and me["csrf_token"]
    first_cookie = api.client.cookies.get("gongdan_session")
    assert (await api.client.get("/api/v1/session")).json()["username"] == "wang.worker"
    # an unsafe request without the session's CSRF token is refused and writes nothing
    r = await api.client.post("/api/v1/tickets", json=REPAIR)
    assert r.status_code == 403 and "CSRF" in r.json()["detail"]
    r = await api.client.post("/api/v1/tickets", json=REPAIR, headers={"X-CSRF-Token": "wrong"})
    assert r.status_code == 403
    r = await api.client.post("/api/v1/tickets", json=REPAIR, headers={"X-CSRF-Token": me["csrf_token"]})
    assert r.status_code == 201
    listed = (await api.client.get("/api/v1/tickets")).json()["items"]
    assert [t["id"] for t in listed] == [r.json()["id"]]
    # signing in again rotates the session and its CSRF token
    again = await sign_in(api)
    assert again["csrf_token"] != me["csrf_token"]
    assert api.client.cookies.get("gongdan_session") != first_cookie
    # sign out clears the cookie
    r = await api.client.delete("/api/v1/session", headers={"X-CSRF-Token": again["csrf_token"]})
    assert r.status_code == 200 and "Max-Age=0" in r.headers["set-cookie"]
    api.client.cookies.clear()
    assert (await api.client.get("/api/v1/tickets")).status_code == 401


async def test_forged_cookie_is_ignored(api: Api) -> None:
    await sign_in(api)
    value = api.client.cookies.get("gongdan_session")
    assert value
    payload, sig = value.rsplit(".", 1)
    api.client.cookies.clear()
    api.client.cookies.set("gongdan_session", payload + "." + sig[::-1])
    assert (await api.client.get("/api/v1/session")).status_code == 401


async def test_repeated_failures_are_throttled(api: Api) -> None:
    for _ in range(5):
        r = await api.client.post("/api/v1/session", json={"username": "wang.worker", "password": "nope-nope"})
        assert r.status_code == 401 and r.json()["title"]
    r = await api.client.post("/api/v1/session", json={"username": "wang.worker", "password": "worker-pass-1"})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
