"""A counting OTLP/HTTP receiver for benchmarks: answers every export 200 and counts what arrived.

A stand-in for the collector (which cannot run here): it decodes log exports only to count their
records, so that a benchmark can say how many records its load made. Its CPU competes with the
service's on this machine as a collector's would on a shared host.
"""

from __future__ import annotations

import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest


class CountingSink:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.log_records = 0
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                signal = self.path.rsplit("/", 1)[-1]
                records = 0
                if signal == "logs":
                    request = ExportLogsServiceRequest.FromString(body)
                    records = sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs)
                with sink._lock:
                    sink.requests[signal] += 1
                    sink.log_records += records
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def snapshot(self) -> tuple[int, int]:
        """(export requests so far, log records so far)."""
        with self._lock:
            return sum(self.requests.values()), self.log_records

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
