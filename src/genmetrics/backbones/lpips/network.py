"""LPIPS (Zhang et al. 2018, "The Unreasonable Effectiveness of Deep Features as a Perceptual
Metric", CVPR; arXiv:1801.03924) in plain torch: the trunks and the v0.1 linear heads.

The trunks are the ``features`` part of torchvision's AlexNet, VGG16 and SqueezeNet 1.1,
re-stated layer by layer with torchvision's module indices, so torchvision's published state
dicts load key for key (``features.N.weight`` / ``features.N.bias``; SqueezeNet's Fire modules
``features.N.{squeeze,expand1x1,expand3x3}.*``). Features are tapped where the ``lpips``
package slices them (after the ReLUs):

* ``alex`` — layers 1, 4, 7, 9, 11 (64, 192, 384, 256, 256 channels);
* ``vgg`` — relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 = layers 3, 8, 15, 22, 29
  (64, 128, 256, 512, 512);
* ``squeeze`` — layers 1, 4, 7, 9, 10, 11, 12 (64, 128, 256, 384, 384, 512, 512).

Distance of two images ``x0``, ``x1`` in ``[-1, 1]`` (the ``lpips`` package's v0.1 forward):

1. ScalingLayer: ``(x - shift) / scale`` with shift (-0.030, -0.088, -0.188) and scale
   (0.458, 0.448, 0.450) per RGB channel;
2. optional resize of the scaled input to ``N×N`` (the torchmetrics / torch-fidelity rule:
   ``area`` when both sides are larger than ``N``, else bilinear, ``align_corners=False``);
3. per tap ``l``: unit-normalise over channels, ``f / (sqrt(sum_c f²) + 1e-10)``;
4. ``d = sum_l mean_{h,w} (w_l · (f̂0_l − f̂1_l)²)`` where ``w_l`` is the 1×1, bias-free
   linear head of layer ``l`` (``lin{l}.model.1.weight``, shape ``(1, C_l, 1, 1)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genmetrics.errors import UserError

__all__ = [
    "LPIPS_NETS",
    "SHIFT",
    "SCALE",
    "LPIPSNetwork",
    "LpipsArch",
    "Trunk",
    "min_input_side",
    "normalize_channels",
]

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10

# layer specs: ("conv", in, out, kernel, stride, padding) | ("relu",) |
# ("pool", kernel, stride, ceil_mode) | ("fire", in, squeeze, expand1x1, expand3x3)
Layer = tuple


def _vgg16_layers() -> list[Layer]:
    layers: list[Layer] = []
    cin = 3
    for block in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for cout in block:
            layers += [("conv", cin, cout, 3, 1, 1), ("relu",)]
            cin = cout
        layers.append(("pool", 2, 2, False))
    return layers


@dataclass(frozen=True)
class LpipsArch:
    """One trunk: its torchvision layers, where LPIPS taps them and the tap widths."""

    name: str
    layers: tuple[Layer, ...]
    taps: tuple[int, ...]
    channels: tuple[int, ...]
    torchvision: str


LPIPS_NETS: dict[str, LpipsArch] = {
    "alex": LpipsArch(
        "alex",
        (
            ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2, False),
            ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2, False),
            ("conv", 192, 384, 3, 1, 1), ("relu",),
            ("conv", 384, 256, 3, 1, 1), ("relu",),
            ("conv", 256, 256, 3, 1, 1), ("relu",), ("pool", 3, 2, False),
        ),
        (1, 4, 7, 9, 11),
        (64, 192, 384, 256, 256),
        "alexnet",
    ),
    "vgg": LpipsArch(
        "vgg", tuple(_vgg16_layers()), (3, 8, 15, 22, 29), (64, 128, 256, 512, 512), "vgg16"
    ),
    "squeeze": LpipsArch(
        "squeeze",
        (
            ("conv", 3, 64, 3, 2, 0), ("relu",), ("pool", 3, 2, True),
            ("fire", 64, 16, 64, 64), ("fire", 128, 16, 64, 64), ("pool", 3, 2, True),
            ("fire", 128, 32, 128, 128), ("fire", 256, 32, 128, 128), ("pool", 3, 2, True),
            ("fire", 256, 48, 192, 192), ("fire", 384, 48, 192, 192),
            ("fire", 384, 64, 256, 256), ("fire", 512, 64, 256, 256),
        ),
        (1, 4, 7, 9, 10, 11, 12),
        (64, 128, 256, 384, 384, 512, 512),
        "squeezenet1_1",
    ),
}


def get_arch(net: str) -> LpipsArch:
    if net not in LPIPS_NETS:
        raise UserError(f"--lpips-net must be one of {', '.join(LPIPS_NETS)}, got {net!r}")
    return LPIPS_NETS[net]


class Fire(nn.Module):
    """SqueezeNet's Fire module: 1×1 squeeze, then 1×1 and 3×3 expands concatenated."""

    def __init__(self, cin: int, squeeze: int, e1: int, e3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1x1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3x3 = nn.Conv2d(squeeze, e3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.squeeze(x))
        return torch.cat([F.relu(self.expand1x1(x)), F.relu(self.expand3x3(x))], 1)


def _module(layer: Layer) -> nn.Module:
    kind = layer[0]
    if kind == "conv":
        _, cin, cout, k, s, p = layer
        return nn.Conv2d(cin, cout, k, stride=s, padding=p)
    if kind == "relu":
        return nn.ReLU()
    if kind == "pool":
        _, k, s, ceil = layer
        return nn.MaxPool2d(k, s, ceil_mode=ceil)
    _, cin, sq, e1, e3 = layer
    return Fire(cin, sq, e1, e3)


class Trunk(nn.Module):
    """torchvision's ``features`` up to the last tap; returns the tapped activations."""

    def __init__(self, arch: LpipsArch) -> None:
        super().__init__()
        self.arch = arch
        self.features = nn.Sequential(*(_module(x) for x in arch.layers[: arch.taps[-1] + 1]))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        taps = set(self.arch.taps)
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in taps:
                out.append(x)
        return out


def _side_after(layer: Layer, side: int) -> int:
    kind = layer[0]
    if kind == "conv":
        _, _, _, k, s, p = layer
        return (side + 2 * p - k) // s + 1
    if kind == "pool":
        _, k, s, ceil = layer
        if side < k:
            return 0
        if not ceil:
            return (side - k) // s + 1
        out = -(-(side - k) // s) + 1
        return out - 1 if (out - 1) * s >= side else out  # a window must start inside
    return side  # relu, fire (padding 1 keeps the size)


def min_input_side(net: str) -> int:
    """The smallest image side for which every tap of ``net`` has at least one position."""
    arch = get_arch(net)
    for side in range(1, 1024):
        s = side
        ok = True
        for layer in arch.layers[: arch.taps[-1] + 1]:
            s = _side_after(layer, s)
            if s < 1:
                ok = False
                break
        if ok:
            return side
    raise AssertionError(net)  # pragma: no cover


def normalize_channels(feat: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """``f / (sqrt(sum over channels of f²) + eps)`` (the ``lpips`` package's normalize_tensor)."""
    return feat / (torch.sqrt(torch.sum(feat**2, dim=1, keepdim=True)) + eps)


def resize_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """``size×size``: area when both sides exceed ``size``, else bilinear (torchmetrics rule)."""
    if x.shape[-1] > size and x.shape[-2] > size:
        return F.interpolate(x, (size, size), mode="area")
    return F.interpolate(x, (size, size), mode="bilinear", align_corners=False)


def _check_keys(what: str, found: Sequence[str], expected: Sequence[str]) -> None:
    missing = sorted(set(expected) - set(found))
    if missing:
        raise UserError(
            f"{what} weights lack {', '.join(missing[:3])}; re-install them with "
            "genmetrics weights download|import"
        )


class LPIPSNetwork(nn.Module):
    """Trunk + v0.1 linear heads of one LPIPS net; :meth:`forward` gives one distance per pair."""

    def __init__(self, net: str, resize: int | None = None) -> None:
        super().__init__()
        self.arch = get_arch(net)
        self.net = net
        self.resize = resize
        self.trunk = Trunk(self.arch)
        self.heads = nn.ParameterList(
            [nn.Parameter(torch.zeros(1, c, 1, 1), requires_grad=False) for c in self.arch.channels]
        )
        self.register_buffer("shift", torch.tensor(SHIFT, dtype=torch.float32)[None, :, None, None])
        self.register_buffer("scale", torch.tensor(SCALE, dtype=torch.float32)[None, :, None, None])

    @classmethod
    def from_state_dicts(
        cls,
        net: str,
        trunk: Mapping[str, torch.Tensor],
        heads: Mapping[str, torch.Tensor],
        resize: int | None = None,
    ) -> LPIPSNetwork:
        """Load torchvision's ``features.*`` tensors and the ``lpips`` v0.1 ``lin{l}.model.1.weight``
        tensors (shapes checked); eval mode, no gradients."""
        model = cls(net, resize)
        own = model.trunk.state_dict()
        _check_keys(f"the {model.arch.torchvision} trunk", list(trunk), list(own))
        try:
            model.trunk.load_state_dict({k: trunk[k] for k in own}, strict=True)
        except RuntimeError as exc:
            raise UserError(
                f"the {model.arch.torchvision} trunk weights do not fit the architecture "
                f"({str(exc).splitlines()[-1].strip()}); re-install them"
            ) from None
        names = [f"lin{i}.model.1.weight" for i in range(len(model.arch.channels))]
        _check_keys(f"the LPIPS v0.1 {net} head", list(heads), names)
        for param, name, c in zip(model.heads, names, model.arch.channels, strict=True):
            w = heads[name]
            if tuple(w.shape) != (1, c, 1, 1):
                raise UserError(f"LPIPS {net} head {name} has shape {tuple(w.shape)}, expected (1, {c}, 1, 1)")
            param.data.copy_(w.float())
        model.eval()
        model.requires_grad_(False)
        return model

    def scaled(self, x: torch.Tensor) -> torch.Tensor:
        x = (x - self.shift) / self.scale
        return resize_input(x, self.resize) if self.resize is not None else x

    def forward(self, x0: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` pairs in ``[-1, 1]`` → ``(N,)`` distances."""
        n = x0.shape[0]
        feats = self.trunk(torch.cat([self.scaled(x0), self.scaled(x1)], 0))
        total = torch.zeros(n, dtype=x0.dtype, device=x0.device)
        for feat, w in zip(feats, self.heads, strict=True):
            f0, f1 = normalize_channels(feat[:n]), normalize_channels(feat[n:])
            total = total + F.conv2d((f0 - f1) ** 2, w).mean(dim=(1, 2, 3))
        return total
