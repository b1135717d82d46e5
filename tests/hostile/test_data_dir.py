"""A data folder one process owns, private to its user: a second `serve` or a `restore` on a live
folder refuses and names the holder; the folder and every file in it (backups too) are 0700/0600."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess, free_port
from tests.conftest import StartService


def jean_memory(*args: str, data_dir: Path, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    """The `jean-memory` command as an operator runs it, its own process."""
    return subprocess.run(
        [sys.executable, "-m", "jean_memory", *args],
        env={**os.environ, "JM_DATA_DIR": str(data_dir), "JM_EMBEDDER": "hash", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def add(url: str, user: str, n: int) -> None:
    items = [{"content": f"memory {i} of {user}"} for i in range(n)]
    httpx.post(f"{url}/v1/memories/batch", json={"user_id": user, "items": items}, timeout=30).raise_for_status()


def test_a_second_serve_refuses_and_names_the_holder(start_service: StartService, tmp_path: Path) -> None:
    first = start_service(data_dir=tmp_path / "data")
    add(first.url, "u", 3)
    port = free_port()
    second = jean_memory("serve", data_dir=tmp_path / "data", timeout=60, JM_PORT=str(port))
    assert second.returncode == 1, second.stderr[-2000:]
    assert first.proc is not None
    message = second.stderr.strip().splitlines()[-1]
    assert "is in use by jean-memory serve" in message, second.stderr[-2000:]
    assert f"pid {first.proc.pid}" in message and f"127.0.0.1:{first.port}" in message, message
    # the first is untouched, and nothing listens on the second's port
    assert len(httpx.get(f"{first.url}/v1/memories", params={"user_id": "u"}).json()["items"]) == 3
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_the_folder_is_free_again_after_a_crash(tmp_path: Path) -> None:
    """The kernel drops a flock with its holder: kill -9 leaves no stale lock to clear by hand."""
    first = ServiceProcess(tmp_path / "data").start()
    add(first.url, "u", 2)
    first.kill()
    again = ServiceProcess(tmp_path / "data").start()
    try:
        assert len(httpx.get(f"{again.url}/v1/memories", params={"user_id": "u"}).json()["items"]) == 2
    finally:
        again.stop()


@pytest.mark.slow
def test_restore_on_a_live_folder_is_refused_even_forced(start_service: StartService, tmp_path: Path) -> None:
    data = tmp_path / "data"
    svc = start_service(data_dir=data)
    add(svc.url, "u", 5)
    done = jean_memory("backup", str(tmp_path / "backup"), data_dir=data)
    assert done.returncode == 0, done.stderr
    before = (data / "journal.db").stat().st_mtime_ns, (data / "ltm.db").stat().st_ino
    refused = jean_memory("restore", str(tmp_path / "backup"), "--force", data_dir=data)
    assert refused.returncode == 1, refused.stderr
    assert "is in use by jean-memory serve" in refused.stderr and "stop it first" in refused.stderr, refused.stderr
    assert (data / "ltm.db").stat().st_ino == before[1], "the live store was not replaced"
    assert len(httpx.get(f"{svc.url}/v1/memories", params={"user_id": "u"}).json()["items"]) == 5
    svc.stop()
    assert jean_memory("restore", str(tmp_path / "backup"), "--force", data_dir=data).returncode == 0


@pytest.mark.slow
def test_the_data_folder_and_backups_are_private(start_service: StartService, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)  # as an older version (or a umask of 022) left it
    (data / "notes.txt").write_text("left by an operator")
    (data / "notes.txt").chmod(0o644)
    svc = start_service(data_dir=data)
    add(svc.url, "u", 20)
    files = {p.name: mode(p) for p in data.rglob("*") if p.is_file()}
    assert {"journal.db", "journal.db-wal", "ltm.db"} <= set(files), files
    assert mode(data) == 0o700
    assert all(m == 0o600 for m in files.values()), {n: oct(m) for n, m in files.items()}
    assert all(mode(p) == 0o700 for p in data.rglob("*") if p.is_dir())
    backup = tmp_path / "backups" / "one"
    done = jean_memory("backup", str(backup), data_dir=data)
    assert done.returncode == 0, done.stderr
    assert mode(backup) == 0o700
    assert {p.name: oct(mode(p)) for p in backup.iterdir()} == {
        n: oct(0o600) for n in ("backup.json", "journal.db", "ltm.db")
    }
    svc.stop()
    restored = tmp_path / "restored"
    assert jean_memory("restore", str(backup), data_dir=restored).returncode == 0
    assert mode(restored) == 0o700 and all(mode(p) == 0o600 for p in restored.iterdir() if p.is_file())


def _backup_of_a_small_folder(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    svc = ServiceProcess(data).start()
    try:
        add(svc.url, "u", 3)
        done = jean_memory("backup", str(tmp_path / "backup"), data_dir=data)
        assert done.returncode == 0, done.stderr
    finally:
        svc.stop()
    return tmp_path / "backup"


@pytest.fixture(scope="module")
def good_backup(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _backup_of_a_small_folder(tmp_path_factory.mktemp("backup"))


def _edited(good: Path, tmp_path: Path, edit: object) -> Path:
    """A copy of the backup whose manifest is `edit(manifest)` (or, given a string, that text)."""
    copy = tmp_path / "edited"
    copy.mkdir()
    for p in good.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    manifest = json.loads((good / "backup.json").read_text())
    text = edit if isinstance(edit, str) else json.dumps(edit(manifest))  # type: ignore[operator]
    (copy / "backup.json").write_text(text)
    return copy


def _rename_journal(m: dict, name: str) -> dict:
    m["files"]["journal"]["name"] = name
    return m


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda m: _rename_journal(m, "../outside/victim.db"), "files.journal.name"),
        (lambda m: _rename_journal(m, "/etc/passwd"), "files.journal.name"),
        (lambda m: _rename_journal(m, ".hidden"), "files.journal.name"),
        (lambda m: {k: v for k, v in m.items() if k != "files"}, "files: Field required"),
        (lambda m: {**m, "files": {"journal": {"name": "journal.db"}}}, "files.journal.sha256: Field required"),
        (lambda m: {**m, "files": []}, "files: Input should be a valid dictionary"),
        (lambda m: {**m, "files": {"journal": "journal.db"}}, "files.journal"),
        (lambda m: {**m, "files": {**m["files"], "secrets": m["files"]["journal"]}}, "files.secrets"),
        (lambda m: {**m, "files": {"store": m["files"]["store"]}}, "files: no journal"),
        (lambda m: {**m, "started_at": "yesterday"}, "started_at"),
        (lambda m: [m], "the manifest"),
        ("{not json", "is not a backup made by `jean-memory backup`"),
    ],
)
def test_restore_refuses_a_bad_manifest(good_backup: Path, tmp_path: Path, edit: object, expected: str) -> None:
    (tmp_path / "outside").mkdir()
    victim = tmp_path / "outside" / "victim.db"
    victim.write_bytes((good_backup / "journal.db").read_bytes())
    data = tmp_path / "data"
    refused = jean_memory("restore", str(_edited(good_backup, tmp_path, edit)), data_dir=data)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Traceback" not in refused.stderr, refused.stderr
    assert refused.stderr.startswith("jean-memory restore: ") and expected in refused.stderr, refused.stderr
    assert not (data / "journal.db").exists()
