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


_CACHED_RUN = """
import contextlib, io, json, sys
from genmetrics.cli.app import main
argv = {argv!r}
with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
    code = main(argv)
print(json.dumps([code, "torch" in sys.modules, json.loads(out.getvalue())["metrics"]["fid"]["value"]]))
"""


def test_a_fully_cached_cpu_run_never_imports_torch(tmp_path):
    """Issue 14 (warm runs): with every feature in the cache, ``evaluate --metrics fid`` on the
    CPU hashes, looks up and computes in numpy; torch (1.6 s of a 2.5 s run) stays unloaded."""
    from tests.conftest import shared_file
    from tests.fakes import write_images

    weights = shared_file("weights/inception/fid_inception_tf20151205_torchscript.pt")
    write_images(tmp_path / "gen", 4, seed=1)
    write_images(tmp_path / "real", 4, seed=2)
    argv = ["evaluate", "gen", "-r", "real", "-m", "fid", "--device", "cpu", "-f", "json"]
    env = {**os.environ, "GENMETRICS_HOME": str(tmp_path / "home"),
           "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}

    def run(args: list[str]) -> list:
        proc = subprocess.run([sys.executable, "-c", _CACHED_RUN.format(argv=args)], env=env,
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout.strip().splitlines()[-1])

    subprocess.run([sys.executable, "-m", "genmetrics", "weights", "import", "inception", str(weights)],
                   env=env, check=True, capture_output=True, timeout=300)
    code, torch_loaded, cold = run(argv)
    assert code == 0 and torch_loaded  # the cold run ran the network
    code, torch_loaded, warm = run(argv)
    assert code == 0 and not torch_loaded and warm == cold
