"""The history checker judges hand-written histories as the guarantee says (no service involved)."""

from __future__ import annotations

import numpy as np

from jean_memory.embedding.hashing import HashEmbedder
from jean_memory_dev.coherence.checker import check, check_final
from jean_memory_dev.coherence.history import Event

EMBED = HashEmbedder().embed


def _add(t0: float, t1: float, mid: str = "m", text: str = "one", status: int | None = 201) -> Event:
    value = {"id": mid, "version": 1, "content": text} if status == 201 else None
    return Event(0, "r0", "add", "u", mid, text, None, t0, t1, status, value)


def _patch(t0: float, t1: float, version: int, text: str, status: int | None = 200) -> Event:
    value = {"id": "m", "version": version, "content": text} if status == 200 else None
    return Event(1, "r1", "patch", "u", "m", text, None, t0, t1, status, value)


def _get(t0: float, t1: float, version: int | None, text: str = "", replica: str = "r2") -> Event:
    if version is None:
        return Event(2, replica, "get", "u", "m", "", None, t0, t1, 404, None)
    return Event(2, replica, "get", "u", "m", "", None, t0, t1, 200, {"id": "m", "version": version, "content": text})


def test_a_read_older_than_an_acknowledged_write_is_stale() -> None:
    history = [_add(0, 1), _patch(2, 3, 2, "two"), _get(4, 5, 1, "one")]
    assert len(check(history).stale_reads) == 1


def test_a_write_in_flight_or_unanswered_may_or_may_not_be_seen() -> None:
    in_flight = [_add(0, 1), _patch(2, 6, 2, "two"), _get(3, 4, 1, "one"), _get(3, 4, 2, "two")]
    assert check(in_flight).clean
    unanswered = [_add(0, 1), _patch(2, 3, 2, "two", status=None), _get(4, 5, 1, "one")]
    assert check(unanswered).clean


def test_reads_never_go_back_once_a_version_was_seen() -> None:
    history = [_add(0, 1), _patch(2, 9, 2, "two"), _get(3, 4, 2, "two"), _get(5, 6, 1, "one", replica="r0")]
    assert len(check(history).stale_reads) == 1


def test_a_missing_memory_is_stale_unless_a_removal_could_have_happened() -> None:
    assert len(check([_add(0, 1), _get(2, 3, None)]).stale_reads) == 1
    delete = Event(3, "r0", "delete", "u", "m", "", None, 1.5, 9, None, None)  # no answer: may have happened
    assert check([_add(0, 1), delete, _get(2, 3, None)]).clean
    refused = Event(3, "r0", "delete", "u", "m", "", None, 1.5, 1.6, 404, None)  # answered missing: did not
    assert len(check([_add(0, 1), refused, _get(2, 3, None)]).stale_reads) == 1


def test_an_acknowledged_delete_or_forget_is_never_undone_by_a_read() -> None:
    delete = Event(3, "r0", "delete", "u", "m", "", None, 2, 3, 204, None)
    assert len(check([_add(0, 1), delete, _get(4, 5, 1, "one")]).stale_reads) == 1
    forget = Event(3, "r0", "forget", "u", "", "", None, 2, 3, 200, {"forgotten": 1})
    assert len(check([_add(0, 1), forget, _get(4, 5, 1, "one")]).stale_reads) == 1
    racing = Event(3, "r0", "forget", "u", "", "", None, 0.5, 3, 200, {"forgotten": 0})  # the add may follow it
    assert check([_add(0, 1), racing, _get(4, 5, 1, "one")]).clean


def test_an_expired_memory_is_gone_after_its_time_and_either_at_the_boundary() -> None:
    add = _add(0, 1)
    add.expires_at = 10.0
    assert check([add, _get(9.99, 10.0, 1, "one"), _get(9.99, 10.2, None)]).clean
    assert len(check([add, _get(10.5, 10.6, 1, "one")]).stale_reads) == 1


def test_a_search_hit_scored_by_another_texts_vector_is_a_stale_vector() -> None:
    query, text, old = "red kettle shelf", "red kettle shelf", "blue canoe jetty"
    right = float(EMBED([query])[0] @ EMBED([text])[0])
    wrong = float(EMBED([query])[0] @ EMBED([old])[0])
    for score, stale in ((right, 0), (wrong, 1)):
        hit = {"id": "m", "content": text, "score": score, "tier": "stm", "metadata": {}}
        search = Event(2, "r2", "search", "u", "m", query, None, 4, 5, 200, [hit])
        assert len(check([_add(0, 1, text=text), search], EMBED).stale_vectors) == stale


def test_a_search_by_the_newest_text_must_find_the_memory() -> None:
    search = Event(2, "r2", "search", "u", "m", "two", None, 4, 5, 200, [])
    assert len(check([_add(0, 1), _patch(2, 3, 2, "two"), search]).search_misses) == 1


def test_a_history_missing_an_acknowledged_version_is_a_gap() -> None:
    versions = [{"version": 1, "event": "add", "content": "one"}]
    history = Event(2, "r2", "history", "u", "m", "", None, 4, 5, 200, {"versions": versions})
    assert len(check([_add(0, 1), _patch(2, 3, 2, "two"), history]).history_gaps) == 1


def test_the_end_state_holds_every_acknowledgement_and_replicas_agree() -> None:
    events = [_add(0, 1), _patch(2, 3, 2, "two")]
    vector = EMBED(["two"])[0]
    verdict = check(events)
    check_final(events, {"m": (2, "two")}, {"r0": {"m": (2, "two")}}, {"m": ("two", vector)}, verdict, EMBED)
    assert verdict.clean
    lost = check(events)
    stale = np.asarray(EMBED(["one"])[0])
    check_final(events, {"m": (1, "one")}, {"r0": {"m": (2, "two")}}, {"m": ("one", stale)}, lost, EMBED)
    assert len(lost.lost_acks) == 1 and len(lost.diverged) == 1 and not lost.stale_vectors
    check_final(events, {"m": (2, "two")}, {}, {"m": ("two", stale)}, lost, EMBED)
    assert len(lost.stale_vectors) == 1
