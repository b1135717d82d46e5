"""With JM_API_KEYS set, every /v1 call needs a valid bearer key; health stays open.

Real service processes: a 401 names the field `authorization`; two `Authorization` headers are refused
(which one counts differs between proxies and frameworks); keys under 32 characters stop the start with
a message naming where the key is, never the key; a keys file others may read is warned about; a
non-ASCII admin token is a 401, not a 500.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from jean_memory_dev.processes import free_port
from tests.conftest import StartService

KEY_ONE = "key-one-0123456789abcdef0123456789"
KEY_TWO = "key-two-0123456789abcdef0123456789"
ADMIN = "admin-token-0123456789"


def refused(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == "Bearer"
    assert [e["field"] for e in r.json()["errors"]] == ["authorization"], r.text


def test_api_keys_enforced(start_service: StartService) -> None:
    svc = start_service({"JM_API_KEYS": f"{KEY_ONE}, {KEY_TWO}"})
    with httpx.Client(base_url=svc.url) as c:
        body = {"user_id": "u", "content": "hello"}
        r = c.post("/v1/memories", json=body)
        refused(r)
        assert r.json()["detail"].startswith("authorization: ")
        refused(c.post("/v1/memories", json=body, headers={"Authorization": "Bearer wrong"}))
        refused(c.post("/v1/memories", json=body, headers={"Authorization": "Basic a2V5LW9uZQ=="}))
        refused(c.post("/v1/memories", json=body, headers={"Authorization": "Bearer k\u00e9y".encode("latin-1")}))
        for key in (KEY_ONE, KEY_TWO):
            r = c.post("/v1/memories", json=body, headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 201
        refused(c.get("/v1/memories", params={"user_id": "u"}))
        refused(c.post("/v1/search", json={"user_id": "u", "query": "x"}))
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").status_code == 200


def test_two_authorization_headers_are_refused(start_service: StartService) -> None:
    """The guard would read the last, HTTPBearer (the admin routes, the docs) the first: neither is trusted."""
    svc = start_service({"JM_API_KEYS": KEY_ONE, "JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": ADMIN})
    body = {"user_id": "u", "content": "hello"}
    for pair in ((KEY_ONE, "wrong"), ("wrong", KEY_ONE), (KEY_ONE, KEY_ONE)):
        headers = [("Authorization", f"Bearer {k}") for k in pair]
        r = httpx.post(f"{svc.url}/v1/memories", json=body, headers=headers)
        refused(r)
        assert "one 'Authorization' header" in r.json()["detail"], r.text
    for pair in ((ADMIN, "wrong"), ("wrong", ADMIN)):
        refused(httpx.get(f"{svc.url}/admin/faults", headers=[("Authorization", f"Bearer {k}") for k in pair]))
    ok = httpx.post(f"{svc.url}/v1/memories", json=body, headers={"Authorization": f"Bearer {KEY_ONE}"})
    assert ok.status_code == 201
    assert httpx.get(f"{svc.url}/admin/faults", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200


def serve_once(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m jean_memory serve` with `env` (over a clean JM_* environment), expected to stop at once."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JM_")}
    full = {**clean, "JM_EMBEDDER": "hash", "JM_DATA_DIR": str(tmp_path / "data"), "JM_PORT": str(free_port()), **env}
    return subprocess.run(
        [sys.executable, "-m", "jean_memory", "serve"], env=full, capture_output=True, text=True, timeout=60
    )


def test_a_short_key_stops_the_start_naming_where_it_is_not_what_it_is(tmp_path: Path) -> None:
    short = "short-key-31-characters-long-xx"
    assert len(short) == 31
    result = serve_once({"JM_API_KEYS": f"{KEY_ONE},{short}:acme"}, tmp_path)
    assert result.returncode != 0
    assert "JM_API_KEYS entry 2: an API key is shorter than 32 characters" in result.stderr, result.stderr
    assert short not in result.stdout + result.stderr and KEY_ONE not in result.stdout + result.stderr
    keys = tmp_path / "keys"
    keys.write_text(f"# ours\n{KEY_ONE}:acme\n\n{short}\n")
    keys.chmod(0o600)
    result = serve_once({"JM_API_KEYS_FILE": str(keys)}, tmp_path)
    assert result.returncode != 0
    assert "JM_API_KEYS_FILE line 4: an API key is shorter than 32 characters" in result.stderr, result.stderr
    assert short not in result.stdout + result.stderr and KEY_ONE not in result.stdout + result.stderr


def test_a_keys_file_others_may_read_is_warned_about(start_service: StartService, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{KEY_ONE}:acme\n")
    keys.chmod(0o644)
    warned = start_service({"JM_API_KEYS_FILE": str(keys)})
    warned.stop()
    assert f"JM_API_KEYS_FILE {keys} may be read by other users (mode 0644)" in warned.logs()
    keys.chmod(0o600)
    private = start_service({"JM_API_KEYS_FILE": str(keys)})
    r = httpx.post(
        f"{private.url}/v1/memories",
        json={"user_id": "u", "content": "x"},
        headers={"Authorization": f"Bearer {KEY_ONE}"},
    )
    assert r.status_code == 201
    private.stop()
    assert "JM_API_KEYS_FILE" not in private.logs()


def test_the_admin_token_is_compared_as_bytes(start_service: StartService) -> None:
    svc = start_service({"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": ADMIN})
    for value in ("Bearer \u00e9t\u00e9".encode("latin-1"), b"Bearer \xff\xfe", b"Bearer wrong"):
        refused(httpx.get(f"{svc.url}/admin/faults", headers={"Authorization": value}))
    refused(httpx.get(f"{svc.url}/admin/faults"))
    assert httpx.get(f"{svc.url}/admin/faults", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
