"""Slowloris: hundreds of connections trickling a head or a body a byte a second are cut after their
deadlines, and meanwhile normal adds keep their latency."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

import httpx
import pytest

from tests.conftest import StartService
from tests.helpers import metric
from tests.hostile.clients import p99

HEAD = b"POST /v1/memories HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
BODY = HEAD + b"content-length: 100000\r\n\r\n{"


@dataclass
class Trickle:
    """Connections that send `prefix`, then one byte a second, reconnecting whenever the service cuts them."""

    port: int
    heads: int
    bodies: int
    open_now: int = 0
    cut: list[tuple[str, float, bytes]] = field(default_factory=list)  # (kind, lifetime, first answer bytes)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _one(self, kind: str, prefix: bytes) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            opened = loop.time()
            self.open_now += 1
            answer = b""
            try:
                writer.write(prefix)
                while not self._stop.is_set():
                    try:
                        answer = await asyncio.wait_for(reader.read(4096), 1.0)
                        break  # the service answered or closed
                    except TimeoutError:
                        writer.write(b"x")
                        await writer.drain()
            except OSError:
                pass
            finally:
                self.open_now -= 1
                writer.close()
            if not self._stop.is_set():
                self.cut.append((kind, loop.time() - opened, answer[:12]))

    async def _main(self) -> None:
        tasks = [self._one("head", HEAD) for _ in range(self.heads)]
        tasks += [self._one("body", BODY) for _ in range(self.bodies)]
        await asyncio.gather(*tasks)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(15)


def add_latencies(url: str, n: int = 100) -> list[float]:
    out = []
    with httpx.Client(base_url=url, timeout=10) as client:
        for i in range(n):
            start = time.perf_counter()
            r = client.post("/v1/memories", json={"user_id": "normal", "content": f"a normal memory {i}"})
            out.append(time.perf_counter() - start)
            assert r.status_code == 201, r.text
    return out


@pytest.mark.slow
def test_slowloris_heads_and_bodies_do_not_starve_normal_adds(start_service: StartService) -> None:
    svc = start_service({"JM_HEADER_TIMEOUT_S": "4", "JM_BODY_TIMEOUT_S": "4"})
    add_latencies(svc.url, 20)  # warm
    quiet = add_latencies(svc.url)
    with Trickle(svc.port, heads=300, bodies=100) as attack:
        deadline = time.monotonic() + 20
        while attack.open_now < 390 and time.monotonic() < deadline:
            time.sleep(0.05)
        held = attack.open_now
        loud = add_latencies(svc.url)
        time.sleep(5.5)  # past both deadlines: every first-round connection has been cut
        cut = list(attack.cut)
    print(
        f"slow connections held: {held}; adds p99 {p99(quiet) * 1000:.1f} ms quiet, {p99(loud) * 1000:.1f} ms "
        f"under attack (max {max(loud) * 1000:.1f} ms); cut: {len(cut)}, "
        f"longest lived {max(t for _, t, _ in cut):.1f} s"
    )
    assert held >= 390, "the attack held its connections while the adds ran"
    assert p99(loud) < 0.25, f"p99 {p99(loud) * 1000:.0f} ms under attack"
    heads = [c for c in cut if c[0] == "head"]
    bodies = [c for c in cut if c[0] == "body"]
    assert len(heads) >= 250 and len(bodies) >= 80, (len(heads), len(bodies))
    assert all(3.5 < t < 6.5 for _, t, _ in cut), sorted(t for _, t, _ in cut)[:: max(1, len(cut) // 10)]
    assert all(answer == b"HTTP/1.1 408" for _, _, answer in cut)
    with httpx.Client(base_url=svc.url) as client:
        assert client.get("/healthz").status_code == 200
    assert metric(svc.url, "jm_http_refused_total", reason="head_timeout") >= len(heads)
    assert metric(svc.url, "jm_http_refused_total", reason="body_timeout") >= len(bodies)
