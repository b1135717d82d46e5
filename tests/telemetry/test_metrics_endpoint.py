"""/metrics after real requests: every family, with its type, unit and labels; exemplars; no user ids."""

from __future__ import annotations

import re
import uuid

import httpx
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics

from jean_memory.telemetry.metrics import metric_docs
from tests.conftest import StartService

SECRET_USER = "user-SECRET-7f3a"
SECRET_TEXT = "confidential-phrase-91"


def exercise(url: str) -> None:
    with httpx.Client(base_url=url, timeout=30) as c:
        mid = c.post("/v1/memories", json={"user_id": SECRET_USER, "content": f"{SECRET_TEXT} one"}).json()["id"]
        c.post(
            "/v1/memories/batch",
            json={"user_id": SECRET_USER, "items": [{"content": f"{SECRET_TEXT} {i}"} for i in range(5)]},
        )
        for _ in range(3):
            c.post("/v1/search", json={"user_id": SECRET_USER, "query": SECRET_TEXT})
        c.get(f"/v1/memories/{mid}", params={"user_id": SECRET_USER})
        c.get(f"/v1/memories/{uuid.uuid4()}", params={"user_id": SECRET_USER})
        c.get("/v1/memories", params={"user_id": SECRET_USER})
        c.delete(f"/v1/memories/{mid}", params={"user_id": SECRET_USER})
        c.post("/v1/memories", json={"user_id": SECRET_USER, "content": ""})
        c.request("PROPFIND", "/v1/memories")  # a method outside the standard set
        c.get(f"/no/such/{SECRET_USER}")


def test_every_family_exists_with_type_unit_and_labels(start_service: StartService) -> None:
    svc = start_service({"JM_TRACE_SAMPLE_RATIO": "1.0"})
    exercise(svc.url)
    text = httpx.get(f"{svc.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}).text
    families = {f.name: f for f in parse_openmetrics(text)}
    for doc in metric_docs():
        base = doc.name.removesuffix("_total").removesuffix("_info") if doc.kind in ("counter", "info") else doc.name
        assert base in families, f"{doc.name} missing from /metrics"
        fam = families[base]
        assert fam.type == doc.kind, (doc.name, fam.type, doc.kind)
        if doc.unit:
            assert base.endswith(f"_{doc.unit}")
        for sample in fam.samples:
            assert set(sample.labels) - {"le"} <= set(doc.labels), (doc.name, sample.labels)
    red = families["http_server_request_duration_seconds"]
    routes = {s.labels["http_route"] for s in red.samples if "http_route" in s.labels}
    assert {"/v1/memories", "/v1/memories/batch", "/v1/search", "/v1/memories/{id}", "unmatched"} <= routes
    methods = {s.labels["http_request_method"] for s in red.samples}
    assert "_OTHER" in methods and "PROPFIND" not in methods
    classes = {s.labels["http_response_status_class"] for s in red.samples}
    assert {"2xx", "4xx"} <= classes
    bounds = {float(s.labels["le"]) for s in red.samples if s.name.endswith("_bucket")}
    assert {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0} <= bounds


def test_latency_histograms_carry_trace_id_exemplars(start_service: StartService) -> None:
    svc = start_service({"JM_TRACE_SAMPLE_RATIO": "1.0"})
    exercise(svc.url)
    text = httpx.get(f"{svc.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}).text
    families = {f.name: f for f in parse_openmetrics(text)}
    for name in (
        "http_server_request_duration_seconds",
        "jm_search_duration_seconds",
        "jm_memory_creation_duration_seconds",
    ):
        exemplars = [s.exemplar for s in families[name].samples if s.exemplar is not None]
        assert exemplars, f"{name} has no exemplar"
        assert all(re.fullmatch(r"[0-9a-f]{32}", e.labels["trace_id"]) for e in exemplars)
    plain = httpx.get(f"{svc.url}/metrics").text
    assert "# {" not in plain, "the classic text format carries no exemplars"


def test_no_label_carries_a_user_id_or_content(start_service: StartService) -> None:
    svc = start_service({"JM_TRACE_SAMPLE_RATIO": "1.0"})
    exercise(svc.url)
    for accept in ("", "application/openmetrics-text; version=1.0.0"):
        text = httpx.get(f"{svc.url}/metrics", headers={"Accept": accept}).text
        assert SECRET_USER not in text and SECRET_TEXT not in text
        for line in text.splitlines():
            assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", line.split("#")[0]), line
