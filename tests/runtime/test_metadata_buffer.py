"""A run's metadata view in this process: each operation is refused whole when the document would outgrow the limit,
and the size it counts is the size of the whole document's JSON, however the view got there."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from runtime import run_state
from runtime.errors import MetadataTooLargeError
from runtime.run_state import MetadataBuffer, _encoded_size, apply_op

LIMIT = 300


class _Reference:
    """The document as the limit is defined on it: copied whole, changed, encoded whole."""

    def __init__(self, initial: dict[str, Any]) -> None:
        self.view = copy.deepcopy(initial)

    def apply(self, op: tuple[Any, ...]) -> int | None:
        """The refused size, or None when the operation is taken."""
        trial = copy.deepcopy(self.view)
        apply_op(trial, op)
        size = _encoded_size(trial)
        if size > LIMIT:
            return size
        self.view = trial
        return None


def _random_op(rng: random.Random) -> tuple[Any, ...]:
    key = rng.choice(["stage", "progress", "counts", "log", "n", "ünï", 'q"uote'])
    kind = rng.choice(["set"] * 6 + ["append"] * 6 + ["inc", "del", "remove", "replace"])
    value: Any = rng.choice([
        rng.random(), rng.randint(-5, 500), "x" * rng.randint(0, 120), None, True, [1, "two", {"3": [4]}],
        {"tables": rng.randint(0, 9), "nested": {"deep": "é" * rng.randint(0, 30)}},
    ])
    if kind == "inc":
        return ("inc", key, rng.randint(1, 3))
    if kind == "del":
        return ("del", key)
    if kind == "replace":
        return ("replace", "", {"stage": "reset", "n": rng.randint(0, 3)})
    return (kind, key, value)


@pytest.mark.parametrize("seed", range(6))
def test_the_view_refuses_exactly_what_would_outgrow_the_limit(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Random operations (sets, appends, increments, deletions, removals, replacements; unicode and quotes in keys and
    values) against the whole-document definition: the same ones refused with the same size, the same view after
    each, and a refused append leaves the list it would have grown as it was."""
    monkeypatch.setattr(run_state, "METADATA_LIMIT_BYTES", LIMIT)
    rng = random.Random(seed)
    initial = {"source": "test", "log": ["a"]}
    buffer, reference = MetadataBuffer(None, "run_x", initial), _Reference(initial)  # type: ignore[arg-type]
    refused = taken = 0
    for _ in range(400):
        op = _random_op(rng)
        before = buffer.current()
        try:
            expected = reference.apply(op)
        except TypeError:  # an increment of a value that is not a number: refused by both, nothing changed
            with pytest.raises(TypeError):
                buffer.apply(op)
            assert buffer.current() == before
            continue
        if expected is None:
            buffer.apply(op)
            taken += 1
        else:
            with pytest.raises(MetadataTooLargeError) as error:
                buffer.apply(op)
            assert str(expected) in str(error.value)
            assert buffer.current() == before
            refused += 1
        assert buffer.current() == reference.view
    assert refused > 20 and taken > 100  # both paths walked


def test_an_append_does_not_change_a_list_read_before() -> None:
    buffer = MetadataBuffer(None, "run_x", {"seen": [1]})  # type: ignore[arg-type]
    read = buffer.current()["seen"]
    buffer.apply(("append", "seen", 2))
    assert read == [1] and buffer.get("seen") == [1, 2]
