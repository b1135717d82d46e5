"""A TCP proxy that loses answers on purpose: the request reaches the real service and is served, then
the connection is cut before the answer gets back. This is the failure that makes retries dangerous (the
write happened, the client cannot know), made deterministic, over real sockets to a real service."""

from __future__ import annotations

import contextlib
import socket
import threading

from jean_memory_dev.processes import free_port


class LossyProxy:
    """Forwards 127.0.0.1:`port` to the service; `lose(n)` drops the next `n` answers.

    An answer is dropped when its first bytes arrive from the service: by then the service has done the
    work (it answers a write only once it is durable), and the client sees the connection close instead.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.dropped = 0
        self._to_drop = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = False
        self._sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, name="lossy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lose(self, answers: int) -> None:
        with self._lock:
            self._to_drop += answers

    def close(self) -> None:
        self._closed = True
        for s in [self._listener, *self._sockets]:
            _cut(s)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._answers, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _answers(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                with self._lock:
                    drop = self._to_drop > 0
                    if drop:
                        self._to_drop -= 1
                        self.dropped += 1
                if drop:
                    break
                client.sendall(data)
        for s in (client, upstream):
            _cut(s)


def _cut(s: socket.socket) -> None:
    """Close at once: `shutdown` reaches the connection even while another thread is blocked reading it
    (a bare `close` would wait for that read, and the client would wait for its timeout)."""
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
