"""Workspace objects (files, notebooks, directories): what a Jobs sql_task reads its SQL from."""

from __future__ import annotations

import base64
import binascii
import itertools
import posixpath
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from databricks_emulator.auth import SERVICE_PRINCIPAL_ID
from databricks_emulator.errors import ApiError

_NOTEBOOK_HEADERS = (b"-- Databricks notebook source", b"# Databricks notebook source")


@dataclass
class WorkspaceObject:
    path: str
    object_type: str  # FILE | NOTEBOOK | DIRECTORY
    object_id: int
    content: bytes = b""
    language: str | None = None
    modified_at: int = field(default_factory=lambda: int(time.time() * 1000))

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "resource_id": str(self.object_id),
            "modified_at": self.modified_at,
            "created_at": self.modified_at,
        }
        if self.object_type != "DIRECTORY":
            out["size"] = len(self.content)
        if self.language:
            out["language"] = self.language
        return out


class Workspace:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ids = itertools.count(1000)
        self._objects: dict[str, WorkspaceObject] = {}
        for path in ("/", "/Shared", "/Users", f"/Users/{SERVICE_PRINCIPAL_ID}"):
            self._objects[path] = WorkspaceObject(path, "DIRECTORY", next(self._ids))

    @staticmethod
    def _norm(path: str | None) -> str:
        if not path or not path.startswith("/"):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Path ({path}) must be absolute.")
        return posixpath.normpath(path)

    def get(self, path: str | None) -> WorkspaceObject:
        norm = self._norm(path)
        with self._lock:
            obj = self._objects.get(norm)
        if obj is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Path ({norm}) doesn't exist.")
        return obj

    def mkdirs(self, path: str | None) -> None:
        norm = self._norm(path)
        with self._lock:
            current = ""
            for part in [p for p in norm.split("/") if p]:
                current += "/" + part
                existing = self._objects.get(current)
                if existing is None:
                    self._objects[current] = WorkspaceObject(current, "DIRECTORY", next(self._ids))
                elif existing.object_type != "DIRECTORY":
                    raise ApiError(
                        400, "RESOURCE_ALREADY_EXISTS", f"Path ({current}) already exists as a file."
                    )

    def import_(self, body: dict[str, Any]) -> None:
        norm = self._norm(body.get("path"))
        fmt = (body.get("format") or "SOURCE").upper()
        language = body.get("language")
        try:
            content = base64.b64decode(body.get("content") or "", validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "content must be base64.") from exc
        if fmt == "SOURCE":
            if not language:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "language is required with format SOURCE.")
            object_type = "NOTEBOOK"
        elif fmt == "AUTO":
            object_type = "NOTEBOOK" if content.lstrip().startswith(_NOTEBOOK_HEADERS) else "FILE"
        elif fmt == "RAW":
            object_type = "FILE"
        else:
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", f"The emulator imports SOURCE, AUTO or RAW, not {fmt}."
            )
        parent = posixpath.dirname(norm)
        with self._lock:
            parent_obj = self._objects.get(parent)
            if parent_obj is None or parent_obj.object_type != "DIRECTORY":
                raise ApiError(
                    404, "RESOURCE_DOES_NOT_EXIST", f"The parent folder ({parent}) does not exist."
                )
            existing = self._objects.get(norm)
            if existing is not None and not body.get("overwrite"):
                raise ApiError(400, "RESOURCE_ALREADY_EXISTS", f"Path ({norm}) already exists.")
            object_id = existing.object_id if existing else next(self._ids)
            self._objects[norm] = WorkspaceObject(
                norm,
                object_type,
                object_id,
                content,
                (language or "SQL") if object_type == "NOTEBOOK" else None,
            )

    def export(self, path: str | None) -> dict[str, Any]:
        obj = self.get(path)
        if obj.object_type == "DIRECTORY":
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Path ({obj.path}) is a directory.")
        return {"content": base64.b64encode(obj.content).decode(), "file_type": "sql"}

    def list(self, path: str | None) -> dict[str, Any]:
        directory = self.get(path)
        prefix = directory.path.rstrip("/") + "/"
        with self._lock:
            children = [
                o.status()
                for p, o in sorted(self._objects.items())
                if p.startswith(prefix) and "/" not in p[len(prefix) :] and p != directory.path
            ]
        return {"objects": children}

    def delete(self, body: dict[str, Any]) -> None:
        obj = self.get(body.get("path"))
        prefix = obj.path.rstrip("/") + "/"
        with self._lock:
            children = [p for p in self._objects if p.startswith(prefix)]
            if children and not body.get("recursive"):
                raise ApiError(400, "DIRECTORY_NOT_EMPTY", f"Folder ({obj.path}) is not empty.")
            for p in [*children, obj.path]:
                self._objects.pop(p, None)
