"""Request bodies cannot make the service hold more than its limits: the key is checked before the body
is read, a body is refused (413) once it passes the route's limit, and all bodies share one budget.

Before: one 1 GB `POST /v1/memories` from a client without a key grew the service to 3.1 GB of RSS
before it answered 401.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import StartService
from tests.helpers import metric
from tests.hostile.clients import GB, Watch, exchange, read_all, stream_body

KEY = "hostile-test-key-of-32-characters"
SINGLE_LIMIT = 6 * (32768 + 8192) + 65536  # Settings.item_body_limit with the defaults
BATCH_LIMIT = 1000 * (32768 + 8192 + 256) + 65536  # Settings.body_limit with the defaults


@pytest.mark.slow
def test_twenty_concurrent_gigabyte_bodies_leave_memory_flat(start_service: StartService) -> None:
    svc = start_service({"JM_API_KEYS": KEY})
    assert svc.proc is not None
    attacks = {
        "no key": [dict(path="/v1/memories")] * 10 + [dict(path="/v1/memories/batch", declare_length=True)] * 10,
        "with key": [dict(path="/v1/memories", key=KEY)] * 8
        + [dict(path="/v1/memories/batch", key=KEY)] * 6
        + [dict(path="/v1/memories/batch", key=KEY, declare_length=True)] * 6,
    }
    with Watch(svc.url, svc.proc.pid) as watch:
        time.sleep(0.5)
        baseline = max(watch.rss)
        replies = {}
        for name, calls in attacks.items():
            started = time.monotonic()
            with ThreadPoolExecutor(len(calls)) as pool:
                replies[name] = list(pool.map(lambda kw: stream_body(svc.port, **kw), calls))
            print(f"{name}: 20 x 1 GB answered in {time.monotonic() - started:.2f} s")
        time.sleep(0.5)
    growth = max(watch.rss) - baseline
    health = [s for s, _ in watch.health]
    print(f"RSS baseline {baseline / 1e6:.1f} MB, peak {max(watch.rss) / 1e6:.1f} MB (+{growth / 1e6:.1f} MB); "
          f"/healthz {len(health)} answers, slowest {max(t for _, t in watch.health) * 1000:.0f} ms")  # fmt: skip

    assert [r.status for r in replies["no key"]] == [401] * 20
    assert all(r.sent < 64 << 20 for r in replies["no key"]), "nothing read before the key was checked"
    single, chunked, declared = replies["with key"][:8], replies["with key"][8:14], replies["with key"][14:]
    assert [r.status for r in single] == [413] * 8
    assert all(
        r.json()["errors"] == [{"field": "body", "message": f"larger than {SINGLE_LIMIT} bytes"}] for r in single
    )
    assert [r.status for r in declared] == [413] * 6
    assert all(r.sent < 64 << 20 for r in declared), "a declared length over the limit is refused unread"
    # Batch bodies stream until they pass the limit (413), or until the bodies in flight fill the shared budget (503).
    assert all(r.status in (413, 503) for r in chunked), [r.status for r in chunked]
    assert all(r.json()["errors"][0]["field"] == "body" for r in chunked)
    assert all("retry-after" in r.headers for r in chunked if r.status == 503)
    assert all(r.sent < GB // 4 for r in replies["with key"])

    assert growth < 100 << 20, f"RSS grew by {growth / 1e6:.0f} MB"
    assert health and set(health) == {200}, "/healthz answered throughout"
    fine = {"user_id": "u", "content": "still fine"}
    assert (
        httpx.post(f"{svc.url}/v1/memories", json=fine, headers={"Authorization": f"Bearer {KEY}"}).status_code == 201
    )


def test_the_key_is_checked_before_the_body_is_read(start_service: StartService) -> None:
    svc = start_service({"JM_API_KEYS": KEY})
    # A head announcing a body that never comes: answered at once, so nothing waited for the body.
    request = b"POST /v1/memories HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 500\r\n\r\n"
    started = time.monotonic()
    reply = exchange(svc.port, request, timeout_s=5)
    assert reply.status == 401 and reply.headers["www-authenticate"] == "Bearer"
    assert reply.headers["connection"] == "close"
    assert time.monotonic() - started < 2
    assert reply.json()["detail"].startswith("authorization:")
    wrong = request.replace(b"host: x", b"host: x\r\nauthorization: Bearer nope")
    assert exchange(svc.port, wrong, timeout_s=5).status == 401
    with httpx.Client(base_url=svc.url) as c:
        assert c.get("/healthz").status_code == 200 and c.get("/metrics").status_code == 200
        assert c.get("/readyz").status_code == 200
        ok = c.post("/v1/memories", json={"user_id": "u", "content": "x"}, headers={"Authorization": f"bearer {KEY}"})
        assert ok.status_code == 201
        assert "HTTPBearer" in c.get("/openapi.json").text, "the schema still declares the bearer scheme"


def test_body_limits_by_route(start_service: StartService) -> None:
    svc = start_service()
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        # The most escaped valid single add: every content byte a control character, six JSON bytes each.
        biggest = {"user_id": "u", "content": "\x01" * 32768, "metadata": {"k": "m" * 8000}}
        assert c.post("/v1/memories", json=biggest).status_code == 201
        over = c.post("/v1/memories", content=b'{"user_id": "u", "content": "' + b"a" * SINGLE_LIMIT + b'"}')
        assert over.status_code == 413
        assert over.json() == {
            "detail": f"body: larger than {SINGLE_LIMIT} bytes",
            "errors": [{"field": "body", "message": f"larger than {SINGLE_LIMIT} bytes"}],
        }
        search = c.post("/v1/search", content=b'{"user_id": "u", "query": "' + b"q" * SINGLE_LIMIT + b'"}')
        assert search.status_code == 413
        # A maximal batch (1,000 items of 32 KiB) fits the batch limit.
        items = [{"content": f"{i:05d}" + "b" * 32763} for i in range(1000)]
        assert c.post("/v1/memories/batch", json={"user_id": "big", "items": items}).status_code == 201
    reply = stream_body(svc.port, "/v1/memories/batch", total=BATCH_LIMIT + (4 << 20))
    assert reply.status == 413 and "send fewer items per batch" in reply.json()["detail"]


def test_a_body_that_stops_is_cut(start_service: StartService) -> None:
    svc = start_service({"JM_BODY_TIMEOUT_S": "1"})
    with socket.create_connection(("127.0.0.1", svc.port)) as sock:
        sock.sendall(b"POST /v1/memories HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{")
        started = time.monotonic()
        raw = read_all(sock)
    waited = time.monotonic() - started
    assert raw.startswith(b"HTTP/1.1 408 "), raw[:200]
    assert b'"field":"body"' in raw and 0.8 < waited < 3
    recorded = "http_server_request_duration_seconds_count"
    assert metric(svc.url, recorded, http_response_status_class="4xx") == 1  # route "unmatched": refused before routing
    assert metric(svc.url, recorded, http_response_status_class="5xx") == 0, "a client's fault is not a 5xx"
