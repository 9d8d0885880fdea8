"""The door: what a run's input may be, checked before anything is stored.

Every way in (the CLI, `tasks.trigger` / `batch_trigger`, the HTTP API) goes through these checks, so SQLite and
PostgreSQL see the same input and refuse the same things with the same typed error (`PayloadError`,
`TriggerOptionsError`, both `InputError`s naming the field). The limits exist because something downstream breaks
past them, not to be stingy:

- text: PostgreSQL cannot store NUL (U+0000) in text or JSON, and a lone surrogate (U+D800..U+DFFF) is not Unicode:
  no driver can encode it and no JSON reader outside Python accepts it;
- integers: signed 64 bits, what PostgreSQL's bigint, Go and Java carry (JavaScript's safe range is 53 bits: send
  larger ids as strings); floats must be finite (JSON has no NaN or Infinity);
- depth: 64 levels, far beyond any real payload and far below the recursion limits of Python's and DBOS's encoders;
- size: 3 MB of JSON, the HTTP API's body limit;
- durations: a year at most, which keeps `now + delay` inside a bigint of milliseconds and a task from being
  forgotten in a queue;
- keys and ids: lengths that fit their columns on PostgreSQL (SQLite would accept anything, so the limit has to be
  ours, not the database's).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Iterable

from runtime.durations import to_seconds
from runtime.errors import InputError, PayloadError, TriggerOptionsError

MAX_PAYLOAD_BYTES = 3 * 1024 * 1024
MAX_DEPTH = 64
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
MAX_TASK_ID_CHARS = 200  # the task definitions' primary key column
MAX_KEY_CHARS = 256  # idempotency, concurrency and schedule deduplication keys (task id + key fit the 600-char scope column)
MAX_ID_CHARS = 128  # tags, schedule external ids
MAX_RUN_ID_CHARS = 64
MAX_TIMEZONE_CHARS = 64
MAX_CRON_CHARS = 200
MAX_DURATION_S = 365 * 86400  # delay, ttl, max_duration, idempotency_key_ttl
MAX_ATTEMPTS = 100
MAX_TAGS = 10

_BAD_CHAR = re.compile("[\x00\ud800-\udfff]")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}")
_SEGMENT_CHARS = 40


# -- naming a place in a payload -------------------------------------------------------------------------------------
def field_path(root: str, parts: Iterable[str | int]) -> str:
    """`payload.credentials.port`, `payload.items[3]`, `payload["a key"]`: safe to print whatever the keys hold."""
    text = root
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}"
        else:
            shown = part if len(part) <= _SEGMENT_CHARS else part[:_SEGMENT_CHARS] + "…"
            text += f"[{json.dumps(shown)}]"  # escapes control characters, quotes, and surrogates
    return text


def _text_problem(value: str) -> str | None:
    found = _BAD_CHAR.search(value)
    if found is None:
        return None
    char = found.group()
    if char == "\x00":
        return "contains a NUL character (U+0000), which PostgreSQL cannot store"
    return f"contains a lone surrogate (U+{ord(char):04X}), which is not valid Unicode"


# -- text options ------------------------------------------------------------------------------------------------------
def check_text(
    value: Any,
    field: str,
    *,
    max_chars: int,
    error: type[InputError] = TriggerOptionsError,
    allow_empty: bool = False,
) -> str:
    """A short text option (key, id, tag, name): a string, not empty, at most `max_chars`, storable everywhere."""
    if not isinstance(value, str):
        raise error(f"{field}: must be a string, got {type(value).__name__}", field=field)
    if not value and not allow_empty:
        raise error(f"{field}: must not be empty", field=field)
    if len(value) > max_chars:
        raise error(f"{field}: at most {max_chars} characters, got {len(value)}", field=field)
    problem = _text_problem(value)
    if problem:
        raise error(f"{field}: {problem}", field=field)
    return value


def check_tags(tags: Any) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = [tags]
    if not isinstance(tags, (list, tuple)):
        raise TriggerOptionsError(f"tags: must be a list of strings, got {type(tags).__name__}", field="tags")
    if len(tags) > MAX_TAGS:
        raise TriggerOptionsError(f"tags: at most {MAX_TAGS} tags per run, got {len(tags)}", field="tags")
    return [check_text(tag, f"tags[{i}]", max_chars=MAX_ID_CHARS) for i, tag in enumerate(tags)]


def check_duration(value: Any, field: str, *, maximum: float = MAX_DURATION_S) -> float | None:
    """Seconds from any duration form `runtime.durations` reads, finite and at most `maximum`."""
    try:
        seconds = to_seconds(value, what=field)
    except (ValueError, OverflowError) as exc:
        raise TriggerOptionsError(str(exc) if str(exc).startswith(field) else f"{field}: {exc}", field=field) from None
    if seconds is None:
        return None
    if not math.isfinite(seconds) or seconds > maximum:
        raise TriggerOptionsError(f"{field}: at most {_days(maximum)}", field=field)
    return seconds


def check_count(value: Any, field: str, *, minimum: int, maximum: int) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise TriggerOptionsError(f"{field}: must be an integer from {minimum} to {maximum}", field=field)
    return value


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds:g} seconds"


# -- JSON values ---------------------------------------------------------------------------------------------------------
def check_json_value(
    value: Any,
    field: str = "payload",
    *,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    error: type[InputError] = PayloadError,
) -> int:
    """Refuse what JSON, PostgreSQL or a JSON reader in another language would choke on; returns the encoded size.

    `value` is plain JSON data (dicts with string keys, lists, str, int, float, bool, None), as `json.loads` or
    pydantic's `to_jsonable_python` give it. Two passes: the C encoder plus a walk over containers only clear
    well-formed input quickly (a megabyte in milliseconds); anything they doubt is walked node by node, iteratively
    (a payload nested 100,000 deep is refused, not a RecursionError), to name the exact field.
    """
    size = _quick_size(value)
    if size is None:
        _walk(value, field, max_bytes, error)  # raises naming the field, unless the doubt was a false alarm
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
    if size > max_bytes:
        raise error(f"{field}: {_size(size)} is over the {_size(max_bytes)} limit", field=field)
    return size


_CONTAINERS = (dict, list, tuple)
# A run of 19+ digits (a number that may not fit 64 bits) or a NUL escape may sit harmlessly inside a string, so
# either only sends the value to the exact walk.
_LONG_DIGITS = re.compile(r"[0-9]{19}")


def _quick_size(value: Any) -> int | None:
    """The encoded size when `value` certainly passes every check but the size limit, else None."""
    level, depth = [value], 0
    while level:
        nested = []
        for node in level:
            if type(node) is dict:
                if not all(type(k) is str for k in node):
                    return None
                nested.extend(v for v in node.values() if isinstance(v, _CONTAINERS))
            elif isinstance(node, _CONTAINERS):
                nested.extend(v for v in node if isinstance(v, _CONTAINERS))
        if nested and depth + 1 >= MAX_DEPTH:
            return None
        level, depth = nested, depth + 1
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        data = text.encode("utf-8")  # a lone surrogate fails here
    except (ValueError, TypeError, RecursionError):
        return None
    if "\\u0000" in text or _LONG_DIGITS.search(text):
        return None
    return len(data)


def _walk(value: Any, field: str, max_bytes: int, error: type[InputError]) -> None:
    # Each entry: (node, depth, parent entry for the path, this node's key in its parent).
    stack: list[tuple[Any, int, Any, str | int | None]] = [(value, 0, None, None)]
    budget = 0
    while stack:
        entry = stack.pop()
        node, depth = entry[0], entry[1]
        if isinstance(node, str):
            budget += len(node) + 2
            problem = _text_problem(node)
            if problem:
                _fail(error, field, entry, problem)
        elif isinstance(node, bool) or node is None:
            budget += 4
        elif isinstance(node, int):
            if not MIN_INT <= node <= MAX_INT:
                _fail(error, field, entry, f"a {node.bit_length()}-bit integer is outside the signed 64-bit range; send it as a string")
            budget += 20
        elif isinstance(node, float):
            if not math.isfinite(node):
                _fail(error, field, entry, "NaN and Infinity are not JSON numbers")
            budget += 24
        elif isinstance(node, dict):
            if depth >= MAX_DEPTH:
                _fail(error, field, entry, f"nested deeper than {MAX_DEPTH} levels")
            budget += 2
            for key, child in node.items():
                if not isinstance(key, str):
                    _fail(error, field, entry, f"object keys must be strings, got {type(key).__name__}")
                problem = _text_problem(key)
                if problem:
                    _fail(error, field, (None, 0, entry, key), f"the key {problem}")
                budget += len(key) + 4
                stack.append((child, depth + 1, entry, key))
        elif isinstance(node, (list, tuple)):
            if depth >= MAX_DEPTH:
                _fail(error, field, entry, f"nested deeper than {MAX_DEPTH} levels")
            budget += 2
            stack.extend((child, depth + 1, entry, index) for index, child in enumerate(node))
        else:
            _fail(error, field, entry, f"{type(node).__name__} is not a JSON value")
        if budget > max_bytes:
            raise error(f"{field}: over the {_size(max_bytes)} limit", field=field)


def _fail(error: type[InputError], root: str, entry: Any, problem: str) -> None:
    parts: list[str | int] = []
    while entry is not None and entry[3] is not None:
        parts.append(entry[3])
        entry = entry[2]
    where = field_path(root, reversed(parts))
    raise error(f"{where}: {problem}", field=where)


def _size(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


class _Refused(Exception):
    """Raised from inside json.loads' hooks; turned into a PayloadError naming the field."""


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > 19:  # beyond 64 bits whatever the digits; also keeps int() away from Python's 4,300-digit guard
        raise _Refused(f"an integer with {digits} digits is outside the signed 64-bit range; send it as a string")
    return int(text)


def _parse_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def parse_json(data: bytes | str, field: str = "payload", *, max_bytes: int = MAX_PAYLOAD_BYTES) -> Any:
    """JSON text from outside (a CLI argument, a file, an HTTP body) to a checked value, or a PayloadError."""
    if len(data) > max_bytes:
        raise PayloadError(f"{field}: {_size(len(data))} is over the {_size(max_bytes)} limit", field=field)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PayloadError(
                f"{field}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", field=field
            ) from None
    else:
        text = data
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_int=_parse_int, parse_constant=_parse_constant)
    except _Refused as exc:
        raise PayloadError(f"{field}: {exc}", field=field) from None
    except RecursionError:
        raise PayloadError(f"{field}: nested deeper than {MAX_DEPTH} levels", field=field) from None
    except json.JSONDecodeError as exc:
        raise PayloadError(f"{field}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})", field=field) from None
    check_json_value(value, field, max_bytes=max_bytes)
    return value
