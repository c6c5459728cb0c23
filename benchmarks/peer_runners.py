"""Child processes of ``bench_vs_peers.py``: one peer computes FID between two PNG folders with
genmetrics' FIDInceptionV3 (same weights, loaded from genmetrics' safetensors file) plugged
into that peer's own custom feature-extractor hook, and prints ``{"fid": ...}`` as its last
stdout line.

    python benchmarks/peer_runners.py {torch-fidelity|clean-fid|torchmetrics} GEN REAL WEIGHTS
        [--cache DIR] [--workers N] [--batch-size N]

Each peer keeps its own decoding and resize; only the network is swapped:

* torch-fidelity 0.4: ``register_feature_extractor`` with a ``FeatureExtractorBase`` subclass
  whose forward is that of its own ``FeatureExtractorInceptionV3`` (uint8 -> float32 ->
  ``interpolate_bilinear_2d_like_tensorflow1x`` to 299 -> network), images read by its
  ``ImagesPathDataset`` (PIL ``convert("RGB")`` + ``pil_to_tensor``), its DataLoader, its
  defaults (batch 64, ``min(4, 2·CPUs)`` workers). ``--cache DIR`` turns on its cache with fixed
  input names, so a second run with the same DIR is its cached re-run (statistics loaded).
* clean-fid 0.1.35: ``fid.compute_fid(gen, real, mode="clean", custom_feat_extractor=module)``
  on the CPU: its ``ResizeDataset`` (PIL decode, per-channel float32 bicubic to 299) and
  DataLoader (default 12 workers, batch 32; ``--workers`` overrides). Nothing is cached for
  folders.
* torchmetrics: ``FrechetInceptionDistance(feature=module)``; torchmetrics reads no files, so
  this runner decodes with Pillow in a plain loop (batch 32) as its documentation shows; the
  module resizes as pytorch-fid (torch bilinear, ``align_corners=False``, scaled by 256/255:
  genmetrics' ``pytorch-fid`` protocol). Nothing is cached.

torchvision: torch-fidelity and clean-fid import it at module level, but on their folder path
they only use ``transforms.Compose``, ``transforms.ToTensor`` (on float32 numpy arrays: a
transpose) and ``transforms.functional.pil_to_tensor``. When torchvision is not importable,
:func:`install_torchvision_stub` puts a minimal ``torchvision`` into ``sys.modules``: those three
are re-implemented with torchvision's semantics (same values, same dtypes, same copies), and the
rest (datasets, models, other transforms) are placeholders that raise if used, so they cannot
change what is computed.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import json
import sys
import types
from pathlib import Path

STUB_VERSION = "0.0.0+genmetrics-bench-stub"


def _unavailable(name: str):
    def fail(*args, **kwargs):
        raise NotImplementedError(f"torchvision stub: {name} is not available in this benchmark")

    return fail


def _placeholder_class(name: str, base: type) -> type:
    return type(name, (base,), {"__init__": _unavailable(name)})


def _compose_class() -> type:
    class Compose:
        """torchvision.transforms.Compose: apply each transform in turn."""

        def __init__(self, transforms) -> None:
            self.transforms = transforms

        def __call__(self, img):
            for t in self.transforms:
                img = t(img)
            return img

    return Compose


def _to_tensor_class(torch, np) -> type:
    class ToTensor:
        """torchvision.transforms.ToTensor for numpy arrays (HWC -> CHW; uint8 scaled to [0, 1])."""

        def __call__(self, pic):
            if not isinstance(pic, np.ndarray):
                raise NotImplementedError("torchvision stub: ToTensor takes numpy arrays only")
            if pic.ndim == 2:
                pic = pic[:, :, None]
            img = torch.from_numpy(pic.transpose((2, 0, 1))).contiguous()
            if img.dtype == torch.uint8:
                return img.to(dtype=torch.get_default_dtype()).div(255)
            return img

    return ToTensor


def install_torchvision_stub() -> str:
    """Use the real torchvision when it imports; otherwise install the stub. Returns which."""
    if importlib.util.find_spec("torchvision") is not None:
        try:
            import torchvision  # noqa: F401

            return "real"
        except Exception:  # a build that does not match torch
            for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
                del sys.modules[name]
    import numpy as np
    import torch

    def module(name: str) -> types.ModuleType:
        mod = types.ModuleType(name)
        mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        sys.modules[name] = mod
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, mod)
        return mod

    root = module("torchvision")
    root.__version__ = STUB_VERSION
    transforms = module("torchvision.transforms")
    transforms.Compose = _compose_class()
    transforms.ToTensor = _to_tensor_class(torch, np)
    for name in ("Resize", "CenterCrop", "Normalize", "InterpolationMode"):
        setattr(transforms, name, _placeholder_class(name, object))
    functional = module("torchvision.transforms.functional")

    def pil_to_tensor(pic):
        """torchvision's pil_to_tensor: a copy of the pixels, HWC viewed as CHW (uint8)."""
        img = torch.as_tensor(np.array(pic, copy=True))
        img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
        return img.permute((2, 0, 1))

    functional.pil_to_tensor = pil_to_tensor
    functional.normalize = _unavailable("transforms.functional.normalize")
    datasets = module("torchvision.datasets")
    for name in ("CIFAR10", "CIFAR100", "STL10"):
        setattr(datasets, name, _placeholder_class(name, torch.utils.data.Dataset))
    models = module("torchvision.models")
    models.vgg16 = _unavailable("models.vgg16")
    models.inception_v3 = _unavailable("models.inception_v3")
    inception = module("torchvision.models.inception")
    for name in ("InceptionA", "InceptionC", "InceptionE"):
        setattr(inception, name, _placeholder_class(name, torch.nn.Module))
    return "stub"


def load_network(weights: str):
    """genmetrics' FIDInceptionV3 with the weights of genmetrics' safetensors file."""
    from safetensors.torch import load_file

    from genmetrics.backbones.inception.network import FIDInceptionV3

    state = load_file(weights)
    net = FIDInceptionV3(has_fc="fc.weight" in state)
    net.load_state_dict(state, strict=True)
    return net.eval()


def run_torch_fidelity(gen: str, real: str, weights: str, cache: str | None, workers, batch) -> float:
    import torch
    import torch_fidelity
    from torch_fidelity.feature_extractor_base import FeatureExtractorBase
    from torch_fidelity.interpolate_compat_tensorflow import (
        interpolate_bilinear_2d_like_tensorflow1x,
    )

    class GenmetricsInception(FeatureExtractorBase):
        """torch-fidelity's Inception forward, with genmetrics' network inside."""

        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            self.net = load_network(feature_extractor_weights_path)

        @staticmethod
        def get_provided_features_list():
            return ("2048",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "2048"

        @staticmethod
        def can_be_compiled():
            return False

        def forward(self, x):
            x = interpolate_bilinear_2d_like_tensorflow1x(
                x.to(torch.float32), size=(299, 299), align_corners=False)
            return (self.net(x, taps=("pool3",))["pool3"],)

    torch_fidelity.register_feature_extractor("genmetrics-inception", GenmetricsInception)
    cached = {"cache": True, "cache_root": cache, "input1_cache_name": "bench-gen",
              "input2_cache_name": "bench-real"} if cache else {"cache": False}
    if batch:
        cached["batch_size"] = batch
    out = torch_fidelity.calculate_metrics(
        input1=gen, input2=real, fid=True, cuda=False, verbose=False,
        feature_extractor="genmetrics-inception", feature_extractor_weights_path=weights, **cached)
    return float(out["frechet_inception_distance"])


def run_clean_fid(gen: str, real: str, weights: str, cache: str | None, workers, batch) -> float:
    import torch
    from cleanfid import fid

    class Pool3(torch.nn.Module):
        """float N×3×299×299 in [0, 255] (clean-fid's resized batch) -> pool3."""

        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x, taps=("pool3",))["pool3"]

    extra = {} if workers is None else {"num_workers": workers}
    if batch:
        extra["batch_size"] = batch
    return float(fid.compute_fid(gen, real, mode="clean", custom_feat_extractor=Pool3(load_network(weights)),
                                 device=torch.device("cpu"), verbose=False, **extra))


def run_torchmetrics(gen: str, real: str, weights: str, cache: str | None, workers, batch) -> float:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image
    from torchmetrics.image.fid import FrechetInceptionDistance

    class BilinearPool3(torch.nn.Module):
        """uint8 N×3×H×W -> pytorch-fid resize (bilinear, ×256/255) -> pool3."""

        num_features = 2048

        def __init__(self, net) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            x = F.interpolate(x.float(), size=(299, 299), mode="bilinear", align_corners=False)
            return self.net(x * (256.0 / 255.0), taps=("pool3",))["pool3"]

    metric = FrechetInceptionDistance(feature=BilinearPool3(load_network(weights)))
    batch = batch or 32
    with torch.inference_mode():
        for folder, is_real in ((real, True), (gen, False)):
            paths = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() == ".png")
            for s in range(0, len(paths), batch):
                arr = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths[s : s + batch]])
                metric.update(torch.from_numpy(arr).permute(0, 3, 1, 2), real=is_real)
        return float(metric.compute())


RUNNERS = {"torch-fidelity": run_torch_fidelity, "clean-fid": run_clean_fid,
           "torchmetrics": run_torchmetrics}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tool", choices=sorted(RUNNERS))
    ap.add_argument("gen")
    ap.add_argument("real")
    ap.add_argument("weights", help="genmetrics Inception safetensors file")
    ap.add_argument("--cache", default=None, help="torch-fidelity cache root (its cached re-run)")
    ap.add_argument("--workers", type=int, default=None, help="clean-fid DataLoader workers")
    ap.add_argument("--batch-size", type=int, default=None, help="default: the tool's own")
    args = ap.parse_args()
    # torchmetrics runs without the stub (a torchvision it could find would make it import
    # torchvision models); the parent keeps torch-fidelity off its path (see bench_vs_peers)
    torchvision = install_torchvision_stub() if args.tool != "torchmetrics" else "not imported"
    value = RUNNERS[args.tool](args.gen, args.real, args.weights, args.cache, args.workers,
                                  args.batch_size)
    print(json.dumps({"fid": value, "torchvision": torchvision}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
