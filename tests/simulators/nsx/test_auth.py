"""The fake NSX wants basic auth or a session cookie, and an XSRF token on session writes."""

from __future__ import annotations

import httpx

from simulators.nsx import NsxSimulator

API = "/policy/api/v1"


def login(client: httpx.Client, sim: NsxSimulator) -> httpx.Response:
    form = {"j_username": sim.username, "j_password": sim.password}
    return client.post("/api/session/create", data=form)


def test_no_credentials_get_401_and_wrong_ones_403(sim: NsxSimulator) -> None:
    with httpx.Client(base_url=sim.url) as client:
        assert client.get(f"{API}/infra/segments").status_code == 401
        assert client.get(f"{API}/infra/segments", auth=("admin", "no")).status_code == 403


def test_a_session_reads_with_its_cookie_and_writes_only_with_its_xsrf_token(
    sim: NsxSimulator,
) -> None:
    with httpx.Client(base_url=sim.url) as client:
        answer = login(client, sim)
        assert answer.status_code == 200
        token = answer.headers["X-XSRF-TOKEN"]
        assert "JSESSIONID" in client.cookies
        assert client.get(f"{API}/infra/segments").status_code == 200
        refused = client.patch(f"{API}/infra/segments/net", json={})
        assert (refused.status_code, refused.json()["error_code"]) == (403, 98)
        wrong = client.patch(f"{API}/infra/segments/net", json={}, headers={"X-XSRF-TOKEN": "x"})
        assert wrong.status_code == 403
        ok = client.patch(f"{API}/infra/segments/net", json={}, headers={"X-XSRF-TOKEN": token})
        assert ok.status_code == 200


def test_an_expired_session_is_refused(sim: NsxSimulator) -> None:
    with httpx.Client(base_url=sim.url) as client:
        login(client, sim)
        sim.expire_sessions()
        assert client.get(f"{API}/infra/segments").status_code == 401


def test_a_session_with_a_wrong_password_is_refused(sim: NsxSimulator) -> None:
    with httpx.Client(base_url=sim.url) as client:
        answer = client.post("/api/session/create", data={"j_username": "admin", "j_password": "x"})
        assert answer.status_code == 403
        assert "JSESSIONID" not in client.cookies
