"""Bring meltano.yml's setting descriptions and the plugin READMEs' settings tables in step with
what each plugin reports (`--about`), then rewrite the meltano-plugin.yml files.

tests/test_meltano_yml.py fails when they drift; run this after changing a plugin setting.
Descriptions are replaced line by line so the rest of meltano.yml keeps its layout and comments.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import plugin_definitions

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def about(name: str, fmt: str) -> str:
    return subprocess.run(
        [str(BIN / name), "--about", f"--format={fmt}"], check=True, capture_output=True, text=True
    ).stdout


def sync_descriptions(lines: list[str], name: str) -> None:
    properties = json.loads(about(name, "json"))["settings"]["properties"]
    start = next(i for i, line in enumerate(lines) if re.match(rf"\s*- name: {re.escape(name)}\s*$", line))
    setting = None
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if re.match(r"\s{0,2}- name: ", line) or line.startswith(("environments:", "jobs:")):
            break  # the next plugin
        found = re.match(r"\s*- name: (\S+)\s*$", line)
        if found:
            setting = found.group(1)
            continue
        described = re.match(r"(\s*)description: ", line)
        if described and setting in properties:
            text = json.dumps(properties[setting]["description"], ensure_ascii=False)
            lines[i] = f"{described.group(1)}description: {text}"
            setting = None


def sync_readme(name: str) -> None:
    path = REPO / name / "README.md"
    readme = path.read_text(encoding="utf-8")
    begin = f"<!-- settings: from `{name} --about --format=markdown`; tests/test_meltano_yml.py compares -->"
    end = "<!-- /settings -->"
    generated = about(name, "markdown").split("## Settings", 1)[1].split("\nA full list", 1)[0].strip()
    head, rest = readme.split(begin, 1)
    path.write_text(f"{head}{begin}\n\n{generated}\n\n{end}{rest.split(end, 1)[1]}", encoding="utf-8")


def main() -> None:
    meltano_yml = REPO / "meltano.yml"
    lines = meltano_yml.read_text(encoding="utf-8").split("\n")
    for name in plugin_definitions.PLUGINS:
        sync_descriptions(lines, name)
        sync_readme(name)
    meltano_yml.write_text("\n".join(lines), encoding="utf-8")
    for name in plugin_definitions.PLUGINS:
        plugin_definitions.path(name).write_text(plugin_definitions.render(name), encoding="utf-8")


if __name__ == "__main__":
    main()
