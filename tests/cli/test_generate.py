import json

import pytest
import typer
from typer.testing import CliRunner

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from genmetrics.cli import generate as generate_cli  # noqa: E402
from genmetrics.errors import UserError  # noqa: E402
from tests.generation.tiny_pipeline import build_tiny_pipeline  # noqa: E402

FAST = ["--steps", "2", "--height", "32", "--width", "32", "--guidance", "1", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_sd_cli")
    build_tiny_pipeline(folder)
    return folder


def _app() -> typer.Typer:
    """Mount the command the way the main app does (its registered commands)."""
    root = typer.Typer()
    root.registered_commands.extend(generate_cli.app.registered_commands)

    @root.command("other")
    def other() -> None:  # a second command so that "generate" must be named
        pass

    return root


def test_generate_command(pipe_dir, tmp_path):
    hook = tmp_path / "hook.py"
    hook.write_text("def mark(pipe):\n    pipe.marked = True\n    return pipe\n")
    out = tmp_path / "out"
    args = ["generate", "--pipeline", str(pipe_dir), "--suite", "hpdv2", "--out", str(out)]
    args += ["--styles", "anime,photo", "--limit-per-style", "2", "--batch-size", "2"]
    args += ["--seed", "3", "--dtype", "fp32", "--device", "cpu", "--offline"]
    args += ["--pipeline-hook", f"{hook}:mark", *FAST]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "4 generated, 0 already present" in result.output
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == ["anime/00000.png", "anime/00001.png", "photo/00000.png", "photo/00001.png"]
    settings = json.loads((out / "generation.json").read_text())
    assert settings["seed"]["base"] == 3 and settings["hook"]["spec"] == f"{hook}:mark"
    assert settings["run"]["styles"] == ["anime", "photo"]
    assert len((out / "generation.jsonl").read_text().splitlines()) == 4

    again = CliRunner().invoke(_app(), args)
    assert again.exit_code == 0 and "0 generated, 4 already present" in again.output


def test_generate_user_errors(pipe_dir, tmp_path):
    base = ["generate", "--pipeline", str(pipe_dir), "--out", str(tmp_path / "o"), *FAST]
    result = CliRunner().invoke(_app(), [*base, "--styles", "cartoon"])
    assert isinstance(result.exception, UserError) and "cartoon" in str(result.exception)
    result = CliRunner().invoke(_app(), [*base, "--dtype", "fp8"])
    assert isinstance(result.exception, UserError) and "fp8" in str(result.exception)
    missing = [
        "generate",
        "--pipeline",
        "no-org/no-model",
        "--out",
        str(tmp_path / "m"),
        "--offline",
    ]
    result = CliRunner().invoke(_app(), missing)
    assert isinstance(result.exception, UserError) and "no-org/no-model" in str(result.exception)


def test_generate_refuses_changed_settings_then_restarts(pipe_dir, tmp_path):
    out = tmp_path / "r"
    base = ["generate", "--pipeline", str(pipe_dir), "--out", str(out), "--offline"]
    base += ["--styles", "photo", "--limit-per-style", "1", "--device", "cpu", *FAST]
    assert CliRunner().invoke(_app(), base).exit_code == 0
    result = CliRunner().invoke(_app(), [*base, "--dtype", "bf16"])
    assert isinstance(result.exception, UserError)
    assert "dtype: 'fp32' there, 'bf16' now" in str(result.exception)
    assert "--restart" in str(result.exception)
    again = CliRunner().invoke(_app(), [*base, "--seed", "5", "--restart"])
    assert again.exit_code == 0 and "1 generated, 0 already present" in again.output
    assert json.loads((out / "generation.json").read_text())["seed"]["base"] == 5
