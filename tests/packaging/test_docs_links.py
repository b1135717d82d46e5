"""The docs are a door: every relative link in the README, docs/ and the runbooks leads somewhere, and
every `#anchor` to a heading of the page it names (GitHub's heading ids). Pages move and split; a link
left pointing at the old place fails here, not in a reader's browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "alerts/runbooks").glob("*.md"))]
#: A Markdown link (not an image) and its target, up to the first space or closing parenthesis.
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def heading_id(title: str) -> str:
    """GitHub's id for a heading: lower case, code marks and punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The ids of a page's headings (a repeated one gets -1, -2, ... as GitHub numbers them)."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    for match in re.finditer(r"^#{1,6} (.+)$", FENCE.sub("", page.read_text()), re.M):
        base = heading_id(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def broken_links(page: Path) -> list[str]:
    out: list[str] = []
    for target in LINK.findall(FENCE.sub("", page.read_text())):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        path, _, fragment = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            out.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            out.append(f"{target}: no such heading")
    return out


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_checker_sees_a_broken_link_and_a_missing_heading(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# There\n\n## A `code` heading, with punctuation!\n")
    page = tmp_path / "here.md"
    page.write_text(
        "[ok](there.md#a-code-heading-with-punctuation) [web](https://example.org/x) [gone](missing.md)"
        " [no heading](there.md#nowhere) [self](#here)\n\n# Here\n\n```\n[in a fence](ignored.md)\n```\n"
    )
    assert broken_links(page) == ["missing.md: no such file", "there.md#nowhere: no such heading"]


def test_the_readme_stays_a_door() -> None:
    """The README is the two commands, the API, the diagram and where things live, at most 12 KB: run logs
    and tables of figures belong in docs/, one link away (a README that grows back into a log fails here)."""
    assert len((ROOT / "README.md").read_bytes()) <= 12_000
