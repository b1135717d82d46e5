"""Recall you can measure: LoCoMo's questions searched through the real service, beside simple retrievers.

`jean-memory-dev recall` loads the conversations (`locomo.py`) into a running service over its HTTP
API (a service it starts itself; `--cluster N`, a cluster it starts itself: N replicas in cluster
mode, PostgreSQL, HAProxy in front; or `--url`, one already running), batch-adding each
conversation's turns as one user's memories, waits until every memory is searchable
(`jm_embedding_backlog` and `jm_shuttle_pending` at 0 on every replica, each user's count reached),
then searches every question (k=20) one after the other, each user warmed first, so the latency is
hot search's.

Beside it, outside the service, on the same memories and questions: exact cosine with the embedder
the service used (the service's own class, `jean_memory.embedding`), BM25 (`bm25s`, English
stopwords), BM25 with a Snowball stemmer (`PyStemmer`), and the issue's two naive fusions of stemmed
BM25 and cosine. BM25 retrieves only documents sharing a term with the query (score > 0).

R@k is the share of a question's evidence turns in the top k, averaged over questions; hit@k the share
of questions with at least one evidence turn in the top k. The saved report holds numbers and
`dia_id`s only (questions are named by their position in the file), never LoCoMo's text.

    jean-memory-dev recall                                 # five conversations, MiniLM (minutes)
    jean-memory-dev recall --embedder hash --conversations 1 --save recall-smoke
"""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from jean_memory_dev.perf.baseline import gauge, machine_facts, scrape
from jean_memory_dev.perf.locomo import DEFAULT_PATH, Conversation, load
from jean_memory_dev.processes import ServiceProcess

KS = (1, 5, 10, 20)
DEPTH = max(KS)
#: The retrievers, in the order tables and plots show them.
RETRIEVERS = {
    "service": "the service (POST /v1/search, default mode hybrid)",
    "service_vector": "the service, mode vector",
    "service_lexical": "the service, mode lexical",
    "cosine": "exact cosine, same embedder",
    "bm25": "BM25 (bm25s, English stopwords)",
    "bm25_stemmed": "BM25, Snowball stemmer",
    "rrf": "RRF of stemmed BM25 and cosine (k=10)",
    "weighted": "0.5 max-norm BM25 (stemmed) + 0.5 min-max cosine",
}
RRF_K = 10
#: Unmeasured searches of each question first: one per replica of a two-replica cluster behind
#: HAProxy's round robin (with one, the first measured mode always met the replica that had not yet
#: embedded the query, and its latency was the model's).
WARM_SEARCHES = 2
#: The service's modes measured, in order: the default (no `mode` sent) first.
MODES = {"service": None, "service_vector": "vector", "service_lexical": "lexical"}
BATCH = 1000

# --- the measure ---------------------------------------------------------------------------------


def evidence_ranks(ranked: Sequence[str], evidence: Sequence[str]) -> list[int | None]:
    """The 1-based rank of each evidence turn in `ranked` (None: not in it)."""
    where = {dia: i + 1 for i, dia in reversed(list(enumerate(ranked)))}
    return [where.get(e) for e in evidence]


def recall_at(ranks: Sequence[int | None], k: int) -> float:
    """Share of the evidence found in the top k."""
    return sum(1 for r in ranks if r is not None and r <= k) / len(ranks)


def hit_at(ranks: Sequence[int | None], k: int) -> float:
    return 1.0 if any(r is not None and r <= k for r in ranks) else 0.0


def summarise(rows: Sequence[Mapping[str, Any]], retriever: str) -> dict[str, Any]:
    """R@k and hit@k of one retriever over `rows` (each with `ranks[retriever]`), averaged."""
    out: dict[str, Any] = {"questions": len(rows)}
    for k in KS:
        out[f"r@{k}"] = round(statistics.fmean(recall_at(r["ranks"][retriever], k) for r in rows), 4) if rows else 0.0
        out[f"hit@{k}"] = round(statistics.fmean(hit_at(r["ranks"][retriever], k) for r in rows), 4) if rows else 0.0
    return out


def scores(rows: Sequence[Mapping[str, Any]], retrievers: Sequence[str]) -> dict[str, Any]:
    """Per retriever: `overall` and `by_category` (keys "1" to "4")."""
    categories = sorted({r["category"] for r in rows})
    return {
        name: {
            "overall": summarise(rows, name),
            "by_category": {str(c): summarise([r for r in rows if r["category"] == c], name) for c in categories},
        }
        for name in retrievers
    }


# --- the service ---------------------------------------------------------------------------------


def user_of(tag: str, conv: Conversation) -> str:
    return f"recall-{tag}-{conv.name}"


def memory_id(user: str, dia_id: str) -> str:
    """A client-chosen id per turn, so a retried batch creates nothing twice."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"jean-memory/recall/{user}/{dia_id}"))


def add_all(client: httpx.Client, user: str, conv: Conversation) -> None:
    items = [
        {
            "id": memory_id(user, t.dia_id),
            "content": t.content,
            "metadata": {"dia_id": t.dia_id, "session": t.session, "speaker": t.speaker},
            "created_at": t.created_at,
        }
        for t in conv.turns
    ]
    for i in range(0, len(items), BATCH):
        while True:
            r = client.post("/v1/memories/batch", json={"user_id": user, "items": items[i : i + BATCH]})
            if r.status_code in (429, 503):
                time.sleep(float(r.headers.get("retry-after", "1")))
                continue
            r.raise_for_status()
            break


def count(client: httpx.Client, user: str) -> int:
    n, cursor = 0, None
    while True:
        params: dict[str, Any] = {"user_id": user, "limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = client.get("/v1/memories", params=params)
        r.raise_for_status()
        page = r.json()
        n += len(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return n


def backlog(metrics: Sequence[str]) -> float | None:
    """Memories still waiting for a vector or for the long-term store (`jm_embedding_backlog` and
    `jm_shuttle_pending`), summed over the services' `/metrics` (None where none answers)."""
    total, seen = 0.0, False
    for url in metrics:
        try:
            samples = scrape(url)
        except (httpx.HTTPError, ValueError):
            continue
        seen = True
        total += sum(gauge(samples, name) or 0.0 for name in ("jm_embedding_backlog", "jm_shuttle_pending"))
    return total if seen else None


def wait_searchable(
    client: httpx.Client, expected: Mapping[str, int], metrics: Sequence[str], timeout_s: float = 1800
) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        waiting = backlog(metrics)
        missing = {u: n for u, n in expected.items() if count(client, u) < n}
        if not waiting and not missing:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"not searchable after {timeout_s} s: backlog {waiting}, short users {missing}")
        time.sleep(0.5)


def search_all(
    client: httpx.Client, convs: Sequence[Conversation], tag: str
) -> tuple[dict[str, dict[tuple[str, int], list[str]]], dict[str, list[float]], dict[str, list[float]], int]:
    """Every question through `POST /v1/search` in every mode (`MODES`): per mode, the ranked dia_ids,
    client and server latencies (ms); and how many default-mode hits came from memories still waiting for
    their vector (tier `pending`). Each question is searched `WARM_SEARCHES` times first (k=1, default
    mode, not measured: once per replica behind a round-robin HAProxy), so every measured search is hot
    (its query vector cached, the user's lexical index built after the writes) and the modes are timed
    alike, one after the other on the same question."""
    ranked: dict[str, dict[tuple[str, int], list[str]]] = {name: {} for name in MODES}
    latency: dict[str, list[float]] = {name: [] for name in MODES}
    took: dict[str, list[float]] = {name: [] for name in MODES}
    pending = 0
    for conv in convs:
        user = user_of(tag, conv)
        for q in conv.questions:
            warm = {"user_id": user, "query": q.query, "k": 1}
            for _ in range(WARM_SEARCHES):
                client.post("/v1/search", json=warm).raise_for_status()
            for name, mode in MODES.items():
                body_in: dict[str, Any] = {"user_id": user, "query": q.query, "k": DEPTH}
                if mode is not None:
                    body_in["mode"] = mode
                start = time.perf_counter()
                r = client.post("/v1/search", json=body_in)
                latency[name].append((time.perf_counter() - start) * 1000)
                r.raise_for_status()
                body = r.json()
                took[name].append(float(body["took_ms"]))
                if mode is None:
                    pending += sum(1 for h in body["results"] if h["tier"] != "stm")
                ranked[name][(conv.name, q.index)] = [str(h["metadata"].get("dia_id")) for h in body["results"]]
    return ranked, latency, took, pending


def forget(client: httpx.Client, users: Sequence[str]) -> None:
    for user in users:
        client.delete("/v1/memories", params={"user_id": user}).raise_for_status()


# --- the baselines -------------------------------------------------------------------------------


def make_embedder(kind: str) -> Any:
    """The service's own embedder class, built as the service builds it (the ONNX bundle for MiniLM),
    in this process."""
    from jean_memory.config import Settings
    from jean_memory.embedding import make_embedder as build

    return build(Settings(embedder=kind, embed_subprocess=False))  # type: ignore[arg-type]


def _top(score: np.ndarray, keep: np.ndarray | None = None) -> list[int]:
    order = np.argsort(-score, kind="stable")
    if keep is not None:
        order = order[keep[order]]
    return [int(i) for i in order[:DEPTH]]


def _rank_positions(order: np.ndarray, n: int) -> np.ndarray:
    pos = np.empty(n, dtype=np.float64)
    pos[order] = np.arange(1, len(order) + 1)
    return pos


def baselines(conv: Conversation, embedder: Any) -> dict[str, dict[int, list[str]]]:
    """Each baseline's top-20 dia_ids for each question of `conv` (by question index)."""
    import bm25s
    import Stemmer

    docs = [t.content for t in conv.turns]
    ids = [t.dia_id for t in conv.turns]
    queries = [q.query for q in conv.questions]
    n = len(docs)

    def bm25(stemmer: Any) -> list[np.ndarray]:
        def tok(texts: list[str]) -> list[list[str]]:
            out: list[list[str]] = bm25s.tokenize(
                texts, stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False
            )
            return out

        index = bm25s.BM25()
        index.index(tok(docs), show_progress=False)
        return [index.get_scores(q) if q else np.zeros(n) for q in tok(queries)]

    plain = bm25(None)
    stemmed = bm25(Stemmer.Stemmer("english"))
    doc_vectors = np.asarray(embedder.embed(docs), dtype=np.float32)
    query_vectors = np.asarray(embedder.embed(queries), dtype=np.float32)
    cosine = query_vectors @ doc_vectors.T

    out: dict[str, dict[int, list[str]]] = {name: {} for name in RETRIEVERS if name not in MODES}
    for qi, q in enumerate(conv.questions):
        lex, sem = stemmed[qi], cosine[qi]
        rows = {
            "cosine": _top(sem),
            "bm25": _top(plain[qi], plain[qi] > 0),
            "bm25_stemmed": _top(lex, lex > 0),
        }
        sem_pos = _rank_positions(np.argsort(-sem, kind="stable"), n)
        lex_pos = _rank_positions(np.argsort(-lex, kind="stable"), n)
        rrf = 1.0 / (RRF_K + sem_pos) + np.where(lex > 0, 1.0 / (RRF_K + lex_pos), 0.0)
        rows["rrf"] = _top(rrf)
        lex_norm = lex / lex.max() if lex.max() > 0 else np.zeros(n)
        span = sem.max() - sem.min()
        sem_norm = (sem - sem.min()) / span if span > 0 else np.zeros(n)
        rows["weighted"] = _top(0.5 * lex_norm + 0.5 * sem_norm)
        for name, top in rows.items():
            out[name][q.index] = [ids[i] for i in top]
    return out


# --- the run -------------------------------------------------------------------------------------


def _latency(latency: Sequence[float], took: Sequence[float]) -> dict[str, Any]:
    return {
        "searches": len(latency),
        "p50": _pct(latency, 50),
        "p99": _pct(latency, 99),
        "mean": round(statistics.fmean(latency), 2) if latency else 0.0,
        "server_p50": _pct(took, 50),
        "server_p99": _pct(took, 99),
    }


def _pct(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2) if values else 0.0


@contextlib.contextmanager
def _service(mode: str, embedder: str, work: Path, url: str | None) -> Iterator[tuple[str, list[str]]]:
    """The service measured, as (its URL, the URLs of its `/metrics`): one started here (`embedded`), a
    cluster started here (`cluster:N`: N replicas in cluster mode, PostgreSQL, HAProxy in front), or the
    one at `url`."""
    if url is not None:
        yield url, [url]
    elif mode.startswith("cluster"):
        from jean_memory_dev.cluster import ClusterPorts, ClusterStack

        replicas = int(mode.partition(":")[2] or 2)
        stack = ClusterStack(work / "cluster", replicas, env={"JM_EMBEDDER": embedder}, ports=ClusterPorts.free())
        stack.up()
        try:
            yield stack.url, [r.url for r in stack.replicas]
        finally:
            stack.down()
    else:
        svc = ServiceProcess(work / "data", env={"JM_EMBEDDER": embedder}).start(timeout_s=300)
        try:
            yield svc.url, [svc.url]
        finally:
            svc.terminate()


def run(
    embedder: str = "minilm",
    conversations: int | None = None,
    path: Path = DEFAULT_PATH,
    url: str | None = None,
    headers: Mapping[str, str] | None = None,
    tag: str | None = None,
    cluster: int = 0,
    progress: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Measure: the service and the baselines on the same data. The service is one started here, a
    cluster of `cluster` replicas started here, or the one at `url`. Users are named
    `recall-<tag>-<conversation>` (`tag`: random unless given); at `url` they are forgotten after."""
    convs = load(path, conversations)
    tag = tag or uuid.uuid4().hex[:8]
    users = {user_of(tag, c): len(c.turns) for c in convs}
    mode = "url" if url else f"cluster:{cluster}" if cluster else "embedded"
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="jm-recall-"))
    try:
        with (
            _service(mode, embedder, work, url) as (base, metrics),
            httpx.Client(base_url=base, timeout=600, headers=dict(headers or {})) as client,
        ):
            t0 = time.perf_counter()
            for conv in convs:
                add_all(client, user_of(tag, conv), conv)
            added_s = time.perf_counter() - t0
            wait_searchable(client, users, metrics)
            searchable_s = time.perf_counter() - t0
            progress(f"{sum(users.values())} memories of {len(convs)} conversations searchable in {searchable_s:.1f} s")
            ranked, latency, took, pending = search_all(client, convs, tag)
            for name in MODES:
                progress(f"{name}: {len(latency[name])} searches: p50 {_pct(latency[name], 50)} ms, "
                         f"p99 {_pct(latency[name], 99)} ms")  # fmt: skip
            if url is not None:  # a service someone else runs: leave it as it was
                forget(client, list(users))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    t1 = time.perf_counter()
    model = make_embedder(embedder)
    per_conv = {c.name: baselines(c, model) for c in convs}
    baseline_s = time.perf_counter() - t1
    rows = []
    for conv in convs:
        for q in conv.questions:
            evidence = sorted(q.evidence)
            lists = {name: ranked[name][(conv.name, q.index)] for name in MODES}
            lists |= {name: per_conv[conv.name][name][q.index] for name in per_conv[conv.name]}
            rows.append(
                {
                    "conversation": conv.name,
                    "question": q.index,
                    "category": q.category,
                    "evidence": evidence,
                    "ranks": {name: evidence_ranks(top, evidence) for name, top in lists.items()},
                }
            )
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_facts(),
        "mode": mode,
        "embedder": embedder,
        "model_id": model.model_id,
        "conversations": [c.name for c in convs],
        "memories": sum(users.values()),
        "questions": len(rows),
        "k": DEPTH,
        "seconds": {
            "add": round(added_s, 2),
            "searchable": round(searchable_s, 2),
            "baselines": round(baseline_s, 2),
            "total": round(time.perf_counter() - started, 2),
        },
        "search_latency_ms": _latency(latency["service"], took["service"]),
        "search_latency_by_mode_ms": {name: _latency(latency[name], took[name]) for name in MODES},
        "pending_hits": pending,
        "retrievers": scores(rows, list(RETRIEVERS)),
        "rows": rows,
    }


# --- the report ----------------------------------------------------------------------------------


def _cells(s: Mapping[str, Any]) -> str:
    return " | ".join(f"{s[f'r@{k}']:.3f}" for k in KS) + " | " + " | ".join(f"{s[f'hit@{k}']:.3f}" for k in KS)


def table(report: Mapping[str, Any]) -> str:
    lat = report["search_latency_ms"]
    head = "| R@1 | R@5 | R@10 | R@20 | hit@1 | hit@5 | hit@10 | hit@20 |"
    lines = [
        f"Recall on {len(report['conversations'])} LoCoMo conversations ({report['memories']} memories, "
        f"{report['questions']} questions, categories 1 to 4), embedder {report['embedder']}, mode {report['mode']}",
        "",
        f"| retriever {head}",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, s in report["retrievers"].items():
        lines.append(f"| {RETRIEVERS.get(name, name)} | {_cells(s['overall'])} |")
    lines += ["", f"| retriever | category | questions {head}", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in report["retrievers"].items():
        for cat, c in s["by_category"].items():
            lines.append(f"| {RETRIEVERS.get(name, name)} | {cat} | {c['questions']} | {_cells(c)} |")
    lines += [
        "",
        f"search latency over {lat['searches']} hot searches (k={report['k']}, sequential): "
        f"client p50 {lat['p50']} ms, p99 {lat['p99']} ms; "
        f"server (took_ms) p50 {lat['server_p50']} ms, p99 {lat['server_p99']} ms; "
        f"hits from memories still waiting for a vector: {report['pending_hits']}",
        *(
            f"mode {name}: client p50 {m['p50']} ms, p99 {m['p99']} ms; server p50 {m['server_p50']} ms, "
            f"p99 {m['server_p99']} ms"
            for name, m in report.get("search_latency_by_mode_ms", {}).items()
        ),
        f"seconds: {report['seconds']}",
    ]
    return "\n".join(lines)


def plot(report: Mapping[str, Any], png: Path) -> Path:
    """R@k against k, one line per retriever (the service's drawn thickest)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    for name, s in report["retrievers"].items():
        ys = [s["overall"][f"r@{k}"] for k in KS]
        ax.plot(KS, ys, marker="o", linewidth=3 if name == "service" else 1.3, label=RETRIEVERS.get(name, name))
    ax.set_xticks(KS)
    ax.set_xlabel("k")
    ax.set_ylabel("R@k (share of evidence turns in the top k)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        f"LoCoMo recall, {len(report['conversations'])} conversations, {report['questions']} questions, "
        f"{report['embedder']}, {report['mode']} ({report['date'][:10]})",
        fontsize=10,
    )
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    plt.close(fig)
    return png
