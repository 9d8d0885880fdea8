"""Names as the server reads them: escapes decoded, case folded.

sqlglot already decodes doubled quotes inside quoted identifiers (`"a""b"`, `` `a``b` ``, `[a]]b]`). What it does not
decode, the guard decodes here before comparing a name with an allow-list:

- PostgreSQL `U&"..."` identifiers and `U&'...'` strings, with `\\XXXX`, `\\+XXXXXX` and a `UESCAPE 'c'` escape
  character of their own. sqlglot reads `U&"pg\\005fsleep"(1)` as the column `U` AND-ed with a call of a function
  literally named `pg\\005fsleep`; the server calls `pg_sleep`. The guard rewrites each such identifier (and each
  `U&'...' UESCAPE 'c'` string) into a plain quoted one before parsing, so the tree holds the name the server sees.
- BigQuery quoted identifiers, which take the same backslash escapes as its strings (`` `ext\\x65rnal_query` ``).

Then a name is folded as its dialect folds it (see `dialects.NameFolding`). A quoted name that differs from its folded
form is a different object on a case-sensitive server (`"LOWER"` is not `lower` in PostgreSQL): its key keeps the
quotes, so it never equals a built-in's name.
"""

from __future__ import annotations

import re

from sqlglot.tokens import Token, TokenType

from connectors.sql_guard.dialects import NameFolding

_HEX = frozenset("0123456789abcdefABCDEF")


class BadEscape(ValueError):
    """An escape the server would reject (so the statement would not run); reported as unparseable SQL."""


def decode_unicode_escapes(body: str, escape: str = "\\") -> str:
    """PostgreSQL's decoding of a `U&` literal's body: `<e>XXXX`, `<e>+XXXXXX`, `<e><e>` for the escape itself,
    UTF-16 surrogate pairs combined."""
    out: list[str] = []
    i, n = 0, len(body)
    pending_high: int | None = None
    while i < n:
        char = body[i]
        if char != escape:
            if pending_high is not None:
                raise BadEscape("invalid Unicode surrogate pair")
            out.append(char)
            i += 1
            continue
        if body[i + 1 : i + 2] == escape:
            out.append(escape)
            i += 2
            continue
        if body[i + 1 : i + 2] == "+":
            digits, i = body[i + 2 : i + 8], i + 8
        else:
            digits, i = body[i + 1 : i + 5], i + 5
        if len(digits) not in (4, 6) or not set(digits) <= _HEX:
            raise BadEscape("invalid Unicode escape")
        code = int(digits, 16)
        if pending_high is not None:
            if not 0xDC00 <= code <= 0xDFFF:
                raise BadEscape("invalid Unicode surrogate pair")
            code = 0x10000 + ((pending_high - 0xD800) << 10) + (code - 0xDC00)
            pending_high = None
        elif 0xD800 <= code <= 0xDBFF:
            pending_high = code
            continue
        elif 0xDC00 <= code <= 0xDFFF or code > 0x10FFFF or code == 0:
            raise BadEscape("invalid Unicode escape value")
        out.append(chr(code))
    if pending_high is not None:
        raise BadEscape("invalid Unicode surrogate pair")
    return "".join(out)


def _valid_uescape(char: str) -> bool:
    return len(char) == 1 and char not in _HEX and char not in "+'\"" and not char.isspace()


def _is_word(token: Token, word: str) -> bool:
    return token.token_type not in _QUOTED_TOKENS and token.text.upper() == word


_QUOTED_TOKENS = frozenset(
    {
        TokenType.IDENTIFIER,
        TokenType.STRING,
        TokenType.NATIONAL_STRING,
        TokenType.RAW_STRING,
        TokenType.HEREDOC_STRING,
        TokenType.UNICODE_STRING,
        TokenType.BIT_STRING,
        TokenType.HEX_STRING,
        TokenType.BYTE_STRING,
    }
)


def has_unicode_escapes(tokens: list[Token]) -> bool:
    """Cheap test: is there a `U&"..."` identifier, or a `UESCAPE` anywhere?"""
    for i, token in enumerate(tokens):
        if token.token_type == TokenType.AMP and 0 < i < len(tokens) - 1:
            before, after = tokens[i - 1], tokens[i + 1]
            if (
                before.text in ("U", "u")
                and after.token_type == TokenType.IDENTIFIER
                and before.end + 1 == token.start
                and token.end + 1 == after.start
            ):
                return True
        elif _is_word(token, "UESCAPE"):
            return True
    return False


def rewrite_unicode_escapes(sql: str, tokens: list[Token]) -> str:
    """The text with every `U&"..." [UESCAPE 'c']` written as a plain quoted identifier and every `U&'...' UESCAPE 'c'`
    as a plain string, so that sqlglot parses the names and values the server sees. Raises BadEscape."""
    pieces: list[str] = []
    cursor = 0
    i, n = 0, len(tokens)
    while i < n:
        token = tokens[i]
        kind: str | None = None
        if (
            token.text in ("U", "u")
            and i + 2 < n
            and tokens[i + 1].token_type == TokenType.AMP
            and tokens[i + 2].token_type == TokenType.IDENTIFIER
            and token.end + 1 == tokens[i + 1].start
            and tokens[i + 1].end + 1 == tokens[i + 2].start
        ):
            kind, body_token, last = "identifier", tokens[i + 2], i + 2
        elif token.token_type == TokenType.UNICODE_STRING and i + 2 < n and _is_word(tokens[i + 1], "UESCAPE"):
            kind, body_token, last = "string", token, i
        if kind is None:
            i += 1
            continue
        escape = "\\"
        if last + 2 < n and _is_word(tokens[last + 1], "UESCAPE"):
            escape_token = tokens[last + 2]
            if escape_token.token_type != TokenType.STRING or not _valid_uescape(escape_token.text):
                raise BadEscape("invalid UESCAPE character")
            escape = escape_token.text
            last += 2
        decoded = decode_unicode_escapes(body_token.text, escape)
        quote = '"' if kind == "identifier" else "'"
        pieces.append(sql[cursor : token.start])
        pieces.append(quote + decoded.replace(quote, quote * 2) + quote)
        cursor = tokens[last].end + 1
        i = last + 1
    pieces.append(sql[cursor:])
    return "".join(pieces)


_BIGQUERY_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.DOTALL)
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def decode_backslash_escapes(text: str) -> str:
    """BigQuery's escapes in a quoted identifier (the same as in its strings)."""

    def one(match: re.Match[str]) -> str:
        seq = match.group(1)
        if seq[0] in "xuU" and len(seq) > 1:
            return chr(int(seq[1:], 16))
        if len(seq) == 3 and seq.isdigit():
            return chr(int(seq, 8))
        return _SIMPLE_ESCAPES.get(seq, seq)

    return _BIGQUERY_ESCAPE.sub(one, text) if "\\" in text else text


def name_key(name: str, quoted: bool, folding: NameFolding) -> str:
    """The form a name is compared in (lower case), or the quoted name itself when the server would not fold it to
    a built-in's name (a quoted `"LOWER"` in PostgreSQL, `"lower"` in Snowflake)."""
    if not quoted or folding == "insensitive":
        return name.lower()
    folded = name.lower() if folding == "lower" else name.upper()
    return name.lower() if name == folded else f'"{name}"'
