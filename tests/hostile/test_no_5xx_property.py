"""Property: no body, query string or id a client sends gets a 5xx, on any route.

Complements tests/e2e/test_schemathesis.py, which draws from the published schema: schemathesis sends
well-formed UTF-8, so it never tries what JSON's escapes allow beyond it (a lone surrogate, `\\ud800`)
nor keys and strings outside the schema's shapes. Here hypothesis draws strings from every code point,
surrogates included, puts them in every field (keys too), and sends them as JSON escapes to the real
service; query strings get arbitrary percent-encoded bytes (not UTF-8 either).
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

#: Every code point, lone surrogates included (hypothesis leaves them out unless told).
ANY_TEXT = st.text(st.characters(codec=None, categories=None), max_size=24)
#: Text around one lone surrogate: rare among all code points, so drawn on purpose.
SURROGATE_TEXT = st.tuples(ANY_TEXT, st.characters(categories=["Cs"]), ANY_TEXT).map("".join)
#: Often valid text: a drawn request should often get past its first field to the next one.
TEXT = st.one_of(st.sampled_from(["ok", "alice", "kind", "", " ", "x" * 300]), ANY_TEXT, SURROGATE_TEXT)
SCALAR = st.one_of(
    TEXT, st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False), st.booleans(), st.none()
)
JSON = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=6
)
TIME = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-(2**40), 2**64), TEXT, st.none())
ID = st.one_of(st.uuids().map(str), TEXT)


#: What each field may be drawn as: its own kind of value, or anything at all.
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "user_id": TEXT,
    "content": TEXT,
    "query": TEXT,
    "metadata": st.dictionaries(TEXT, JSON, max_size=3) | JSON,
    "filters": st.dictionaries(TEXT, SCALAR, max_size=3) | JSON,
    "salience": SCALAR,
    "k": SCALAR,
    "dedupe": SCALAR,
    "version": SCALAR,
    "id": ID,
    "created_at": TIME,
    "expires_at": TIME,
}


def mutated(valid: dict[str, Any], **more: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body with one to three fields drawn anew (or dropped), and now and then an unknown one:
    so a hostile value in one field meets valid ones everywhere else and reaches the code behind them."""
    names = sorted(set(valid) | set(more) | {"id", "created_at", "expires_at", "metadata"} & set(FIELDS))
    value = {n: more.get(n, FIELDS.get(n, JSON)) for n in names}
    changes = st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True).flatmap(
        lambda chosen: st.fixed_dictionaries({n: st.one_of(value[n], st.just(DROP)) for n in chosen})
    )
    unknown = st.dictionaries(TEXT, JSON, max_size=1)
    return st.tuples(changes, unknown).map(
        lambda t: {k: v for k, v in {**valid, **t[0], **t[1]}.items() if v is not DROP}
    )


DROP = object()
ITEM = mutated({"content": "ok"}, version=SCALAR)
BODIES = {
    ("POST", "/v1/memories"): mutated({"user_id": "u", "content": "ok", "metadata": {"kind": "a"}}, dedupe=SCALAR),
    ("POST", "/v1/memories/batch"): mutated(
        {"user_id": "u", "items": [{"content": "ok"}]}, items=st.lists(ITEM, min_size=1, max_size=3)
    ),
    ("POST", "/v1/search"): mutated({"user_id": "u", "query": "ok", "k": 5, "filters": {"kind": "a"}}),
    ("PATCH", "/v1/memories/{id}"): mutated({"content": "ok", "metadata": {"kind": "a"}}, salience=SCALAR),
}
#: Routes whose input is the path and query string only.
READS = [
    ("GET", "/v1/memories/{id}"),
    ("GET", "/v1/memories/{id}/history"),
    ("DELETE", "/v1/memories/{id}"),
    ("GET", "/v1/memories"),
    ("GET", "/v1/memories/export"),
    ("DELETE", "/v1/memories"),
]
RAW_BYTES = st.binary(max_size=16).map(lambda b: urllib.parse.quote_from_bytes(b, safe=""))
QUERY_VALUE = st.one_of(RAW_BYTES, st.sampled_from(["alice", "u", "50", "-1", "x" * 300]))


def check(r: httpx.Response, what: str) -> None:
    assert r.status_code < 500, f"{what} -> {r.status_code} {r.text[:500]}"
    if r.status_code >= 400:
        assert r.json()["errors"], r.text  # every refusal names what it refuses


@pytest.fixture(scope="module")
def memory_id(shared_service: Any) -> str:
    """A memory that exists, so PATCH and reads also reach the use case, not only the 404."""
    with httpx.Client(base_url=shared_service.url, timeout=30) as c:
        r = c.post("/v1/memories", json={"user_id": "u", "content": "the property test's memory"})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("route", list(BODIES), ids=lambda r: f"{r[0]} {r[1]}")
def test_no_body_gets_a_5xx(client: httpx.Client, memory_id: str, route: tuple[str, str]) -> None:
    method, template = route

    @PROPERTY
    @given(body=st.one_of(BODIES[route], JSON), use_known_id=st.booleans(), user=QUERY_VALUE)
    def run(body: Any, use_known_id: bool, user: str) -> None:
        path = template.replace("{id}", memory_id if use_known_id else "3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11")
        if method == "PATCH":
            path += f"?user_id={'u' if use_known_id else user}"
        raw = json.dumps(body)  # ensure_ascii: a lone surrogate goes out as the escape `\ud800`
        r = client.request(method, path, content=raw.encode(), headers={"content-type": "application/json"})
        check(r, f"{method} {path} {raw[:300]}")

    run()


@pytest.mark.parametrize("route", READS, ids=lambda r: f"{r[0]} {r[1]}")
def test_no_path_or_query_gets_a_5xx(client: httpx.Client, memory_id: str, route: tuple[str, str]) -> None:
    method, template = route

    @PROPERTY
    @given(user=QUERY_VALUE, memory=st.one_of(st.just(memory_id), RAW_BYTES), extra=st.tuples(RAW_BYTES, QUERY_VALUE))
    def run(user: str, memory: str, extra: tuple[str, str]) -> None:
        path = template.replace("{id}", memory or "x")
        target = f"{path}?user_id={user}&limit={extra[1]}&cursor={extra[1]}&{extra[0]}={extra[1]}"
        # Sent as is: httpx would re-encode, and the point is the bytes the server decodes.
        r = client.request(method, httpx.URL(target))
        check(r, f"{method} {target[:300]}")

    run()
