"""Retries never duplicate and never lose: answers lost after the work was done, a service killed and
restarted in the middle of an import, and a storm of 503s in the middle of one; both clients, against
real service processes."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from jean_memory_client import NewMemory, RetryPolicy, ServiceUnavailable, TransportError
from jean_memory_dev.processes import ServiceProcess
from tests.client.conftest import MakeClient
from tests.client.lossy import LossyProxy
from tests.conftest import StartService
from tests.helpers import wait_until

TOKEN = "client-retries-admin-token-01"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
FAULTS = {"JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": TOKEN}


class Retries:
    """The `on_retry` hook: every failure the client retried, and the wait it chose after it."""

    def __init__(self) -> None:
        self.seen: list[tuple[BaseException, float]] = []

    def __call__(self, exc: BaseException, attempt: int, wait_s: float) -> None:
        self.seen.append((exc, wait_s))

    def of(self, kind: type[BaseException]) -> list[tuple[Any, float]]:
        return [(e, w) for e, w in self.seen if isinstance(e, kind)]


class ReleaseOnRefusal(Retries):
    """Closes the connections holding the cap once the client has been turned away (503) a first time."""

    def __init__(self, held: list[socket.socket]) -> None:
        super().__init__()
        self._held = held

    def __call__(self, exc: BaseException, attempt: int, wait_s: float) -> None:
        super().__call__(exc, attempt, wait_s)
        if isinstance(exc, ServiceUnavailable):
            for held in self._held:
                held.close()


def _wait_until_capped(port: int) -> None:
    """Until a new connection is refused with 503: the service has accepted and counted the held ones."""
    deadline = time.monotonic() + 30
    while True:
        with socket.create_connection(("127.0.0.1", port)) as probe:
            probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            status = probe.recv(64)
        if status.startswith(b"HTTP/1.1 503"):
            return
        assert time.monotonic() < deadline, f"the connection cap was never reached: {status!r}"
        time.sleep(0.05)


def patient(retries: Retries) -> RetryPolicy:
    """Long enough to outlast a restart under a loaded machine, quick to come back once it is over."""
    return RetryPolicy(max_attempts=10_000, max_elapsed_s=180, backoff_max_s=0.5, on_retry=retries)


@pytest.fixture
def lossy(shared_service: ServiceProcess) -> Any:
    proxy = LossyProxy(shared_service.port)
    yield proxy
    proxy.close()


def test_lost_answers_are_retried_without_duplicates(make_client: MakeClient, lossy: LossyProxy, user: str) -> None:
    retries = Retries()
    m = make_client(lossy.url, retry=patient(retries))

    lossy.lose(1)
    created = m.add(user, "said once, stored once")
    lossy.lose(1)
    batch = m.add_batch(user, [f"batch item {i}" for i in range(10)])
    assert sorted(x.id for x in m.iter_memories(user)) == sorted([created.id, *batch.ids])  # 11, not 22

    lossy.lose(1)
    assert m.update(user, created.id, content="changed once").version == 2  # the repeat changed nothing
    assert [v.event for v in m.history(user, created.id).versions] == ["add", "update"]
    lossy.lose(1)
    m.delete(user, created.id)  # the retry's 404 is the lost answer's success, not an error
    lossy.lose(1)
    assert m.forget(user) == 0  # the first try forgot the 10; its count was lost with its answer
    assert list(m.iter_memories(user)) == []

    lost = retries.of(TransportError)
    assert lossy.dropped == 5 and len(lost) == 5 and all(e.maybe_applied for e, _ in lost)


def run_import(m: Any, user: str, items: list[NewMemory], batch_size: int) -> Callable[[float], list[str]]:
    """`add_many` in a thread; the returned function joins it and gives the ids (or raises its error)."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["ids"] = m.add_many(user, items, batch_size=batch_size).ids
        except BaseException as exc:
            out["error"] = exc

    thread = threading.Thread(target=work, name="import", daemon=True)
    thread.start()

    def join(timeout_s: float) -> list[str]:
        thread.join(timeout_s)
        assert not thread.is_alive(), f"the import did not finish in {timeout_s}s"
        if "error" in out:
            raise out["error"]
        return list(out["ids"])

    return join


def sent(items: list[NewMemory]) -> int:
    """Items given to the service so far: the client chooses an item's id as it builds its batch."""
    return sum(1 for item in items if item.id is not None)


def check_exactly_once(m: Any, user: str, items: list[NewMemory], ids: list[str]) -> None:
    assert ids == [item.id for item in items]
    exported = list(m.export(user))
    assert len(exported) == len(items), f"{len(exported)} memories stored for {len(items)} added"
    assert {x.id: x.content for x in exported} == {item.id: item.content for item in items}


@pytest.mark.slow
def test_a_restart_in_the_middle_of_an_import(
    start_service: StartService, make_client: MakeClient, tmp_path: Path, user: str
) -> None:
    svc = start_service(FAULTS)
    # Each add waits 100 ms in the service, so a batch is in flight (often mid-commit) when the service dies.
    httpx.put(f"{svc.url}/admin/faults", json={"latency_ms": {"add": 100}}, headers=ADMIN).raise_for_status()
    retries = Retries()
    m = make_client(svc.url, retry=patient(retries))
    items = [NewMemory(f"fact number {i}", {"n": i}) for i in range(1500)]
    join = run_import(m, user, items, batch_size=50)

    wait_until(lambda: sent(items) >= 300, 60, "six batches to be sent")
    svc.kill()  # kill -9: nothing drains
    assert sent(items) < len(items)
    start_service(FAULTS, data_dir=svc.data_dir, port=svc.port)

    ids = join(180)
    check_exactly_once(m, user, items, ids)
    assert retries.of(TransportError), "the restart was not seen by the client"


@pytest.mark.slow
def test_a_503_storm_in_the_middle_of_an_import(
    start_service: StartService, make_client: MakeClient, user: str
) -> None:
    # A small shuttle backlog: with the long-term store unreachable, adds are refused with 503 once 400
    # memories wait for it (admission control), until it comes back.
    env = {**FAULTS, "JM_JOURNAL_MAX_PENDING": "400", "JM_SHUTTLE_BACKOFF_MAX_S": "0.2"}
    svc = start_service(env)
    retries = Retries()
    m = make_client(svc.url, retry=patient(retries))
    items = [NewMemory(f"storm fact {i}", {"n": i}) for i in range(3000)]
    join = run_import(m, user, items, batch_size=100)

    wait_until(lambda: sent(items) >= 300, 60, "three batches to be sent")
    httpx.put(f"{svc.url}/admin/faults", json={"ltm_unreachable": True}, headers=ADMIN).raise_for_status()
    wait_until(lambda: len(retries.of(ServiceUnavailable)) >= 3, 60, "three 503s to be retried")
    assert sent(items) < len(items)
    httpx.delete(f"{svc.url}/admin/faults", headers=ADMIN).raise_for_status()

    ids = join(180)
    check_exactly_once(m, user, items, ids)
    refused = retries.of(ServiceUnavailable)
    # Retry-After honoured: never retried sooner than the service asked.
    assert all(e.retry_after is not None and wait >= e.retry_after for e, wait in refused)


def test_the_connection_cap_is_waited_out(start_service: StartService, make_client: MakeClient, user: str) -> None:
    # Past JM_MAX_CONNECTIONS a new connection is answered 503 with Retry-After at once, before any
    # application code: the client waits as asked and gets in once a connection is free.
    # The held connections are freed once the client has been refused, not after a fixed time: on a loaded
    # machine a timer could free them before the client's first try, which then never met the cap.
    svc = start_service({"JM_MAX_CONNECTIONS": "2", "JM_KEEP_ALIVE_TIMEOUT_S": "30", "JM_HEADER_TIMEOUT_S": "30"})
    held = [socket.create_connection(("127.0.0.1", svc.port)) for _ in range(2)]
    _wait_until_capped(svc.port)  # the service has counted both held connections
    retries = ReleaseOnRefusal(held)
    m = make_client(svc.url, retry=patient(retries))
    created = m.add(user, "in after the wait")
    assert m.get(user, created.id).content == "in after the wait"
    refused = retries.of(ServiceUnavailable)
    assert refused and all(e.retry_after is not None and wait >= e.retry_after for e, wait in refused)
