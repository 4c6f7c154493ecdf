"""Running Meltano as a user does, in a project folder: commands, the login, and the DATEV emulator."""

from __future__ import annotations

import os
import subprocess
import sys
import typing as t
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
from demo import play_login  # noqa: E402 - scripts/ is not a package

BIN = Path(sys.executable).parent
KEY_ENV = "ML_CONNECTOR_CREDENTIALS_KEY"


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without plugin settings a developer may have exported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_DATEV_", "TARGET_DATABRICKS_"))}
    return {**env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false", **extra}


def meltano(
    project: Path, *args: str, env: t.Mapping[str, str], timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`meltano ARGS` in `project`; fails the test with Meltano's output when it fails."""
    result = subprocess.run(  # noqa: PLW1510 - the exit code is checked below
        [str(BIN / "meltano"), *args],
        cwd=project,
        env=dict(env),
        text=True,
        capture_output=True,
        timeout=timeout,
    )
    output = result.stdout[-3000:] + result.stderr[-6000:]
    assert result.returncode == 0, f"meltano {' '.join(args)}:\n{output}"
    return result


def login(project: Path, *args: str, env: t.Mapping[str, str]) -> str:
    """`meltano [ARGS] invoke tap-datev:login`, the demo's browser answering the emulator's login."""
    code, output = play_login(project, args, env)
    assert code == 0, output
    return output
