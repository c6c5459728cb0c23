"""Broken and overreaching plugins: each is one ``error:`` line naming the plugin, what went
wrong and the fix (exit 2 through the CLI), never a traceback; nothing replaces a built-in
name unless it says ``replace=True``.

The loader runs in this process on plugin modules written to a temporary folder (each case
its own module name); the CLI path — the same loader behind ``genmetrics.cli.app`` — is
covered end to end in ``tests/test_catalog.py``.
"""

from __future__ import annotations

import textwrap

import pytest

from genmetrics import catalog
from genmetrics.backbones.registry import backbone_names
from genmetrics.errors import UserError
from genmetrics.metrics.options import option_table
from genmetrics.metrics.registry import metric_specs

_REGISTER_FID = """
from genmetrics.metrics.registry import MetricSpec, MetricValue, register_metric
def register():
    register_metric(MetricSpec("fid", "a plugin's FID", lambda ctx: MetricValue(0.0),
                               generated=lambda o: ()))
"""
_REGISTER_INCEPTION = """
from genmetrics.backbones.registry import register_backbone
def register():
    register_backbone("inception", lambda options: None)
"""
_REGISTER_WEIGHTS = """
from genmetrics.weights.store import WeightSpec, register_weights
def register():
    register_weights(WeightSpec("inception", "mine.safetensors", "0" * 64))
"""
_OPTION_CLASH = """
from genmetrics.metrics.options import MetricOption, declare_options
def register():
    declare_options(MetricOption("kid_subsets", 5, "my own meaning", int))
"""
_DEEP = """
def _helper():
    return 1 / 0

def register():
    _helper()
"""

CASES = [
    pytest.param("raise RuntimeError('needs a GPU')\n",
                 ["failed while importing", "RuntimeError: needs a GPU", "fix the plugin"],
                 id="raises-at-import"),
    pytest.param("def register(:\n    pass\n", ["SyntaxError", "line 1"], id="syntax-error"),
    pytest.param("def register():\nreturn 1\n", ["IndentationError"], id="indentation-error"),
    pytest.param("import genmetrics_no_such_dependency\n",
                 ["No module named 'genmetrics_no_such_dependency'", "install what it needs"],
                 id="missing-dependency"),
    pytest.param("import sys\nsys.exit(3)\n", ["SystemExit: 3"], id="sys-exit-at-import"),
    pytest.param("x = 1 +\n", ["SyntaxError"], id="syntax-error-in-expression"),
    pytest.param("def register():\n    {}['key']\n", ["register() failed", "KeyError"],
                 id="register-raises-keyerror"),
    pytest.param("def register():\n    raise ValueError('bad\\nconfig')\n",
                 ["register() failed", "ValueError: bad config"], id="register-multiline-message"),
    pytest.param(_DEEP, ["ZeroDivisionError", ".py:3"], id="register-raises-in-a-helper"),
    pytest.param(_REGISTER_FID, ["metric 'fid' is already registered (built in)",
                                 "register_metric(..., replace=True)"], id="duplicate-metric"),
    pytest.param(_REGISTER_INCEPTION, ["backbone 'inception' is already registered (built in)",
                                       "replace=True"], id="duplicate-backbone"),
    pytest.param(_REGISTER_WEIGHTS, ["weights 'inception' is already registered (built in)"],
                 id="duplicate-weights"),
    pytest.param(_OPTION_CLASH, ["--kid-subsets", "already declared differently"],
                 id="option-declared-differently"),
]


@pytest.fixture
def plugin(tmp_path, monkeypatch, request):
    """``plugin(source)`` writes a module of its own name and names it in GENMETRICS_PLUGINS."""

    def write(source: str) -> str:
        name = "gm_plugin_" + "".join(c if c.isalnum() else "_" for c in request.node.name)
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.setenv(catalog.PLUGIN_ENV, name)
        return name

    return write


@pytest.mark.parametrize("source, needles", CASES)
def test_a_failing_plugin_is_one_line_naming_it_and_the_fix(plugin, source, needles):
    metrics, backbones, options = metric_specs(), backbone_names(), option_table()
    name = plugin(source)
    with pytest.raises(UserError) as info:
        catalog._load_plugins()
    message = str(info.value)
    assert "\n" not in message and len(message) < 700, message
    assert message.startswith(f"plugin '{name}' (from GENMETRICS_PLUGINS)"), message
    for needle in needles:
        assert needle in message, f"{needle!r} not in {message!r}"
    assert "remove it from GENMETRICS_PLUGINS" in message, message
    # nothing was replaced or half-registered
    assert metric_specs() == metrics and backbone_names() == backbones
    assert option_table() == options


def test_a_plugin_without_register_only_imports(plugin):
    plugin("LOADED = True\n")
    catalog._load_plugins()


def test_listed_twice_loads_once(plugin, monkeypatch):
    name = plugin("COUNT = []\ndef register():\n    COUNT.append(1)\n")
    monkeypatch.setenv(catalog.PLUGIN_ENV, f"{name}, {name},")
    catalog._load_plugins()
    import importlib

    assert importlib.import_module(name).COUNT == [1]
