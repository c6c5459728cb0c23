"""The FID Inception as a registered backbone: resize protocol → TF-2015-12-05 Inception v3.

Outputs: ``pool3`` (2048) and ``spatial`` (2023, the sFID features of the ADM evaluator: the
first 7 channels of TF ``mixed_6/conv`` over the 17x17 grid, from the same forward) always;
``logits_unbiased`` (1008, fc without bias, for IS) when the
weights carry the fc layer (pytorch-fid's file does; the fid-helper TorchScript does not).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genmetrics.backbones.registry import Backbone, BackboneOptions, register_backbone
from genmetrics.devices import PinnedStager, float32_precision
from genmetrics.protocols.device_resize import (
    DEVICE_PROTOCOLS,
    device_part,
    host_part,
)
from genmetrics.protocols.resize import PROTOCOL_REVISIONS, get_resize_protocol
from genmetrics.weights.store import (
    WeightSpec,
    cached_record,
    check_weights_file,
    ensure_weights,
    register_weights,
    sha256_file,
)

INPUT_SIZE = 299
PYTORCH_FID_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth"
)


OUTPUT_DIMS = {"pool3": 2048, "spatial": 2023, "logits_unbiased": 1008}
_OUTPUT_NAMES = {
    "pool3": "Inception's 2048-d pool3 features",
    "logits_unbiased": "Inception's 1008-way logits",
    "spatial": "Inception's 2023-d mixed_6/conv spatial features (sFID)",
}


def _convert(src, dst) -> dict[str, object]:
    from genmetrics.backbones.inception.convert import convert_inception_weights

    return convert_inception_weights(src, dst)


def inception_weight_spec() -> WeightSpec:
    from genmetrics.backbones.inception import sources

    known = dict(sources.KNOWN_SOURCES)
    main = next((h for h, form in known.items() if form == "pytorch-fid"), None)
    if main is None:  # pragma: no cover - only if the pinned hash were removed
        raise RuntimeError("pytorch-fid Inception sha256 is not pinned")
    return WeightSpec(
        name="inception",
        filename="inception-2015-12-05.safetensors",
        sha256=main,
        description="TF 2015-12-05 Inception v3 for FID/KID/IS/PR (pytorch-fid release)",
        url=PYTORCH_FID_URL,
        source_filename=sources.FULL_SOURCE_FILENAME,
        license="Apache-2.0 (TensorFlow model weights)",
        convert=_convert,
        alt_sha256=tuple(h for h in known if h != main),
        outputs=("pool3", "logits_unbiased"),
    )


class InceptionBackbone(Backbone):
    name = "inception"
    output_dims = OUTPUT_DIMS

    def __init__(self, options: BackboneOptions, weights_path: str | None = None) -> None:
        # torch is imported on the first forward: a fully cached CPU run never loads it
        self.protocol = options.protocol
        self._resize = get_resize_protocol(options.protocol)
        # The FID Inception always runs in fp32 (fp64 on request): reduced precision would
        # move FID by more than the differences people report. --dtype applies to CLIP models.
        if weights_path is None:
            spec = inception_weight_spec()
            path = str(ensure_weights(spec, options.offline))
            # identity from the install record (no re-hash); the bytes are hashed on load
            self._record: dict[str, Any] | None = cached_record(spec)
            self.weights_sha256 = self._record["sha256"]
        else:
            path, self._record = str(weights_path), None
            self.weights_sha256 = sha256_file(path)
        self.device_name = str(options.device)
        on_cuda = self.device_name.startswith("cuda")
        # On CUDA the convolutions run in true float32 unless TF32 is allowed explicitly
        # (recorded in the key and the manifest: TF32 moves the features)
        self.allow_tf32 = bool(options.allow_tf32) and on_cuda
        # tf1 and pytorch-fid resize on the GPU from uint8 pixels (protocols.device_resize)
        on_device = options.extra.get("resize_on_device")
        if on_device is None:
            on_device = on_cuda
        self.resize_on_device = bool(on_device) and options.protocol in DEVICE_PROTOCOLS
        self._stager = PinnedStager() if on_cuda else None
        self.dtype = "fp64" if options.dtype == "fp64" else "fp32"
        self._path = path
        self._net = None  # loaded on the first forward: a fully cached run never builds it
        from safetensors import safe_open

        with safe_open(path, framework="numpy") as f:  # the keys only: no torch import
            self.has_fc = "fc.weight" in f.keys()
        # spatial (sFID) comes from the same forward as pool3: one pass serves fid and sfid
        base = ("pool3", "logits_unbiased") if self.has_fc else ("pool3",)
        self.outputs = (*base, "spatial")

    @property
    def device_type(self) -> str:
        return self.device_name.split(":")[0]

    @property
    def device(self):
        import torch

        return torch.device(self.device_name)

    @property
    def torch_dtype(self):
        import torch

        return torch.float64 if self.dtype == "fp64" else torch.float32

    @property
    def net(self):
        import torch

        if self._net is None:
            from genmetrics.backbones.inception.convert import load_inception

            # every load hashes the file: a changed file is never run
            check_weights_file(self._path, self.weights_sha256, name="inception")
            net = load_inception(self._path, self.device).to(self.torch_dtype).eval()
            # batch norms folded into the convolutions (after the dtype cast, so fp64 folds
            # in fp64) and channels-last: ~2x faster on CPU (oneDNN), the same math
            self._net = net.fold_batch_norms().to(memory_format=torch.channels_last)
        return self._net

    @property
    def key(self) -> str:
        rev = PROTOCOL_REVISIONS.get(self.protocol, 1)
        protocol = self.protocol if rev == 1 else f"{self.protocol}@r{rev}"
        dtype = f"{self.dtype}-tf32" if self.allow_tf32 else self.dtype
        return f"inception-tf20151205/{self.weights_sha256[:16]}/{protocol}/{dtype}/v1"

    @property
    def weights_description(self) -> str:
        """E.g. ``fid-helper TorchScript, pool3 only`` (for messages)."""
        from genmetrics.backbones.inception.sources import FORM_LABELS

        form = (self._record or {}).get("source_form")
        where = FORM_LABELS.get(form, form) if form else f"from {self._path}"
        return f"{where}, {'pool3+logits' if self.has_fc else 'pool3 only'}"

    def describe_output(self, output: str) -> str:
        return _OUTPUT_NAMES.get(output, f"Inception output '{output}'")

    def output_fix(self, output: str) -> str:
        """How to get weights that provide ``output``."""
        from genmetrics.backbones.inception.sources import FULL_SOURCE_FILENAME

        return (
            "run 'genmetrics weights download inception' or 'genmetrics weights import inception "
            f"{FULL_SOURCE_FILENAME}' (pytorch-fid release)"
        )

    def preprocess(self, image: np.ndarray):
        if self.resize_on_device:
            return host_part(image, INPUT_SIZE, self.protocol)
        return self._resize(image, INPUT_SIZE)

    def collate(self, inputs: list):
        return list(inputs) if self.resize_on_device else np.stack(inputs)

    def _to_device(self, batch):
        """The network input on the device, channels-last: resized there from uint8 pixels,
        or the host-resized floats copied from page-locked memory (CUDA) or used in place."""
        import torch

        if self.resize_on_device:
            x = device_part(batch, self.device, self.protocol, self._stager)
        elif self._stager is not None:
            x = self._stager.to_device(batch, self.device)
        else:
            x = torch.from_numpy(batch)
        return x.to(self.torch_dtype).contiguous(memory_format=torch.channels_last)

    def forward(self, batch) -> dict[str, np.ndarray]:
        import torch

        with torch.inference_mode(), float32_precision(self.allow_tf32):
            out = self.net(self._to_device(batch), taps=self.outputs)
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
            "tf32": self.allow_tf32,
            "resize_on": "device" if self.resize_on_device else "host",
            "device": self.device_name,
            "outputs": list(self.outputs),
        }


def register() -> None:
    register_weights(inception_weight_spec())
    register_backbone("inception", InceptionBackbone, weights=("inception",))
