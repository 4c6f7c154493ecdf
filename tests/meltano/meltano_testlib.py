"""Running Meltano as a user does, in a project folder: commands, the login, and the DATEV emulator."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import typing as t
from pathlib import Path

import requests

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AUTHORIZE_URL = re.compile(r"(http://\S+/openid/authorize\?\S+)")
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
    """`meltano [ARGS] invoke tap-datev:login`, with this function as the browser: the emulator's
    test user consents and is redirected to the tap's loopback listener."""
    proc = subprocess.Popen(
        [str(BIN / "meltano"), *args, "invoke", "tap-datev:login"],
        cwd=project,
        env={**env, "BROWSER": "true"},  # no real browser: answered below
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdout is not None
    output: list[str] = []
    browser: threading.Thread | None = None
    for line in proc.stdout:
        output.append(line)
        match = AUTHORIZE_URL.search(line)
        if match and browser is None:
            browser = threading.Thread(
                target=requests.get, args=(match.group(1),), kwargs={"timeout": 30}, daemon=True
            )
            browser.start()
    assert proc.wait(timeout=120) == 0, "".join(output)
    if browser is not None:
        browser.join(30)
    return "".join(output)
