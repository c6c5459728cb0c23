"""Start-up: --help, the listings and the cheap commands import neither torch nor scipy.stats
(nor transformers, matplotlib, pyarrow). One fresh process runs them all in turn and reports,
after each, which heavy module appeared; the registries are declarations, the networks and the
math load inside the commands that need them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

HEAVY = ("torch", "scipy.stats", "scipy.special", "scipy.linalg", "scipy.ndimage", "transformers",
         "matplotlib", "pyarrow")

COMMANDS = [
    ["--help"],
    ["metrics"],
    ["version"],
    ["weights", "--help"],
    ["weights", "list"],
    ["weights", "verify"],
    ["suites", "--help"],
    ["suites", "list"],
    ["suites", "export", "hpdv2", "--format", "csv"],
    ["cache", "--help"],
    ["cache", "info"],
    ["cache", "check"],
    ["evaluate", "--help"],
    ["stats", "--help"],
    ["benchmark", "--help"],
    ["compare", "--help"],
    ["pair", "--help"],
    ["generate", "--help"],
    ["report", "--help"],
]

_RUNNER = """
import contextlib, io, json, sys
heavy = {heavy!r}
loaded = lambda: [m for m in heavy if m in sys.modules]
from genmetrics.cli.app import main
report = {{"import": loaded()}}
for argv in {commands!r}:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        code = main(argv)
    report[" ".join(argv)] = [code, loaded()]
print(json.dumps(report))
"""


def _run(commands: list[list[str]], tmp_path) -> dict:
    env = {
        **os.environ,
        "GENMETRICS_HOME": str(tmp_path / "home"),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "100",
    }
    code = _RUNNER.format(heavy=HEAVY, commands=commands)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_cheap_commands_import_no_heavy_module(tmp_path):
    report = _run(COMMANDS, tmp_path)
    assert report.pop("import") == [], "importing the CLI loads heavy modules"
    for command, (code, loaded) in report.items():
        assert code == 0, f"genmetrics {command} exited {code}"
        assert loaded == [], f"genmetrics {command} imported {loaded}"
