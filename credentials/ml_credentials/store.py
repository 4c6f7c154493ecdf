"""A directory of Fernet-encrypted JSON entries with an inter-process lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import tempfile
import typing as t
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

DEFAULT_KEY_ENV = "ML_CONNECTOR_CREDENTIALS_KEY"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


class CredentialStoreError(Exception):
    """A problem with the store that the user must fix (missing key, wrong key, bad name)."""


def generate_key() -> str:
    """A new random key, to be kept in the environment variable the store reads."""
    return Fernet.generate_key().decode("ascii")


class CredentialStore:
    """Named secrets (JSON objects) encrypted at rest, one file per entry, mode 0600.

    Writes are atomic (temp file + rename) so a crash never leaves half an entry; `locked()`
    serialises read-modify-write cycles across processes (e.g. rotating a refresh token).
    """

    def __init__(self, path: str | os.PathLike[str], key: str | bytes) -> None:
        self.path = Path(path).expanduser()
        try:
            self._fernet = Fernet(key.encode("ascii") if isinstance(key, str) else key)
        except (ValueError, TypeError) as exc:
            raise CredentialStoreError(
                "The credential store key is not a valid Fernet key (32 url-safe base64-encoded bytes). "
                "Create one with `ml-credentials keygen`."
            ) from exc

    @classmethod
    def from_env(cls, path: str | os.PathLike[str], key_env: str = DEFAULT_KEY_ENV) -> CredentialStore:
        key = os.environ.get(key_env)
        if not key:
            raise CredentialStoreError(
                f"The environment variable {key_env} holding the credential store key is not set. "
                f"Create a key with `ml-credentials keygen` and export it as {key_env}."
            )
        return cls(path, key)

    def _entry(self, name: str) -> Path:
        if not _NAME.match(name):
            raise CredentialStoreError(
                f"Invalid credential name {name!r}: use letters, digits, '.', '_' or '-'."
            )
        return self.path / f"{name}.fernet"

    def _ensure_dir(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)

    def get(self, name: str) -> dict[str, t.Any] | None:
        """The entry's JSON object, or None when there is no such entry."""
        entry = self._entry(name)
        try:
            blob = entry.read_bytes()
        except FileNotFoundError:
            return None
        try:
            plain = self._fernet.decrypt(blob)
        except InvalidToken as exc:
            raise CredentialStoreError(
                f"Cannot decrypt credential {name!r} in {self.path}: the key does not match the one "
                "it was stored with (or the file was altered)."
            ) from exc
        value = json.loads(plain)
        if not isinstance(value, dict):
            raise CredentialStoreError(f"Credential {name!r} is not a JSON object.")
        return value

    def put(self, name: str, value: t.Mapping[str, t.Any]) -> None:
        """Encrypt and store atomically, replacing any previous entry."""
        entry = self._entry(name)
        self._ensure_dir()
        blob = self._fernet.encrypt(json.dumps(dict(value), sort_keys=True).encode("utf-8"))
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=self.path)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, entry)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        # The rename is only durable once the directory entry is flushed too.
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, name: str) -> bool:
        """Remove the entry; True when there was one."""
        try:
            self._entry(name).unlink()
        except FileNotFoundError:
            return False
        return True

    def names(self) -> list[str]:
        if not self.path.is_dir():
            return []
        return sorted(p.name.removesuffix(".fernet") for p in self.path.glob("*.fernet"))

    @contextlib.contextmanager
    def locked(self, name: str = "store") -> t.Iterator[None]:
        """Hold an exclusive, process-wide lock (flock) for a read-modify-write of `name`."""
        self._ensure_dir()
        lock_path = self.path / f".{self._entry(name).stem}.lock"
        with open(lock_path, "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def __repr__(self) -> str:  # never shows the key
        return f"CredentialStore(path={str(self.path)!r})"
