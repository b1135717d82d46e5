"""Export a sentence-transformers model into a self-contained ONNX bundle (needs the `export` extra).

The bundle is everything the ONNX runtime needs and nothing it does not: `model.onnx` (the
transformer, token embeddings out; torch's TorchScript exporter, about two seconds), optionally
`model.int8.onnx` (dynamic int8 quantisation), the model's own `tokenizer.json`, and `bundle.json`
(the model name and its sequence length). The production image makes it in a build stage, so the
runtime stage carries ONNX Runtime and `tokenizers`, not torch. Every file is written atomically.

    jean-memory export-model --cache /opt/jm-models --int8
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

from jean_memory.embedding.bundle import BUNDLE_FILE, INPUTS, MODEL_FILE, MODEL_INT8_FILE, TOKENIZER_FILE, bundle_dir
from jean_memory.embedding.models import resolve_model_path

log = logging.getLogger(__name__)


def _atomic(target: Path, write: Any) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        path = Path(tmp) / target.name
        write(path)
        os.replace(path, target)


def _export_onnx(checkpoint: str, target: Path) -> None:
    """The transformer with token embeddings as output; pooling and normalisation happen at run time."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a bar drawn into the service's log lines
    model = AutoModel.from_pretrained(checkpoint).eval()

    class _Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*INPUTS, "last_hidden_state")}

    def write(path: Path) -> None:
        # The tracer warns that the graph may be wrong for other inputs (a Python condition on a shape
        # in the attention code, true for every input shape here); tests/integration/test_minilm.py
        # compares the exported vectors with torch's. A first start prints none of it.
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Wrapped(),
                (sample, sample, torch.zeros_like(sample)),
                str(path),
                input_names=list(INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )

    _atomic(target, write)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    _atomic(target, lambda path: quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8))


def _max_tokens(checkpoint: Path) -> int:
    """The sequence length the model was trained for (sentence-transformers' `max_seq_length`)."""
    try:
        return int(json.loads((checkpoint / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return 256


def export_bundle(model_name: str, cache: Path, int8: bool) -> Path:
    """Make (or complete) the model's bundle in `cache`; returns its folder."""
    folder = bundle_dir(cache, model_name)
    checkpoint = Path(resolve_model_path(model_name))
    if not (folder / MODEL_FILE).exists():
        log.info("exporting %s to ONNX in %s", model_name, folder)
        _export_onnx(str(checkpoint), folder / MODEL_FILE)
    if int8 and not (folder / MODEL_INT8_FILE).exists():
        log.info("quantising %s to int8", model_name)
        _quantize(folder / MODEL_FILE, folder / MODEL_INT8_FILE)
    if not (folder / TOKENIZER_FILE).exists():
        _atomic(folder / TOKENIZER_FILE, lambda path: shutil.copyfile(checkpoint / TOKENIZER_FILE, path))
    meta = {"model": model_name, "max_seq_length": _max_tokens(checkpoint)}
    _atomic(folder / BUNDLE_FILE, lambda path: path.write_text(json.dumps(meta, indent=2, sort_keys=True)))
    return folder
