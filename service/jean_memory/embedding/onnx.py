"""The sentence-transformers model on ONNX Runtime: fp32 (same vectors as torch) or dynamic int8.

Measured side by side on one thread here (issue 6): torch ~250 texts/s, ONNX Runtime fp32 ~540
(cosine to torch's vectors 0.99999: the same model, so the same `model_id`), int8 ~1,200 (cosine
0.95 to 0.97: close but not the same vectors, so its own `model_id`, and stored vectors of the other
backends are re-embedded rather than compared). The model comes from its exported bundle
(`bundle.py`); this module needs ONNX Runtime and `tokenizers`, never torch. Pooling is the mean
over real tokens, then L2 normalisation, as sentence-transformers does for this model.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jean_memory.embedding.base import Embedder
from jean_memory.embedding.bundle import MODEL_FILE, MODEL_INT8_FILE, TOKENIZER_FILE, ensure_bundle, max_tokens
from jean_memory.embedding.models import sentence_transformers_id


class OnnxEmbedder(Embedder):
    inline = False

    def __init__(
        self, model_name: str, cache: Path, *, int8: bool = False, threads: int = 1, batch_size: int = 64
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = ensure_bundle(model_name, cache, int8)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: onnxruntime's default, all cores
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(folder / (MODEL_INT8_FILE if int8 else MODEL_FILE)), options, providers=["CPUExecutionProvider"]
        )
        self._batch_size = batch_size
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.enable_padding()
        self._tokenizer.enable_truncation(max_tokens(folder))
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
