"""The OpenAPI schema and the pages over it, from a real service: per-route error codes, a description
for every operation, the README's examples on request bodies (each accepted as sent), the bearer scheme;
`/docs` and `/redoc` with their assets served here (no CDN), or gone with `JM_DOCS=false`; `Allow` on
every 405, errors naming `method` and `url`, and no raw regex in a message."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.conftest import StartService

KEY = "k" * 32
ID = "00000000-0000-4000-8000-000000000000"

#: The statuses each operation documents, beyond its successes.
EXPECTED_ERRORS = {
    ("post", "/v1/memories"): {400, 401, 408, 409, 413, 422, 429, 503, 507},
    ("post", "/v1/memories/batch"): {400, 401, 408, 409, 413, 422, 429, 503, 507},
    ("patch", "/v1/memories/{id}"): {400, 401, 404, 408, 413, 422, 429, 503, 507},
    ("delete", "/v1/memories/{id}"): {401, 404, 422, 429, 503, 507},
    ("delete", "/v1/memories"): {401, 414, 422, 429, 503, 507},
    ("get", "/v1/memories/{id}"): {401, 404, 422, 429, 503},
    ("get", "/v1/memories/{id}/history"): {401, 404, 422, 429, 503},
    ("get", "/v1/memories"): {401, 414, 422, 429, 503},
    ("get", "/v1/memories/export"): {401, 414, 422, 429, 503},
    ("post", "/v1/search"): {400, 401, 408, 413, 422, 429, 503},
}

#: Every path that answers 405 to some method, with the methods it serves.
ALLOW = {
    "/v1/memories": "GET, POST, DELETE",
    "/v1/memories/batch": "POST",
    "/v1/memories/export": "GET",
    f"/v1/memories/{ID}": "GET, PATCH, DELETE",
    f"/v1/memories/{ID}/history": "GET",
    "/v1/search": "POST",
    "/healthz": "GET",
    "/readyz": "GET",
    "/metrics": "GET",
    "/metrics/dashboard": "GET",
    "/openapi.json": "GET, HEAD",
    "/docs": "GET",
    "/docs/assets/swagger-ui.css": "GET, HEAD",
}


def schema(url: str) -> dict[str, Any]:
    r = httpx.get(f"{url}/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def operations(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m, p): op for p, ops in doc["paths"].items() for m, op in ops.items()}


def test_each_operation_documents_its_own_errors_and_a_description(start_service: StartService) -> None:
    doc = schema(start_service({"JM_API_KEYS": KEY}).url)
    ops = operations(doc)
    for key, expected in EXPECTED_ERRORS.items():
        statuses = {int(s) for s in ops[key]["responses"] if int(s) >= 400}
        assert statuses == expected, (key, sorted(statuses))
        error = ops[key]["responses"][str(min(expected))]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorOut"}
    for key, op in ops.items():
        assert op.get("description", "").strip(), f"{key} has no description"
    assert doc["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http", "scheme": "bearer", "description": "Needed when JM_API_KEYS is set.",
    }  # fmt: skip
    assert all(op.get("security") == [{"HTTPBearer": []}] for (_, path), op in ops.items() if path.startswith("/v1"))


def test_the_request_bodies_carry_the_readmes_examples_and_each_is_accepted(start_service: StartService) -> None:
    svc = start_service()
    ops = operations(schema(svc.url))
    sent = 0
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        for method, path in [("post", "/v1/memories/batch"), ("post", "/v1/memories"), ("patch", "/v1/memories/{id}"),
                             ("post", "/v1/search")]:  # fmt: skip
            examples = ops[(method, path)]["requestBody"]["content"]["application/json"]["examples"]
            assert examples, (method, path)
            for example in examples.values():
                assert example["summary"]
                url = path.replace("{id}", "3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11")
                params = {"user_id": "alice"} if "{id}" in path else None
                r = c.request(method.upper(), url, json=example["value"], params=params)
                assert r.status_code in (200, 201), (path, r.text)
                sent += 1
        hits = c.post("/v1/search", json={"user_id": "alice", "query": "peanuts"}).json()["results"]
    assert sent == 5 and any("peanuts" in h["content"] for h in hits)


def test_docs_are_served_offline_from_here(start_service: StartService) -> None:
    svc = start_service()
    with httpx.Client(base_url=svc.url, timeout=30) as c:
        for page, title in (("/docs", "swagger"), ("/redoc", "redoc")):
            r = c.get(page)
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), page
            assert title in r.text.lower()
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", r.text) + re.findall(r"url: '([^']+)'", r.text)
            assert urls, r.text
            for asset in urls:
                assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
                got = c.get(asset)
                assert got.status_code == 200 and len(got.content) > 0, asset
            assert "http://" not in r.text and "https://" not in r.text, r.text
        bundle = c.get("/docs/assets/swagger-ui-bundle.js")
        assert bundle.headers["content-type"].startswith(("application/javascript", "text/javascript"))
        assert len(bundle.content) > 500_000  # the whole of Swagger UI, not a stub


def test_docs_can_be_turned_off(start_service: StartService) -> None:
    svc = start_service({"JM_DOCS": "false"})
    for page in ("/docs", "/redoc", "/docs/assets/swagger-ui-bundle.js"):
        r = httpx.get(svc.url + page)
        assert r.status_code == 404 and r.json()["errors"] == [{"field": "url", "message": "no route serves this path"}]
    assert httpx.get(svc.url + "/openapi.json").status_code == 200


@pytest.mark.parametrize("path", sorted(ALLOW))
def test_every_405_names_the_methods_allowed(client: httpx.Client, path: str) -> None:
    allowed = ALLOW[path].split(", ")
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method in allowed:
            continue
        r = client.request(method, path, params={"user_id": "u"})
        assert r.status_code == 405, (method, path, r.status_code, r.text)
        assert r.headers["allow"] == ALLOW[path], (method, path)
        assert r.json()["errors"][0]["field"] == "method", r.text
        assert f"allowed: {ALLOW[path]}" in r.json()["detail"]


def test_messages_say_in_words_what_a_pattern_wants(client: httpx.Client) -> None:
    for r in (
        client.post("/v1/memories", json={"user_id": "a\x01b", "content": "x"}),
        client.post("/v1/search", json={"user_id": "   ", "query": "x"}),
        client.get("/v1/memories", params={"user_id": "\t"}),
        client.get("/v1/memories", params={"user_id": "u", "cursor": "not-a-cursor"}),
    ):
        assert r.status_code == 422, r.text
        detail = r.json()["detail"]
        assert "pattern" not in detail and "^" not in detail and "\\x" not in detail and "[" not in detail, detail
    assert "printable text" in client.post("/v1/search", json={"user_id": "   ", "query": "x"}).json()["detail"]
    assert "next_cursor" in client.get("/v1/memories", params={"user_id": "u", "cursor": "zz"}).json()["detail"]


def test_body_parse_errors_name_the_body(client: httpx.Client) -> None:
    json_type, text_type = {"content-type": "application/json"}, {"content-type": "text/plain"}
    for path in ("/v1/memories", "/v1/memories/batch", "/v1/search"):
        for content, headers in ((b"{not json", json_type), (b"[1]", json_type), (b"{}", text_type)):
            r = client.post(path, content=content, headers=headers)
            assert r.status_code in (400, 422), r.text
            assert [e["field"] for e in r.json()["errors"]] == ["body"], (path, content, r.text)
