"""Engines: where the target's tables live."""

from __future__ import annotations

import typing as t

from target_databricks.engines.base import Engine, EngineError

ENGINES = ("local", "workspace")


def make_engine(config: t.Mapping[str, t.Any]) -> Engine:
    """`local` (default): Delta tables on disk. `workspace`: a Databricks workspace (imported lazily,
    so the local engine never needs the workspace engine's dependencies or settings)."""
    name = str(config.get("engine") or "local")
    if name == "local":
        from target_databricks.engines.local import LocalEngine

        return LocalEngine(config)
    if name == "workspace":
        from target_databricks.engines.workspace import WorkspaceEngine

        return WorkspaceEngine(config)
    raise EngineError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}")
