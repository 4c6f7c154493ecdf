"""singer-sdk's standard target tests on the workspace engine (the emulator), with the same
validate() checks as the local engine's suite, reading back what landed through the workspace."""

from __future__ import annotations

import typing as t

import pyarrow as pa
import pytest
import test_sdk_standard as local_suite  # the local engine's checked suite (tests/target)
from singer_sdk.testing import get_target_test_class
from singer_sdk.testing.runners import TargetTestRunner
from singer_sdk.testing.suites import SingerTestSuite
from workspace_testlib import settings

from databricks_emulator.server import RunningEmulator
from target_databricks.engines.base import EngineError, TableRef
from target_databricks.engines.workspace import WorkspaceEngine
from target_databricks.target import TargetDatabricks


class ReadThroughWorkspace:
    """validate() reads tables with the workspace engine instead of the local one."""

    runner: TargetTestRunner

    def table(self, name: str) -> pa.Table:
        engine = WorkspaceEngine(dict(self.runner.config))
        return engine.read_table(TableRef("main", "datev", name))


class NoTableBeforeTheFirstLoad:
    """The run fails on its keyless record before any load; the workspace engine makes a table at
    its first load (or at run end for an empty stream), so none was made and no row landed."""

    table: t.Callable[[str], pa.Table]

    def validate(self) -> None:
        with pytest.raises(EngineError, match="does not exist"):
            self.table("test_record_missing_key_property")


def _workspace_test(test: type) -> type:
    bases = (NoTableBeforeTheFirstLoad,) if test is local_suite.RecordMissingKeyProperty else ()
    return type(test.__name__, (*bases, ReadThroughWorkspace, test), {"__module__": __name__})


TESTS = [_workspace_test(test) for test in local_suite.SUITE.tests]

_Base = get_target_test_class(
    TargetDatabricks,
    config={},
    custom_suites=[SingerTestSuite(kind="target", tests=TESTS)],
    include_target_tests=False,
    parse_env_config=False,
)


class TestWorkspaceEngineStandard(_Base):  # type: ignore[misc,valid-type]
    @pytest.fixture
    def runner(self, emulator: RunningEmulator) -> TargetTestRunner:
        return TargetTestRunner(
            target_class=TargetDatabricks,
            config=settings(emulator),
            parse_env_config=False,
        )


def test_suite_is_complete() -> None:
    assert len(TESTS) == 16
    assert all(issubclass(test, ReadThroughWorkspace) for test in TESTS)
    names = {getattr(test, "name") for test in TESTS}  # noqa: B009 - a class attribute of the templates
    assert {"schema_updates", "pk_updates", "duplicate_records"} <= names
