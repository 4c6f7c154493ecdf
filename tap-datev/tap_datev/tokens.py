"""The DATEV token pair in the shared encrypted credential store.

Refresh tokens are single-use at DATEV: redeeming one twice kills the whole session. So every
refresh happens under the store's inter-process lock, re-reads the stored pair first and writes
the new pair before anyone uses the new access token (see auth.TokenManager).
"""

from __future__ import annotations

import contextlib
import dataclasses
import typing as t
from datetime import UTC, datetime

from ml_credentials import CredentialStore, CredentialStoreError
from tap_datev import settings
from tap_datev.errors import DatevConfigError

if t.TYPE_CHECKING:
    from collections.abc import Iterator


@dataclasses.dataclass(frozen=True)
class TokenPair:
    """Access + refresh token with absolute expiry times (epoch seconds)."""

    access_token: str = dataclasses.field(repr=False)
    refresh_token: str = dataclasses.field(repr=False)
    expires_at: float
    refresh_expires_at: float | None = None
    scope: str = ""
    token_type: str = "Bearer"
    issued_at: float | None = None

    @classmethod
    def from_token_response(
        cls,
        response: t.Mapping[str, t.Any],
        *,
        now: float,
        previous: TokenPair | None = None,
    ) -> TokenPair:
        """Build from a token endpoint answer; `now` is when the request was sent."""
        refresh = response.get("refresh_token") or (previous.refresh_token if previous else None)
        if not response.get("access_token") or not refresh:
            raise ValueError("token response without access_token or refresh_token")
        expires_in = float(response.get("expires_in") or 900)
        # DATEV adds a non-standard refresh_token_expires_in; without it keep what we knew.
        rt_expires_in = response.get("refresh_token_expires_in")
        refresh_expires_at = (
            now + float(rt_expires_in)
            if rt_expires_in is not None
            else (previous.refresh_expires_at if previous else None)
        )
        return cls(
            access_token=str(response["access_token"]),
            refresh_token=str(refresh),
            expires_at=now + expires_in,
            refresh_expires_at=refresh_expires_at,
            scope=str(response.get("scope") or (previous.scope if previous else "")),
            token_type=str(response.get("token_type") or "Bearer"),
            issued_at=now,
        )

    @classmethod
    def from_dict(cls, value: t.Mapping[str, t.Any]) -> TokenPair:
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in value.items() if k in fields})

    def to_dict(self) -> dict[str, t.Any]:
        return dataclasses.asdict(self)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def access_valid(self, now: float, skew: float) -> bool:
        return now < self.expires_at - skew

    def refresh_expired(self, now: float) -> bool:
        return self.refresh_expires_at is not None and now >= self.refresh_expires_at

    def refresh_expiry_text(self) -> str:
        return format_expiry(self.refresh_expires_at)


def format_expiry(epoch: float | None) -> str:
    """A refresh token's expiry for logs and messages (a date and time, never the token)."""
    if epoch is None:
        return "unknown (DATEV did not say)"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def open_store(config: t.Mapping[str, t.Any]) -> CredentialStore:
    try:
        return CredentialStore.from_env(
            settings.credentials_path(config), settings.credentials_key_env(config)
        )
    except CredentialStoreError as exc:
        raise DatevConfigError(str(exc)) from exc


class TokenStore:
    """One token pair per DATEV environment and OAuth client, in the encrypted store."""

    def __init__(self, store: CredentialStore, name: str) -> None:
        self.store = store
        self.name = name

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> TokenStore:
        return cls(open_store(config), settings.token_entry_name(config))

    def load(self) -> TokenPair | None:
        value = self.store.get(self.name)
        return TokenPair.from_dict(value) if value else None

    def save(self, pair: TokenPair) -> None:
        self.store.put(self.name, pair.to_dict())

    def delete(self) -> bool:
        return self.store.delete(self.name)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive across processes and threads (flock on a file opened per call)."""
        with self.store.locked(self.name):
            yield


def resolve_client_secret(config: t.Mapping[str, t.Any]) -> str | None:
    """The client secret from the config, else from the store entry `datev-app`."""
    secret = config.get("client_secret")
    if secret:
        return str(secret)
    try:
        entry = open_store(config).get(settings.APP_CREDENTIAL)
    except (DatevConfigError, CredentialStoreError):
        return None
    if entry and entry.get("client_secret"):
        return str(entry["client_secret"])
    return None
