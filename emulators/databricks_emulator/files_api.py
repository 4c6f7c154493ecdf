"""Files API over /Volumes: the folder behind each volume is what read_files and COPY INTO read."""

from __future__ import annotations

import email.utils
import mimetypes
import os
import shutil
import uuid
from pathlib import Path
from typing import IO, Any

from databricks_emulator.errors import ApiError
from databricks_emulator.sql.engine import SqlEngine
from databricks_emulator.sql.names import VolumePath, parse_volume_path

_COPY_BUFFER = 1024 * 1024


class FilesApi:
    def __init__(self, engine: SqlEngine) -> None:
        self._engine = engine

    def _resolve(self, path: str) -> tuple[VolumePath, Path]:
        try:
            volume = parse_volume_path("/" + path.lstrip("/"))
            local = volume.local(self._engine.volumes_root)
        except ValueError as exc:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", str(exc)) from exc
        if not self._engine.volume_exists(volume.catalog, volume.schema, volume.volume):
            raise ApiError(404, "NOT_FOUND", f"Volume '{volume.full_name}' does not exist.")
        return volume, local

    def upload(self, path: str, stream: IO[bytes], overwrite: bool) -> None:
        volume, local = self._resolve(path)
        if not volume.rest:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "A file path inside the volume is required.")
        if local.is_dir():
            raise ApiError(409, "ALREADY_EXISTS", f"A directory exists at {path}.")
        if local.exists() and not overwrite:
            raise ApiError(
                409, "ALREADY_EXISTS", f"The file being created already exists: /{path.lstrip('/')}."
            )
        local.parent.mkdir(parents=True, exist_ok=True)
        # Write aside and rename, so a reader (read_files, COPY INTO) never sees half a file; each
        # upload its own aside file, so two uploads of one path at once cannot rename each other's.
        partial = local.with_name(f".{local.name}.{uuid.uuid4().hex}.uploading")
        try:
            with partial.open("wb") as out:
                shutil.copyfileobj(stream, out, _COPY_BUFFER)
            if overwrite:
                partial.replace(local)
            else:
                # A link fails where a file appeared meanwhile: no silent overwrite of a racing upload.
                try:
                    os.link(partial, local)
                except FileExistsError:
                    raise ApiError(
                        409,
                        "ALREADY_EXISTS",
                        f"The file being created already exists: /{path.lstrip('/')}.",
                    ) from None
        finally:
            partial.unlink(missing_ok=True)

    def file_path(self, path: str) -> Path:
        _, local = self._resolve(path)
        if not local.is_file():
            raise ApiError(404, "NOT_FOUND", f"The file does not exist: /{path.lstrip('/')}.")
        return local

    @staticmethod
    def file_headers(local: Path) -> dict[str, str]:
        stat = local.stat()
        return {
            "Content-Length": str(stat.st_size),
            "Content-Type": mimetypes.guess_type(local.name)[0] or "application/octet-stream",
            "Last-Modified": email.utils.formatdate(stat.st_mtime, usegmt=True),
        }

    def delete_file(self, path: str) -> None:
        os.unlink(self.file_path(path))

    def mkdirs(self, path: str) -> None:
        _, local = self._resolve(path)
        if local.is_file():
            raise ApiError(409, "ALREADY_EXISTS", f"A file exists at {path}.")
        local.mkdir(parents=True, exist_ok=True)

    def _directory(self, path: str) -> tuple[VolumePath, Path]:
        volume, local = self._resolve(path)
        if not local.is_dir():
            raise ApiError(404, "NOT_FOUND", f"The directory does not exist: /{path.lstrip('/')}.")
        return volume, local

    def directory_exists(self, path: str) -> None:
        self._directory(path)

    def list_directory(self, path: str) -> dict[str, Any]:
        _, local = self._directory(path)
        base = "/" + path.strip("/")
        contents = []
        for entry in sorted(local.iterdir()):
            if entry.name.startswith(".") and entry.name.endswith(".uploading"):
                continue
            item: dict[str, Any] = {
                "path": f"{base}/{entry.name}",
                "name": entry.name,
                "is_directory": entry.is_dir(),
            }
            if entry.is_file():
                stat = entry.stat()
                item["file_size"] = stat.st_size
                item["last_modified"] = int(stat.st_mtime * 1000)
            else:
                item["path"] += "/"
            contents.append(item)
        return {"contents": contents}

    def delete_directory(self, path: str) -> None:
        volume, local = self._directory(path)
        if any(local.iterdir()):
            raise ApiError(409, "DIRECTORY_NOT_EMPTY", f"The directory is not empty: /{path.lstrip('/')}.")
        if volume.rest:
            local.rmdir()
