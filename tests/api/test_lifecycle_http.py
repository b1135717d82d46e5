"""The memory lifecycle against the real service over real HTTP: the scenarios of
`tests/core/test_lifecycle.py` (update and history, forget with a restart, expiry with its sweep,
deduplication, export and import, every operation across tenants, retrieval-quality metrics), each run
here against a service process on its own port and data folder instead of in-process.

The scenarios are imported, so one text states each guarantee; only the client differs. A
`make_client(data_dir, **settings)` here starts `jean-memory serve` with the settings as `JM_*`
variables (stopping the process already serving that folder: a restart) and hands back an httpx
client; `client` (tests/conftest.py) is a shared process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess
from tests.core.test_lifecycle import (
    test_deduplicated_adds_create_nothing_and_name_the_original,
    test_expired_memories_are_never_returned_and_are_swept,
    test_export_streams_ndjson_that_batch_add_imports_with_the_same_ids,
    test_forget_a_user_removes_everything_and_survives_a_restart,
    test_retrieval_quality_is_measured,
    test_tenant_scoped_keys_make_two_users_of_one_user_id,
    test_update_makes_a_new_version_and_search_follows_the_new_text,
    test_update_names_what_is_wrong,
)

__all__ = [
    "test_deduplicated_adds_create_nothing_and_name_the_original",
    "test_expired_memories_are_never_returned_and_are_swept",
    "test_export_streams_ndjson_that_batch_add_imports_with_the_same_ids",
    "test_forget_a_user_removes_everything_and_survives_a_restart",
    "test_retrieval_quality_is_measured",
    "test_tenant_scoped_keys_make_two_users_of_one_user_id",
    "test_update_makes_a_new_version_and_search_follows_the_new_text",
    "test_update_names_what_is_wrong",
]


def env_of(settings: dict[str, Any]) -> dict[str, str]:
    """Settings as the service reads them from its environment (`expiry_sweep_s` -> `JM_EXPIRY_SWEEP_S`)."""
    return {f"JM_{name.upper()}": str(value) for name, value in settings.items()}


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., httpx.Client]]:
    """A service process per data folder (started again on the same folder: a restart) and a client."""
    running: dict[Path, ServiceProcess] = {}
    clients: list[httpx.Client] = []

    def make(data_dir: Path | None = None, **settings: Any) -> httpx.Client:
        data = data_dir or tmp_path / "data"
        if data in running:
            running.pop(data).stop()
        running[data] = ServiceProcess(data, env=env_of(settings)).start()
        client = httpx.Client(base_url=running[data].url, timeout=30)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    for proc in running.values():
        proc.stop()


@pytest.fixture
def client(make_client: Callable[..., httpx.Client]) -> httpx.Client:
    """A fresh service: the export test counts its metrics and lists ids from an empty start."""
    return make_client()
