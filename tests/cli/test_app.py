import json

import pytest

from genmetrics.cli.app import main
from tests.fakes import write_images


@pytest.fixture
def sets(tmp_path):
    write_images(tmp_path / "gen", 16, seed=1)
    write_images(tmp_path / "real", 16, seed=2)
    return tmp_path / "gen", tmp_path / "real"


def test_evaluate_json_shape(sets, fake_backbone, capsys, tmp_path):
    gen, real = sets
    code = main(["evaluate", str(gen), "--reference", str(real), "--metrics", "fid,kid,is,precision,recall",
                 "--format", "json", "--kid-subset-size", "8", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 0
    doc = json.loads(out)
    assert set(doc["metrics"]) == {"fid", "kid", "is", "precision", "recall"}
    assert "std" in doc["metrics"]["kid"] and doc["counts"]["generated"] == 16
    assert doc["manifest"]["protocol"] == "clean"
    assert (tmp_path / "o" / "summary.json").exists() and (tmp_path / "o" / "per_image.csv").exists()


def test_markdown_and_table(sets, fake_backbone, capsys):
    gen, real = sets
    assert main(["evaluate", str(gen), "-r", str(real), "-m", "fid", "-f", "markdown"]) == 0
    assert "| fid |" in capsys.readouterr().out
    assert main(["evaluate", str(gen), "-r", str(real), "-m", "fid"]) == 0
    assert "fid" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["evaluate", "{gen}", "-m", "fid"], "reference"),
        (["evaluate", "{gen}", "-r", "{real}", "-m", "nope"], "unknown metric"),
        (["evaluate", "{missing}", "-r", "{real}", "-m", "fid"], "no such file"),
        (["evaluate", "{gen}", "-r", "{real}", "--protocol", "bogus"], "clean"),
    ],
)
def test_user_errors_exit_2_one_line(sets, fake_backbone, capsys, tmp_path, args, message):
    gen, real = sets
    args = [a.format(gen=gen, real=real, missing=tmp_path / "missing") for a in args]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_missing_weights_offline_is_one_clear_line(sets, capsys):
    gen, real = sets
    assert main(["evaluate", str(gen), "-r", str(real), "-m", "fid", "--offline"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "pt_inception-2015-12-05" in err and "genmetrics weights import inception" in err


def test_strict_fails_on_bad_file(sets, fake_backbone, capsys):
    gen, real = sets
    (gen / "broken.png").write_bytes(b"\x89PNG broken")
    assert main(["evaluate", str(gen), "-r", str(real), "-m", "fid", "--strict"]) == 2
    assert "broken.png" in capsys.readouterr().err
    assert main(["evaluate", str(gen), "-r", str(real), "-m", "fid", "-f", "json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["counts"]["generated_skipped"] == 1
    assert "broken.png" in captured.err


def test_metrics_and_weights_list(capsys):
    assert main(["metrics"]) == 0
    assert "fid" in capsys.readouterr().out
    assert main(["weights", "list"]) == 0
    assert "inception" in capsys.readouterr().out
