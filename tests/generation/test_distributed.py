"""Generation sharded over torchrun processes writes the folder one process writes: the same
images byte for byte and the same ``generation.jsonl``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from tests.conftest import ROOT  # noqa: E402
from tests.generation.tiny_pipeline import build_tiny_pipeline  # noqa: E402

FAST = ["--steps", "2", "--height", "32", "--width", "32", "--guidance", "1", "--quiet"]


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_sd_dist")
    build_tiny_pipeline(folder)
    return folder


def _generate(prefix: list[str], pipe_dir: Path, out: Path, extra=()) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    args = [*prefix, "generate", "--pipeline", str(pipe_dir), "--suite", "hpdv2", "--out", str(out),
            "--styles", "anime,photo", "--limit-per-style", "3", "--batch-size", "2", "--seed", "7",
            "--dtype", "fp32", "--device", "cpu", "--offline", *FAST, *extra]
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "generation.json"}


@pytest.mark.slow
def test_torchrun_generation_is_byte_identical(pipe_dir, tmp_path):
    one = _generate([sys.executable, "-m", "genmetrics"], pipe_dir, tmp_path / "one")
    assert one.returncode == 0, one.stderr
    many = _generate([sys.executable, "-m", "torch.distributed.run", "--standalone",
                      "--nproc-per-node", "2", "-m", "genmetrics"], pipe_dir, tmp_path / "many")
    assert many.returncode == 0, many.stderr
    said = many.stdout + many.stderr
    assert said.count(" generated, ") == 1  # rank 0 reports for both
    assert "6 generated, 0 already present" in said
    a, b = _files(tmp_path / "one"), _files(tmp_path / "many")
    assert sorted(a) == sorted(b) and len([k for k in a if k.endswith(".png")]) == 6
    assert a == b  # images and generation.jsonl, byte for byte; no rank journal left


@pytest.mark.slow
def test_ray_generation_is_byte_identical_and_resumes(pipe_dir, tmp_path):
    pytest.importorskip("ray")
    one = _generate([sys.executable, "-m", "genmetrics"], pipe_dir, tmp_path / "one")
    assert one.returncode == 0, one.stderr
    ray = _generate([sys.executable, "-m", "genmetrics"], pipe_dir, tmp_path / "ray",
                    extra=["--ray", "local"])
    assert ray.returncode == 0, ray.stderr
    assert "6 generated, 0 already present" in ray.stdout + ray.stderr
    assert _files(tmp_path / "one") == _files(tmp_path / "ray")
    # a worker that died after writing part of its shard: its journal and images stay, the
    # manifest never heard of them; the re-run folds the journal in and makes the rest
    made = tmp_path / "ray"
    manifest = (made / "generation.jsonl").read_text().splitlines(keepends=True)
    (made / ".generation.jsonl.rank1").write_text("".join(manifest[:2]))
    (made / "generation.jsonl").write_text("".join(manifest[2:4]))
    for line in manifest[4:]:
        (made / json.loads(line)["image"]).unlink()
    again = _generate([sys.executable, "-m", "genmetrics"], pipe_dir, made, extra=["--ray", "local"])
    assert again.returncode == 0, again.stderr
    assert "2 generated, 4 already present" in again.stdout + again.stderr
    assert _files(tmp_path / "one") == _files(made)
