"""Clients that behave as an attacker would, over raw sockets, and what the tests watch meanwhile.

Raw sockets rather than httpx: the tests need to stream a 1 GB body without holding it, stop sending
the moment the service answers, trickle a header a byte at a time, and see exactly what the service
wrote before it closed the connection.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

GB = 1 << 30
CHUNK = b"a" * 65536


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status (VmRSS, in kB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    sent: int = 0  # body bytes the client got into its socket before the answer (the kernel's buffers included)

    def json(self) -> Any:
        return json.loads(self.body)


def parse_reply(raw: bytes, sent: int = 0) -> Reply:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    if not lines or not lines[0].startswith("HTTP/1.1 "):
        raise AssertionError(f"no HTTP response: {raw[:200]!r}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return Reply(int(lines[0].split()[1]), headers, body, sent)


def read_all(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Everything the peer writes until it closes (or `timeout_s` passes, or it resets)."""
    sock.settimeout(timeout_s)
    out = b""
    try:
        while chunk := sock.recv(65536):
            out += chunk
    except OSError:
        pass
    return out


def stream_body(
    port: int,
    path: str,
    *,
    total: int = GB,
    key: str | None = None,
    declare_length: bool = False,
    timeout_s: float = 60.0,
) -> Reply:
    """POST a `total`-byte body (chunked, or with a declared Content-Length), generated as it is sent,
    until the service answers; returns its answer and how much was sent by then."""
    head = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", "content-type: application/json"]
    if key:
        head.append(f"authorization: Bearer {key}")
    head.append(f"content-length: {total}" if declare_length else "transfer-encoding: chunked")
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sent = 0
    deadline = time.monotonic() + timeout_s
    try:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        frame = CHUNK if declare_length else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
        while sent < total and time.monotonic() < deadline:
            if select.select([sock], [], [], 0)[0]:
                break  # the service has answered (or closed): stop sending
            try:
                sock.sendall(frame)
            except OSError:
                break
            sent += len(CHUNK)
        return parse_reply(read_all(sock), sent)
    finally:
        sock.close()


def exchange(port: int, request: bytes, timeout_s: float = 10.0) -> Reply:
    """Send one raw request and read the answer until the connection closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        with contextlib.suppress(OSError):  # it may answer and close before taking all of it
            sock.sendall(request)
        return parse_reply(read_all(sock, timeout_s))


@dataclass
class Watch:
    """Samples the service's RSS and asks /healthz every `interval_s` from a thread, until stopped."""

    url: str
    pid: int
    interval_s: float = 0.05
    rss: list[int] = field(default_factory=list)
    health: list[tuple[int, float]] = field(default_factory=list)  # (status, seconds); 0: no answer

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while not self._stop.is_set():
                self.rss.append(rss_bytes(self.pid))
                start = time.perf_counter()
                try:
                    status = client.get("/healthz").status_code
                except httpx.HTTPError:
                    status = 0
                self.health.append((status, time.perf_counter() - start))
                self._stop.wait(self.interval_s)

    def __enter__(self) -> Watch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
