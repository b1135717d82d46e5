"""Shared fixtures: real service processes over real HTTP, on the embedded default store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess

StartService = Callable[..., ServiceProcess]


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[StartService]:
    """Start service processes (hash embedder unless told otherwise); all are stopped afterwards."""
    started: list[ServiceProcess] = []

    def start(env: dict[str, str] | None = None, data_dir: Path | None = None, **kwargs: object) -> ServiceProcess:
        proc = ServiceProcess(data_dir or tmp_path / f"data{len(started)}", env=env, **kwargs)  # type: ignore[arg-type]
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """One service per test module, for tests that only need isolation by user id."""
    proc = ServiceProcess(tmp_path_factory.mktemp("shared") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def client(shared_service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=shared_service.url, timeout=30) as c:
        yield c


def new_user(request: pytest.FixtureRequest) -> str:
    return f"{request.node.name}-{id(request)}"


@pytest.fixture
def user(request: pytest.FixtureRequest) -> str:
    """A user id no other test uses."""
    return new_user(request)
