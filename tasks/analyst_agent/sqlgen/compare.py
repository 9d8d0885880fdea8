"""When two query results are the same answer: the rule voting groups candidates by and the eval scores EX with.

Spider's execution accuracy, as its test-suite evaluation applies it: rows compared as a multiset (as a list only when
the reference query orders them), numbers compared after rounding (3 == 3.0, 0.3333333 == 0.33333334), and the
columns may come in another order than the reference's (the question rarely fixes it).
"""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal
from typing import Any, Hashable, Sequence

#: decimals numbers are rounded to before comparing
DIGITS = 4


def normalize_value(value: Any) -> Hashable:
    """A comparable form of one cell: numbers as rounded floats (bools and numeric strings stay what they are)."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        if math.isnan(number):
            return "nan"
        return round(number, DIGITS) + 0.0  # + 0.0 folds -0.0 into 0.0
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, str):
        return value
    return str(value)


def normalize_rows(rows: Sequence[Sequence[Any]]) -> list[tuple[Hashable, ...]]:
    return [tuple(normalize_value(v) for v in row) for row in rows]


def result_key(rows: Sequence[Sequence[Any]]) -> tuple[tuple[Hashable, ...], ...]:
    """An order- and column-order-insensitive key: equal keys are the same answer (what voting groups by)."""
    normalized = normalize_rows(rows)
    width = len(normalized[0]) if normalized else 0
    columns = sorted(
        (tuple(sorted((repr(row[i]) for row in normalized))) for i in range(width)),
    )
    return tuple(tuple(c) for c in columns) + ((len(normalized),),)


def _column_signature(rows: list[tuple[Hashable, ...]], i: int) -> Counter[Hashable]:
    return Counter(row[i] for row in rows)


def same_result(
    predicted: Sequence[Sequence[Any]], gold: Sequence[Sequence[Any]], *, ordered: bool = False
) -> bool:
    """Whether `predicted` gives the same answer as `gold` (see the module doc); `ordered` when the gold query sorts."""
    pred = normalize_rows(predicted)
    ref = normalize_rows(gold)
    if len(pred) != len(ref):
        return False
    if not ref:
        return True
    width = len(ref[0])
    if any(len(row) != width for row in pred):
        return False
    # columns of the prediction that could stand for each gold column (same multiset of values)
    pred_sigs = [_column_signature(pred, i) for i in range(width)]
    options = [[j for j in range(width) if pred_sigs[j] == _column_signature(ref, i)] for i in range(width)]
    if any(not o for o in options):
        return False

    def matches(mapping: list[int]) -> bool:
        mapped = [tuple(row[j] for j in mapping) for row in pred]
        return mapped == ref if ordered else Counter(mapped) == Counter(ref)

    def search(i: int, used: set[int], mapping: list[int]) -> bool:
        if i == width:
            return matches(mapping)
        for j in options[i]:
            if j not in used:
                used.add(j)
                mapping.append(j)
                if search(i + 1, used, mapping):
                    return True
                mapping.pop()
                used.discard(j)
        return False

    return search(0, set(), [])
