"""State kept as JSON documents (and uploaded bytes) in the data directory, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any


def atomic_write(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write to a temp file in the same directory, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    """Named JSON documents cached in memory; one re-entrant lock guards them (the server is threaded)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._docs: dict[str, dict[str, Any]] = {}

    def _path(self, name: str) -> Path:
        return self.data_dir / f"{name}.json"

    def exists(self, name: str) -> bool:
        return name in self._docs or self._path(name).exists()

    def doc(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self._docs:
                path = self._path(name)
                self._docs[name] = json.loads(path.read_text("utf-8")) if path.exists() else {}
            return self._docs[name]

    def save(self, name: str) -> None:
        with self.lock:
            payload = json.dumps(self.doc(name), ensure_ascii=False, indent=1, sort_keys=True)
            atomic_write(self._path(name), payload.encode("utf-8"), mode=0o600)

    def blob_path(self, *parts: str) -> Path:
        return self.data_dir.joinpath("files", *parts)

    def write_blob(self, data: bytes, *parts: str) -> Path:
        path = self.blob_path(*parts)
        atomic_write(path, data, mode=0o600)
        return path
