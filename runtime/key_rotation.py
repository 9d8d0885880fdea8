"""Re-encrypting what unfinished runs hold with the current key, so a retired key can be dropped.

A run that has not finished still needs its secrets: a queued or delayed run has yet to open its payload's envelopes,
and an executing one may be recovered after a crash, re-reading its payload and its finished steps' results. So
`taskpack sources rotate-key` (after the store's credentials) rewrites, for every such run, its stored payload and
its recorded step results and errors with the current key.

Finished runs are left as they are: nothing reads their secrets again except a replay, and their rows are the
record of what ran. Showing them needs no key (secrets are shown masked); replaying one needs the key it was written
with, so keep a retired key in TASKPACK_SECRET_KEY_PREVIOUS for as long as old runs may be replayed.
"""

from __future__ import annotations

from runtime.backend import get_backend
from runtime.serializer import SERIALIZER_NAME, reseal


def rotate_run_secrets(database_url: str | None = None) -> int:
    """Re-encrypt the secrets of every unfinished run with the current key; returns how many runs held some.

    All or nothing: a token no key reads raises SecretDecryptError naming its run, and nothing is rewritten.
    """
    backend = get_backend(database_url)
    ring = backend.keyring()

    def resealed(run_id: str, text: str) -> str | None:
        new, count = reseal(text, ring, f"a secret of run {run_id}")
        return new if count else None

    return backend.dbos.rewrite_unfinished(SERIALIZER_NAME, resealed)
