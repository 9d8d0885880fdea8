"""BM25 over one field of the table documents.

`bm25s` computes every (term, document) BM25 weight once, at build time, into a sparse term-by-document matrix; a
query then only sums the columns of its terms. We keep that matrix as three plain arrays plus the vocabulary, which is
all the serialized index needs (no pickle, nothing bm25s-version-specific).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

#: bm25s defaults (Lucene's): term-frequency saturation and length normalisation
K1 = 1.5
B = 0.75


@dataclass
class FieldIndex:
    vocab: dict[str, int]
    data: np.ndarray  # float32 BM25 weights, grouped by term (CSC)
    indices: np.ndarray  # int32 document of each weight
    indptr: np.ndarray  # int64 term -> slice of data/indices
    num_docs: int

    @classmethod
    def build(cls, documents: Sequence[Sequence[str]]) -> "FieldIndex":
        if not any(documents):
            return cls.empty(len(documents))
        import bm25s  # imported here: loading it costs ~0.1 s, paid only by index builds

        engine = bm25s.BM25(k1=K1, b=B)
        engine.index([list(d) for d in documents], show_progress=False, create_empty_token=False)
        scores = engine.scores
        return cls(
            vocab=dict(engine.vocab_dict),
            data=np.asarray(scores["data"], dtype=np.float32),
            indices=np.asarray(scores["indices"], dtype=np.int32),
            indptr=np.asarray(scores["indptr"], dtype=np.int64),
            num_docs=int(scores["num_docs"]),
        )

    @classmethod
    def empty(cls, num_docs: int) -> "FieldIndex":
        return cls(
            vocab={},
            data=np.zeros(0, np.float32),
            indices=np.zeros(0, np.int32),
            indptr=np.zeros(1, np.int64),
            num_docs=num_docs,
        )

    def scores(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every document for the query terms (each term counted once)."""
        ids = [self.vocab[t] for t in dict.fromkeys(terms) if t in self.vocab]
        if not ids:
            return np.zeros(self.num_docs, np.float32)
        slices = [slice(self.indptr[i], self.indptr[i + 1]) for i in ids]
        docs = np.concatenate([self.indices[s] for s in slices])
        weights = np.concatenate([self.data[s] for s in slices])
        return np.bincount(docs, weights=weights, minlength=self.num_docs).astype(np.float32)

    def term_weights(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """(documents, weights) holding one term."""
        i = self.vocab.get(term)
        if i is None:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        s = slice(self.indptr[i], self.indptr[i + 1])
        return self.indices[s], self.data[s]
