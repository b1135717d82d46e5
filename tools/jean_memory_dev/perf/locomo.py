"""LoCoMo conversations as memories and searches: the data side of `jean-memory-dev recall`.

LoCoMo (Maharana et al., ACL 2024) is read from `../shared/locomo/` beside the repository (an option
for other places); its files and their text never enter the repository (see that folder's README).
Each conversation is one user; each turn one memory, `"<speaker>: <text>"` followed by
` [shares a photo of <caption>]` where the turn has a `blip_caption`, with metadata `dia_id`,
`session` and `speaker` and the session's date as its `created_at`. Each question of categories 1 to 4
with evidence is one search; its evidence is the set of `dia_id`s it names.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jean_memory_dev.paths import ROOT

#: Where the shared conversations are (`--path` for another folder).
DEFAULT_PATH = ROOT.parent / "shared" / "locomo"
#: The categories with usable evidence (5, adversarial, has none).
CATEGORIES = (1, 2, 3, 4)

_SESSION = re.compile(r"session_(\d+)")
_DIA_ID = re.compile(r"D:?(\d+):(\d+)")


@dataclass(frozen=True)
class Turn:
    dia_id: str
    session: int
    speaker: str
    content: str
    created_at: float


@dataclass(frozen=True)
class Question:
    index: int  #: position in the file's `qa` list (the saved report names questions by it, never by text)
    category: int
    query: str
    evidence: frozenset[str]


@dataclass(frozen=True)
class Conversation:
    name: str  #: the file's stem, e.g. `conv-26`
    turns: tuple[Turn, ...]
    questions: tuple[Question, ...]


def session_time(text: str) -> float:
    """`"1:56 pm on 8 May, 2023"` as Unix time (the data names no zone: read as UTC)."""
    return datetime.strptime(text.strip(), "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC).timestamp()


def content(turn: dict[str, Any]) -> str:
    text = f"{turn['speaker']}: {turn['text']}"
    caption = turn.get("blip_caption")
    return f"{text} [shares a photo of {caption}]" if caption else text


def evidence_ids(raw: list[str], known: set[str]) -> frozenset[str]:
    """The turns a question names. A few labels are malformed in the published file (two ids in one
    string, `D:11:26`): every `D<session>:<turn>` in them is read; ids of no turn are left out."""
    found = {f"D{m.group(1)}:{m.group(2)}" for item in raw for m in _DIA_ID.finditer(item)}
    return frozenset(found & known)


def parse(name: str, data: dict[str, Any]) -> Conversation:
    conv = data.get("conversation", data)
    turns: list[Turn] = []
    sessions = sorted(int(m.group(1)) for key in conv if (m := _SESSION.fullmatch(key)))
    for s in sessions:
        when = session_time(conv[f"session_{s}_date_time"])
        # A session's turns were spoken in order: the j-th is written j seconds after the session's date,
        # so the memories keep the conversation's order (a search may use a memory's predecessor).
        turns += [Turn(t["dia_id"], s, t["speaker"], content(t), when + j) for j, t in enumerate(conv[f"session_{s}"])]
    known = {t.dia_id for t in turns}
    questions = []
    for i, qa in enumerate(data.get("qa", [])):
        if qa.get("category") not in CATEGORIES:
            continue
        evidence = evidence_ids(qa.get("evidence", []), known)
        if evidence:  # two questions of the five conversations name no evidence: nothing to find
            questions.append(Question(i, int(qa["category"]), str(qa["question"]), evidence))
    return Conversation(name, tuple(turns), tuple(questions))


def load(path: Path = DEFAULT_PATH, limit: int | None = None) -> list[Conversation]:
    """The conversations in `path` (`*.json`, sorted by name), the first `limit` of them."""
    files = sorted(path.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no conversations (*.json) in {path}")
    return [parse(f.stem, json.loads(f.read_text())) for f in files[:limit]]
