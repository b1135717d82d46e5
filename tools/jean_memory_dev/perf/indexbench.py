"""Index benchmark: one user's vectors at a given scale, per embedder and STM index type.

Measures what the short-term tier does without HTTP around it: build time, bytes, single-query
latency (p50/p95/p99, one OpenMP thread, as in the service), queries/s, and recall@10 of each index
against exact search on the same vectors. One user holding all N vectors is the worst case of the
per-user layout (a search scores only its user's vectors).
"""

from __future__ import annotations

import os
import random
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from jean_memory.config import IndexKind
from jean_memory.embedding.base import Embedder
from jean_memory.storage.vector_index import UserIndex
from jean_memory_dev.perf.workload import sentence

KINDS = (IndexKind.FLAT, IndexKind.HNSW, IndexKind.SQ8)


def make_embedder(name: str) -> Embedder:
    if name == "hash":
        from jean_memory.embedding.hashing import HashEmbedder

        return HashEmbedder(384)
    from jean_memory.config import Settings
    from jean_memory.embedding import make_embedder as configured

    # The service's default runtime (ONNX fp32: torch's vectors, faster) with all cores, in this
    # process: here the model only prepares data, nothing else competes for the CPU.
    return configured(Settings(embedder="minilm", torch_threads=0, embed_subprocess=False))  # type: ignore[arg-type]


def vectors(embedder: Embedder, n: int, seed: int = 1, cache: Path | None = None) -> tuple[np.ndarray, float | None]:
    """n embeddings of synthetic agent sentences, and the embedder's throughput (texts/s).

    With `cache`, embeddings are kept in `cache/<model>-<n>.npy` (a million MiniLM embeddings take
    half an hour here); the throughput is then unknown (None).
    """
    path = cache / f"{embedder.model_id.replace(':', '-')}-{n}.npy" if cache else None
    if path is not None and path.exists():
        return np.load(path), None
    rng = random.Random(seed)
    texts = [f"{sentence(rng, 10)} {i}" for i in range(n)]
    start = time.perf_counter()
    out = np.vstack([embedder.embed(texts[i : i + 4096]) for i in range(0, n, 4096)])
    rate = n / (time.perf_counter() - start)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, out)
    return out, rate


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bench_index(
    kind: IndexKind, data: np.ndarray, queries: np.ndarray, exact: np.ndarray, threshold: np.ndarray
) -> dict[str, Any]:
    ids = [str(uuid.UUID(int=i)) for i in range(len(data))]  # the service's ids are UUID strings
    rss_before = _rss()
    index = UserIndex(data.shape[1], kind)
    start = time.perf_counter()
    for i in range(0, len(data), 10_000):
        index.add(ids[i : i + 10_000], data[i : i + 10_000])
    build_s = time.perf_counter() - start
    rss_delta = _rss() - rss_before
    latencies, hits = [], 0
    for q, scores, tenth in zip(queries, exact, threshold, strict=True):
        t = time.perf_counter()
        found = index.search(q, 10)
        latencies.append(time.perf_counter() - t)
        # A result counts when its exact score reaches the exact 10th best: ties are not misses.
        hits += sum(1 for mid, _ in found if scores[uuid.UUID(mid).int] >= tenth - 1e-6)
    lat = np.array(latencies) * 1000
    return {
        "index": kind.value,
        "build_s": round(build_s, 2),
        "bytes": index.nbytes,
        "rss_delta_bytes": rss_delta,
        "bytes_per_vector": round(index.nbytes / len(data), 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p95_ms": round(float(np.percentile(lat, 95)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "queries_per_s": round(len(queries) / (lat.sum() / 1000), 1),
        "recall_at_10": round(min(1.0, hits / (10 * len(queries))), 4),
    }


def run(
    embedders: list[str],
    scales: list[int],
    n_queries: int = 200,
    kinds: tuple[IndexKind, ...] = KINDS,
    cache: Path | None = None,
) -> list[dict[str, Any]]:
    rows = []
    for name in embedders:
        embedder = make_embedder(name)
        for n in scales:
            data, texts_per_s = vectors(embedder, n, cache=cache)
            # Queries are real query texts embedded by the same model (shorter than memories).
            rng = random.Random(99)
            queries = embedder.embed([sentence(rng, 4) for _ in range(n_queries)])
            exact = queries @ data.T
            threshold = -np.partition(-exact, 9, axis=1)[:, 9]  # each query's exact 10th best score
            for kind in kinds:
                row = {"embedder": name, "memories": n, "embed_texts_per_s": texts_per_s and round(texts_per_s, 1)}
                rows.append(row | bench_index(kind, data, queries, exact, threshold))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| embedder | memories | index | MB (estimate) | RSS growth MB | B/vector | p50 ms | p95 ms | p99 ms "
        "| queries/s | recall@10 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['embedder']} | {r['memories']:,} | {r['index']} | {r['bytes'] / 2**20:.1f} | "
            f"{r['rss_delta_bytes'] / 2**20:.1f} | "
            f"{r['bytes_per_vector']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
            f"{r['queries_per_s']} | {r['recall_at_10']} |"
        )
    return "\n".join(lines)
