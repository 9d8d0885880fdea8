"""`constructor_for` builds exactly what validation would, and refuses the models where it could not."""

from __future__ import annotations

import copy
import pickle

import pytest
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, RootModel

from connectors.catalog import Column, ForeignKey, Table
from connectors.trusted_models import constructor_for

COLUMN = {
    "ordinal": 3,
    "name": "amount",
    "data_type": "numeric(12,2)",
    "normalized_type": "decimal",
    "nullable": False,
    "default": "0",
    "comment": "in cents",
}


def test_built_model_equals_the_validated_one_in_every_respect() -> None:
    built = constructor_for(Column)(dict(COLUMN))
    validated = Column.model_validate(COLUMN, strict=True)
    assert type(built) is Column
    assert built == validated
    assert built.model_fields_set == validated.model_fields_set == set(COLUMN)
    assert built.model_dump() == validated.model_dump() and built.model_dump_json() == validated.model_dump_json()
    assert repr(built) == repr(validated)
    assert pickle.loads(pickle.dumps(built)) == validated
    assert copy.deepcopy(built) == validated and built.model_copy(update={"name": "x"}).name == "x"


def test_built_models_nest_and_stay_mutable_like_validated_ones() -> None:
    column = constructor_for(Column)(dict(COLUMN))
    fk = constructor_for(ForeignKey)(
        {"name": "fk", "columns": ["a"], "referred_database": "d", "referred_schema": "s", "referred_table": "t",
         "referred_columns": ["id"]}
    )
    table = constructor_for(Table)(
        {"name": "t", "kind": "table", "columns": [column], "primary_key": ["amount"], "foreign_keys": [fk],
         "row_count": 10, "size_bytes": 8192, "comment": None, "view_definition": None}
    )
    assert Table.model_validate(table.model_dump(), strict=True) == table
    table.comment = "changed"  # assignment records the field as set, as on a validated model
    assert table.comment == "changed" and "comment" in table.model_fields_set
    other = constructor_for(Column)(dict(COLUMN))
    assert other.model_fields_set is not column.model_fields_set  # each instance owns its set


def test_a_missing_or_extra_field_is_refused() -> None:
    construct = constructor_for(Column)
    partial = {k: v for k, v in COLUMN.items() if k != "comment"}
    with pytest.raises(ValueError, match="Column needs exactly"):
        construct(partial)
    with pytest.raises(ValueError, match="Column needs exactly"):
        construct({**COLUMN, "surprise": 1})


class _Aliased(BaseModel):
    value: int = Field(alias="v")


class _Private(BaseModel):
    value: int
    _cache: dict[str, int] = PrivateAttr(default_factory=dict)


class _PostInit(BaseModel):
    value: int

    def model_post_init(self, context: object) -> None:
        pass


class _Extra(BaseModel):
    model_config = ConfigDict(extra="allow")
    value: int


@pytest.mark.parametrize(
    ("model", "reason"),
    [(_Aliased, "aliases"), (_Private, "private attributes"), (_PostInit, "a post-init hook"), (_Extra, "extra fields"),
     (RootModel[int], "a root model")],
)
def test_models_the_shortcut_would_get_wrong_are_refused(model: type[BaseModel], reason: str) -> None:
    with pytest.raises(TypeError, match=reason):
        constructor_for(model)
