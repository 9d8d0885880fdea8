"""What can go wrong in the store, as one hierarchy: the CLI and the API map each class to one clear line.

Messages name what was wrong (the source, the snapshot, the environment variable, the file) and never a secret.
"""

from __future__ import annotations

import runtime


class StoreError(Exception):
    """Base of every store error; `message` is one line fit for a user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SourceNotFoundError(StoreError, LookupError):
    """No data source has this id or name."""


class SourceExistsError(StoreError, ValueError):
    """A data source already uses this name."""


class InvalidSourceError(StoreError, ValueError):
    """A source's name or filters are malformed (credentials raise connectors.CredentialsError instead)."""


class SnapshotNotFoundError(StoreError, LookupError):
    """No snapshot has this id, or it belongs to another source."""


class NoSnapshotError(StoreError, LookupError):
    """The source has no snapshot yet (or only one, where a diff needs two): introspect it first."""


class SecretKeyError(StoreError, runtime.SecretKeyError):
    """The encryption key is missing, malformed or kept in an unsafe file (the runtime's error, as a StoreError)."""


class SecretDecryptError(SecretKeyError, runtime.SecretDecryptError):
    """A stored token cannot be read with the current key nor with any of TASKPACK_SECRET_KEY_PREVIOUS."""
