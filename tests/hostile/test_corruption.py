"""A damaged journal or store stops the start: the process exits non-zero before it listens, with a
message naming the file and what to do. Never a half-loaded service answering without the damaged data.

The files are real: a service writes them (memories shipped to the store, others still pending in the
journal), then each test damages a copy as a disk or an operator would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess, free_port
from tests.helpers import wait_shipped

pytestmark = pytest.mark.slow

TOKEN = "corruption-admin-token-0123"
PAGE = 4096
BTREE_PAGE_TYPES = {0x02, 0x05, 0x0A, 0x0D}


@pytest.fixture(scope="module")
def golden(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data folder with 2,000 memories in the store and 1,000 more still in the journal."""
    data = tmp_path_factory.mktemp("golden") / "data"
    svc = ServiceProcess(data, env={"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": TOKEN, "JM_SHUTDOWN_DRAIN_S": "0"})
    svc.start()
    try:
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            for b in range(20):
                items = [{"content": f"stored memory {b}-{i} " + "s" * 200} for i in range(100)]
                assert c.post("/v1/memories/batch", json={"user_id": f"u{b}", "items": items}).status_code == 201
            wait_shipped(svc.url)
            c.put("/admin/faults", json={"ltm_unreachable": True}, headers={"Authorization": f"Bearer {TOKEN}"})
            for b in range(10):
                items = [{"content": f"pending memory {b}-{i} " + "p" * 200} for i in range(100)]
                assert c.post("/v1/memories/batch", json={"user_id": f"p{b}", "items": items}).status_code == 201
    finally:
        svc.stop()
    yield data


def truncate_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def garbage_header(path: Path) -> None:
    with path.open("r+b") as f:
        f.write(b"this is not an SQLite file, it was overwritten!!!!" * 2)


def flip_middle_page(path: Path) -> None:
    """Invert the first 64 bytes (the header) of the b-tree page nearest the middle of the file."""
    data = bytearray(path.read_bytes())
    page = len(data) // PAGE // 2
    while data[page * PAGE] not in BTREE_PAGE_TYPES:
        page += 1
    for i in range(page * PAGE, page * PAGE + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


DAMAGE: dict[str, Callable[[Path], None]] = {
    "truncated": truncate_half,
    "garbage-header": garbage_header,
    "flipped-page": flip_middle_page,
}


@pytest.mark.parametrize("name", ["journal.db", "ltm.db"])
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_file_stops_the_start(golden: Path, tmp_path: Path, name: str, damage: str) -> None:
    data = tmp_path / "data"
    shutil.copytree(golden, data)
    target = data / name
    DAMAGE[damage](target)
    port = free_port()
    env = {**os.environ, "JM_EMBEDDER": "hash", "JM_DATA_DIR": str(data), "JM_PORT": str(port), "JM_LOG_FORMAT": "text"}
    run = subprocess.run(
        [sys.executable, "-m", "jean_memory", "serve"], env=env, capture_output=True, text=True, timeout=120
    )
    out = run.stdout + run.stderr
    assert run.returncode != 0, out[-3000:]
    assert f"{target}: " in out, "the message names the damaged file"
    assert "jean-memory restore" in out and f"mv {target} {target}.damaged" in out, "and says what to do"
    assert "Uvicorn running" not in out and "Application startup failed" in out, "nothing was ever served"


def test_the_sound_golden_files_start(golden: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(golden, data)
    svc = ServiceProcess(data).start()
    try:
        with httpx.Client(base_url=svc.url) as c:
            assert len(c.get("/v1/memories", params={"user_id": "u3", "limit": 1000}).json()["items"]) == 100
            assert len(c.get("/v1/memories", params={"user_id": "p3", "limit": 1000}).json()["items"]) == 100
    finally:
        svc.stop()


def _serve(data: Path, **extra: str) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = {**os.environ, "JM_EMBEDDER": "hash", "JM_DATA_DIR": str(data), "JM_PORT": str(port), **extra}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jean_memory", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("damage", ["truncated", "garbage-header"])
def test_a_large_store_still_stops_the_start_when_its_header_or_length_is_wrong(
    golden: Path, tmp_path: Path, damage: str
) -> None:
    """With the page-by-page check deferred (every store counts as large here), what can be seen without
    reading every page still stops the start: a header that is not SQLite, a file shorter than its header."""
    data = tmp_path / "data"
    shutil.copytree(golden, data)
    target = data / "ltm.db"
    DAMAGE[damage](target)
    proc, _ = _serve(data, JM_STARTUP_CHECK_SYNC_BYTES="0", JM_LOG_FORMAT="text")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out[-3000:]
    assert f"{target}: " in out and "Uvicorn running" not in out


def test_a_large_stores_damaged_page_is_found_after_the_start(golden: Path, tmp_path: Path) -> None:
    """A damaged page inside a store checked in the background: the service came up (the journal was checked
    before), then the check finds the page, `/readyz` answers 503 naming the check, and the gauge says which
    file; a sound store passes the same background check and stays ready."""
    for damaged in (False, True):
        data = tmp_path / f"data-{damaged}"
        shutil.copytree(golden, data)
        if damaged:
            flip_middle_page(data / "ltm.db")
        proc, url = _serve(data, JM_STARTUP_CHECK_SYNC_BYTES="0")
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, proc.communicate()[0][-3000:]
                try:
                    metrics = httpx.get(f"{url}/metrics", timeout=5).text
                    ready = httpx.get(f"{url}/readyz", timeout=5)
                except httpx.TransportError:
                    metrics, ready = "", None
                found = 'jm_data_file_damaged{file="store"} 1.0' in metrics
                if ready is not None and (found or (not damaged and ready.status_code == 200)):
                    break
                assert time.monotonic() < deadline, "the background check never reported"
                time.sleep(0.2)
            if damaged:
                assert ready.status_code == 503 and ready.json()["checks"]["files_sound"] is False
            else:
                time.sleep(2)  # the background check of 2,000 memories' store has long finished
                metrics = httpx.get(f"{url}/metrics", timeout=5).text
                assert 'jm_data_file_damaged{file="store"} 0.0' in metrics
                assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        finally:
            proc.terminate()
            proc.communicate(timeout=60)
