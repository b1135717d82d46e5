"""Request heads and connections are bounded below the application: head size, header count, URL length,
a deadline for the head, idle keep-alive, and the number of open connections."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from jean_memory_dev.processes import ServiceProcess
from tests.helpers import metric
from tests.hostile.clients import exchange, parse_reply, read_all, rss_bytes

ENV = {"JM_HEADER_TIMEOUT_S": "2", "JM_KEEP_ALIVE_TIMEOUT_S": "1", "JM_MAX_CONNECTIONS": "64"}


def refused(svc: ServiceProcess, reason: str) -> float:
    return metric(svc.url, "jm_http_refused_total", reason=reason)


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(tmp_path_factory.mktemp("connections") / "data", env=ENV).start()
    yield proc
    proc.stop()


def test_long_url_is_414(svc: ServiceProcess) -> None:
    reply = exchange(svc.port, b"GET /v1/memories?user_id=" + b"u" * 9000 + b" HTTP/1.1\r\nhost: x\r\n\r\n")
    assert reply.status == 414
    assert reply.json()["errors"] == [{"field": "url", "message": "longer than 8192 bytes"}]
    assert reply.headers["connection"] == "close"
    assert refused(svc, "url") >= 1


def test_large_or_many_headers_are_431(svc: ServiceProcess) -> None:
    big = exchange(svc.port, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: " + b"a" * 20000 + b"\r\n\r\n")
    assert big.status == 431 and big.json()["detail"] == "headers: larger than 16384 bytes"
    many = b"".join(b"x-h%d: 1\r\n" % i for i in range(101))
    reply = exchange(svc.port, b"GET /healthz HTTP/1.1\r\nhost: x\r\n" + many + b"\r\n")
    assert reply.status == 431 and reply.json()["detail"] == "headers: more than 100 fields"
    assert refused(svc, "head_size") >= 1 and refused(svc, "head_fields") >= 1
    fine = b"".join(b"x-h%d: 1\r\n" % i for i in range(90))
    assert (
        exchange(svc.port, b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n" + fine + b"\r\n").status == 200
    )


def test_an_endless_header_is_cut_without_growing_memory(svc: ServiceProcess) -> None:
    assert svc.proc is not None
    before = rss_bytes(svc.proc.pid)
    with socket.create_connection(("127.0.0.1", svc.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-endless: ")
        sent = 0
        try:
            while sent < 256 << 20:
                sock.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        reply = parse_reply(read_all(sock))
    assert reply.status == 431
    assert sent < 32 << 20, "the service stopped reading soon after the limit"
    assert rss_bytes(svc.proc.pid) - before < 16 << 20


@pytest.mark.slow
def test_idle_connections_are_closed(svc: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", svc.port)) as fresh:  # never sends a byte
        started = time.monotonic()
        assert read_all(fresh, timeout_s=10) == b""
        assert 1.5 < time.monotonic() - started < 4, "closed after JM_HEADER_TIMEOUT_S"
    with socket.create_connection(("127.0.0.1", svc.port)) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        first = b""
        while not first.endswith(b'{"status":"ok"}'):
            first += kept.recv(4096)
        assert first.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_all(kept, timeout_s=10) == b""
        assert 0.5 < time.monotonic() - started < 3, (
            "an idle keep-alive connection closed after JM_KEEP_ALIVE_TIMEOUT_S"
        )
    assert refused(svc, "head_timeout") >= 1


@pytest.mark.slow
def test_a_slow_head_is_cut_with_408(svc: ServiceProcess) -> None:
    with socket.create_connection(("127.0.0.1", svc.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            for _ in range(20):  # a header byte every 0.3 s: never idle, never complete
                time.sleep(0.3)
                sock.sendall(b"x")
        except OSError:
            pass
        raw = read_all(sock)
    assert 1.5 < time.monotonic() - started < 5
    assert raw.startswith(b"HTTP/1.1 408 ") and b'"field":"headers"' in raw


def test_connections_past_the_cap_get_503(svc: ServiceProcess) -> None:
    socks = [socket.create_connection(("127.0.0.1", svc.port)) for _ in range(70)]
    try:
        time.sleep(0.5)  # well within JM_HEADER_TIMEOUT_S: the 64 accepted ones are still open and silent
        answered = select.select(socks, [], [], 0)[0]
        answers = [sock.recv(4096) for sock in answered]
        assert len(answers) in (70 - 64, 70 - 64 - 1)  # the fixture's own client may hold one
        assert all(r.startswith(b"HTTP/1.1 503 ") for r in answers)
        assert b"retry-after: 1" in answers[0] and b"too many open connections (limit 64)" in answers[0]
    finally:
        for sock in socks:
            sock.close()
    time.sleep(0.3)
    assert httpx.get(f"{svc.url}/healthz").status_code == 200, "served again once connections closed"
    assert refused(svc, "connections") >= 5
    assert metric(svc.url, "jm_http_connections") <= 2
