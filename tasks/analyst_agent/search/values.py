"""Question literals matched against stored column values ("ships 'Captured'", "flights from Aberdeen").

Every indexed value is kept under a normal form (lowercase words joined by one space) and, second, under its stemmed
words, so "Captured" matches 'captured' and "dogs" matches 'dog'. A question is cut into word n-grams (up to the
longest indexed value) and each n-gram is looked up; nothing else is scanned, so a question costs the same on 40 or
20,000 tables. A value found in many tables says little about any one of them: each match weighs its inverse table
frequency, and plain question words (stopwords, one letter, bare numbers) never count as values.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Iterable

from tasks.analyst_agent.search.text import QUESTION_STOPWORDS, stem

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
MAX_NGRAM = 6
#: a stemmed (not exact) match is worth this much of an exact one
STEMMED_MATCH = 0.8


def value_words(value: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(value)]


def _indexable(words: list[str]) -> bool:
    if not words or len(words) > MAX_NGRAM:
        return False
    if len(words) == 1:
        word = words[0]
        if len(word) < 2 or word.isdigit() or word in QUESTION_STOPWORDS:
            return False
    return not all(w.isdigit() for w in words)


@dataclass(frozen=True)
class ValueMatch:
    table: int
    column: str
    value: str  # as stored
    phrase: str  # as the question says it
    score: float


@dataclass
class ValueIndex:
    #: normal form -> [(table, column, value)]; stemmed forms are prefixed with "~"
    entries: dict[str, list[tuple[int, str, str]]] = field(default_factory=dict)
    num_tables: int = 0
    longest: int = 0

    @classmethod
    def build(cls, table_values: Iterable[tuple[int, str, str]], num_tables: int) -> "ValueIndex":
        index = cls(num_tables=num_tables)
        for table, column, value in table_values:
            words = value_words(value)
            if not _indexable(words):
                continue
            index.longest = max(index.longest, len(words))
            entry = (table, column, value)
            index.entries.setdefault(" ".join(words), []).append(entry)
            index.entries.setdefault("~" + " ".join(stem(w) for w in words), []).append(entry)
        for key, hits in index.entries.items():
            index.entries[key] = list(dict.fromkeys(hits))
        return index

    def match(self, question: str) -> list[ValueMatch]:
        """Every (table, column, value) a phrase of the question names; the best match per (table, column)."""
        if not self.entries:
            return []
        words = value_words(question)
        best: dict[tuple[int, str], ValueMatch] = {}
        longest = min(self.longest, MAX_NGRAM)
        for n in range(longest, 0, -1):
            for start in range(len(words) - n + 1):
                gram = words[start : start + n]
                if not _indexable(gram):
                    continue
                phrase = " ".join(gram)
                for key, weight in ((phrase, 1.0), ("~" + " ".join(stem(w) for w in gram), STEMMED_MATCH)):
                    hits = self.entries.get(key)
                    if not hits:
                        continue
                    tables = {t for t, _, _ in hits}
                    idf = math.log(1 + self.num_tables / len(tables)) / math.log(1 + self.num_tables)
                    score = weight * idf * (1 + 0.25 * (n - 1))
                    for table, column, value in hits:
                        current = best.get((table, column))
                        if current is None or score > current.score:
                            best[(table, column)] = ValueMatch(table, column, value, phrase, score)
                    break  # an exact match makes the stemmed lookup of the same phrase redundant
        return sorted(best.values(), key=lambda m: -m.score)
