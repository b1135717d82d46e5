"""With JM_API_KEYS set, every /v1 call needs a valid bearer key; health stays open."""

from __future__ import annotations

import httpx

from tests.conftest import StartService


def test_api_keys_enforced(start_service: StartService) -> None:
    svc = start_service({"JM_API_KEYS": "key-one, key-two"})
    with httpx.Client(base_url=svc.url) as c:
        body = {"user_id": "u", "content": "hello"}
        r = c.post("/v1/memories", json=body)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert "authorization" in r.json()["detail"].lower()
        assert c.post("/v1/memories", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.post("/v1/memories", json=body, headers={"Authorization": "Basic a2V5LW9uZQ=="}).status_code == 401
        for key in ("key-one", "key-two"):
            r = c.post("/v1/memories", json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 201
        assert c.get("/v1/memories", params={"user_id": "u"}).status_code == 401
        assert c.post("/v1/search", json={"user_id": "u", "query": "x"}).status_code == 401
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200
