"""Who is calling: a secret key (may do anything in its environment) or a public token (may read what it names)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Literal

from api.auth.tokens import TokenScopes


@dataclass(frozen=True)
class Principal:
    kind: Literal["secret_key", "public_token"]
    key_id: str  # the secret key, or the key that issued the public token (its rate-limit bucket)
    environment: str
    scopes: TokenScopes | None = None  # None: a secret key, no restriction
    expires_at: float | None = None  # a public token's expiry (epoch seconds): streams it opened end then

    @property
    def is_secret_key(self) -> bool:
        return self.kind == "secret_key"

    def can_read_run(self, run_id: str, tags: Iterable[str]) -> bool:
        if self.scopes is None:
            return True
        return run_id in self.scopes.runs or not self.scopes.tags.isdisjoint(tags)

    def can_read_tag(self, tag: str) -> bool:
        return self.scopes is None or tag in self.scopes.tags
