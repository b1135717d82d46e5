"""A lone surrogate (JSON's `"\\ud800"` escape) anywhere a client puts a string, and times that cannot
be meant, get 422 naming the field: never a 500 (nothing downstream can encode a lone surrogate)."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.helpers import new_id

#: The JSON escape, sent as the six characters a client would send (json.dumps would send the same).
BAD = "\\ud800"
ID = "3f0e5a52-6f0b-4a53-9d55-0c5c1b0f0a11"


def send(client: httpx.Client, method: str, path: str, body: str, **params: str) -> httpx.Response:
    return client.request(
        method, path, content=body.encode(), params=params, headers={"content-type": "application/json"}
    )


def fields(r: httpx.Response) -> list[str]:
    return [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/v1/memories", f'{{"user_id": "u", "content": "a{BAD}b"}}', "content"),
        ("POST", "/v1/memories", f'{{"user_id": "u{BAD}", "content": "ok"}}', "user_id"),
        ("POST", "/v1/memories", f'{{"user_id": "u", "content": "ok", "metadata": {{"k": "{BAD}"}}}}', "metadata"),
        ("POST", "/v1/memories", f'{{"user_id": "u", "content": "ok", "metadata": {{"{BAD}": 1}}}}', "metadata"),
        (
            "POST",
            "/v1/memories",
            f'{{"user_id": "u", "content": "ok", "metadata": {{"a": [{{"b": "{BAD}"}}]}}}}',
            "metadata",
        ),
        # A field name that is not text cannot be named: the body is.
        ("POST", "/v1/memories", f'{{"user_id": "u", "content": "ok", "{BAD}": 1}}', "body"),
        (
            "POST",
            "/v1/memories/batch",
            f'{{"user_id": "u", "items": [{{"content": "ok"}}, {{"content": "{BAD}"}}]}}',
            "items[1].content",
        ),
        (
            "POST",
            "/v1/memories/batch",
            f'{{"user_id": "u", "items": [{{"content": "ok", "metadata": {{"x": "{BAD}"}}}}]}}',
            "items[0].metadata",
        ),
        ("POST", "/v1/search", f'{{"user_id": "u", "query": "{BAD}"}}', "query"),
        ("POST", "/v1/search", f'{{"user_id": "u{BAD}", "query": "q"}}', "user_id"),
        ("POST", "/v1/search", f'{{"user_id": "u", "query": "q", "filters": {{"k": "{BAD}"}}}}', "filters"),
        ("POST", "/v1/search", f'{{"user_id": "u", "query": "q", "filters": {{"{BAD}": "v"}}}}', "filters"),
        ("PATCH", f"/v1/memories/{ID}", f'{{"content": "{BAD}"}}', "content"),
        ("PATCH", f"/v1/memories/{ID}", f'{{"metadata": {{"{BAD}": "v"}}}}', "metadata"),
    ],
)
def test_lone_surrogate_is_422_naming_the_field(
    client: httpx.Client, method: str, path: str, body: str, field: str
) -> None:
    params = {"user_id": "u"} if method == "PATCH" else {}
    r = send(client, method, path, body, **params)
    assert r.status_code == 422, r.text
    assert fields(r) == [field], r.text
    assert "Unicode" in r.text or "known field" in r.text, r.text


def test_wrong_type_under_a_surrogate_key_is_named_without_it(client: httpx.Client) -> None:
    """The key is never quoted back as it came (no encoder can write it): pydantic names it with replacement
    characters, the filter grammar (where an object under a name is an operator object, not a wrong type)
    names the object; either way the answer is JSON."""
    r = send(client, "POST", "/v1/search", f'{{"user_id": "u", "query": "q", "filters": {{"{BAD}": {{"n": 1}}}}}}')
    assert r.status_code == 422, r.text
    assert fields(r) and all(f == "filters" or f.startswith("filters.") for f in fields(r)), r.text


def test_a_valid_surrogate_pair_is_text(client: httpx.Client, user: str) -> None:
    """`\\ud83d\\ude00` is one character (an emoji), not a lone surrogate: accepted and read back."""
    body = f'{{"user_id": "{user}", "content": "smile \\ud83d\\ude00", "metadata": {{"e": "\\ud83d\\ude00"}}}}'
    r = send(client, "POST", "/v1/memories", body)
    assert r.status_code == 201, r.text
    got = client.get(f"/v1/memories/{r.json()['id']}", params={"user_id": user}).json()
    assert got["content"] == "smile \N{GRINNING FACE}" and got["metadata"] == {"e": "\N{GRINNING FACE}"}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"expires_at": 1.0}, "expires_at"),  # long past
        ({"expires_at": 1e300}, "expires_at"),
        ({"created_at": 1e300}, "created_at"),
        ({"created_at": 99999999999.0}, "created_at"),  # the year 5138
        ({"created_at": 4102444800.5}, "created_at"),  # just past 2100-01-01, the documented bound
        ({"created_at": -5}, "created_at"),
    ],
)
def test_impossible_times_are_422(client: httpx.Client, user: str, extra: dict[str, float], field: str) -> None:
    r = client.post("/v1/memories", json={"user_id": user, "content": "ok", **extra})
    assert r.status_code == 422 and fields(r) == [field], r.text
    r = client.post("/v1/memories/batch", json={"user_id": user, "items": [{"content": "ok", **extra}]})
    assert r.status_code == 422 and fields(r) == [f"items[0].{field}"], r.text


def test_past_expiry_on_update_is_422(client: httpx.Client, user: str) -> None:
    memory_id = new_id()
    assert client.post("/v1/memories", json={"user_id": user, "content": "ok", "id": memory_id}).status_code == 201
    for value in (time.time() - 60, 1e300):
        r = client.patch(f"/v1/memories/{memory_id}", params={"user_id": user}, json={"expires_at": value})
        assert r.status_code == 422 and fields(r) == ["expires_at"], r.text


def test_possible_times_are_accepted(client: httpx.Client, user: str) -> None:
    """An import keeps its old creation times; a clock ahead is tolerated; a far expiry is a plan."""
    now = time.time()
    for extra in ({"created_at": 1_000_000_000.0}, {"created_at": now + 600}, {"created_at": 4102444800},
                  {"expires_at": now + 10 * 365 * 86400}):  # fmt: skip
        r = client.post("/v1/memories", json={"user_id": user, "content": "ok", **extra})
        assert r.status_code == 201, r.text
