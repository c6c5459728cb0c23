import json

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from genmetrics.errors import UserError  # noqa: E402
from genmetrics.generation import generate_images, image_seed, load_pipeline  # noqa: E402
from genmetrics.suites import load_suite  # noqa: E402
from tests.generation.tiny_pipeline import build_tiny_pipeline  # noqa: E402

STYLES = ("anime", "concept-art", "paintings", "photo")
FAST = {"steps": 2, "height": 32, "width": 32, "guidance": 1.0, "progress": False}


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_sd")
    build_tiny_pipeline(folder)
    return folder


@pytest.fixture(scope="module")
def pipe(pipe_dir):
    return load_pipeline(pipe_dir, "fp32", "cpu", offline=True)


class CountingHook:
    """Counts the prompts the pipeline encodes (guidance 1.0: one text-encoder row each)."""

    def __init__(self) -> None:
        self.prompts = 0

    def __call__(self, pipe):
        def count(_module, args, kwargs):
            ids = args[0] if args else kwargs["input_ids"]
            self.prompts += ids.shape[0]

        pipe.text_encoder.register_forward_pre_hook(count, with_kwargs=True)
        return pipe


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_layout_manifest_settings(pipe_dir, tmp_path):
    out = tmp_path / "out"
    result = generate_images(str(pipe_dir), "hpdv2", out, limit_per_style=2, batch_size=3, **FAST)
    assert (result.planned, result.generated, result.skipped) == (8, 8, 0)
    pngs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert pngs == [f"{s}/{i:05d}.png" for s in STYLES for i in range(2)]
    for png in pngs:
        image = Image.open(out / png)
        assert image.format == "PNG" and image.size == (32, 32) and image.mode == "RGB"
    assert not [p for p in out.rglob("*.tmp")]

    records = [json.loads(line) for line in (out / "generation.jsonl").read_text().splitlines()]
    suite = load_suite("hpdv2")
    assert [r["id"] for r in records] == [p[:-4] for p in pngs]
    rec = records[3]
    item = suite.by_id("concept-art/00001")
    assert rec == {
        "id": "concept-art/00001",
        "image": "concept-art/00001.png",
        "prompt_id": item.id,
        "style": "concept-art",
        "index": 1,
        "prompt": item.prompt,
        "sample": 0,
        "seed": image_seed(0, item.id, 0),
    }

    settings = json.loads((out / "generation.json").read_text())
    assert settings["pipeline"]["class"] == "StableDiffusionPipeline"
    assert settings["pipeline"]["path"] == str(pipe_dir.resolve())
    assert len(settings["pipeline"]["model_index_sha256"]) == 64
    assert settings["pipeline"]["scheduler"] == "DDIMScheduler"
    assert settings["sampling"]["steps"] == 2 and settings["sampling"]["guidance"] == 1.0
    assert settings["sampling"]["pipeline_defaults"]["num_inference_steps"] == 50
    assert (settings["dtype"], settings["device"], settings["generator_device"]) == (
        "fp32",
        "cpu",
        "cpu",
    )
    assert settings["suite"]["name"] == "hpdv2" and settings["suite"]["n_prompts"] == 3200
    assert "sha256" in settings["seed"]["policy"] and settings["seed"]["base"] == 0
    assert set(settings["versions"]) >= {"torch", "diffusers", "transformers", "genmetrics"}
    assert settings["run"]["generated"] == 8 and settings["run"]["images_present"] == 8


def test_deterministic_and_batch_invariant(pipe, tmp_path):
    kw = dict(styles=["anime", "photo"], limit_per_style=2, **FAST)
    generate_images(pipe, "hpdv2", tmp_path / "a", batch_size=1, **kw)
    generate_images(pipe, "hpdv2", tmp_path / "b", batch_size=1, **kw)
    generate_images(pipe, "hpdv2", tmp_path / "c", batch_size=2, **kw)
    generate_images(pipe, "hpdv2", tmp_path / "d", batch_size=1, seed=1, **kw)
    names = [f"{s}/{i:05d}.png" for s in ("anime", "photo") for i in range(2)]
    assert (
        sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*.png"))
        == names
    )
    for name in names:
        a, b, c, d = (_pixels(tmp_path / x / name) for x in "abcd")
        assert np.array_equal(a, b)  # same seed, same batching: identical pixels
        # batch of 2 vs 1: same initial noise; float reductions may move a pixel by one level
        assert np.abs(a - c).max() <= 1 and np.mean(a != c) < 0.05
        assert np.abs(a - d).mean() > 1.0  # another base seed gives another image


def test_images_per_prompt(pipe, tmp_path):
    out = tmp_path / "k"
    generate_images(
        pipe, "hpdv2", out, styles=["photo"], limit_per_style=1, images_per_prompt=3, **FAST
    )
    names = sorted(p.name for p in (out / "photo").glob("*.png"))
    assert names == ["00000_k0.png", "00000_k1.png", "00000_k2.png"]
    k0, k1 = _pixels(out / "photo/00000_k0.png"), _pixels(out / "photo/00000_k1.png")
    assert np.abs(k0 - k1).mean() > 1.0
    records = [json.loads(line) for line in (out / "generation.jsonl").read_text().splitlines()]
    assert [(r["id"], r["sample"]) for r in records] == [(f"photo/00000_k{k}", k) for k in range(3)]
    assert len({r["seed"] for r in records}) == 3


def test_resume_regenerates_only_missing(pipe_dir, tmp_path):
    out = tmp_path / "r"
    kw = dict(styles=["anime", "paintings"], limit_per_style=3, batch_size=1, **FAST)
    first = CountingHook()
    generate_images(load_pipeline(pipe_dir, offline=True), "hpdv2", out, hook=first, **kw)
    assert first.prompts == 6
    victim = out / "paintings/00001.png"
    before = _pixels(victim)
    others = {p: p.stat().st_mtime_ns for p in out.rglob("*.png") if p != victim}
    victim.unlink()
    (out / "anime/.00002.png.999.tmp").write_bytes(b"partial")  # stale temp of a killed run
    with open(out / "generation.jsonl", "a") as f:
        f.write('{"id": "torn')  # torn last line of a killed run

    second = CountingHook()
    result = generate_images(load_pipeline(pipe_dir, offline=True), "hpdv2", out, hook=second, **kw)
    assert second.prompts == 1 and (result.generated, result.skipped) == (1, 5)
    assert np.array_equal(_pixels(victim), before)
    assert all(p.stat().st_mtime_ns == t for p, t in others.items())
    assert not list(out.rglob("*.tmp"))
    lines = (out / "generation.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line)["id"] for line in lines)

    # nothing left to do: the hook is not even run
    third = CountingHook()
    assert generate_images(pipe_dir, "hpdv2", out, hook=third, **kw).generated == 0
    assert third.prompts == 0

    # growing the run keeps earlier images and adds the new ones
    grown = generate_images(pipe_dir, "hpdv2", out, **{**kw, "limit_per_style": 4}, hook=third)
    assert (grown.generated, grown.skipped) == (2, 6)
    assert len((out / "generation.jsonl").read_text().splitlines()) == 8


def test_resume_with_other_settings_is_refused(pipe, tmp_path):
    out = tmp_path / "s"
    kw = dict(styles=["photo"], limit_per_style=1, **FAST)
    generate_images(pipe, "hpdv2", out, **kw)
    with pytest.raises(UserError, match=r"sampling\.steps: 2 there, 3 now"):
        generate_images(pipe, "hpdv2", out, **{**kw, "steps": 3})
    with pytest.raises(UserError, match=r"seed\.base"):
        generate_images(pipe, "hpdv2", out, seed=7, **kw)


def test_hook_from_file_is_applied_and_recorded(pipe_dir, tmp_path):
    hook_file = tmp_path / "hooks" / "tweak.py"
    hook_file.parent.mkdir()
    hook_file.write_text(
        "def make_white(pipe):\n"
        "    import torch\n"
        "    with torch.no_grad():\n"
        "        pipe.vae.decoder.conv_out.weight.zero_()\n"
        "        pipe.vae.decoder.conv_out.bias.fill_(10.0)\n"
        "    return pipe\n"
    )
    out = tmp_path / "h"
    spec = f"{hook_file}:make_white"
    generate_images(
        str(pipe_dir), "hpdv2", out, styles=["anime"], limit_per_style=1, hook=spec, **FAST
    )
    assert (_pixels(out / "anime/00000.png") == 255).all()
    assert json.loads((out / "generation.json").read_text())["hook"] == spec


def test_user_suite_and_errors(pipe, pipe_dir, tmp_path):
    prompts = tmp_path / "mine.txt"
    prompts.write_text("a red cube\na blue sphere\n")
    out = tmp_path / "u"
    generate_images(pipe, prompts, out, batch_size=2, **FAST)
    assert sorted(p.name for p in (out / "default").glob("*.png")) == ["00000.png", "00001.png"]
    with pytest.raises(UserError, match="no style 'cartoon'"):
        generate_images(pipe, "hpdv2", tmp_path / "x", styles=["cartoon"], **FAST)
    with pytest.raises(UserError, match="batch size must be"):
        generate_images(pipe, "hpdv2", tmp_path / "x", batch_size=0, **FAST)

    class NoGuidance:
        def __call__(self, prompt, generator, num_images_per_prompt=1, output_type="pil"):
            raise AssertionError("not reached")

        def to(self, *args, **kwargs):
            return self

    with pytest.raises(UserError, match="does not take 'guidance_scale'; drop that option"):
        generate_images(NoGuidance(), "hpdv2", tmp_path / "y", guidance=3.0, progress=False)


def test_load_pipeline_errors(tmp_path):
    with pytest.raises(UserError) as info:
        load_pipeline("no-such-org/no-such-model", offline=True)
    message = str(info.value)
    assert "no-such-org/no-such-model" in message and "hf download" in message
    assert "\n" not in message
    with pytest.raises(UserError, match="has no model_index.json"):
        load_pipeline(tmp_path, offline=True)
    with pytest.raises(UserError, match="does not exist"):
        load_pipeline(str(tmp_path / "missing" / "model"), offline=True)
    with pytest.raises(UserError, match="unknown dtype"):
        load_pipeline(tmp_path, dtype="fp8")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA is not available"):
            load_pipeline(tmp_path, device="cuda")
