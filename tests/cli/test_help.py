"""``--help`` reads well: flags are plain flags, arguments are in capitals, every option says
what it does, help texts are shown literally, and the metric options are not repeated whole
on every command."""

from __future__ import annotations

import re

import pytest
import typer

from genmetrics.cli.app import app, main


def _leaves(command, path=("genmetrics",)):
    subs = getattr(command, "commands", None)
    if not subs:
        yield " ".join(path[1:]), command
        return
    for name, sub in subs.items():
        yield from _leaves(sub, (*path, name))


COMMANDS = dict(_leaves(typer.main.get_command(app)))


def _help(capsys, monkeypatch, *argv: str) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    capsys.readouterr()
    assert main([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_and_argument_says_what_it_does(name):
    missing = [p.name for p in COMMANDS[name].params
               if not getattr(p, "help", None) and not getattr(p, "hidden", False)]
    assert not missing, f"genmetrics {name}: no help for {missing}"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_flags_are_flags_and_arguments_are_capitals(name, capsys, monkeypatch):
    text = _help(capsys, monkeypatch, *name.split())
    assert "<bool>" not in text, text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and not re.search(r"\[[a-z]", usage.split("[OPTIONS]")[-1]), usage


def test_the_root_help(capsys, monkeypatch):
    text = _help(capsys, monkeypatch)
    assert "<bool>" not in text and "metrics" in text and "weights" in text


def test_evaluate_help_groups_its_options(capsys, monkeypatch):
    text = _help(capsys, monkeypatch, "evaluate")
    assert "Usage: genmetrics evaluate [OPTIONS] GENERATED" in text
    for panel in ("Run options", "Distribution metric options", "Text–image metric options"):
        assert panel in text, panel
    assert "genmetrics[ray]" in text  # not eaten as rich markup
    assert "[default: 100]" in text  # --kid-subsets, literal too
    assert text.count("--kid-subsets") == 1


@pytest.mark.parametrize("command", ["benchmark", "compare"])
def test_the_per_image_commands_name_the_other_metric_options_once(command, capsys, monkeypatch):
    text = _help(capsys, monkeypatch, command)
    assert "Text–image metric options" in text and "--hps-version" in text
    assert "Distribution metric options" not in text
    assert "genmetrics metrics" in text  # where the others are listed
    flat = " ".join(text.split())
    assert "The other metric options (" in flat, flat


def test_hidden_metric_options_still_work(capsys, tmp_path):
    """benchmark does not list --kid-subsets, but accepts (and checks) it."""
    assert main(["benchmark", str(tmp_path / "missing"), "--kid-subsets", "0"]) == 2
    assert "Traceback" not in capsys.readouterr().err
