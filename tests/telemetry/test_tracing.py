"""Spans and their structure, W3C propagation, logs with trace ids: an in-process server over real HTTP.

The service runs in this process (uvicorn on a thread, real sockets) so the SDK's in-memory exporter
can collect its spans.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON

from jean_memory.app import create_app
from jean_memory.config import Settings
from jean_memory.telemetry.core import Telemetry
from jean_memory.telemetry.metrics import Metrics
from jean_memory_dev.processes import free_port, wait_http


@contextmanager
def serving(data: Path, **settings: Any) -> Iterator[tuple[str, InMemorySpanExporter]]:
    """The service in this process on a free port, its spans collected in memory."""
    exporter = InMemorySpanExporter()
    s = Settings(data_dir=data, embedder="hash", port=free_port(), **settings)
    app = create_app(s, telemetry=Telemetry(s, Metrics(), span_processor=SimpleSpanProcessor(exporter)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=s.port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{s.port}"
    try:
        wait_http(f"{url}/readyz", 60)
        yield url, exporter
    finally:
        server.should_exit = True
        thread.join(30)


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[str, InMemorySpanExporter]]:
    with serving(tmp_path / "data", trace_sample_ratio=1.0) as served:
        yield served


def spans_named(exporter: InMemorySpanExporter, name: str) -> list:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def test_request_spans_and_children(traced: tuple[str, InMemorySpanExporter]) -> None:
    url, exporter = traced
    with httpx.Client(base_url=url) as c:
        c.post("/v1/memories", json={"user_id": "t", "content": "tracing is fun"}).raise_for_status()
        c.post("/v1/search", json={"user_id": "t", "query": "tracing"}).raise_for_status()
    (add,) = spans_named(exporter, "POST /v1/memories")
    (commit,) = spans_named(exporter, "journal.commit")
    assert commit.parent.span_id == add.context.span_id and commit.context.trace_id == add.context.trace_id
    assert add.attributes["http.route"] == "/v1/memories" and add.attributes["http.response.status_code"] == 201
    assert add.kind.name == "SERVER"
    assert add.resource.attributes["service.name"] == "jean-memory"
    (search,) = spans_named(exporter, "POST /v1/search")
    children = {
        s.name: s for s in exporter.get_finished_spans() if s.parent and s.parent.span_id == search.context.span_id
    }
    assert {"embedding.query", "stm.search"} <= set(children)
    deadline = time.monotonic() + 10
    while not spans_named(exporter, "shuttle.batch") and time.monotonic() < deadline:
        time.sleep(0.05)  # a child (ltm.write) ends before its parent (shuttle.batch)
    batches = {s.context.span_id for s in spans_named(exporter, "shuttle.batch")}
    writes = [s for s in spans_named(exporter, "ltm.write") if s.parent.span_id in batches]
    assert writes and writes[0].attributes["jm.store"] == "sqlite"


def test_w3c_trace_context_is_continued(traced: tuple[str, InMemorySpanExporter]) -> None:
    url, exporter = traced
    trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    headers = {"traceparent": f"00-{trace_id}-{parent}-01"}
    httpx.post(f"{url}/v1/search", json={"user_id": "t", "query": "x"}, headers=headers).raise_for_status()
    (span,) = spans_named(exporter, "POST /v1/search")
    assert format(span.context.trace_id, "032x") == trace_id
    assert format(span.parent.span_id, "016x") == parent


@pytest.mark.parametrize("trust", [False, True])
def test_a_callers_sampled_flag_is_obeyed_only_when_trusted(tmp_path: Path, trust: bool) -> None:
    """With nothing sampled here (ratio 0), a client's `-01` traceparent is ignored unless
    JM_TRACE_TRUST_PARENT: any client could otherwise have every request traced and exported."""
    with serving(tmp_path / "data", trace_sample_ratio=0.0, trace_trust_parent=trust) as (url, exporter):
        trace_id, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
        for flags in ("01", "00"):
            headers = {"traceparent": f"00-{trace_id}-{parent}-{flags}"}
            httpx.post(f"{url}/v1/search", json={"user_id": "t", "query": "x"}, headers=headers).raise_for_status()
        httpx.post(f"{url}/v1/search", json={"user_id": "t", "query": "x"}).raise_for_status()  # a new trace
        spans = spans_named(exporter, "POST /v1/search")
        if trust:
            (span,) = spans  # the sampled caller only
            assert format(span.context.trace_id, "032x") == trace_id
            assert format(span.parent.span_id, "016x") == parent
        else:
            assert spans == [], "a client decided what this service traces"


def test_logs_are_json_with_trace_ids_and_pseudonymous_users(capfd: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import logging

    from jean_memory.telemetry.logs import PerfLog, configure_logging

    configure_logging("INFO", "json")
    provider = TracerProvider(sampler=ALWAYS_ON)
    with provider.get_tracer("t").start_as_current_span("op"):
        PerfLog(slow_ms=0, key="k").maybe_log(
            "memory_creation_single", time.perf_counter(), "alice@example.com", 42, cache_hit=False
        )
    logging.getLogger().handlers.clear()
    line = capfd.readouterr().err.strip().splitlines()[-1]
    doc = json.loads(line)
    assert doc["metric_type"] == "memory_creation_single" and doc["memory_size_bytes"] == 42
    assert doc["cache_hit"] is False and doc["duration_ms"] >= 0
    assert len(doc["trace_id"]) == 32 and len(doc["span_id"]) == 16
    assert "alice" not in line and len(doc["user"]) == 16
    assert doc["user"] == PerfLog(0, "k").pseudonym("alice@example.com")
