"""The PostgreSQL password comes from a file (JM_LTM_PASSWORD_FILE), so JM_LTM_URL carries none (issue 21).

A real PostgreSQL that asks for a password (scram-sha-256 over TCP), a cluster replica and an embedded
service with a PostgreSQL store, each given the password only in a file; neither writes it to its log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from jean_memory_dev.processes import PostgresServer, ServiceProcess, pg_bin
from tests.cluster.conftest import StartReplica

PASSWORD = "pg-Secret/with:odd@chars%20"


def require_password(postgres: PostgresServer, password: str) -> None:
    """Set `password` over the Unix socket (still trusted) and make TCP connections need it."""
    sql = "ALTER USER postgres PASSWORD '" + password.replace("'", "''") + "'"
    socket = ["psql", "-h", str(postgres.folder), "-p", str(postgres.port), "-U", "postgres", "-At", "-c", sql]
    subprocess.run(socket, check=True, capture_output=True, text=True)
    hba = postgres.data / "pg_hba.conf"
    lines = [
        line.replace("trust", "scram-sha-256") if line.startswith("host") else line
        for line in hba.read_text().splitlines()
    ]
    hba.write_text("\n".join(lines) + "\n")
    postgres._run(pg_bin("pg_ctl"), "-D", str(postgres.data), "reload")


def test_the_store_password_comes_from_a_file(
    postgres: PostgresServer, start_replica: StartReplica, tmp_path: Path
) -> None:
    require_password(postgres, PASSWORD)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    without = subprocess.run(["psql", postgres.url, "-At", "-c", "SELECT 1"], capture_output=True, text=True, env=env)
    assert without.returncode != 0, "the server must ask for the password, or this test proves nothing"
    secret = tmp_path / "pg-password"
    secret.write_text(PASSWORD + "\n")
    secret.chmod(0o600)
    assert ":" not in postgres.url.split("//", 1)[1].split("@", 1)[0], "the URL itself carries no password"

    replica = start_replica("a", env={"JM_LTM_PASSWORD_FILE": str(secret)})
    store = {"JM_LTM_URL": postgres.url, "JM_LTM_PASSWORD_FILE": str(secret)}
    embedded = ServiceProcess(tmp_path / "embedded", env=store)  # embedded mode, PostgreSQL as its store
    try:
        embedded.start()
        for svc in (replica, embedded):
            body = {"user_id": "pw", "content": "stored with a file's password"}
            r = httpx.post(f"{svc.url}/v1/memories", json=body)
            assert r.status_code == 201, r.text
            got = httpx.get(f"{svc.url}/v1/memories/{r.json()['id']}", params={"user_id": "pw"})
            assert got.status_code == 200, got.text
    finally:
        embedded.stop()
    replica.stop()
    for svc in (replica, embedded):
        assert PASSWORD not in svc.logs() and "pg-Secret" not in svc.logs()
