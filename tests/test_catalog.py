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
