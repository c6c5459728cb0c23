"""genmetrics.Evaluator: the numbers of genmetrics.evaluate on the same images (every protocol,
every reference form), checkpoints, reset, memory, and bad batches that change nothing."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import genmetrics
from genmetrics.errors import UserError
from tests.pipeline.evaluator_helpers import assert_same_result, feed, images, light_inception

SET_METRICS = "fid,sfid,kid,is,precision,recall,density,coverage,fd_infinity,swd"
PER_IMAGE = ("kid", "is", "precision", "recall", "density", "coverage", "swd")  # fd_infinity: ref statistics
OPTIONS = dict(batch_size=4, device="cpu", kid_subset_size=5, kid_subsets=7, is_splits=2,
               swd_projections=16, fd_infinity_points=3)


@pytest.fixture
def sets():
    return images(12, seed=1), images(11, seed=2, size=(40, 28))


def _run(metrics, bb, gen, real, **kw):
    ev = genmetrics.Evaluator(metrics, backbones={"inception": bb}, **{**OPTIONS, **kw})
    feed(ev, gen, 4)
    feed(ev, real, 4, real=True, as_tensor=False)
    return ev


@pytest.mark.parametrize("protocol", ["clean", "tf1", "pytorch-fid"])
def test_same_numbers_as_evaluate_for_every_protocol(protocol, sets, tmp_path, one_torch_thread):
    gen, real = sets
    bb = light_inception(tmp_path, protocol)
    expected = genmetrics.evaluate(list(gen), list(real), SET_METRICS, protocol=protocol, cache=False,
                                   backbones={"inception": bb}, **OPTIONS)
    got = _run(SET_METRICS, bb, gen, real, protocol=protocol).compute()
    # the same batches: per-image features bit-identical, so every per-image metric is too;
    # the Gaussian statistics are summed in another order (≤ 1e-12 apart)
    assert_same_result(expected, got, rel=1e-9, exact=PER_IMAGE)
    assert got.per_image == expected.per_image  # ids, content sha256, per-image columns
    for key in ("protocol", "metrics", "options", "backbones", "seed", "float_math", "decode_policy"):
        assert got.manifest[key] == expected.manifest[key], key
    assert got.manifest["reference"] == "update(real=True)"
    assert got.manifest["evaluator"]["updates"] == 6 and got.counts["forwards"] == {"inception": 23}


def test_reference_folder_and_statistics_file(sets, tmp_path, one_torch_thread):
    from genmetrics.pipeline.reference import compute_reference_stats

    gen, real = sets
    folder = tmp_path / "real"
    folder.mkdir()
    for i, arr in enumerate(real):
        Image.fromarray(arr).save(folder / f"r{i:02d}.png")
    bb = light_inception(tmp_path)
    kw = dict(backbones={"inception": bb}, cache_dir=tmp_path / "cache", **OPTIONS)
    expected = genmetrics.evaluate(list(gen), folder, "fid,kid,precision", **kw)
    ev = genmetrics.Evaluator("fid,kid,precision", folder, progress=False, **kw)
    feed(ev, gen, 4)
    assert_same_result(expected, ev.compute(), rel=1e-9, exact=("kid", "precision"))
    assert ev.compute().manifest["reference"] == str(folder)  # again: the folder is read once
    with pytest.raises(UserError, match="real=True is not used"):
        ev.update(gen[:2], real=True)

    stats = tmp_path / "real.npz"
    compute_reference_stats(folder, stats, backbone=bb, device="cpu", cache=False)
    expected = genmetrics.evaluate(list(gen), stats, "fid", **kw)
    ev = genmetrics.Evaluator("fid", stats, **kw)
    feed(ev, gen, 4)
    got = ev.compute()
    assert_same_result(expected, got, rel=1e-9)
    assert got.manifest["reference_manifest"] == expected.manifest["reference_manifest"]
    assert got.per_image == []  # Fréchet only: nothing kept per image
    with pytest.raises(UserError, match="statistics file only serves"):
        genmetrics.Evaluator("kid", stats, **kw)


def test_real_inception_architecture_random_weights(tmp_path, one_torch_thread):
    """The full TF-2015 Inception v3 (random weights): same batches, same bits (FID on its
    2048-d statistics is left to the light tests: two eigensolves cost seconds here)."""
    from safetensors.torch import save_file

    from genmetrics.backbones.inception.backbone import InceptionBackbone
    from genmetrics.backbones.registry import BackboneOptions
    from tests.backbones.inception.test_network import random_inception

    path = tmp_path / "inception.safetensors"
    save_file({k: v.contiguous() for k, v in random_inception(seed=3).state_dict().items()}, path)
    bb = InceptionBackbone(BackboneOptions(device="cpu"), weights_path=str(path))
    gen, real = images(2, seed=4), images(2, seed=5)
    kw = dict(backbones={"inception": bb}, batch_size=2, device="cpu", kid_subset_size=2,
              kid_subsets=3, is_splits=1, cache_dir=tmp_path / "cache")
    expected = genmetrics.evaluate(list(gen), list(real), "kid,is", **kw)
    ev = genmetrics.Evaluator("kid,is", list(real), **kw)  # the reference through the cache
    ev.update(torch.from_numpy(gen).permute(0, 3, 1, 2).float() / 255)
    got = ev.compute()
    assert_same_result(expected, got, rel=0, exact=("kid", "is"))
    assert got.per_image == expected.per_image
    assert got.counts["forwards"]["inception"] == 2 and got.counts["cache_hits"]["inception"] == 2


def test_checkpoint_round_trip_with_weights_only(sets, tmp_path, one_torch_thread):
    gen, real = sets
    bb = light_inception(tmp_path)
    whole = _run(SET_METRICS, bb, gen, real).compute()
    half = genmetrics.Evaluator(SET_METRICS, backbones={"inception": bb}, **OPTIONS)
    feed(half, gen[:8], 4)
    feed(half, real, 4, real=True)
    torch.save({"model": torch.nn.Linear(2, 2).state_dict(), "metrics": half.state_dict()}, tmp_path / "ckpt.pt")
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)["metrics"]
    resumed = genmetrics.Evaluator(SET_METRICS, backbones={"inception": bb}, **OPTIONS)
    resumed.load_state_dict(state)
    assert resumed.counts == {"generated": 8, "reference": 11}
    feed(resumed, gen[8:], 4)
    got = resumed.compute()
    assert_same_result(whole, got, rel=0, exact=(*PER_IMAGE, "fid", "sfid"))  # exact state, same sums
    assert got.manifest["evaluator"]["updates"] == 6

    resumed.reset()
    assert resumed.counts == {"generated": 0, "reference": 0}
    with pytest.raises(UserError, match="no generated images"):
        resumed.compute()
    other = genmetrics.Evaluator(SET_METRICS, backbones={"inception": light_inception(tmp_path, "tf1")}, **OPTIONS)
    with pytest.raises(UserError, match="cannot be mixed"):
        other.load_state_dict(state)
    fewer = genmetrics.Evaluator("fid", backbones={"inception": bb}, **OPTIONS)
    with pytest.raises(UserError, match="same metrics"):
        fewer.load_state_dict(state)
    with pytest.raises(UserError, match="not an Evaluator state"):
        fewer.load_state_dict({"weights": 1})


def _state(ev) -> dict:
    return {"counts": ev.counts, "nbytes": ev.nbytes, "state": repr(ev.state_dict()), "updates": ev._updates}


def _bad_batches():
    ok = torch.rand(2, 3, 20, 24)
    nan = ok.clone()
    nan[1, 0, 3, 3] = float("nan")
    return [
        (torch.rand(2, 5, 20, 24), "update #2: .*1, 3 or 4 channels"),
        (torch.rand(2, 2, 3, 20, 24), r"update #2: expected images of shape \(N, 3, H, W\)"),
        (nan, r"update #2: image\[1\]: contains NaN"),
        (ok * 2 - 1, r"update #2: image\[0\]: float images must lie in \[0, 1\]"),
        (torch.randint(0, 255, (2, 3, 20, 24)), "update #2: unsupported dtype int64"),
        ([ok[0], torch.empty(3, 20, 24, device="meta")], "update #2: the images are on several devices"),
        (torch.rand(2, 3, 0, 24), "update #2: .*no pixels"),
        ("images/", "update #2: unsupported image batch of type str"),
        ([ok[0], "x"], r"update #2: image\[1\]: expected one image"),
    ]


@pytest.mark.parametrize("batch, message", _bad_batches())
def test_bad_batch_is_one_error_naming_it_and_changes_nothing(batch, message, tmp_path):
    ev = genmetrics.Evaluator("fid,kid", backbones={"inception": light_inception(tmp_path)}, **OPTIONS)
    ev.update(torch.rand(3, 3, 20, 24))
    before = _state(ev)
    with pytest.raises(UserError, match=message) as err:
        ev.update(batch)
    assert "\n" not in str(err.value)
    assert _state(ev) == before
    ev.update(torch.rand(2, 3, 20, 24))  # the evaluator goes on; the next one is update #3
    with pytest.raises(UserError, match=r"update #3 \(real=True\): .*channels"):
        ev.update(torch.rand(1, 5, 20, 24), real=True)


def test_compute_needs_images_on_each_side(tmp_path):
    ev = genmetrics.Evaluator("fid", backbones={"inception": light_inception(tmp_path)}, **OPTIONS)
    with pytest.raises(UserError, match="no generated images"):
        ev.compute()
    ev.update(images(3, 0))
    with pytest.raises(UserError, match="fid compare.*update\\(images, real=True\\)"):
        ev.compute()
    ev.update(images(1, 1), real=True)
    with pytest.raises(UserError, match="fid needs at least 2 reference images; got 1"):
        ev.compute()
    is_only = genmetrics.Evaluator("is", backbones={"inception": light_inception(tmp_path)}, **OPTIONS)
    with pytest.raises(UserError, match="real=True is not used: none of is compares"):
        is_only.update(images(2, 0), real=True)
    with pytest.raises(UserError, match="results_on"):
        genmetrics.Evaluator("is", results_on="everyone")
    with pytest.raises(UserError, match=r"Evaluator takes no prompts=: pass each batch's prompts"):
        genmetrics.Evaluator("clip_score", prompts="prompts.jsonl")


def test_memory_gaussian_only_state_does_not_grow(tmp_path):
    """Fréchet-only sets hold D + D² float64 numbers per space whatever N; per-image
    metrics hold 4·D bytes per image per kept output."""
    bb = light_inception(tmp_path)
    fid = genmetrics.Evaluator("fid,sfid", backbones={"inception": bb}, **OPTIONS)
    sizes = []
    for step in range(6):
        fid.update(images(8, step))
        fid.update(images(8, 100 + step), real=True)
        sizes.append((fid.nbytes, sum(t.numel() * t.element_size() for t in _tensors(fid.state_dict()))))
    dims = (32, 18)  # pool3, spatial
    assert sizes[0] == sizes[-1] == (2 * sum(8 * (d + d * d) for d in dims),) * 2
    assert fid.state_dict()["generated"]["hashes"] == [] and fid.bytes_per_image == {"generated": 0, "reference": 0}

    kid = genmetrics.Evaluator("fid,kid,is", backbones={"inception": bb}, **OPTIONS)
    kid.update(images(2, 0))
    kid.update(images(2, 1), real=True)
    start = kid.nbytes
    kid.update(images(10, 2))
    assert kid.nbytes - start == 10 * 4 * (32 + 20)  # pool3 and logits rows, float32
    assert kid.bytes_per_image == {"generated": 4 * 52, "reference": 4 * 32}


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _tensors(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _tensors(v)


def test_every_input_form_gives_the_same_pixels():
    from genmetrics.pipeline.batch_input import batch_images

    rgb = images(3, 7)
    want = [a for a in rgb]
    t = torch.from_numpy(rgb)
    forms = [
        rgb, list(rgb), t, t.permute(0, 3, 1, 2), t.permute(0, 3, 1, 2).float() / 255,
        (t.double() / 255).permute(0, 3, 1, 2), [Image.fromarray(a) for a in rgb],
        [x for x in t.permute(0, 3, 1, 2)], np.concatenate([rgb, np.full((3, 36, 44, 1), 255, np.uint8)], -1),
        t.permute(0, 3, 1, 2).float().div(255).requires_grad_(),
    ]
    for form in forms:
        got = batch_images(form)
        assert len(got) == 3 and all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
    gray = batch_images(torch.rand(2, 1, 9, 7))
    assert gray[0].shape == (9, 7, 3) and np.array_equal(gray[0][..., 0], gray[0][..., 2])
    assert batch_images(torch.zeros(0, 3, 8, 8)) == [] and batch_images([]) == []
    half = torch.rand(2, 3, 8, 8)
    assert np.array_equal(batch_images(half.half())[1], batch_images(half.half().float())[1])


def test_progress_bar_while_the_reference_folder_is_read(tmp_path, capsys):
    from genmetrics.progress import wanted

    folder = tmp_path / "real"
    folder.mkdir()
    for i, arr in enumerate(images(5, 3)):
        Image.fromarray(arr).save(folder / f"{i}.png")
    ev = genmetrics.Evaluator("fid", folder, backbones={"inception": light_inception(tmp_path)},
                              progress=True, **OPTIONS)
    ev.update(images(4, 4))
    assert capsys.readouterr().err == ""  # update() is quiet
    ev.compute()
    assert "reference images" in capsys.readouterr().err
    assert wanted(None) is False and wanted(True) is True  # stderr is no terminal under pytest


def test_merged_states_keep_rank_order_rows_prompts_and_exact_statistics():
    from genmetrics.features.extract import ExtractedFeatures, FeatureRequest
    from genmetrics.features.gaussian import GaussianStats
    from genmetrics.pipeline.batch_input import prompt_records
    from genmetrics.pipeline.feature_state import FeatureState

    requests = (FeatureRequest("inception", "pool3"), FeatureRequest("inception", "pool3", "gaussian"))
    rows = np.random.default_rng(0).standard_normal((9, 4))

    def state(lo: int, hi: int) -> FeatureState:
        s = FeatureState(requests, keep_prompts=True)
        for a, b in ((lo, min(lo + 2, hi)), (min(lo + 2, hi), hi)):
            if b > a:
                f = ExtractedFeatures(ids=[str(i) for i in range(a, b)], locations=[""] * (b - a),
                                      hashes=[f"h{i}" for i in range(a, b)],
                                      arrays={("inception", "pool3"): rows[a:b]},
                                      gaussians={("inception", "pool3"): GaussianStats().update(rows[a:b])},
                                      forwards={"inception": b - a})
                s.check(f)
                s.add(f, prompt_records([f"p{i}" for i in range(a, b)], b - a))
        return s

    merged = FeatureState.merged([state(0, 5), FeatureState(requests, keep_prompts=True), state(5, 9)])
    feats = merged.features()
    assert merged.n == 9 and feats.ids[0] == "00000" and merged.hashes == [f"h{i}" for i in range(9)]
    assert [r.prompt for r in merged.records] == [f"p{i}" for i in range(9)]
    assert np.array_equal(feats.array("inception", "pool3"), rows.astype(np.float32))
    whole = GaussianStats().update(rows)
    np.testing.assert_allclose(feats.gaussian("inception", "pool3").cov, whole.cov, rtol=1e-12)
    assert feats.forwards == {"inception": 9}
    back = FeatureState(requests, keep_prompts=True).load(merged.state())
    assert back.records == merged.records and back.n == 9
