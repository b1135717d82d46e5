"""`jean-memory-dev recall` measures what it says: a tiny conversation written here in LoCoMo's format (not
LoCoMo's text), loaded into a real hash-embedder service, where a question's evidence sits at a known
rank, gives the known R@k and hit@k; the saved report holds no text; a run against `--url` leaves the
service as it found it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from jean_memory_dev.perf import locomo, recall
from tests.conftest import StartService

#: Five turns over two sessions. A question that repeats a turn word for word finds that turn first
#: (cosine 1 with the hash embedder; BM25's best match too); five memories all fit in the top 20.
CONVERSATION = {
    "speaker_a": "Ann",
    "speaker_b": "Ben",
    "session_1_date_time": "10:00 am on 1 March, 2024",
    "session_1": [
        {"speaker": "Ann", "dia_id": "D1:1", "text": "I planted tomatoes in the garden"},
        {"speaker": "Ben", "dia_id": "D1:2", "text": "My violin lesson is on Tuesday"},
        {"speaker": "Ann", "dia_id": "D1:3", "text": "The bakery sells rye bread", "blip_caption": "a loaf"},
    ],
    "session_2_date_time": "3:30 pm on 2 March, 2024",
    "session_2": [
        {"speaker": "Ben", "dia_id": "D2:1", "text": "We hiked up the volcano at dawn"},
        {"speaker": "Ann", "dia_id": "D2:2", "text": "Our cat chased a yellow balloon"},
    ],
    "qa": [
        # D1:1 first, D1:2 somewhere in 2..5: R@1 0.5, hit@1 1, R@20 1.
        {"question": "Ann: I planted tomatoes in the garden", "evidence": ["D1:1", "D1:2"], "category": 4},
        # D2:1 first, so the evidence D1:3 is in 2..5: R@1 0, hit@1 0, R@20 1.
        {"question": "Ben: We hiked up the volcano at dawn", "evidence": ["D1:3"], "category": 2},
        {"question": "adversarial, not searched", "evidence": ["D1:1"], "category": 5},
        {"question": "no evidence, not searched", "evidence": [], "category": 1},
        {"question": "evidence of no turn, not searched", "evidence": ["D9:9"], "category": 3},
    ],
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "conversations"
    path.mkdir()
    (path / "conv-test.json").write_text(json.dumps(CONVERSATION))
    return path


def test_the_data_is_read_as_the_benchmark_defines_it(folder: Path) -> None:
    [conv] = locomo.load(folder)
    assert [t.dia_id for t in conv.turns] == ["D1:1", "D1:2", "D1:3", "D2:1", "D2:2"]
    assert conv.turns[0].content == "Ann: I planted tomatoes in the garden"
    assert conv.turns[2].content == "Ann: The bakery sells rye bread [shares a photo of a loaf]"
    assert conv.turns[3].created_at == datetime(2024, 3, 2, 15, 30, tzinfo=UTC).timestamp()
    assert conv.turns[3].session == 2
    assert [(q.index, q.category) for q in conv.questions] == [(0, 4), (1, 2)]
    assert locomo.evidence_ids(["D1:1; D2:2", "D:1:3", "D"], {"D1:1", "D1:3", "D2:2"}) == {"D1:1", "D1:3", "D2:2"}


def test_the_arithmetic() -> None:
    ranks = recall.evidence_ranks(["D1:1", "D2:1", "D1:2"], ["D1:1", "D1:2", "D9:9"])
    assert ranks == [1, 3, None]
    assert recall.recall_at(ranks, 1) == pytest.approx(1 / 3)
    assert recall.recall_at(ranks, 5) == pytest.approx(2 / 3)
    assert recall.hit_at([None, 4], 1) == 0.0
    assert recall.hit_at([None, 4], 5) == 1.0


def _check(report: dict) -> None:
    assert report["memories"] == 5
    assert report["questions"] == 2
    assert report["pending_hits"] == 0, "every memory had its vector before the searches"
    service = report["retrievers"]["service"]
    assert service["overall"]["r@1"] == pytest.approx(0.25)
    assert service["overall"]["hit@1"] == pytest.approx(0.5)
    assert service["overall"]["r@20"] == service["overall"]["hit@20"] == 1.0
    assert service["by_category"]["4"]["r@1"] == pytest.approx(0.5)
    assert service["by_category"]["2"]["r@1"] == 0.0
    first = report["rows"][0]
    assert first["evidence"] == ["D1:1", "D1:2"]
    assert first["ranks"]["service"][0] == 1 and 2 <= first["ranks"]["service"][1] <= 5
    for name in ("cosine", "bm25", "bm25_stemmed"):
        assert first["ranks"][name][0] == 1, name
    assert report["search_latency_ms"]["searches"] == 2
    for mode in ("service", "service_vector", "service_lexical"):  # every mode, timed alike
        assert report["search_latency_by_mode_ms"][mode]["searches"] == 2, mode
        assert len(first["ranks"][mode]) == 2, mode
    saved = json.dumps(report)
    assert "tomatoes" not in saved and "volcano" not in saved, "numbers and dia_ids only, never text"


def test_recall_through_a_service_it_starts(folder: Path, tmp_path: Path) -> None:
    report = recall.run("hash", path=folder, progress=lambda _: None)
    assert report["mode"] == "embedded"
    _check(report)
    png = recall.plot(report, tmp_path / "recall.png")
    assert png.stat().st_size > 0
    assert "| the service (POST /v1/search, default mode hybrid) | 0.250 |" in recall.table(report)


def test_recall_against_a_running_service_leaves_it_as_it_was(folder: Path, start_service: StartService) -> None:
    svc = start_service()
    report = recall.run("hash", path=folder, url=svc.url, tag="t", progress=lambda _: None)
    assert report["mode"] == "url"
    _check(report)
    with httpx.Client(base_url=svc.url, timeout=30) as client:
        assert recall.count(client, "recall-t-conv-test") == 0, "the run's user is forgotten at the end"


@pytest.mark.postgres
@pytest.mark.slow
def test_recall_through_a_cluster_it_starts(folder: Path) -> None:
    report = recall.run("hash", path=folder, cluster=2, progress=lambda _: None)
    assert report["mode"] == "cluster:2"
    _check(report)
