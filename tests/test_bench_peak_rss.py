"""bench/peak_rss.py, the wrappers bench_e2e puts first on PATH: a program that finds the console
script on PATH runs it unchanged (output, exit code) and the log gets one line per process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
from peak_rss import install_wrappers, read_log  # noqa: E402 - the bench folder is no package


def test_a_wrapped_console_script_behaves_as_itself_and_logs_its_peak_rss(tmp_path: Path) -> None:
    wrappers, log = tmp_path / "bin", tmp_path / "rss.jsonl"
    install_wrappers(wrappers, log, ["tap-datev"])
    env = {**os.environ, "PATH": f"{wrappers}{os.pathsep}{os.environ['PATH']}"}
    about = subprocess.run(
        ["tap-datev", "--about", "--format", "json"], env=env, capture_output=True, text=True, check=False
    )
    unknown = subprocess.run(["tap-datev", "--no-such-option"], env=env, capture_output=True, check=False)

    direct = subprocess.run(
        [str(Path(sys.executable).parent / "tap-datev"), "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert about.returncode == 0 and about.stdout == direct.stdout
    assert unknown.returncode == 2
    entries = read_log(log)
    assert [(e["name"], e["args"]) for e in entries] == [
        ("tap-datev", ["--about", "--format", "json"]),
        ("tap-datev", ["--no-such-option"]),
    ]
    # A Python process that imported singer-sdk holds tens of MiB at least.
    assert all(e["peak_rss_mib"] > 20 for e in entries)


def test_the_logged_peak_is_the_process_alone_not_the_parent_it_was_started_from(tmp_path: Path) -> None:
    """getrusage's ru_maxrss of a child carries the high-water mark of the parent it was forked from;
    a parent holding 400 MiB must not make the wrapped process look that big."""
    wrappers, log = tmp_path / "bin", tmp_path / "rss.jsonl"
    install_wrappers(wrappers, log, ["tap-datev"])
    parent = (
        "import subprocess, sys\n"
        "held = bytearray(400 * 2**20)\n"
        "for i in range(0, len(held), 4096): held[i] = 1\n"
        "subprocess.run([sys.argv[1], '--version'], check=True, capture_output=True)\n"
    )
    subprocess.run([sys.executable, "-c", parent, str(wrappers / "tap-datev")], check=True)
    (entry,) = read_log(log)
    assert entry["args"] == ["--version"]
    assert 20 < entry["peak_rss_mib"] < 300
