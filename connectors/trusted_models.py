"""Catalog models built from values the source's own catalog already typed, without validating them a second time.

A 2,000-table catalog holds ~40,000 columns. Every value of a column row arrives typed by the driver from a typed
catalog (`attnum` an int, `attname` a str, `attnotnull` a bool), yet pydantic's validation spends ~1.3 µs per column
re-checking it, which made model building the largest single cost of `introspect()`. Pydantic's own answer for such
data is `BaseModel.model_construct`; its per-field loop (aliases, defaults) costs more than validation (~3.4 µs). For a
model with no aliases, no private attributes, no post-init hook and no extra fields, called with every field,
`model_construct` reduces to its final four assignments: `constructor_for` returns a function doing exactly those, and
refuses any model for which the reduction would not hold. A test checks that what it builds re-validates strictly to
an equal model, so a pydantic release that changed this contract fails there, not in a snapshot.
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)

_set_attribute = object.__setattr__


def constructor_for(model: type[M]) -> Callable[[dict[str, Any]], M]:
    """A builder of `model` instances from a dict holding every field with an already valid value."""
    fields = model.__pydantic_fields__
    refusals = [
        reason
        for reason, present in (
            ("aliases", any(f.alias or f.validation_alias for f in fields.values())),
            ("private attributes", bool(model.__private_attributes__)),
            ("a post-init hook", model.__pydantic_post_init__ is not None),
            ("extra fields", model.model_config.get("extra") == "allow"),
            ("a root model", model.__pydantic_root_model__),
        )
        if present
    ]
    if refusals:
        raise TypeError(f"{model.__name__} has {', '.join(refusals)}: build it with model_validate")
    names = frozenset(fields)
    count = len(names)
    new = object.__new__

    def construct(values: dict[str, Any]) -> M:
        if len(values) != count:  # a missing field would leave the model without it
            raise ValueError(f"{model.__name__} needs exactly {sorted(names)}, got {sorted(values)}")
        instance = new(model)
        _set_attribute(instance, "__dict__", values)
        _set_attribute(instance, "__pydantic_fields_set__", set(names))
        _set_attribute(instance, "__pydantic_extra__", None)
        _set_attribute(instance, "__pydantic_private__", None)
        return instance

    construct.__name__ = f"construct_{model.__name__}"
    return construct
