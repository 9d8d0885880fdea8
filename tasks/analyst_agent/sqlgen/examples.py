"""Few-shot examples chosen by similarity of question skeletons (DAIL-SQL): verified question -> SQL pairs whose
questions ask the same kind of thing, whatever the tables are called.

A skeleton masks what is specific to one database — names of its tables and columns, stored values, numbers, quoted
literals — so "How many singers are from France?" and "How many ships are from 'Captured'?" look alike. Similarity is
TF-IDF cosine over skeleton words and word pairs; no model call, microseconds per question.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from tasks.analyst_agent.search.text import split_identifier
from tasks.analyst_agent.sqlgen.interfaces import Example

MASK = "_"
_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|[^\W_]+", re.UNICODE)


def schema_words(names: Iterable[str]) -> set[str]:
    """Lowercase words of table/column names (snake_case, camelCase split) and of stored values."""
    words: set[str] = set()
    for name in names:
        for part in split_identifier(name):
            if len(part) > 2:
                words.add(part.lower())
    return words


def question_skeleton(question: str, names: Iterable[str] = ()) -> str:
    """The question with database-specific words masked: quoted literals, numbers, and words of `names`."""
    specific = schema_words(names)
    out: list[str] = []
    for token in _TOKEN.findall(question):
        lowered = token.lower()
        if token[0] in "'\"" or lowered.isdigit() or lowered in specific or lowered.rstrip("s") in specific:
            if not out or out[-1] != MASK:
                out.append(MASK)
        else:
            out.append(lowered)
    return " ".join(out)


def _features(skeleton: str) -> Counter[str]:
    words = skeleton.split()
    return Counter(words + [f"{a} {b}" for a, b in zip(words, words[1:])])


@dataclass
class ExampleIndex:
    """Examples and their skeleton vectors; `similar` returns the k closest, optionally excluding a source."""

    examples: list[Example]
    skeletons: list[str]
    _vectors: list[dict[str, float]] = field(default_factory=list, repr=False)
    _idf: dict[str, float] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, examples: Sequence[Example], skeletons: Sequence[str] | None = None) -> "ExampleIndex":
        """`skeletons` (one per example, masked with the example's own schema) default to unmasked questions."""
        skeletons = list(skeletons) if skeletons is not None else [question_skeleton(e.question) for e in examples]
        if len(skeletons) != len(examples):
            raise ValueError("one skeleton per example")
        index = cls(examples=list(examples), skeletons=skeletons)
        counts = [_features(s) for s in skeletons]
        df: Counter[str] = Counter()
        for c in counts:
            df.update(c.keys())
        n = max(len(counts), 1)
        index._idf = {t: math.log(1 + n / d) for t, d in df.items()}
        index._vectors = [index._vector(c) for c in counts]
        return index

    def _vector(self, counts: Counter[str]) -> dict[str, float]:
        vec = {t: (1 + math.log(c)) * self._idf.get(t, 0.0) for t, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {t: v / norm for t, v in vec.items() if v}

    def similar(self, skeleton: str, k: int = 3, *, exclude_source: str | None = None) -> list[Example]:
        """The k examples whose skeletons are closest to `skeleton` (best first; exact ties keep insertion order)."""
        if k <= 0 or not self.examples:
            return []
        query = self._vector(_features(skeleton))
        scored = []
        for i, vec in enumerate(self._vectors):
            if exclude_source is not None and self.examples[i].source == exclude_source:
                continue
            score = sum(w * vec.get(t, 0.0) for t, w in query.items())
            scored.append((-score, i))
        scored.sort()
        return [self.examples[i] for _, i in scored[:k]]


def verified_examples(
    data_source_id: str,
    question: str,
    names: Iterable[str] = (),
    k: int = 3,
    *,
    database_url: str | None = None,
) -> list[Example]:
    """The k verified pairs of this source (store.examples) most like `question`: same-source pairs, which, unlike
    pairs from other databases, name the tables and columns the model must use. `names` are the source's table and
    column names (masked in the skeletons)."""
    from store.examples import list_examples

    if k <= 0:
        return []
    stored = list_examples(data_source_id, database_url=database_url)
    if not stored:
        return []
    names = list(names)
    pairs = [Example(question=e.question, sql=e.sql, source=data_source_id) for e in stored]
    index = ExampleIndex.build(pairs, [question_skeleton(p.question, names) for p in pairs])
    return index.similar(question_skeleton(question, names), k)
