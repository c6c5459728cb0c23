import json

import typer
from typer.testing import CliRunner

from genmetrics.cli import suites as suites_cli
from genmetrics.errors import UserError
from genmetrics.suites import load_suite


def _app() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(suites_cli.app, name="suites")
    return root


def test_list():
    result = CliRunner().invoke(_app(), ["suites", "list"])
    assert result.exit_code == 0, result.output
    assert "hpdv2" in result.output and "3200 prompts" in result.output
    assert "anime (800), concept-art (800), paintings (800), photo (800)" in result.output


def test_export_jsonl_stdout():
    result = CliRunner().invoke(_app(), ["suites", "export", "hpdv2"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 3200
    first = json.loads(lines[0])
    assert first == {
        "id": "anime/00000",
        "style": "anime",
        "index": 0,
        "prompt": "Spongebob depicted in the style of Dragon Ball Z.",
    }
    assert json.loads(lines[-1])["id"] == "photo/00799"
    suite = load_suite("hpdv2")
    assert [json.loads(line)["prompt"] for line in lines] == [it.prompt for it in suite]


def test_export_to_file_formats(tmp_path):
    for fmt in ("json", "csv", "jsonl"):
        out = tmp_path / "sub" / f"s.{fmt}"
        result = CliRunner().invoke(
            _app(), ["suites", "export", "hpdv2", "--format", fmt, "--out", str(out)]
        )
        assert result.exit_code == 0, result.output
        assert load_suite(out).items == load_suite("hpdv2").items
    head = (tmp_path / "sub" / "s.csv").read_text().splitlines()[0]
    assert head == "id,style,index,prompt"


def test_export_errors(tmp_path):
    result = CliRunner().invoke(_app(), ["suites", "export", "hpdv2", "--format", "xml"])
    assert result.exit_code != 0 and isinstance(result.exception, UserError)
    assert "xml" in str(result.exception)
    result = CliRunner().invoke(_app(), ["suites", "export", str(tmp_path / "none.txt")])
    assert isinstance(result.exception, UserError)
