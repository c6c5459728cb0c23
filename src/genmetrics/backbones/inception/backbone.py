"""The FID Inception as a registered backbone: resize protocol → TF-2015-12-05 Inception v3.

Outputs: ``pool3`` (2048) always; ``logits_unbiased`` (1008, fc without bias, for IS) when the
weights carry the fc layer (pytorch-fid's file does; the fid-helper TorchScript does not).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.backbones.registry import Backbone, BackboneOptions, register_backbone
from genmetrics.protocols.resize import get_resize_protocol
from genmetrics.weights.store import WeightSpec, ensure_weights, file_sha256, register_weights

INPUT_SIZE = 299
PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)


def _convert(src, dst) -> None:
    from genmetrics.backbones.inception.convert import convert_inception_weights

    convert_inception_weights(src, dst)


def inception_weight_spec() -> WeightSpec:
    from genmetrics.backbones.inception import convert

    known = dict(convert.KNOWN_SOURCES)
    main = next((h for h, form in known.items() if form == "pytorch-fid"), None)
    if main is None:  # pragma: no cover - only if the pinned hash were removed
        raise RuntimeError("pytorch-fid Inception sha256 is not pinned")
    return WeightSpec(
        name="inception",
        filename="inception-2015-12-05.safetensors",
        sha256=main,
        description="TF 2015-12-05 Inception v3 for FID/KID/IS/PR (pytorch-fid release)",
        url=PYTORCH_FID_URL,
        source_filename="pt_inception-2015-12-05-6726825d.pth",
        license="Apache-2.0 (TensorFlow model weights)",
        convert=_convert,
        alt_sha256=tuple(h for h in known if h != main),
    )


class InceptionBackbone(Backbone):
    name = "inception"

    def __init__(self, options: BackboneOptions, weights_path: str | None = None) -> None:
        import torch

        self.protocol = options.protocol
        self._resize = get_resize_protocol(options.protocol)
        # The FID Inception always runs in fp32 (fp64 on request): reduced precision would
        # move FID by more than the differences people report. --dtype applies to CLIP models.
        path = weights_path or str(ensure_weights(inception_weight_spec(), options.offline))
        self.weights_sha256 = file_sha256(path)
        self.device = torch.device(options.device)
        self.dtype = "fp64" if options.dtype == "fp64" else "fp32"
        self.torch_dtype = torch.float64 if self.dtype == "fp64" else torch.float32
        self._path = path
        self._net = None  # loaded on the first forward: a fully cached run never builds it
        from safetensors import safe_open

        with safe_open(path, framework="pt") as f:
            self.has_fc = "fc.weight" in f.keys()
        self.outputs = ("pool3", "logits_unbiased") if self.has_fc else ("pool3",)

    @property
    def net(self):
        import torch

        if self._net is None:
            from genmetrics.backbones.inception.convert import load_inception

            net = load_inception(self._path, self.device).to(self.torch_dtype).eval()
            # channels-last runs the convolutions ~1.5x faster on CPU (oneDNN); same math
            self._net = net.to(memory_format=torch.channels_last)
        return self._net

    @property
    def key(self) -> str:
        return f"inception-tf20151205/{self.weights_sha256[:16]}/{self.protocol}/{self.dtype}/v1"

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        return self._resize(image, INPUT_SIZE)

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, self.torch_dtype)
            x = x.contiguous(memory_format=torch.channels_last)
            out = self.net(x, taps=self.outputs)
        return {k: v.float().cpu().numpy() for k, v in out.items()}

    def manifest(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "key": self.key,
            "network": "Inception v3, TF 2015-12-05 (FID variant)",
            "weights_sha256": self.weights_sha256,
            "protocol": self.protocol,
            "input_size": INPUT_SIZE,
            "dtype": self.dtype,
            "device": str(self.device),
            "outputs": list(self.outputs),
        }


def register() -> None:
    register_weights(inception_weight_spec())
    register_backbone("inception", InceptionBackbone)
