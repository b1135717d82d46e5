"""The exported model bundle: one folder per model in `JM_MODEL_CACHE`, read by the ONNX runtime.

    <cache>/<model stem>/model.onnx        fp32: the same vectors as torch
                         model.int8.onnx   dynamic int8: faster, close but not the same vectors
                         tokenizer.json    the model's own tokenizer
                         bundle.json       {"model": ..., "max_seq_length": ...}

Made by `jean-memory export-model` (`embedding/export.py`, which needs torch); this module only
names the files, so the runtime imports nothing heavy.
"""

from __future__ import annotations

import json
from pathlib import Path

from jean_memory.embedding.models import model_stem

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
MODEL_FILE = "model.onnx"
MODEL_INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
BUNDLE_FILE = "bundle.json"


class MissingModel(RuntimeError):
    """The bundle is absent and cannot be made here (torch is not installed)."""


def bundle_dir(cache: Path, model_name: str) -> Path:
    return cache / model_stem(model_name)


def _needed(int8: bool) -> list[str]:
    return [BUNDLE_FILE, TOKENIZER_FILE, MODEL_INT8_FILE if int8 else MODEL_FILE]


def bundle_ready(model_name: str, cache: Path, int8: bool) -> bool:
    """Whether the bundle is complete, so no export is needed."""
    folder = bundle_dir(cache, model_name)
    return all((folder / name).exists() for name in _needed(int8))


def ensure_bundle(model_name: str, cache: Path, int8: bool) -> Path:
    """The bundle's folder, exported on first use where the `export` extra is installed."""
    folder = bundle_dir(cache, model_name)
    needed = _needed(int8)
    if bundle_ready(model_name, cache, int8):
        return folder
    try:
        from jean_memory.embedding.export import export_bundle
    except ImportError as exc:  # pragma: no cover - the import itself is light; torch is imported inside
        raise MissingModel(str(exc)) from exc
    try:
        return export_bundle(model_name, cache, int8)
    except ImportError as exc:
        raise MissingModel(
            f"no exported model for {model_name} in {folder} (missing: "
            f"{', '.join(n for n in needed if not (folder / n).exists())}), and it cannot be exported here "
            f"({exc}). Export it where torch is installed: `jean-memory export-model --cache {cache}"
            f"{' --int8' if int8 else ''}` (pip install 'jean-memory[export]'), then point JM_MODEL_CACHE at it."
        ) from exc


def max_tokens(folder: Path) -> int:
    return int(json.loads((folder / BUNDLE_FILE).read_text())["max_seq_length"])
