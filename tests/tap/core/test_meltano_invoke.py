"""What a Meltano user runs, with a real `meltano` in a throwaway project against the DATEV emulator.

`meltano config test tap-datev` fails until someone logs in and when DATEV cannot be reached;
`meltano invoke tap-datev login|logout|submit …` reach the subcommand also after `meltano run`
left a catalog and a state (Meltano then puts --catalog and --state before the subcommand).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import typing as t
from pathlib import Path

import pytest

from ml_credentials import generate_key

if t.TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
RUN_DIR = Path(".meltano", "run", "tap-datev")


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


class Project:
    """A copy of meltano.yml in a temporary folder, its demo environment pointed at the emulator."""

    def __init__(self, root: Path, emulator_url: str) -> None:
        self.root = root
        self.emulator_url = emulator_url
        root.mkdir()
        shutil.copy(REPO / "meltano.yml", root / "meltano.yml")
        inherited = {
            k: v for k, v in os.environ.items() if not k.startswith(("TAP_DATEV_", "TARGET_DATABRICKS_"))
        }
        self.env = {
            **inherited,
            "ML_CONNECTOR_CREDENTIALS_KEY": generate_key(),
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "BROWSER": "true",  # no real browser: `consent` below answers the login page
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
            # The demo's label files are not needed here.
            "TAP_DATEV_GL_ACCOUNT_FILES": "[]",
            "TAP_DATEV_BUSINESS_PARTNER_FILES": "[]",
        }

    def meltano(self, *args: str, datev_url: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {**self.env, "DATEV_EMULATOR_URL": datev_url or self.emulator_url}
        return subprocess.run(  # noqa: PLW1510 - callers check the exit code
            [str(BIN / "meltano"), "--environment", "demo", *args],
            cwd=self.root,
            env=env,
            text=True,
            capture_output=True,
            timeout=300,
        )

    def login(self, consent: Callable[[str], None], *invoke: str) -> str:
        """`meltano invoke <invoke>`; plays the user's browser on the printed authorization URL."""
        proc = subprocess.Popen(
            [str(BIN / "meltano"), "--environment", "demo", "invoke", *invoke],
            cwd=self.root,
            env={**self.env, "DATEV_EMULATOR_URL": self.emulator_url},
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdout is not None
        output: list[str] = []
        for line in proc.stdout:
            output.append(line)
            url = next((word for word in line.split() if "/openid/authorize?" in word), None)
            if url:
                threading.Thread(target=consent, args=(url,), daemon=True).start()
        assert proc.wait(timeout=120) == 0, "".join(output)[-4000:]
        return "".join(output)


def test_meltano_config_test_and_invoke_subcommands(
    tmp_path: Path, datev_emulator: t.Any, consent: Callable[[str], None]
) -> None:
    project = Project(tmp_path / "project", datev_emulator.url)

    # Nobody logged in: the first records would come from local files, yet the test fails.
    before_login = project.meltano("config", "test", "tap-datev")
    assert before_login.returncode != 0
    assert "Not logged in to DATEV yet" in before_login.stdout + before_login.stderr
    assert "tap-datev:login" in before_login.stdout + before_login.stderr

    assert "Logged in to DATEV" in project.login(consent, "tap-datev:login")
    tested = project.meltano("config", "test", "tap-datev")
    assert tested.returncode == 0, tested.stderr[-3000:]

    for _ in range(2):  # the second run finds the first one's state and hands it to the tap
        ran = project.meltano("run", "tap-datev", "target-databricks")
        assert ran.returncode == 0, ran.stderr[-3000:]
    assert (project.root / RUN_DIR / "tap.properties.json").stat().st_size > 0
    assert (project.root / RUN_DIR / "state.json").stat().st_size > 0

    # Meltano now runs `tap-datev --config F --catalog C --state S <args>`.
    helped = project.meltano("invoke", "tap-datev", "submit", "--help")
    assert helped.returncode == 0, helped.stderr[-3000:]
    assert "Submit EXTF batches" in helped.stdout and "--discover" not in helped.stdout
    extf_help = project.meltano("invoke", "tap-datev", "submit", "extf", "--help")
    assert extf_help.returncode == 0, extf_help.stderr[-3000:]
    assert "Upload one EXTF file" in extf_help.stdout

    logged_out = project.meltano("invoke", "tap-datev", "logout")
    assert logged_out.returncode == 0, logged_out.stderr[-3000:]
    assert "Revoked access_token and refresh_token" in logged_out.stderr
    assert "Logged in to DATEV" in project.login(consent, "tap-datev", "login")

    # DATEV unreachable: the test fails with the URL it tried, and no traceback.
    dead = _dead_url()
    unreachable = project.meltano("config", "test", "tap-datev", datev_url=dead)
    output = unreachable.stdout + unreachable.stderr
    assert unreachable.returncode != 0
    assert f"Cannot reach DATEV at {dead}/openid/.well-known/openid-configuration" in output
    assert "Traceback" not in output
