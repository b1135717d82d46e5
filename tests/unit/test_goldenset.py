"""The golden set file's checks: every problem names the file, the line and the field, never the text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jean_memory.goldenset import GoldenSetError, load
from jean_memory.memory import owner_key

GOOD = {"user_id": "u1", "query": "where do I live", "expected_ids": ["m1", "m2"]}


def _file(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "golden.ndjson"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_lines_become_searches_per_tenant(tmp_path: Path) -> None:
    path = _file(tmp_path, "# comment", json.dumps(GOOD), "", json.dumps({**GOOD, "tenant": "acme", "user_id": "u2"}))
    queries = load(path, k=5, max_query_chars=100, tenants={"", "acme"})
    assert [q.owner for q in queries] == ["u1", owner_key("acme", "u2")]
    assert queries[0].expected == frozenset({"m1", "m2"}) and queries[0].query == "where do I live"


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps({**GOOD, "expected_ids": []}), "expected_ids:"),
        (json.dumps({**GOOD, "expected_ids": ["a", "a"]}), "expected_ids: must be distinct"),
        (json.dumps({**GOOD, "expected_ids": ["a", "b", "c"]}), "more than the 2 a replay looks at (JM_GOLDEN_K)"),
        (json.dumps({**GOOD, "query": "   "}), "query: is blank"),
        (json.dumps({**GOOD, "query": "x" * 101}), "query: longer than 100 characters"),
        (json.dumps({**GOOD, "user_id": 7}), "user_id:"),
        (json.dumps({**GOOD, "extra": 1}), "extra:"),
        (json.dumps({**GOOD, "tenant": "globex"}), "tenant: no API key acts for this tenant"),
        (json.dumps({**GOOD, "tenant": "not a tenant"}), "tenant:"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, line: str, problem: str) -> None:
    good = json.dumps({**GOOD, "expected_ids": ["m1"]})
    path = _file(tmp_path, good, line)
    with pytest.raises(GoldenSetError) as exc:
        load(path, k=2, max_query_chars=100, tenants={"", "acme"})
    assert str(exc.value).startswith(f"{path} line 2: ") and problem in str(exc.value), exc.value
    assert "where do I live" not in str(exc.value)


def test_an_empty_or_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GoldenSetError, match="holds no search"):
        load(_file(tmp_path, "# nothing yet"), k=10, max_query_chars=100, tenants={""})
    with pytest.raises(GoldenSetError, match="cannot be read"):
        load(tmp_path / "absent.ndjson", k=10, max_query_chars=100, tenants={""})
