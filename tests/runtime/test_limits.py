"""The door's rules, without a database: every refusal is a typed error naming the field, never the value."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from runtime import InputError, PayloadError, TriggerOptionsError
from runtime.limits import (
    MAX_DEPTH,
    MAX_PAYLOAD_BYTES,
    check_duration,
    check_json_value,
    check_tags,
    check_text,
    field_path,
    parse_json,
)


def nested(depth: int) -> object:
    value: object = {}
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("[" * 100_000 + "]" * 100_000, "payload", "nested deeper than 64 levels"),
        ('{"n": ' + "7" * 5000 + "}", "payload", "5000 digits"),
        ('{"n": -' + "7" * 20 + "}", "payload", "64-bit"),
        ('{"x": NaN}', "payload", "NaN"),
        ('{"x": -Infinity}', "payload", "Infinity"),
        ('{"x": 1e999}', "payload.x", "NaN and Infinity"),
        ('{"a": {"b": "x\\u0000y"}}', "payload.a.b", "NUL"),
        ('{"a": ["ok", "\\ud800"]}', "payload.a[1]", "U+D800"),
        ('{"\\udfff": 1}', 'payload["\\udfff"]', "lone surrogate"),
        ('{"a": }', "payload", "not valid JSON"),
    ],
)
def test_hostile_json_text_is_refused_naming_the_field(text: str, field: str, fragment: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_json(text)
    assert info.value.field == field
    assert str(info.value).startswith(field + ":") and fragment in str(info.value)
    assert "7777777777" not in str(info.value)  # the refused value is never repeated


def test_non_utf8_bytes_are_refused_with_the_offset() -> None:
    with pytest.raises(PayloadError, match=r"payload: not UTF-8 text \(byte 0xff at offset 7\)"):
        parse_json(b'{"a": "\xff"}')
    with pytest.raises(PayloadError, match="not UTF-8"):
        parse_json(b'{"a": "\xed\xa0\x80"}')  # a surrogate encoded as UTF-8 (CESU-8) is not UTF-8 either
    assert parse_json("\ufeff{\"a\": 1}".encode()) == {"a": 1}  # a byte-order mark is not an error


def test_size_limit_counts_encoded_bytes() -> None:
    assert check_json_value({"s": "x" * (MAX_PAYLOAD_BYTES - 100)}) <= MAX_PAYLOAD_BYTES
    with pytest.raises(PayloadError, match="over the 3.0 MB limit"):
        check_json_value({"s": "é" * (MAX_PAYLOAD_BYTES // 2)})  # 1.5 M characters, 3 MB of UTF-8
    with pytest.raises(PayloadError, match="over the 3.0 MB limit"):
        parse_json(b" " * (MAX_PAYLOAD_BYTES + 1))


def test_depth_limit_is_exact_and_iterative() -> None:
    check_json_value(nested(MAX_DEPTH - 1))
    with pytest.raises(PayloadError, match="nested deeper than 64"):
        check_json_value(nested(MAX_DEPTH))
    with pytest.raises(PayloadError, match="nested deeper than 64"):
        check_json_value(nested(200_000))  # a Python structure, never through json: no RecursionError


def test_integers_are_limited_to_signed_64_bits() -> None:
    check_json_value({"max": 2**63 - 1, "min": -(2**63)})
    for bad in (2**63, -(2**63) - 1, 10**5000):
        with pytest.raises(PayloadError, match="signed 64-bit range"):
            check_json_value({"n": bad})


def test_python_values_that_are_not_json_are_refused() -> None:
    with pytest.raises(PayloadError, match="payload.when: datetime is not a JSON value"):
        check_json_value({"when": datetime.now()})
    with pytest.raises(PayloadError, match="object keys must be strings"):
        check_json_value({1: "x"})
    with pytest.raises(PayloadError, match="NaN"):
        check_json_value([math.nan])


@pytest.mark.parametrize(
    ("value", "fragment"),
    [("k" * 257, "at most 256 characters, got 257"), ("a\x00b", "NUL"), ("\udc80", "lone surrogate"), ("", "must not be empty"), (7, "must be a string")],
)
def test_text_options_are_checked(value: object, fragment: str) -> None:
    with pytest.raises(TriggerOptionsError) as info:
        check_text(value, "idempotency_key", max_chars=256)
    assert info.value.field == "idempotency_key" and fragment in str(info.value)
    assert isinstance(info.value, InputError) and isinstance(info.value, ValueError)


def test_tags_are_checked_one_by_one() -> None:
    assert check_tags("one") == ["one"]
    with pytest.raises(TriggerOptionsError, match=r"tags\[1\]: contains a NUL"):
        check_tags(["ok", "bad\x00"])
    with pytest.raises(TriggerOptionsError, match="at most 10 tags"):
        check_tags([str(i) for i in range(11)])
    with pytest.raises(TriggerOptionsError, match="list of strings"):
        check_tags({"a": 1})


@pytest.mark.parametrize(
    "value",
    ["99999999999999999999d", 10**400, float("inf"), float("nan"), timedelta(days=400), datetime(9999, 1, 1, tzinfo=timezone.utc), "366d"],
)
def test_durations_are_bounded_to_a_year(value: object) -> None:
    with pytest.raises(TriggerOptionsError) as info:
        check_duration(value, "delay")
    assert str(info.value).startswith("delay:")


def test_durations_within_a_year_pass() -> None:
    assert check_duration("365d", "ttl") == 365 * 86400
    assert check_duration(None, "ttl") is None
    with pytest.raises(TriggerOptionsError, match="delay: cannot read duration"):
        check_duration("soon", "delay")


def test_field_paths_are_printable_whatever_the_keys() -> None:
    assert field_path("payload", ["credentials", "port"]) == "payload.credentials.port"
    assert field_path("payload", ["items", 3, "name"]) == "payload.items[3].name"
    weird = field_path("payload", ["a key\n\x1b[31m" + "x" * 100])
    assert "\n" not in weird and "\x1b" not in weird and len(weird) < 120
    json.dumps(field_path("payload", ["\ud800"])).encode()
