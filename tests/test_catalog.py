"""Contract tests over everything the catalog registers: every metric and every backbone keeps
the promises the pipeline relies on; plugins load in every process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from genmetrics import catalog
from genmetrics.backbones.registry import (
    Backbone,
    BackboneOptions,
    backbone_names,
    create_backbone,
)
from genmetrics.errors import UserError
from genmetrics.features.extract import FeatureRequest
from genmetrics.metrics.options import default_options, option_table
from genmetrics.metrics.registry import MetricSpec, metric_specs
from tests.conftest import ROOT

catalog.load()  # parametrisation below reads the registries at collection time
METRICS = sorted(metric_specs())
BACKBONES = backbone_names()


def test_the_catalog_registers_the_built_ins():
    assert {"fid", "kid", "is", "sfid", "fd_dinov2", "cmmd", "clip_score", "hps", "pickscore",
            "imagereward"} <= set(METRICS)
    assert {"inception", "clip-vit-l-14", "dinov2-vit-l14", "pickscore"} <= set(BACKBONES)
    catalog.load()  # idempotent
    assert sorted(metric_specs()) == METRICS


@pytest.mark.parametrize("name", METRICS)
def test_every_metric_declares_what_it_needs(name):
    spec = metric_specs()[name]
    assert isinstance(spec, MetricSpec) and spec.name == name and spec.description.strip()
    opts = default_options() | {"seed": 0}
    for side in (spec.generated(opts), spec.reference(opts)):
        for request in side:
            assert isinstance(request, FeatureRequest)
            assert request.backbone in BACKBONES, f"{name} asks for unknown {request.backbone}"
            assert request.form in ("array", "gaussian")
    if spec.reference(opts):
        assert spec.needs_reference
    assert spec.min_images >= 1


def test_every_option_is_declared_once_with_help():
    for option in option_table().values():
        assert option.help.strip() and option.flag.startswith("--")
        option.check(option.default)  # the default is valid


@pytest.mark.parametrize("name", BACKBONES)
def test_every_backbone_builds_or_says_how_to_get_its_weights(name):
    """Offline with an empty cache: a backbone either builds (nothing to download) or stops
    with one line that names where its weights come from — never a traceback."""
    try:
        backbone = create_backbone(name, BackboneOptions(device="cpu", offline=True))
    except UserError as exc:
        message = str(exc)
        assert "\n" not in message and len(message) < 600
        assert any(hint in message for hint in ("weights import", "huggingface", "HF", "download")), message
        return
    assert isinstance(backbone, Backbone) and backbone.outputs and backbone.key


def test_plugins_register_in_a_fresh_process(tmp_path):
    plugin = tmp_path / "my_plugin.py"
    plugin.write_text(
        "from genmetrics.metrics.registry import MetricSpec, MetricValue, register_metric\n"
        "def register():\n"
        "    register_metric(MetricSpec('always_one', 'a plugin metric',\n"
        "        lambda ctx: MetricValue(1.0), generated=lambda o: ()))\n"
    )
    env = {"GENMETRICS_PLUGINS": "my_plugin", "PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}"}
    code = "from genmetrics.cli.app import main; raise SystemExit(main(['metrics']))"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and "always_one" in proc.stdout, proc.stderr
    env["GENMETRICS_PLUGINS"] = "no_such_plugin"
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no_such_plugin" in proc.stderr


def _cli(args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess:
    code = "import sys\nfrom genmetrics.cli.app import main\nraise SystemExit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_a_broken_plugin_stops_every_command_with_one_line(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("def register(:\n    pass\n")
    env = {"GENMETRICS_PLUGINS": "broken_plugin", "PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}",
           "GENMETRICS_HOME": str(tmp_path / "home")}
    proc = _cli(["--help"], env, tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: plugin 'broken_plugin'")
    assert "SyntaxError" in proc.stderr and "remove it from GENMETRICS_PLUGINS" in proc.stderr


def test_an_entry_point_plugin_is_named_with_its_package(tmp_path):
    """A plugin declared by an installed package: the line names the entry point, the package
    and how to uninstall it."""
    (tmp_path / "ep_plugin.py").write_text("raise ImportError('wrong version of libfoo')\n")
    dist = tmp_path / "genmetrics_fakeplug-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: genmetrics-fakeplug\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[genmetrics.plugins]\nfake = ep_plugin:register\n")
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT / 'src'}", "GENMETRICS_HOME": str(tmp_path / "home")}
    proc = _cli(["metrics"], env, tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    for needle in ("plugin 'ep_plugin'", "entry point 'fake'", "genmetrics-fakeplug",
                   "ImportError: wrong version of libfoo", "pip uninstall genmetrics-fakeplug"):
        assert needle in proc.stderr, proc.stderr


def test_registries_refuse_a_taken_name_unless_replace(monkeypatch):
    """``replace=True`` is the one way to take a name; the replacement is recorded."""
    from genmetrics import overrides
    from genmetrics.backbones import registry as backbones
    from genmetrics.metrics import registry as metrics
    from genmetrics.metrics.registry import MetricValue, register_metric
    from genmetrics.weights import store
    from genmetrics.weights.store import get_weight_spec, register_weights

    monkeypatch.setattr(metrics, "_METRICS", dict(metrics._METRICS))
    monkeypatch.setattr(backbones, "_FACTORIES", dict(backbones._FACTORIES))
    monkeypatch.setattr(backbones, "_INFO", dict(backbones._INFO))
    monkeypatch.setattr(store, "_REGISTRY", dict(store._REGISTRY))
    monkeypatch.setattr(overrides, "_replaced", [])
    monkeypatch.setattr(overrides, "_origins", dict(overrides._origins))
    mine = MetricSpec("kid", "mine", lambda ctx: MetricValue(0.0), generated=lambda o: ())
    with pytest.raises(UserError, match="metric 'kid' is already registered"):
        register_metric(mine)
    with pytest.raises(UserError, match="backbone 'inception' is already registered"):
        backbones.register_backbone("inception", lambda options: None)
    with pytest.raises(UserError, match="weights 'inception' is already registered"):
        register_weights(get_weight_spec("inception"))
    assert metric_specs()["kid"] is not mine and overrides.replacements() == []
    with overrides.registering("plugin 'tests'"):
        register_metric(mine, replace=True)
    assert metric_specs()["kid"] is mine
    assert overrides.replacements() == [
        {"kind": "metric", "name": "kid", "replaced": "built in", "by": "plugin 'tests'"}]


def test_a_replacement_is_in_the_result_manifest(tmp_path, monkeypatch):
    from tests.robustness.conftest import process_result, run_process

    (tmp_path / "replacing_plugin.py").write_text(
        "from genmetrics.metrics.registry import MetricSpec, MetricValue, register_metric\n"
        "def register():\n"
        "    register_metric(MetricSpec('fid', 'always 7', lambda ctx: MetricValue(7.0),\n"
        "        generated=lambda o: (), needs_reference=True), replace=True)\n"
    )
    from tests.fakes import write_images

    write_images(tmp_path / "gen", 3, seed=1)
    write_images(tmp_path / "real", 3, seed=2)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # run_process puts src and ROOT first
    env = {"GENMETRICS_PLUGINS": "replacing_plugin", "GENMETRICS_HOME": str(tmp_path / "home")}
    res = process_result(run_process(
        ["evaluate", tmp_path / "gen", "-r", tmp_path / "real", "-m", "fid", "-f", "json"], env=env))
    assert res.code == 0, res.describe()
    doc = res.json()
    assert doc["metrics"]["fid"]["value"] == 7.0
    assert doc["manifest"]["replaced_registrations"] == [
        {"kind": "metric", "name": "fid", "replaced": "built in", "by": "plugin 'replacing_plugin'"}]
