import hashlib
import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from genmetrics.errors import UserError  # noqa: E402
from genmetrics.generation import generate_images, image_seed, load_pipeline  # noqa: E402
from genmetrics.generation.pipeline import memory_fingerprint  # noqa: E402
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
    png_bytes = (out / "concept-art/00001.png").read_bytes()
    assert rec == {
        "sha256": hashlib.sha256(png_bytes).hexdigest(),
        "bytes": len(png_bytes),
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
    assert settings["pipeline"]["fingerprint"].startswith("files-sha256:")
    assert settings["pipeline"]["pinned"] is True and settings["pipeline"]["files"] >= 8
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
    (out / "anime/.00002.png.4194305-deadbeef.tmp").write_bytes(b"partial")  # killed writer
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
    hook_info = json.loads((out / "generation.json").read_text())["hook"]
    assert hook_info["spec"] == spec and hook_info["function"] == "make_white"
    assert hook_info["source_sha256"] == hashlib.sha256(hook_file.read_bytes()).hexdigest()


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
        with pytest.raises(UserError, match="CUDA"):
            load_pipeline(tmp_path, device="cuda")


def _copy_pipeline(pipe_dir, dest):
    shutil.copytree(pipe_dir, dest)
    return dest


def _nudge_weights(folder):
    """Change one weight of the UNet in place; the folder still loads."""
    from safetensors.torch import load_file, save_file

    path = folder / "unet" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(path)
    tensors["conv_in.bias"] = tensors["conv_in.bias"] + 0.5
    save_file(tensors, path, metadata={"format": "pt"})


def _listing(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_resume_refused_when_pipeline_weights_changed(pipe_dir, tmp_path):
    folder = _copy_pipeline(pipe_dir, tmp_path / "model")
    out = tmp_path / "w"
    kw = dict(styles=["photo"], limit_per_style=1, **FAST)
    generate_images(str(folder), "hpdv2", out, **kw)
    assert generate_images(str(folder), "hpdv2", out, **kw).generated == 0  # unchanged: resumes
    _nudge_weights(folder)
    before = _listing(out)
    with pytest.raises(UserError) as info:
        generate_images(str(folder), "hpdv2", out, **{**kw, "limit_per_style": 2})
    message = str(info.value)
    assert "pipeline.fingerprint (the pipeline's weights and files): 'files-sha256:" in message
    assert "there, 'files-sha256:" in message and "--restart" in message and "\n" not in message
    assert _listing(out) == before
    # --restart discards the images made with the old weights and starts again
    result = generate_images(str(folder), "hpdv2", out, restart=True, **kw)
    assert (result.generated, result.skipped) == (1, 0)
    assert _listing(out)["photo/00000.png"] != before["photo/00000.png"]


def test_resume_refused_when_hook_file_edited(pipe, tmp_path):
    hook_file = tmp_path / "hook.py"
    hook_file.write_text("def same(pipe):\n    return pipe\n")
    out = tmp_path / "e"
    kw = dict(styles=["anime"], limit_per_style=1, hook=f"{hook_file}:same", **FAST)
    generate_images(pipe, "hpdv2", out, **kw)
    hook_file.write_text("def same(pipe):\n    pipe.vae.eval()\n    return pipe\n")
    with pytest.raises(UserError, match=r"hook\.source_sha256 \(the hook's source file\): '"):
        generate_images(pipe, "hpdv2", out, **kw)
    with pytest.raises(
        UserError, match=r"hook\.function \(the hook function\): 'same' there, None"
    ):
        generate_images(pipe, "hpdv2", out, **{**kw, "hook": None})


def test_unrelated_images_in_out_are_refused_and_untouched(pipe, tmp_path):
    out = tmp_path / "mine"
    (out / "photo").mkdir(parents=True)
    Image.new("RGB", (8, 8), "red").save(out / "photo" / "00000.png")
    before = _listing(out)
    kw = dict(styles=["photo"], limit_per_style=2, **FAST)
    with pytest.raises(
        UserError, match=r"holds 1 image\(s\) that genmetrics generate did not make"
    ):
        generate_images(pipe, "hpdv2", out, **kw)
    assert _listing(out) == before  # nothing recorded, nothing written

    # a run folder with an image it does not list: refused as well, not counted as done
    run = tmp_path / "run"
    generate_images(pipe, "hpdv2", run, **{**kw, "limit_per_style": 1})
    shutil.copy(out / "photo" / "00000.png", run / "photo" / "00001.png")
    before = _listing(run)
    with pytest.raises(
        UserError, match=r"not listed in its generation\.jsonl\), e\.g\. photo/00001"
    ):
        generate_images(pipe, "hpdv2", run, **kw)
    with pytest.raises(UserError, match="did not make"):  # --restart never deletes them either
        generate_images(pipe, "hpdv2", run, restart=True, **kw)
    assert _listing(run) == before


def test_changed_or_missing_listed_image_is_made_again(pipe, tmp_path):
    out = tmp_path / "c"
    kw = dict(styles=["photo"], limit_per_style=2, **FAST)
    generate_images(pipe, "hpdv2", out, **kw)
    victim = out / "photo" / "00001.png"
    original = victim.read_bytes()
    Image.new("RGB", (32, 32), "blue").save(victim)
    result = generate_images(pipe, "hpdv2", out, **kw)
    assert (result.generated, result.skipped, result.replaced) == (1, 1, 1)
    assert victim.read_bytes() == original
    (out / "generation.jsonl").unlink()  # records lost: the images are no longer ours
    with pytest.raises(UserError, match="holds 2 image"):
        generate_images(pipe, "hpdv2", out, **kw)


def test_memory_fingerprint_of_pipeline_object(pipe):
    first = memory_fingerprint(pipe)
    assert first is not None and first.startswith("memory-sha256:")
    assert memory_fingerprint(pipe) == first
    bias = pipe.unet.conv_in.bias
    saved = bias.detach().clone()
    with torch.no_grad():
        bias.add_(1.0)
        try:
            assert memory_fingerprint(pipe) != first
        finally:
            bias.copy_(saved)
    assert memory_fingerprint(pipe) == first
    assert memory_fingerprint(object()) is None
