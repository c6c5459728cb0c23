"""Estimate the cost of a full HPD v2 evaluation (3,200 images, 3,200 prompts) per backbone.

For each backbone a few images are timed through the real architecture with random weights
(the cost does not depend on the weight values): PNG decode + the backbone's own
preprocessing of a 512x512 image, then the forward pass in batches. CLIP-family models also
time their text tower on HPD v2 prompts. The per-item times are extrapolated linearly to
3,200 images / prompts. First batches are warm-up and not timed.

Run: ``.venv/bin/python benchmarks/bench_hpdv2_cost.py [--images 4] [--batch 2]
[--models inception,ViT-B-32,ViT-L-14,ViT-H-14] [--device cpu] [--threads N]``
"""

from __future__ import annotations

import argparse
import io
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

N_HPDV2 = 3200

#: Which metrics use which architecture (for the table's last column).
USED_BY = {
    "inception": "FID, KID, IS, precision/recall",
    "ViT-B-32": "CLIP score (B/32 variant)",
    "ViT-L-14": "CLIP score (L/14), aesthetic",
    "ViT-H-14": "HPS v2.0 / v2.1",
}


@dataclass
class Timing:
    name: str
    params_m: float
    input_size: int
    prep_s: float  # decode + preprocess, per image
    forward_s: float  # per image
    text_s: float | None  # per prompt
    note: str = ""


def _png_bytes(rng: np.random.Generator, size: int = 512) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _time_prep(
    pngs: list[bytes], preprocess: Callable[[np.ndarray], np.ndarray]
) -> tuple[float, np.ndarray]:
    from genmetrics.sources.decode import decode_image

    start = time.perf_counter()
    arrays = [preprocess(decode_image(b, "bench.png")) for b in pngs]
    return (time.perf_counter() - start) / len(pngs), np.stack(arrays)


def _time_batches(run: Callable[[torch.Tensor], object], inputs: torch.Tensor, batch: int) -> float:
    """Per-item seconds over ``inputs`` after one warm-up batch."""
    with torch.inference_mode():
        run(inputs[:batch])
        start = time.perf_counter()
        for i in range(0, len(inputs), batch):
            run(inputs[i : i + batch])
    return (time.perf_counter() - start) / len(inputs)


def _fill_random(model: torch.nn.Module, seed: int = 0) -> None:
    """Small random values in every parameter and buffer (fast, no denormals)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in [*model.parameters(), *model.buffers()]:
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen) * 0.02)


def bench_inception(pngs: list[bytes], batch: int, device: str) -> Timing:
    from genmetrics.backbones.inception.network import FIDInceptionV3
    from genmetrics.protocols.resize import get_resize_protocol

    net = FIDInceptionV3().to(device).eval()
    _fill_random(net)
    for m in net.modules():  # keep frozen batch-norm scales positive
        if hasattr(m, "running_var") and isinstance(m.running_var, torch.Tensor):
            m.running_var.fill_(1.0)
    resize = get_resize_protocol("clean")
    prep_s, arr = _time_prep(pngs, lambda im: resize(im, 299))
    x = torch.from_numpy(arr).to(device)
    fwd = _time_batches(lambda b: net(b, taps=("pool3", "logits_unbiased")), x, batch)
    params = sum(p.numel() for p in net.parameters()) / 1e6
    return Timing("inception", params, 299, prep_s, fwd, None)


def bench_clip(arch_name: str, pngs: list[bytes], batch: int, device: str, n_text: int) -> Timing:
    from transformers import CLIPModel

    from genmetrics.backbones.clip.configs import clip_config, get_arch
    from genmetrics.backbones.clip.model import ClipEncoder, _reset_position_ids
    from genmetrics.backbones.clip.preprocess import clip_preprocess, hps_preprocess
    from genmetrics.backbones.clip.tokenizer import tokenize
    from genmetrics.suites.registry import load_suite

    arch = get_arch(arch_name)
    with torch.device("meta"):
        model = CLIPModel(clip_config(arch))
    model = model.to_empty(device=device)
    _fill_random(model)
    _reset_position_ids(model)
    enc = ClipEncoder(arch, model.eval())
    pre = hps_preprocess if arch_name == "ViT-H-14" else clip_preprocess
    prep_s, arr = _time_prep(pngs, lambda im: pre(im, arch.image_size))
    fwd = _time_batches(enc.encode_image, torch.from_numpy(arr), batch)
    prompts = [p.prompt for p in load_suite("hpdv2").items[: n_text + batch]]
    ids, _ = tokenize(prompts)
    text_s = _time_batches(enc.encode_text, ids, max(batch, 8))
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return Timing(arch_name, params, arch.image_size, prep_s, fwd, text_s)


def _minutes(seconds: float) -> str:
    return f"{seconds * N_HPDV2 / 60:8.1f}"


def print_table(rows: list[Timing], device: str, threads: int) -> None:
    print(
        f"\nHPD v2 cost estimate: {N_HPDV2} images / prompts, device {device}, "
        f"{threads} torch threads (per-item times extrapolated linearly)\n"
    )
    head = (
        f"{'backbone':10} {'params M':>8} {'input':>5} {'prep ms/img':>11} {'fwd ms/img':>10} "
        f"{'text ms/prompt':>14} {'images min':>10} {'text min':>8} {'total min':>9}  used by"
    )
    print(head)
    print("-" * len(head))
    for r in rows:
        text = r.text_s if r.text_s is not None else 0.0
        total = r.prep_s + r.forward_s + text
        print(
            f"{r.name:10} {r.params_m:8.1f} {r.input_size:5d} {r.prep_s * 1e3:11.1f} "
            f"{r.forward_s * 1e3:10.1f} "
            f"{(f'{r.text_s * 1e3:.1f}' if r.text_s is not None else '-'):>14} "
            f"{_minutes(r.prep_s + r.forward_s):>10} "
            f"{(_minutes(text) if r.text_s is not None else '-'):>8} {_minutes(total):>9}  "
            f"{USED_BY.get(r.name, '')}{' ' + r.note if r.note else ''}"
        )
    print(
        "\nDecode + preprocessing runs once per image and backbone; the feature cache makes "
        "re-runs free. One evaluate pass runs every backbone a metric set needs."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="timed images per backbone")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--texts", type=int, default=16, help="timed prompts per CLIP model")
    parser.add_argument("--models", default="inception,ViT-B-32,ViT-L-14,ViT-H-14")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    pngs = [_png_bytes(rng) for _ in range(args.images + args.batch)]
    rows: list[Timing] = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        start = time.perf_counter()
        if name == "inception":
            rows.append(bench_inception(pngs, args.batch, args.device))
        else:
            try:
                import genmetrics.backbones.clip.model  # noqa: F401
            except ImportError as exc:
                print(f"skipping {name}: CLIP package unavailable ({exc})")
                continue
            rows.append(bench_clip(name, pngs, args.batch, args.device, args.texts))
        print(f"{name}: measured in {time.perf_counter() - start:.0f} s", flush=True)
    print_table(rows, args.device, torch.get_num_threads())


if __name__ == "__main__":
    main()
