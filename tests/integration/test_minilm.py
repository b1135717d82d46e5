"""The default embedder finds memories by meaning, a fresh write is searchable at once, and the model's
child process is replaced when it dies and never outlives the service."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from jean_memory.config import Settings
from jean_memory.embedding import make_embedder
from jean_memory.embedding.process import ProcessEmbedder
from tests.conftest import StartService

pytestmark = [pytest.mark.minilm, pytest.mark.slow]

MEMORIES = [
    "I am allergic to peanuts",
    "My car is a red Toyota",
    "I moved to Berlin last year",
    "My favourite sport is tennis",
]


@pytest.mark.parametrize("backend", ["onnx", "torch", "onnx-int8"])
def test_paraphrase_sharing_no_words_is_found(start_service: StartService, backend: str) -> None:
    svc = start_service({"JM_EMBEDDER": "minilm", "JM_EMBEDDING_BACKEND": backend})
    query = "which food makes me ill"
    assert not set(query.lower().split()) & {w for m in MEMORIES for w in m.lower().split()}
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        ids = c.post("/v1/memories/batch", json={"user_id": "u", "items": [{"content": m} for m in MEMORIES]})
        assert ids.status_code == 201
        deadline = time.monotonic() + 30
        while True:  # wait until every vector is indexed, so the ranking is the model's
            body = c.post("/v1/search", json={"user_id": "u", "query": query, "k": 4}).json()
            if all(h["tier"] == "stm" for h in body["results"]) or time.monotonic() > deadline:
                break
        assert body["results"][0]["content"] == "I am allergic to peanuts"
        assert all(h["tier"] == "stm" for h in body["results"])
        city = c.post("/v1/search", json={"user_id": "u", "query": "relocating to Germany", "k": 1}).json()
        assert city["results"][0]["content"] == "I moved to Berlin last year"


def test_read_your_writes_with_the_model(start_service: StartService) -> None:
    svc = start_service({"JM_EMBEDDER": "minilm"})
    with httpx.Client(base_url=svc.url, timeout=60) as c:
        for i in range(5):
            text = f"appointment number {i} with the orthodontist"
            mid = c.post("/v1/memories", json={"user_id": "ryw", "content": text}).json()["id"]
            hits = c.post("/v1/search", json={"user_id": "ryw", "query": "dentist appointment", "k": 10}).json()
            assert mid in [h["id"] for h in hits["results"]], "a write is visible to its author's next search"


def test_onnx_backends_reproduce_the_torch_vectors() -> None:
    texts = ["I am allergic to peanuts", "relocating to Germany", "a cat sleeps on the mat"]
    vectors, ids = {}, {}
    for backend in ("torch", "onnx", "onnx-int8"):
        embedder = make_embedder(Settings(embedder="minilm", embedding_backend=backend, embed_subprocess=False))
        vectors[backend], ids[backend] = embedder.embed(texts), embedder.model_id
    cosine = {b: (vectors[b] * vectors["torch"]).sum(axis=1) for b in ("onnx", "onnx-int8")}
    assert cosine["onnx"].min() > 0.9999, "fp32 ONNX is the same model: the same vectors"
    assert ids["onnx"] == ids["torch"]
    assert cosine["onnx-int8"].min() > 0.9, "int8 is close"
    assert ids["onnx-int8"] != ids["torch"], "but not the same vectors: never compared with torch's"


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def test_the_model_process_is_replaced_when_it_dies() -> None:
    embedder = make_embedder(Settings(embedder="minilm"))
    try:
        assert isinstance(embedder, ProcessEmbedder)
        before = embedder.embed(["a cat sleeps on the mat"])
        (pid,) = embedder.pids
        os.kill(pid, signal.SIGKILL)
        after = embedder.embed(["a cat sleeps on the mat"])  # a new process, same vector
        assert embedder.pids != [pid]
        np.testing.assert_allclose(before, after, atol=1e-5)
    finally:
        embedder.close()


def test_the_model_process_never_outlives_the_service(start_service: StartService) -> None:
    svc = start_service({"JM_EMBEDDER": "minilm"})
    assert svc.proc is not None
    children = _children(svc.proc.pid)
    assert children, "the model runs in a child process"
    os.kill(svc.proc.pid, signal.SIGKILL)  # no graceful shutdown: the child must notice on its own
    svc.proc.wait(10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{c}").exists() for c in children):
        time.sleep(0.2)
    assert not any(Path(f"/proc/{c}").exists() for c in children), "orphaned model process"
