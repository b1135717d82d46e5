"""The same sentence-transformers model on ONNX Runtime: fp32 (same vectors) or dynamic int8.

Measured side by side on one thread here (issue 6): torch ~250 texts/s, ONNX Runtime fp32 ~540
(cosine to torch's vectors 0.99999: the same model, so the same `model_id`), int8 ~1,200 (cosine
0.95 to 0.97: close but not the same vectors, so its own `model_id`, and stored vectors of the other
backends are re-embedded rather than compared). The model is exported from the checkpoint once
(torch's TorchScript exporter, two seconds) and cached in `JM_MODEL_CACHE`; the tokenizer is the
model's own `tokenizer.json`; pooling is the mean over real tokens, then L2 normalisation, as
sentence-transformers does for this model.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from jean_memory.embedding.base import Embedder
from jean_memory.embedding.minilm import resolve_model_path, sentence_transformers_id

log = logging.getLogger(__name__)

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _export(checkpoint: str, target: Path) -> None:
    """Export the transformer (token embeddings out) to ONNX, atomically."""
    import torch
    from transformers import AutoModel

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
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        path = Path(tmp) / target.name
        with torch.inference_mode():
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
        os.replace(path, target)


def _quantize(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        path = Path(tmp) / target.name
        quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
        os.replace(path, target)


def model_file(model_name: str, cache: Path, int8: bool) -> Path:
    """The cached ONNX file for this model (exported, and quantised, on first use)."""
    checkpoint = resolve_model_path(model_name)
    stem = model_name.rsplit("/", 1)[-1]
    fp32 = cache / f"{stem}.onnx"
    if not fp32.exists():
        log.info("exporting %s to ONNX in %s", model_name, fp32)
        _export(checkpoint, fp32)
    if not int8:
        return fp32
    quantized = cache / f"{stem}.int8.onnx"
    if not quantized.exists():
        log.info("quantising %s to int8", fp32)
        _quantize(fp32, quantized)
    return quantized


class OnnxEmbedder(Embedder):
    inline = False

    def __init__(
        self, model_name: str, cache: Path, *, int8: bool = False, threads: int = 1, batch_size: int = 64
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        checkpoint = Path(resolve_model_path(model_name))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, all cores
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(model_file(model_name, cache, int8)), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
        self._tokenizer.enable_padding()
        self._tokenizer.enable_truncation(_max_tokens(checkpoint))
        self.dim = int(self._session.get_outputs()[0].shape[-1] or 384)
        # fp32 reproduces torch's vectors (cosine 0.99999): the same model id, so nothing is re-embedded.
        self.model_id = sentence_transformers_id(model_name)
        if int8:
            self.model_id = self.model_id.replace("st:", "onnx-int8:", 1)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """In chunks of `batch_size`, as sentence-transformers does: each chunk is padded to its own
        longest text, and a huge input never becomes one huge tensor."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        step = self._batch_size
        return np.vstack([self._embed_chunk(texts[i : i + step]) for i in range(0, len(texts), step)])

    def _embed_chunk(self, texts: Sequence[str]) -> np.ndarray:
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        (tokens,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        weights = mask[..., None].astype(np.float32)
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        pooled /= np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return np.ascontiguousarray(pooled, dtype=np.float32)


def _max_tokens(checkpoint: Path) -> int:
    """The sequence length the model was trained for (sentence-transformers' `max_seq_length`)."""
    try:
        return int(json.loads((checkpoint / "sentence_bert_config.json").read_text())["max_seq_length"])
    except (OSError, KeyError, ValueError):
        return 256
