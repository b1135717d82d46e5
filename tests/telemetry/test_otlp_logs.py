"""Logs over OTLP from a real service process: what a request's error line carries, and what it never does.

A loopback OTLP receiver (otlp_sink.py) takes the service's exports; requests carry a `traceparent`
of the test's own, so the trace id every record and span must carry is known. One request is refused
(422) and one fails with an injected 500 (the fire drill's `error_ratio` fault); both send an API key
and a memory's text that must not appear anywhere in what was exported.
"""

from __future__ import annotations

import secrets
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from jean_memory.app import create_app
from jean_memory.config import Settings
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.metrics import Metrics
from jean_memory_dev.processes import free_port, wait_http
from tests.conftest import StartService
from tests.helpers import metric, wait_until
from tests.telemetry.otlp_sink import OtlpSink

KEY = "jm-test-key-" + secrets.token_hex(12)
ADMIN = "admin-token-" + secrets.token_hex(12)
CONTENT = "the memory nobody may read " + secrets.token_hex(8)


def value(v: AnyValue) -> Any:
    return getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None


def records(sink: OtlpSink) -> list[tuple[dict[str, Any], LogRecord]]:
    """Every received record with its resource's attributes."""
    out = []
    for request in sink.logs:
        for rl in request.resource_logs:
            resource = {a.key: value(a.value) for a in rl.resource.attributes}
            out += [(resource, r) for sl in rl.scope_logs for r in sl.log_records]
    return out


def attrs(record: LogRecord) -> dict[str, Any]:
    return {a.key: value(a.value) for a in record.attributes}


def traceparent(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01", "Authorization": f"Bearer {KEY}"}


@pytest.mark.slow
def test_error_lines_reach_the_receiver_with_their_trace(start_service: StartService) -> None:
    sink = OtlpSink()
    try:
        svc = start_service(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
                "OTEL_SERVICE_NAME": "jean-memory",
                "JM_TRACE_SAMPLE_RATIO": "1.0",
                "JM_API_KEYS": KEY,
                "JM_FAULTS_ENABLED": "true",
                "JM_ADMIN_TOKEN": ADMIN,
            }
        )
        refused_trace, failed_trace = secrets.token_hex(16), secrets.token_hex(16)
        with httpx.Client(base_url=svc.url, timeout=10) as c:
            r = c.post("/v1/memories", json={"user_id": "u1", "content": CONTENT, "bogus": 1},
                       headers=traceparent(refused_trace))  # fmt: skip
            assert r.status_code == 422
            admin = {"Authorization": f"Bearer {ADMIN}"}
            assert c.put("/admin/faults", json={"error_ratio": {"add": 1.0}}, headers=admin).status_code == 200
            r = c.post("/v1/memories", json={"user_id": "u1", "content": CONTENT}, headers=traceparent(failed_trace))
            assert r.status_code == 500
            assert c.delete("/admin/faults", headers=admin).status_code == 200

        def received(trace_id: str) -> list[tuple[dict[str, Any], LogRecord]]:
            return [(res, r) for res, r in records(sink) if r.trace_id.hex() == trace_id]

        wait_until(lambda: received(refused_trace) and received(failed_trace), 30, "both error lines over OTLP")
        (resource, refused), = received(refused_trace)  # fmt: skip
        assert resource["service.name"] == "jean-memory" and resource["service.version"]
        assert refused.body.string_value == "request refused: 422 validation"
        assert (refused.severity_text, refused.severity_number) == ("INFO", 9)
        assert attrs(refused) == {
            "http.route": "/v1/memories",
            "http.request.method": "POST",
            "http.response.status_code": 422,
            "error.type": "validation",
            "code.function.name": "log_error",
        }
        (_, failed), = received(failed_trace)  # fmt: skip
        assert failed.body.string_value == "request failed: 500 injected_fault"
        assert (failed.severity_text, failed.severity_number) == ("ERROR", 17)
        assert attrs(failed)["error.type"] == "injected_fault"
        assert attrs(failed)["http.response.status_code"] == 500
        assert failed.time_unix_nano > 0 and len(failed.span_id) == 8

        # the record's span is the request's server span, exported under the same trace
        wait_until(lambda: any(s.trace_id.hex() == failed_trace for s in spans(sink)), 30, "the failed trace's span")
        server = next(s for s in spans(sink) if s.trace_id.hex() == failed_trace and s.name == "POST /v1/memories")
        assert failed.span_id == server.span_id

        exported = b"".join(r.SerializeToString() for r in sink.logs)
        assert KEY.encode() not in exported and ADMIN.encode() not in exported
        assert CONTENT.encode() not in exported and b"Authorization" not in exported
        assert metric(svc.url, "jm_telemetry_exports_total", signal="logs", result="success") > 0
        assert metric(svc.url, "jm_telemetry_dropped_logs_total") == 0
    finally:
        sink.close()


def spans(sink: OtlpSink) -> list[Any]:
    return [s for r in sink.traces for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]


@pytest.mark.slow
def test_blocked_export_drops_and_counts_logs(start_service: StartService) -> None:
    """The drill's `collector_unreachable` fault covers logs: exports fail, records are counted as dropped,
    requests are answered as before."""
    sink = OtlpSink()
    try:
        svc = start_service(
            {"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url, "JM_FAULTS_ENABLED": "true", "JM_ADMIN_TOKEN": ADMIN}
        )
        admin = {"Authorization": f"Bearer {ADMIN}"}
        with httpx.Client(base_url=svc.url, timeout=10) as c:
            assert c.put("/admin/faults", json={"collector_unreachable": True}, headers=admin).status_code == 200
            for _ in range(20):
                assert c.post("/v1/search", json={"user_id": "u1"}).status_code == 422
        wait_until(
            lambda: metric(svc.url, "jm_telemetry_dropped_logs_total") >= 20,
            30,
            "the blocked records to be counted as dropped",
        )
        assert metric(svc.url, "jm_telemetry_exports_total", signal="logs", result="failure") > 0
        assert not any(attrs(r).get("http.route") == "/v1/search" for _, r in records(sink))
    finally:
        sink.close()


def test_an_unexpected_error_is_logged_under_its_request_trace(tmp_path: Path) -> None:
    """Starlette answers an unexpected exception outside the telemetry middleware; its lines still carry the
    request's trace (in process: a route that raises is added to the real app)."""
    sink = OtlpSink()
    s = Settings(data_dir=tmp_path / "data", embedder="hash", port=free_port(), otlp_endpoint=sink.url,
                 trace_sample_ratio=1.0)  # fmt: skip
    app = create_app(s, telemetry=Telemetry(s, Metrics()))

    async def boom() -> None:
        raise RuntimeError("a bug with " + CONTENT)

    app.add_api_route("/v1/boom", boom, methods=["GET"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=s.port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{s.port}"
    try:
        wait_http(f"{url}/readyz", 60)
        trace_id = secrets.token_hex(16)
        assert httpx.get(f"{url}/v1/boom", headers=traceparent(trace_id), timeout=10).status_code == 500

        def failed() -> list[LogRecord]:
            return [r for _, r in records(sink) if r.trace_id.hex() == trace_id]

        wait_until(lambda: len(failed()) == 2, 30, "the unexpected error's two lines over OTLP")
        by_body = {r.body.string_value: r for r in failed()}
        line = by_body["request failed: 500 RuntimeError"]
        assert attrs(line)["http.route"] == "/v1/boom" and line.severity_text == "ERROR"
        (trace_line,) = [r for b, r in by_body.items() if b.startswith("unhandled error on GET /v1/boom")]
        assert attrs(trace_line)["exception.type"] == "RuntimeError"
        assert CONTENT not in attrs(trace_line)["exception.stacktrace"], "frames only, not the message"
        assert CONTENT.encode() not in b"".join(r.SerializeToString() for r in sink.logs)
    finally:
        server.should_exit = True
        thread.join(30)
        sink.close()
