"""Index benchmark: one user's vectors at a given scale, per embedder and STM index type.

Measures what the short-term tier does without HTTP around it: build time, bytes, single-query
latency (p50/p95/p99, one OpenMP thread, as in the service), queries/s, and recall@10 of each index
against exact search on the same vectors. One user holding all N vectors is the worst case of the
per-user layout (a search scores only its user's vectors).
"""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np

from jean_memory.config import IndexKind
from jean_memory.embedding.base import Embedder
from jean_memory.perf.workload import sentence
from jean_memory.vector_index import UserIndex

KINDS = (IndexKind.FLAT, IndexKind.HNSW, IndexKind.SQ8)


def make_embedder(name: str) -> Embedder:
    if name == "hash":
        from jean_memory.embedding.hashing import HashEmbedder

        return HashEmbedder(384)
    from jean_memory.embedding.minilm import MiniLMEmbedder

    return MiniLMEmbedder("sentence-transformers/all-MiniLM-L6-v2")


def vectors(embedder: Embedder, n: int, seed: int = 1) -> tuple[np.ndarray, float]:
    """n embeddings of synthetic agent sentences, and the embedder's throughput (texts/s)."""
    rng = random.Random(seed)
    texts = [f"{sentence(rng, 10)} {i}" for i in range(n)]
    start = time.perf_counter()
    out = np.vstack([embedder.embed(texts[i : i + 4096]) for i in range(0, n, 4096)])
    return out, n / (time.perf_counter() - start)


def bench_index(kind: IndexKind, data: np.ndarray, queries: np.ndarray, exact: list[set[int]]) -> dict[str, Any]:
    ids = [str(i) for i in range(len(data))]
    index = UserIndex(data.shape[1], kind)
    start = time.perf_counter()
    for i in range(0, len(data), 10_000):
        index.add(ids[i : i + 10_000], data[i : i + 10_000])
    build_s = time.perf_counter() - start
    latencies, hits = [], 0
    for q, truth in zip(queries, exact, strict=True):
        t = time.perf_counter()
        found = index.search(q, 10)
        latencies.append(time.perf_counter() - t)
        hits += len({int(mid) for mid, _ in found} & truth)
    lat = np.array(latencies) * 1000
    return {
        "index": kind.value,
        "build_s": round(build_s, 2),
        "bytes": index.nbytes,
        "bytes_per_vector": round(index.nbytes / len(data), 1),
        "p50_ms": round(float(np.percentile(lat, 50)), 3),
        "p95_ms": round(float(np.percentile(lat, 95)), 3),
        "p99_ms": round(float(np.percentile(lat, 99)), 3),
        "queries_per_s": round(len(queries) / (lat.sum() / 1000), 1),
        "recall_at_10": round(hits / (10 * len(queries)), 4),
    }


def run(embedders: list[str], scales: list[int], n_queries: int = 200) -> list[dict[str, Any]]:
    rows = []
    for name in embedders:
        embedder = make_embedder(name)
        for n in scales:
            data, texts_per_s = vectors(embedder, n)
            rng = np.random.default_rng(7)
            picks = rng.choice(n, size=n_queries, replace=False)
            # Queries near (not at) stored memories: a stored vector plus noise, renormalised.
            noisy = data[picks] + rng.normal(0, 0.05, (n_queries, data.shape[1])).astype(np.float32)
            queries = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
            scores = queries @ data.T
            exact = [set(np.argsort(-row)[:10].tolist()) for row in scores]
            for kind in KINDS:
                row = {"embedder": name, "memories": n, "embed_texts_per_s": round(texts_per_s, 1)}
                rows.append(row | bench_index(kind, data, queries, exact))
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| embedder | memories | index | MB | B/vector | p50 ms | p95 ms | p99 ms | queries/s | recall@10 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['embedder']} | {r['memories']:,} | {r['index']} | {r['bytes'] / 2**20:.1f} | "
            f"{r['bytes_per_vector']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | "
            f"{r['queries_per_s']} | {r['recall_at_10']} |"
        )
    return "\n".join(lines)
