"""Over capacity the service answers 429/503 with Retry-After, and stores nothing it refused."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess, free_port
from tests.helpers import metric


def test_embedding_backlog_full_is_429(tmp_path: Path) -> None:
    svc = ServiceProcess(tmp_path / "data", env={"JM_EMBED_MAX_BACKLOG": "4"}).start()
    try:
        with httpx.Client(base_url=svc.url) as c:
            r = c.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": f"m{i}"} for i in range(5)]})
            assert r.status_code == 429
            assert int(r.headers["retry-after"]) >= 1
            assert "backlog" in r.json()["detail"]
            assert c.get("/v1/memories", params={"user_id": "u"}).json()["items"] == []
            assert c.post("/v1/memories", json={"user_id": "u", "content": "fits"}).status_code == 201
        assert metric(svc.url, "jm_admission_rejected_total", operation="write", reason="embedding_backlog") == 1
    finally:
        svc.stop()


@pytest.mark.slow
def test_unreachable_store_bounds_the_journal_with_503(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {"JM_LTM_URL": dead, "JM_JOURNAL_MAX_PENDING": "10", "JM_LTM_TIMEOUT_S": "0.5"}
    svc = ServiceProcess(tmp_path / "data", env=env).start(wait="/healthz")
    try:
        with httpx.Client(base_url=svc.url) as c:
            for i in range(10):
                assert c.post("/v1/memories", json={"user_id": "u", "content": f"m{i}"}).status_code == 201
            r = c.post("/v1/memories", json={"user_id": "u", "content": "one too many"})
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
            ready = c.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["ltm_reachable"] is False
        assert metric(svc.url, "jm_shuttle_pending") == 10
        assert metric(svc.url, "jm_ltm_up", store="http") == 0
    finally:
        svc.stop()
