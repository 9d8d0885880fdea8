"""Keeping secrets out of run logs, errors, metadata, outputs and listings.

Rules that hold everywhere: a field whose name says secret (`password`, `db_passwd`, `passwrd`, `client_secret`,
`apiKey`, `service_account_key`, ...) has its value masked, a connection URL loses its password part, a PEM private
key block is masked, and a string that holds JSON is masked inside (a service-account key passed as a JSON string).

Secret *values* are scoped to one run: a `RunSecrets` holds what that run's payload carried under secret names or
SecretStr fields, plus whatever its code registered with `ctx.redact(value)`. While a run executes its set is the
active one (a context variable), so its logs, metadata and errors are scrubbed of its own secrets and of no other
run's; the set dies with the run. A process-wide set would both grow without end and mask one run's output with
another run's password (telling a run whether a guess is someone else's password).
"""

from __future__ import annotations

import bisect
import json
import re
import threading
from contextvars import ContextVar, Token
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel, SecretBytes, SecretStr

from runtime.envelope import is_envelope

MASK = "[REDACTED]"
TOO_DEEP = "[nested too deep to show]"
MAX_WALK_DEPTH = 200
MIN_SCRUB_CHARS = 4  # shorter secrets are masked where they stand (their field), not searched for inside text
# Searching text costs time per secret: a payload with thousands of secret fields must not make its run's listing
# take seconds. Past this many, the longest are searched in text; every one is still masked in its own field.
MAX_SCRUBBED_SECRETS = 256
MAX_JSON_IN_STRING = 3 * 1024 * 1024

# -- which field names hold secrets ----------------------------------------------------------------------------------
# Words of the password family mark a key wherever they stand ("password_confirm", "dbPasswd2"); the short, ambiguous
# ones ("pass", "pw") only as the key's last word, so "pass_rate" stays visible. Near-misspellings of "password"
# count ("passwrd", "pasword", "passowrd"), ordinary neighbours do not ("passport", "passage", "bypass").
_PASSWORD_WORDS = frozenset({"password", "passwd", "passwrd", "pwd", "passcode", "passphrase", "pword", "pswd", "passwort"})
_PASSWORD_LAST_WORDS = frozenset({"pass", "pw", "pas", "psw"})
# Other secrets count as the key's last word only: "client_secret", "access_token", "apiKey"; not "token_count".
_SECRET_LAST_WORDS = frozenset(
    {"secret", "token", "apikey", "authorization", "auth", "oauth", "credential", "cookie", "bearer", "jwt",
     "privatekey", "sessionkey", "accesskey", "secretkey", "accountkey", "signingkey", "encryptionkey", "masterkey",
     "clientkey", "connectionstring"}
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def _is_subsequence(word: str, of: str) -> bool:
    letters = iter(of)
    return all(ch in letters for ch in word)


def _password_like(word: str) -> bool:
    if word in _PASSWORD_WORDS or (word.endswith("s") and word[:-1] in _PASSWORD_WORDS):
        return True
    if len(word) >= 5 and word.startswith(("pas", "pw", "psw")) and _is_subsequence(word, "password"):
        return True  # passwd, paswd, pasword, passwrd
    return 6 <= len(word) <= 10 and SequenceMatcher(None, word, "password").ratio() >= 0.8  # passowrd, passwrod


def _slips(word: str) -> frozenset[str]:
    """A word typed with one letter dropped or two neighbours swapped ("secert", "scret", "credentail")."""
    dropped = {word[:i] + word[i + 1 :] for i in range(len(word))}
    swapped = {word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1)}
    return frozenset(dropped | swapped)


_SECRET_SLIPS = _slips("secret") | _slips("credential") | _slips("credentials")


def _secret_like(word: str) -> bool:
    if word in _SECRET_LAST_WORDS or (word.endswith("s") and word[:-1] in _SECRET_LAST_WORDS):
        return True
    return word in _SECRET_SLIPS or (word.endswith("s") and word[:-1] in _SECRET_SLIPS)


@lru_cache(maxsize=8192)
def secret_key_kind(key: str) -> str | None:
    """"password" (mask any scalar, numbers too), "secret" (mask text), or None for an ordinary field name."""
    words = [w.lower() for w in _WORD.findall(key) if not w.isdigit()]
    if not words:
        return None
    if any(_password_like(w) for w in words) or words[-1] in _PASSWORD_LAST_WORDS:
        return "password"
    last = words[-1]
    if _secret_like(last) or (len(words) >= 2 and _secret_like(words[-2] + last)):
        return "secret"
    return None


# -- secret text inside free text ------------------------------------------------------------------------------------
# Bounded repetitions: these run over arbitrary user text (a 3 MB string must not backtrack quadratically).
_URL_PASSWORD = re.compile(r"(?P<scheme>\b[a-z][a-z0-9+.\-]{0,30}://)(?P<user>[^:/@\s]{1,256}):(?P<pw>[^@/\s]{1,512})@", re.I)
_KV_SECRET = re.compile(
    r"(?P<key>(?<![A-Za-z0-9])(?:[A-Za-z0-9]{1,32}[_\-.])?"
    r"(?:password|passwd|passwrd|pwd|secret|token|api[_\-]?key|private[_\-]?key|access[_\-]?key|passphrase)"
    r"[\"']?\s{0,8}[=:]\s{0,8})"
    r"(?P<val>'[^']{0,512}'|\"[^\"]{0,512}\"|[^\s,;&'\"}]{1,512})",
    re.I,
)
_PEM_BEGIN = re.compile(r"-----BEGIN (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END (?:[A-Z0-9]{1,20} ){0,3}PRIVATE KEY(?: BLOCK)?-----")
_PEM_BODY = re.compile(r"[A-Za-z0-9+/=\s\\:,\-]{0,16384}")  # base64, headers, escaped newlines: a cut-off key
PEM_MAX_CHARS = 16384  # an 8192-bit RSA key is about 6,500
# Lone surrogates cannot be encoded, NUL cannot be stored in PostgreSQL text: what is shown or stored has U+FFFD.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class RunSecrets:
    """The secret values of one run. Never shared between runs; dropped with the run's context."""

    def __init__(self, values: Any = ()) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self._shortest = 0  # the shortest value the pattern searches for: shorter text cannot hold one
        for value in values:
            self.add(value)

    def add(self, value: Any) -> None:
        if isinstance(value, (SecretStr, SecretBytes)):
            value = value.get_secret_value()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, bool) or value is None:
            return
        if isinstance(value, (int, float)):
            value = str(value)
        if not isinstance(value, str) or not value:
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                self._pattern = None

    def add_model_secrets(self, value: Any, _depth: int = 0) -> None:
        """Every SecretStr / SecretBytes inside a validated payload (a pydantic model, and what it contains)."""
        if _depth > MAX_WALK_DEPTH:
            return
        if isinstance(value, (SecretStr, SecretBytes)):
            self.add(value)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                self.add_model_secrets(getattr(value, name, None), _depth + 1)
        elif isinstance(value, dict):
            for item in value.values():
                self.add_model_secrets(item, _depth + 1)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for item in value:
                self.add_model_secrets(item, _depth + 1)

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, value: object) -> bool:
        return value in self._values

    def scrub(self, text: str) -> str:
        pattern = self._compiled()
        return text if pattern is None or len(text) < self._shortest else pattern.sub(MASK, text)

    def touches(self, text: str) -> bool:
        """True when `text` is one of the values, or holds one long enough to be searched for."""
        if text in self._values:
            return True
        pattern = self._compiled()
        return pattern is not None and pattern.search(text) is not None

    def appear_in(self, data: bytes) -> bool:
        """True when any value's UTF-8 bytes occur in `data` (a quick, conservative test before a closer look)."""
        with self._lock:
            values = list(self._values)
        return any(v.encode("utf-8", "surrogatepass") in data for v in values)

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None:
                long_enough = sorted((v for v in self._values if len(v) >= MIN_SCRUB_CHARS), key=len, reverse=True)[:MAX_SCRUBBED_SECRETS]
                if not long_enough:
                    return None
                self._pattern = re.compile("|".join(map(re.escape, long_enough)))
                self._shortest = len(long_enough[-1])
            return self._pattern


_active: ContextVar[RunSecrets | None] = ContextVar("taskpack_run_secrets", default=None)


def use_secrets(secrets: RunSecrets) -> Token[RunSecrets | None]:
    """Make `secrets` the set that redaction in this context (the run's threads and tasks) applies."""
    return _active.set(secrets)


def reset_secrets(token: Token[RunSecrets | None]) -> None:
    _active.reset(token)


def active_secrets() -> RunSecrets | None:
    return _active.get()


class SchemaView(Protocol):
    """Where a value sits in a payload's JSON Schema (see runtime.payload_schema.SchemaView)."""

    def is_secret(self) -> bool: ...
    def child(self, key: str) -> "SchemaView | None": ...
    def item(self, index: int) -> "SchemaView | None": ...


# -- masking ---------------------------------------------------------------------------------------------------------
def redact_text(text: str, secrets: RunSecrets | None = None) -> str:
    """Text safe to store and show: URL passwords, `password=...` pairs, private keys and the run's secrets masked."""
    if secrets is None:
        secrets = _active.get()
    # each rule only where its match could be (what it needs is in the text): most strings shown are names and
    # numbers, and three regular expressions over each were most of reading a run back (its output, metadata, payload)
    text = storable(text)
    if "://" in text:
        text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    if "=" in text or ":" in text:
        text = _KV_SECRET.sub(lambda m: f"{m['key']}{MASK}", text)
    if "PRIVATE KEY" in text:
        text = _mask_private_keys(text)
    if secrets is not None:
        if text in secrets:
            return MASK
        text = secrets.scrub(text)
    return text


def storable(text: str) -> str:
    """`text` with what cannot be stored or shown (NUL, lone surrogates) as U+FFFD."""
    if text.isascii() and "\x00" not in text:
        return text
    return _UNSTORABLE.sub("\ufffd", text)


def _mask_private_keys(text: str) -> str:
    """Each PEM private key block, from BEGIN to its END (or, cut off, to the end of its base64), becomes MASK.

    Linear in the text: END markers are found once, and a BEGIN inside an already masked block is skipped, so text
    full of BEGIN markers cannot make this quadratic (a lazy regex to the next END would be).
    """
    ends = [m.end() for m in _PEM_END.finditer(text)]
    pieces: list[str] = []
    pos = 0
    for begin in _PEM_BEGIN.finditer(text):
        if begin.start() < pos:
            continue
        i = bisect.bisect_right(ends, begin.end())
        if i < len(ends) and ends[i] - begin.end() <= PEM_MAX_CHARS:
            stop = ends[i]
        else:
            body = _PEM_BODY.match(text, begin.end())
            stop = body.end() if body else begin.end()
        pieces += [text[pos : begin.start()], MASK]
        pos = stop
    pieces.append(text[pos:])
    return "".join(pieces)


def redact(value: Any, key: str | None = None, *, secrets: RunSecrets | None = None, schema: SchemaView | None = None) -> Any:
    """A copy of `value` that is safe to store and show.

    Secret-named fields and fields the schema types as secret (SecretStr: `writeOnly`) are masked whole; strings
    are scrubbed of URL passwords, private keys and the run's secrets; strings holding JSON are masked inside;
    lone surrogates become U+FFFD so any JSON writer can print the result.
    """
    if secrets is None:
        secrets = _active.get()
    return _Masker(secrets).walk(value, key, schema, 0)


class _Masker:
    def __init__(self, secrets: RunSecrets | None) -> None:
        self.secrets = secrets

    def walk(self, value: Any, key: str | None, schema: SchemaView | None, depth: int) -> Any:
        if depth > MAX_WALK_DEPTH:
            return TOO_DEEP
        if isinstance(value, (SecretStr, SecretBytes)):
            return MASK
        if value is None or isinstance(value, bool):
            return value
        if (schema is not None and schema.is_secret()) or is_envelope(value):
            return MASK  # an envelope is an encrypted secret (runtime.sealing): its token is not for showing either
        kind = secret_key_kind(key) if key is not None else None
        if kind == "password" and not isinstance(value, (dict, list, tuple)):
            return MASK
        if isinstance(value, str):
            if kind == "secret":
                return MASK
            return self.text(value, depth)
        if isinstance(value, dict):
            return {
                storable(str(k)): self.walk(v, str(k), schema.child(str(k)) if schema else None, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            inherited = key if kind else None  # {"passwords": ["a", "b"]}: each item is a password
            return [self.walk(v, inherited, schema.item(i) if schema else None, depth + 1) for i, v in enumerate(value)]
        if isinstance(value, (int, float)) and self.secrets is not None and str(value) in self.secrets:
            return MASK
        return value

    def text(self, value: str, depth: int) -> str:
        parsed = _json_inside(value)
        if parsed is not None:
            masked = self.walk(parsed, None, None, depth + 1)
            if masked != parsed:
                return json.dumps(masked, ensure_ascii=False)
        return redact_text(value, self.secrets) if self.secrets is not None else _rules_only(value)


def _rules_only(text: str) -> str:
    return redact_text(text, _NO_SECRETS)


_NO_SECRETS = RunSecrets()


def _json_inside(value: str) -> Any:
    """The object or array a string holds as JSON text, else None."""
    stripped = value.lstrip()
    if not stripped or stripped[0] not in "{[" or len(value) > MAX_JSON_IN_STRING:
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, (dict, list)) else None


# -- finding a payload's secrets -------------------------------------------------------------------------------------
def collect_secrets(payload: Any, schema: SchemaView | None = None, into: RunSecrets | None = None) -> RunSecrets:
    """The secret values a payload carries: under secret-named keys, in SecretStr fields of the task's schema, and
    inside strings that hold JSON. What the run's text (logs, errors, output) is then scrubbed of."""
    found = into if into is not None else RunSecrets()
    _collect(payload, None, schema, found, 0)
    return found


def _collect(value: Any, key: str | None, schema: SchemaView | None, found: RunSecrets, depth: int) -> None:
    if depth > MAX_WALK_DEPTH or value is None or isinstance(value, bool) or is_envelope(value):
        return
    secret_here = (schema is not None and schema.is_secret()) or (key is not None and secret_key_kind(key) is not None)
    if isinstance(value, dict):
        for k, v in value.items():
            _collect(v, str(k), schema.child(str(k)) if schema else None, found, depth + 1)
    elif isinstance(value, (list, tuple)):
        inherited = key if key is not None and secret_key_kind(key) is not None else None
        for i, v in enumerate(value):
            _collect(v, inherited, schema.item(i) if schema else None, found, depth + 1)
    elif isinstance(value, str):
        if secret_here:
            found.add(value)
        parsed = _json_inside(value)
        if parsed is not None:
            _collect(parsed, None, None, found, depth + 1)
    elif secret_here and isinstance(value, (int, float)):
        found.add(value)


def scrub_secrets(value: Any, secrets: RunSecrets, _depth: int = 0) -> Any:
    """`value` with the run's secret values masked inside its strings, and nothing else changed.

    For what a run returns: the output is stored, so it must not carry the run's secrets (nor any SecretStr / SecretBytes
    value), but its field names are the task's business (an output field named `token_count` is not masked here;
    listings apply the name rules).
    """
    if isinstance(value, (SecretStr, SecretBytes)):
        return MASK  # an output is for showing: it never carries a secret out, even one typed as such
    if _depth > MAX_WALK_DEPTH:
        return value
    if isinstance(value, str):
        return value if not len(secrets) else MASK if value in secrets else secrets.scrub(value)
    if isinstance(value, dict):
        return {k: scrub_secrets(v, secrets, _depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_secrets(v, secrets, _depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(scrub_secrets(v, secrets, _depth + 1) for v in value)
    return value
