"""The checker: judges a recorded history against the cluster's coherence guarantee.

Each memory id is added once (clients never re-add an id), so its states are ordered: absent (0),
version n (n), gone (`GONE`: deleted, forgotten or expired). A read must observe at least the
*bound* at its invocation: the highest state established by anything completed before it, that is
every acknowledged write (an add: 1, a PATCH: its version, a DELETE's 204 or a forget acknowledged
after the add's acknowledgement: gone, an expiry time passed: gone) and every earlier read (a
version some read saw is committed). Writes that got no answer or a 5xx may or may not have
happened: they raise no bound, but they excuse a read that sees their effect. An absent memory is a
stale read only when no delete, forget or expiry could have removed it before the read completed.

Besides reads, a search hit indexed by the model (`tier` stm) must have the cosine its own text has to
the query (its vector leg, `explain.vector`: a vector of another text is a *stale vector*); a search by
a memory's newest acknowledged text finds it; a history holds every acknowledged version; and in the final state every
replica agrees with PostgreSQL, which holds every acknowledged write (else a *lost
acknowledgement*), each vector computed from its row's text.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jean_memory_dev.coherence.history import READS, Event

GONE = 1_000_000_000
#: Clock granularity between processes of one machine, for expiry at the boundary.
TOLERANCE_S = 0.05
#: How far an indexed hit's score may be from its own text's cosine to the query.
SCORE_TOLERANCE = 0.01

#: A memory as a replica or PostgreSQL holds it at the end: id -> (version, text).
State = dict[str, tuple[int, str]]
Embed = Callable[[list[str]], np.ndarray]


@dataclass
class Verdict:
    operations: int = 0
    judged_reads: int = 0
    stale_reads: list[str] = field(default_factory=list)
    wrong_values: list[str] = field(default_factory=list)
    search_misses: list[str] = field(default_factory=list)
    stale_vectors: list[str] = field(default_factory=list)
    history_gaps: list[str] = field(default_factory=list)
    lost_acks: list[str] = field(default_factory=list)
    diverged: list[str] = field(default_factory=list)

    @property
    def anomalies(self) -> dict[str, list[str]]:
        return {
            "stale_reads": self.stale_reads,
            "wrong_values": self.wrong_values,
            "search_misses": self.search_misses,
            "stale_vectors": self.stale_vectors,
            "history_gaps": self.history_gaps,
            "lost_acks": self.lost_acks,
            "diverged": self.diverged,
        }

    @property
    def clean(self) -> bool:
        return not any(self.anomalies.values())

    def counts(self) -> dict[str, int]:
        return {
            "operations": self.operations,
            "judged_reads": self.judged_reads,
            **{k: len(v) for k, v in self.anomalies.items()},
        }


@dataclass
class _Memory:
    user: str
    add: Event | None = None
    writes: list[Event] = field(default_factory=list)  # patches and deletes of this id
    #: (completion time, state) of everything that establishes a bound, sorted before judging.
    marks: list[tuple[float, int]] = field(default_factory=list)
    prefix: list[int] = field(default_factory=list)
    #: The earliest time a delete, forget or expiry could have removed it.
    gone_from: float = float("inf")
    texts: dict[int, str] = field(default_factory=dict)  # acknowledged version -> text
    acked_at: dict[int, float] = field(default_factory=dict)  # acknowledged version -> completion time

    def bound(self, t: float) -> int:
        n = bisect.bisect_left(self.marks, (t, -1))
        return self.prefix[n - 1] if n else 0


def check(events: list[Event], embed: Embed | None = None) -> Verdict:
    """Judge every read of the history (the final state is judged by `check_final`)."""
    verdict = Verdict(operations=len(events))
    memories = _timelines(events)
    forgotten: dict[str, list[Event]] = {}
    for e in events:
        if e.kind == "forget" and not e.failed:
            forgotten.setdefault(e.user, []).append(e)
    for e in events:
        if e.kind in READS and (e.ok or (e.kind == "get" and e.status == 404)):
            verdict.judged_reads += 1
            _judge(e, memories, verdict, embed)
        elif e.kind == "history" and e.status == 404 and e.mid in memories:
            verdict.judged_reads += 1
            m = memories[e.mid]
            acked = m.add is not None and m.add.ok and m.add.completed < e.invoked
            if acked and not any(f.invoked < e.completed for f in forgotten.get(m.user, [])):
                verdict.history_gaps.append(f"{_at(e)}: 404 for {e.mid}, acknowledged before and never forgotten")
    return verdict


def _timelines(events: list[Event]) -> dict[str, _Memory]:
    memories: dict[str, _Memory] = {}
    forgets: dict[str, list[Event]] = {}
    for e in events:
        if e.kind == "add":
            m = memories.setdefault(e.mid, _Memory(e.user))
            m.add = e
            if e.ok:
                m.marks.append((e.completed, 1))
                m.texts[1], m.acked_at[1] = e.arg, e.completed
            if e.expires_at is not None and not e.failed:
                m.gone_from = min(m.gone_from, e.expires_at - TOLERANCE_S)
                if e.ok:
                    m.marks.append((e.expires_at + TOLERANCE_S, GONE))
        elif e.kind in ("patch", "delete"):
            memories.setdefault(e.mid, _Memory(e.user)).writes.append(e)
        elif e.kind == "forget":
            forgets.setdefault(e.user, []).append(e)
    for m in memories.values():
        for w in m.writes:
            if w.kind == "patch" and w.ok:
                version = int(w.value["version"])
                m.marks.append((w.completed, version))
                m.texts[version] = w.value["content"]
                m.acked_at[version] = min(w.completed, m.acked_at.get(version, w.completed))
            elif w.kind == "delete" and w.status not in (404,) and not w.failed:
                m.gone_from = min(m.gone_from, w.invoked)
                if w.ok:
                    m.marks.append((w.completed, GONE))
        for f in forgets.get(m.user, []):
            if m.add is None or f.failed or m.add.invoked >= f.completed:
                continue  # the add came after the forget: untouched by it
            m.gone_from = min(m.gone_from, f.invoked)
            if f.ok and m.add.ok and m.add.completed < f.invoked:
                m.marks.append((f.completed, GONE))
    for e in events:  # what reads saw is committed: later reads must see at least as much
        if e.kind in READS and e.ok:
            for mid, version, _ in _present(e):
                if mid in memories and version:
                    memories[mid].marks.append((e.completed, version))
    for m in memories.values():
        m.marks.sort()
        top = 0
        for _, state in m.marks:
            top = max(top, state)
            m.prefix.append(top)
    return memories


def _present(e: Event) -> Iterable[tuple[str, int, str]]:
    """(id, version or 0 when the read does not say, text) of every memory the read returned."""
    if e.kind == "get":
        if e.ok:
            yield e.mid, int(e.value["version"]), e.value["content"]
    elif e.kind in ("list", "export"):
        for item in e.value:
            yield item["id"], int(item["version"]), item["content"]
    elif e.kind == "search":
        for hit in e.value:
            yield hit["id"], 0, hit["content"]


def _judge(e: Event, memories: dict[str, _Memory], verdict: Verdict, embed: Embed | None) -> None:
    if e.kind == "history":
        _judge_history(e, memories.get(e.mid), verdict)
        return
    seen: set[str] = set()
    for mid, version, text in _present(e):
        seen.add(mid)
        m = memories.get(mid)
        if m is None:
            verdict.wrong_values.append(f"{_at(e)} returned {mid}, which no client added")
            continue
        bound = m.bound(e.invoked)
        if bound == GONE:
            verdict.stale_reads.append(f"{_at(e)} returned {mid}, gone before it was invoked")
        elif version and version < bound:
            verdict.stale_reads.append(f"{_at(e)} returned {mid} v{version}, v{bound} was acknowledged before")
        elif not version:
            known = [v for v, t in m.texts.items() if t == text]
            if known and max(known) < bound:
                verdict.stale_reads.append(f"{_at(e)} returned {mid} with v{max(known)}'s text, v{bound} before")
        if version and version in m.texts and m.texts[version] != text:
            verdict.wrong_values.append(f"{_at(e)} returned {mid} v{version} with another text than acknowledged")
    if e.kind == "search":
        _judge_search(e, memories, verdict, embed)
        return
    candidates = [e.mid] if e.kind == "get" else [mid for mid, m in memories.items() if m.user == e.user]
    for mid in candidates:
        m = memories.get(mid)
        if mid in seen or m is None:
            continue
        bound = m.bound(e.invoked)
        if 1 <= bound < GONE and m.gone_from > e.completed:
            verdict.stale_reads.append(f"{_at(e)} misses {mid}, v{bound} acknowledged before it was invoked")


def _cosine(hit: dict[str, Any]) -> float:
    """The hit's vector leg: `explain.vector` where the search explained its ranking (hybrid search fuses the
    cosine with the words' score), else its score (a vector-only ranking)."""
    explain = hit.get("explain")
    if isinstance(explain, dict) and explain.get("vector") is not None:
        return float(explain["vector"])
    return float(hit["score"])


def _judge_search(e: Event, memories: dict[str, _Memory], verdict: Verdict, embed: Embed | None) -> None:
    hits = {h["id"]: h for h in e.value}
    if embed is not None:
        indexed = [h for h in e.value if h["tier"] == "stm"]
        if indexed:
            vectors = embed([e.arg, *(h["content"] for h in indexed)])
            for hit, expected in zip(indexed, vectors[1:] @ vectors[0], strict=True):
                cosine = _cosine(hit)
                if abs(cosine - float(expected)) > SCORE_TOLERANCE:
                    verdict.stale_vectors.append(
                        f"{_at(e)} scored {hit['id']} {cosine:.3f}, its text scores {float(expected):.3f}"
                    )
    m = memories.get(e.mid)
    if m is None:
        return
    target = next((v for v, t in m.texts.items() if t == e.arg), None)
    if target is None or m.bound(e.invoked) != target or m.gone_from <= e.completed:
        return
    later = [w for w in m.writes if w.kind == "patch" and not w.failed and w.invoked < e.completed]
    if any(not w.ok or int(w.value["version"]) > target for w in later):
        return  # another text may have replaced it meanwhile
    if e.mid not in hits:
        verdict.search_misses.append(f"{_at(e)} by {e.mid}'s newest acknowledged text v{target} misses it")


def _judge_history(e: Event, m: _Memory | None, verdict: Verdict) -> None:
    if m is None:
        return
    versions = {(int(v["version"]), v["content"]) for v in e.value["versions"] if v["event"] in ("add", "update")}
    for version, text in m.texts.items():
        if m.acked_at[version] < e.invoked and (version, text) not in versions:
            verdict.history_gaps.append(f"{_at(e)} of {e.mid} lacks acknowledged v{version}")


def check_final(
    events: list[Event],
    store: State,
    replicas: dict[str, State],
    vectors: dict[str, tuple[str, np.ndarray | None]],
    verdict: Verdict,
    embed: Embed | None,
) -> None:
    """The final state: PostgreSQL (`store`, live rows) holds every acknowledged write, each replica's
    export agrees with it, and each stored vector is its row's text's (`vectors`: id -> text, vector)."""
    memories = _timelines(events)
    for mid, m in memories.items():
        final = m.prefix[-1] if m.prefix else 0
        held = store.get(mid)
        if held is None and 1 <= final < GONE and m.gone_from == float("inf"):
            verdict.lost_acks.append(f"{mid}: v{final} acknowledged, absent from PostgreSQL")
        elif held is not None and final == GONE:
            verdict.lost_acks.append(f"{mid}: removal acknowledged, PostgreSQL holds v{held[0]}")
        elif held is not None and held[0] < final:
            verdict.lost_acks.append(f"{mid}: v{final} acknowledged, PostgreSQL holds v{held[0]}")
    for name, state in replicas.items():
        if state != store:
            differ = sorted(set(state.items()) ^ set(store.items()))
            verdict.diverged.append(f"replica {name} differs from PostgreSQL in {len(differ)} memories: {differ[:3]}")
    if embed is None:
        return
    for mid, (text, vector) in vectors.items():
        if vector is None:
            verdict.stale_vectors.append(f"{mid} has no vector at the end")
            continue
        expected = embed([text])[0]
        if float(vector @ expected) < 1 - SCORE_TOLERANCE:
            verdict.stale_vectors.append(f"{mid}'s stored vector scores {float(vector @ expected):.3f} to its text")


def _at(e: Event) -> str:
    return f"{e.kind} on {e.replica} at {e.invoked:.3f}-{e.completed:.3f} (process {e.process})"
