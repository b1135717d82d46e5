"""Secrets are never printed or logged (issue 21): a start with a bad setting beside a key, and a good start
with every secret set and requests that use them, through real `python -m jean_memory serve` processes
whose whole output is searched for each secret."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jean_memory.config import Settings
from jean_memory_dev.processes import free_port
from tests.conftest import StartService

API_KEY = "TOPSECRETKEY123-api-0123456789abcdef"
FILE_KEY = "TOPSECRETKEY456-file-0123456789abcdef"
ADMIN = "TOPSECRETADMIN-0123456789"
PSEUDONYM = "TOPSECRETPSEUDONYM-0123456789"
LTM_KEY = "TOPSECRETLTMKEY-0123456789"
PASSWORD = "TOPSECRETPASSWORD"
SECRETS = (API_KEY, FILE_KEY, ADMIN, PSEUDONYM, LTM_KEY, PASSWORD, "TOPSECRET")


def start_once(env: dict[str, str], tmp_path: Path) -> str:
    """Everything `serve` prints when it refuses to start (stdout and stderr)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JM_")}
    full = {**clean, "JM_EMBEDDER": "hash", "JM_DATA_DIR": str(tmp_path / "data"), "JM_PORT": str(free_port()), **env}
    result = subprocess.run(
        [sys.executable, "-m", "jean_memory", "serve"], env=full, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0, "the start was expected to fail"
    return result.stdout + result.stderr


@pytest.mark.parametrize(
    "bad",
    [
        {"JM_PORT": "99999"},  # a field's check
        {"JM_LOG_FORMAT": "xml", "JM_MAX_BATCH_ITEMS": "many"},  # two at once, one unparsable
        {"JM_API_KEYS": f"{API_KEY}:not a tenant"},  # the key entry itself is what is wrong
        {"JM_CLUSTER": "true", "JM_LTM_URL": f"mysql://root:{PASSWORD}@db/jm"},  # a check across settings
        {"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": "TOPSECRET"},  # a token too short
    ],
)
def test_a_bad_setting_prints_no_secret(tmp_path: Path, bad: dict[str, str]) -> None:
    env = {"JM_API_KEYS": f"{API_KEY}:acme", "JM_ADMIN_TOKEN": ADMIN, "JM_PSEUDONYM_KEY": PSEUDONYM, **bad}
    out = start_once(env, tmp_path)
    assert "invalid settings (values not shown)" in out, out
    assert "Traceback" not in out, out
    leaked = [s for s in SECRETS if s in out]
    assert not leaked, out


def test_a_good_start_logs_no_secret(start_service: StartService, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"{FILE_KEY}:globex\n")
    keys.chmod(0o600)
    env = {
        "JM_API_KEYS": f"{API_KEY}:acme",
        "JM_API_KEYS_FILE": str(keys),
        "JM_FAULTS_ENABLED": "true",
        "JM_ADMIN_TOKEN": ADMIN,
        "JM_PSEUDONYM_KEY": PSEUDONYM,
        "JM_LTM_API_KEY": LTM_KEY,
        "JM_LOG_LEVEL": "DEBUG",
        "JM_SLOW_OP_MS": "0",  # every operation writes its performance line
    }
    svc = start_service(env)
    with httpx.Client(base_url=svc.url, timeout=10) as c:
        for key in (API_KEY, FILE_KEY):
            auth = {"Authorization": f"Bearer {key}"}
            assert c.post("/v1/memories", json={"user_id": "u", "content": "x"}, headers=auth).status_code == 201
            assert c.post("/v1/search", json={"user_id": "u", "query": "x"}, headers=auth).status_code == 200
        bad = {"Authorization": f"Bearer {API_KEY}x"}
        assert c.post("/v1/memories", json={"user_id": "u", "content": "x"}, headers=bad).status_code == 401
        assert c.get("/admin/faults", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 200
        metrics = c.get("/metrics").text + c.get("/metrics/dashboard").text
    svc.stop()
    logs = svc.logs()
    assert "slow operation" in logs, "the performance log was written (JM_SLOW_OP_MS=0)"
    assert not [s for s in SECRETS if s in logs], logs[-3000:]
    assert not [s for s in SECRETS if s in metrics]


def test_secrets_are_hidden_in_settings_and_their_errors(tmp_path: Path) -> None:
    password = tmp_path / "pg-password"
    password.write_text(f"{PASSWORD}\n")
    settings = Settings(
        api_keys=f"{API_KEY}:acme",
        admin_token=ADMIN,
        pseudonym_key=PSEUDONYM,
        ltm_api_key=LTM_KEY,
        ltm_url="postgresql://jm@127.0.0.1:5432,127.0.0.1:5433/jm?target_session_attrs=read-write",
        ltm_password_file=password,
    )
    shown = repr(settings) + str(settings) + settings.ltm_url_shown
    assert not [s for s in SECRETS if s in shown], shown
    assert (
        settings.ltm_url_shown == "postgresql://jm:***@127.0.0.1:5432,127.0.0.1:5433/jm?target_session_attrs=read-write"
    )
    assert settings.effective_ltm_url == (
        f"postgresql://jm:{PASSWORD}@127.0.0.1:5432,127.0.0.1:5433/jm?target_session_attrs=read-write"
    )
    assert settings.tenant_keys == {API_KEY: "acme"}
    with pytest.raises(ValueError) as caught:
        Settings(api_keys=API_KEY, ltm_url=f"postgresql://jm:{PASSWORD}@h/jm", ltm_password_file=password)
    assert "keep only the file" in str(caught.value) and PASSWORD not in str(caught.value)
    with pytest.raises(ValueError) as caught:
        Settings(api_keys=API_KEY, port=0)
    assert API_KEY not in str(caught.value)
