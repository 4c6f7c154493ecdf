"""Peak RSS of console-script processes another program starts (Meltano starts the tap and the target).

`install_wrappers` writes, for each console script of this virtualenv, a wrapper of the same name into
a folder that goes first on PATH (Meltano finds a plugin without pip_url on PATH). The wrapper runs
the real script in its own process, and at exit appends that process's peak RSS to a JSON-lines log:
VmHWM of /proc/self/status, the kernel's high-water mark of the process alone, so nothing is sampled
and no peak is missed between samples. Not getrusage's ru_maxrss: it keeps the high-water mark of the
memory a process had before its exec, i.e. of the parent it was forked from (a bench process holding
a large ledger made meltano look gigabytes big).
"""

from __future__ import annotations

import atexit
import json
import runpy
import sys
import time
import typing as t
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
WRAPPER = """#!{python}
import sys
sys.path.insert(0, {here!r})
from peak_rss import run_and_log
run_and_log({script!r}, {log!r})
"""


def install_wrappers(folder: Path, log: Path, names: t.Iterable[str]) -> None:
    """Wrappers for this virtualenv's console scripts `names` in `folder`, logging to `log`."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        script = BIN / name
        if not script.is_file():
            raise FileNotFoundError(f"{script}: no such console script in this virtualenv")
        wrapper = folder / name
        text = WRAPPER.format(python=sys.executable, here=str(HERE), script=str(script), log=str(log))
        wrapper.write_text(text, encoding="utf-8")
        wrapper.chmod(0o755)


def run_and_log(script: str, log: str) -> None:
    """Run the console script `script` in this process; at exit log its name, arguments, seconds and
    peak RSS (MiB)."""
    _log_at_exit(Path(script).name, log)
    sys.argv[0] = script
    runpy.run_path(script, run_name="__main__")


def run_module_and_log(module: str, name: str, log: str) -> None:
    """Like `run_and_log`, for a module run as `python -m module` (logged as `name`)."""
    _log_at_exit(name, log)
    sys.argv[0] = name
    runpy.run_module(module, run_name="__main__", alter_sys=True)


def _log_at_exit(name: str, log: str) -> None:
    started = time.perf_counter()

    def record() -> None:
        entry = {
            "name": name,
            "args": sys.argv[1:],
            "seconds": round(time.perf_counter() - started, 2),
            "peak_rss_mib": round(high_water_mark_kib() / 1024),
        }
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")

    atexit.register(record)


def high_water_mark_kib() -> int:
    """This process's peak RSS since its exec (VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("/proc/self/status has no VmHWM line (Linux only)")


def read_log(log: Path) -> list[dict[str, t.Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line]
