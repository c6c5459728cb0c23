"""Benchmark: cost per image of the reward models with random weights of the real sizes, and
one extraction pass for several CLIP-H-based scores vs one pass per score.

* ``pickscore``: CLIP ViT-H-14 image tower (PickScore v1's architecture) at 224;
* ``imagereward``: BLIP ViT-L/16 224 + BERT cross-attention (35 tokens) + MLP;
* ``hpsv3``: Qwen2-VL-7B + reward head on 448×448 inputs (256 image tokens + ~330 text
  tokens). On CPU only the tiny configuration is run, even with ``--size full`` (a 7B model in
  fp32 is 30 GB and minutes per image); ``--size full --device cuda`` runs the real size in bf16;
* ``one pass vs separate``: PickScore and HPS v2.1 (both CLIP-H, different weights) over the
  same images in one :func:`extract_features` call vs one call per score. The image towers
  differ (different weights), so each image still gets one forward per score; what the one
  pass shares is decoding (PNG 512×512) and the shared CLIP resize; text embeddings are
  computed once per distinct prompt and cached (``text_encode_ms_per_prompt``, amortised over
  the images of a prompt), so they do not depend on the number of passes.

Weights are random (no download); timings are of the networks and the pipeline, not scores.
``--size tiny`` runs the tiny test configurations (seconds); ``--size full`` the real sizes.
Images/s on a GPU: ``--device cuda`` (when a GPU machine is lent).

Run: ``.venv/bin/python benchmarks/bench_rewards.py [--size full] [--n 16] [--batch 8]``
"""

from __future__ import annotations

import argparse
import io
import json
import time

import numpy as np
import torch

from genmetrics.backbones.clip import hf
from genmetrics.backbones.clip.backbone import CLIP_MODELS, ClipBackbone
from genmetrics.backbones.clip.configs import ARCHS, clip_config, tiny_arch
from genmetrics.backbones.clip.model import ClipEncoder
from genmetrics.backbones.reward import hpsv3 as hv
from genmetrics.backbones.reward import imagereward as ir
from genmetrics.backbones.reward.pickscore import PickScoreBackbone
from genmetrics.features.extract import FeatureRequest, extract_features
from genmetrics.sources.items import ImageItem


def _random_(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)


def clip_encoder(size: str, device: str, seed: int) -> ClipEncoder:
    from transformers import CLIPModel

    arch = ARCHS["ViT-H-14"] if size == "full" else tiny_arch("gelu")
    with torch.device("meta"):
        model = CLIPModel(clip_config(arch))
    model = model.to_empty(device="cpu")
    _random_(model, seed)
    from genmetrics.backbones.clip.model import _reset_position_ids

    _reset_position_ids(model)
    return ClipEncoder(arch, model.to(device).eval())


class _Tok:
    """Stand-in tokenizer: fixed-length ids (no vocabulary file needed for timing)."""

    def __call__(self, prompts):
        n = len(prompts)
        ids = torch.full((n, ir.MAX_TOKENS), 5, dtype=torch.long)
        ids[:, 0] = 2
        return ids, torch.ones_like(ids), [False] * n


class _QwenTok:
    """Stand-in for the Qwen2 tokenizer: the chat text's length in ids, one ``<|Reward|>``."""

    def __init__(self, arch: hv.HPSv3Arch, text_tokens: int = 330) -> None:
        self.arch, self.text_tokens = arch, text_tokens

    def __call__(self, texts):
        rows = []
        for t in texts:
            n_img = t.count("<|image_pad|>")
            ids = [1] * 20 + [self.arch.image_token_id] * n_img + [2] * self.text_tokens
            ids[-8] = self.arch.reward_token_id
            rows.append(ids)
        ids = torch.tensor(rows, dtype=torch.long)
        return ids, torch.ones_like(ids)


def hpsv3_backbone(full: bool, device: str, seed: int) -> hv.HPSv3Backbone:
    arch = hv.HPSv3Arch() if full else hv.tiny_arch()
    dtype = torch.bfloat16 if full else torch.float32
    net = hv.build_network(arch, meta=True).to_empty(device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=g, device=device) * 0.02)
    net.model.to(dtype)
    hv._restore_buffers(net, device)
    return hv.HPSv3Backbone(net.eval(), _QwenTok(arch), "3" * 64, "bf16" if full else "fp32")


def png_items(n: int, seed: int = 0) -> list[ImageItem]:
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(buf, "PNG")
        data = buf.getvalue()
        out.append(ImageItem(f"img{i}", f"mem://{i}", lambda d=data: d))
    return out


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", choices=("tiny", "full"), default="tiny")
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    report: dict = {"size": args.size, "n": args.n, "batch": args.batch, "device": args.device,
                    "torch_threads": torch.get_num_threads()}
    pre = hf.HfPreprocess(224, 224) if args.size == "full" else hf.HfPreprocess(32, 32)
    pick = PickScoreBackbone("pickscore", clip_encoder(args.size, args.device, 0), "0" * 64, pre)
    hps = ClipBackbone(CLIP_MODELS["hps-v2.1"], clip_encoder(args.size, args.device, 1), "1" * 64)
    if args.size != "full":
        hps._pre = lambda image: hf.hf_clip_preprocess(image, pre)  # tiny net: 32 px input
    arch = ir.ImageRewardArch() if args.size == "full" else ir.tiny_arch()
    net = ir.build_network(arch, meta=True).to_empty(device="cpu")
    _random_(net, 2)
    from genmetrics.backbones.clip.model import _reset_position_ids

    _reset_position_ids(net)
    reward = ir.ImageRewardBackbone(net.to(args.device).eval(), _Tok(), "2" * 64)

    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (512, 512, 3), dtype=np.uint8) for _ in range(args.batch)]
    full_hpsv3 = args.size == "full" and args.device.startswith("cuda")
    hps3 = hpsv3_backbone(full_hpsv3, args.device, 3)
    report["hpsv3_size"] = "full (bf16)" if full_hpsv3 else "tiny (fp32)"
    for name, bb in (("pickscore", pick), ("imagereward", reward), ("hpsv3", hps3)):
        batch = np.stack([bb.preprocess(im) for im in images])
        t = time.perf_counter()
        np.stack([bb.preprocess(im) for im in images])
        report[f"{name}_preprocess_ms_per_image"] = round(1000 * (time.perf_counter() - t) / len(images), 2)
        run = (lambda bb=bb, batch=batch: bb.forward_prompted(batch, ["a prompt"] * len(batch))) \
            if name in ("imagereward", "hpsv3") else (lambda bb=bb, batch=batch: bb.forward(batch))
        run()  # warm-up
        sec = timed(run, repeat=2)
        report[f"{name}_forward_ms_per_image"] = round(1000 * sec / args.batch, 2)
        report[f"{name}_images_per_s"] = round(args.batch / sec, 2)

    items = png_items(args.n)
    prompts = ["a prompt"] * args.n
    reqs_both = [FeatureRequest("pickscore", "embed"), FeatureRequest("hps-v2.1", "embed")]
    bbs = {"pickscore": pick, "hps-v2.1": hps}
    one = timed(lambda: extract_features(items, bbs, reqs_both, batch_size=args.batch, workers=2,
                                         prompts=prompts))
    sep = timed(lambda: [extract_features(items, {k: v}, [FeatureRequest(k, "embed")],
                                          batch_size=args.batch, workers=2)
                         for k, v in bbs.items()])
    single = timed(lambda: extract_features(items, {"pickscore": pick},
                                            [FeatureRequest("pickscore", "embed")],
                                            batch_size=args.batch, workers=2))
    unique = [f"prompt {i}" for i in range(max(1, args.n // 4))]
    pick.encode_texts(unique[:1])  # warm-up
    text_s = timed(lambda: pick.encode_texts(unique))
    report["pickscore_only_pass_ms_per_image"] = round(1000 * single / args.n, 2)
    report["pickscore+hps_one_pass_ms_per_image"] = round(1000 * one / args.n, 2)
    report["pickscore+hps_separate_passes_ms_per_image"] = round(1000 * sep / args.n, 2)
    report["one_pass_saving_ms_per_image"] = round(1000 * (sep - one) / args.n, 2)
    report["text_encode_ms_per_prompt"] = round(1000 * text_s / len(unique), 2)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
