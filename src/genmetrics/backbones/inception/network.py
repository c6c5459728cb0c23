"""The TF "2015-12-05" Inception v3 used by FID (Heusel et al., 2017), written in plain PyTorch.

This is the graph that TTUR's ``fid.py`` runs and that pytorch-fid, torch-fidelity and
StyleGAN2-ADA reproduce. It differs from torchvision's Inception v3 in three places:

* the pooling branch of Mixed_5b-d, Mixed_6b-e and Mixed_7b averages over valid pixels only
  (TF ``SAME`` average pooling, i.e. ``count_include_pad=False``);
* the pooling branch of Mixed_7c is a 3x3 *max* pool;
* the classifier has 1008 outputs.

Every convolution is followed by a frozen batch norm (eps 0.001, always in inference mode)
and a ReLU. Parameter names follow pytorch-fid / torchvision (``Conv2d_1a_3x3.conv.weight``,
``Mixed_5b.branch1x1.bn.running_mean``, ``fc.weight`` ...), so pytorch-fid's
``pt_inception-2015-12-05-6726825d.pth`` state dict loads directly.

Input: float N x 3 x H x W with pixel values in [0, 255], already resized (299 x 299 for the
standard protocol); the network normalises with ``(x - 128) / 128`` itself.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from genmetrics.errors import UserError

TAPS: tuple[str, ...] = ("64", "192", "spatial", "768", "pool3", "logits", "logits_unbiased")
"""Outputs :meth:`FIDInceptionV3.forward` can return, in network order."""

SPATIAL_CHANNELS = 7
SPATIAL_SIZE = 17

TAP_DIMS: dict[str, int] = {
    "64": 64,
    "192": 192,
    "spatial": SPATIAL_CHANNELS * SPATIAL_SIZE * SPATIAL_SIZE,
    "768": 768,
    "pool3": 2048,
    "logits": 1008,
    "logits_unbiased": 1008,
}
NUM_CLASSES = 1008
BN_EPS = 0.001

# Index of the last stage each tap needs: 0 stem to pool1, 1 stem to pool2, 2 Mixed_5b-6e,
# 3 Mixed_7a-7c, 4 the classifier.
_TAP_STAGE = {"64": 0, "192": 1, "spatial": 2, "768": 2, "pool3": 3, "logits": 4, "logits_unbiased": 4}


class FrozenBatchNorm2d(nn.Module):
    """Batch norm that always uses its running statistics (no training mode, no momentum).

    Holds ``weight``, ``bias``, ``running_mean`` and ``running_var`` like ``nn.BatchNorm2d``;
    a ``num_batches_tracked`` entry in a loaded state dict is accepted and ignored.
    """

    def __init__(self, channels: int, eps: float = BN_EPS) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
        )

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:  # type: ignore[override]
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class BasicConv2d(nn.Module):
    """Convolution without bias -> frozen batch norm -> ReLU."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False
        )
        self.bn: FrozenBatchNorm2d | None = FrozenBatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bn is None:  # folded: the batch norm lives in the convolution's bias
            return F.relu(self.conv(x), inplace=True)
        return F.relu(self.bn(self.conv(x)), inplace=True)

    def fold_batch_norm(self) -> None:
        """Fold the frozen batch norm into the convolution (an inference-only form).

        ``w' = w * g / sqrt(v + eps)`` and ``b' = beta - m * g / sqrt(v + eps)``, computed in
        float64 and rounded once: the same function, one pass over the activations fewer.
        The state dict then has a ``conv.bias`` and no ``bn.*`` entries.
        """
        if self.bn is None:
            return
        bn, conv = self.bn, self.conv
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = conv.weight.double() * scale.reshape(-1, 1, 1, 1)
        bias = bn.bias.double() - bn.running_mean.double() * scale
        conv.weight = nn.Parameter(weight.to(conv.weight.dtype), requires_grad=False)
        conv.bias = nn.Parameter(bias.to(conv.weight.dtype), requires_grad=False)
        self.bn = None


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    """3x3 stride-1 average pool over valid pixels only (TF ``SAME`` padding semantics)."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, 1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    """35 -> 17 grid reduction (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b-e) with factorised 7x7 convolutions."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(in_channels, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor, keep_1x1: list | None = None) -> torch.Tensor:
        a = self.branch1x1(x)
        if keep_1x1 is not None:  # the sFID tap (TF mixed_6/conv) of Mixed_6d
            keep_1x1.append(a)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            c = layer(c)
        d = self.branch_pool(_tf_avg_pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    """17 -> 8 grid reduction (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(in_channels, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_1(x)
        for layer in (self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b = layer(b)
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b avg-pool branch, Mixed_7c max-pool branch) with split 1x3/3x1."""

    def __init__(self, in_channels: int, pool: str) -> None:
        super().__init__()
        if pool not in ("avg", "max"):
            raise ValueError(f"pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        self.branch1x1 = BasicConv2d(in_channels, 320, 1)
        self.branch3x3_1 = BasicConv2d(in_channels, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        if self.pool == "avg":
            p = _tf_avg_pool(x)
        else:  # the FID graph's Mixed_7c quirk: max pooling in the pool branch
            p = F.max_pool2d(x, kernel_size=3, stride=1, padding=1)
        d = self.branch_pool(p)
        return torch.cat([a, b, c, d], 1)


def _spatial_mean(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=(2, 3))


def spatial_features(conv: torch.Tensor) -> torch.Tensor:
    """sFID features from the Mixed_6d 1x1 branch output (N x 192 x 17 x 17, after ReLU): the
    first 7 channels, flattened in TF's NHWC order (``(h * 17 + w) * 7 + c``) like the ADM
    evaluator's ``spatial[..., :7]`` reshaped to (N, 2023), so means and covariances line up
    with ADM's reference batches."""
    return conv[:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1).reshape(conv.shape[0], -1)


class FIDInceptionV3(nn.Module):
    """TF 2015-12-05 Inception v3 for FID / KID / IS / precision-recall features.

    ``forward(x, taps=("pool3",))`` returns ``{tap: tensor}`` for the requested taps only:
    ``"64"`` / ``"192"`` (after the first / second stem max-pool, spatially averaged),
    ``"spatial"`` (2023: the first 7 channels of Mixed_6d's 1x1 branch, TF ``mixed_6/conv``,
    17x17, flattened NHWC: the sFID feature of the ADM evaluator), ``"768"`` (after Mixed_6e,
    averaged), ``"pool3"`` (2048, the FID feature), ``"logits"``
    (1008, fc with bias) and ``"logits_unbiased"`` (fc without its bias, as torch-fidelity and
    torchmetrics use for the Inception Score). The forward stops after the last stage needed.

    ``has_fc=False`` builds the network without the classifier (the fid-helper TorchScript
    carries pool3 only); asking such a network for logits raises :class:`UserError`.
    Parameters are created with ``requires_grad=False`` (a fixed feature extractor).
    """

    def __init__(self, has_fc: bool = True) -> None:
        super().__init__()
        self.has_fc = has_fc
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        self.fc = nn.Linear(2048, NUM_CLASSES) if has_fc else None
        self.requires_grad_(False)  # a fixed feature extractor
        self.eval()

    def fold_batch_norms(self) -> FIDInceptionV3:
        """Fold every frozen batch norm into its convolution (see
        :meth:`BasicConv2d.fold_batch_norm`); returns ``self``. Features move by float32
        rounding only (~3e-7 relative); the convolutions run ~1.3x faster on CPU."""
        for module in self.modules():
            if isinstance(module, BasicConv2d):
                module.fold_batch_norm()
        return self

    def _check_taps(self, taps: Iterable[str]) -> tuple[str, ...]:
        if isinstance(taps, str):
            taps = (taps,)
        wanted = tuple(dict.fromkeys(taps))
        if not wanted:
            raise UserError("FIDInceptionV3: no taps requested; ask for e.g. taps=('pool3',)")
        unknown = [t for t in wanted if t not in _TAP_STAGE]
        if unknown:
            raise UserError(
                f"FIDInceptionV3: unknown tap(s) {unknown}; choose from {', '.join(TAPS)}"
            )
        if not self.has_fc and any(_TAP_STAGE[t] == 4 for t in wanted):
            raise UserError(
                "these Inception weights have no fc layer (pool3 only), so logits are "
                "unavailable; import pytorch-fid's pt_inception-2015-12-05-6726825d.pth instead"
            )
        return wanted

    def forward(self, x: torch.Tensor, taps: Iterable[str] = ("pool3",)) -> dict[str, torch.Tensor]:
        wanted = self._check_taps(taps)
        if x.ndim != 4 or x.shape[1] != 3:
            raise UserError(
                f"FIDInceptionV3 expects N x 3 x H x W pixel values in [0, 255], "
                f"got shape {tuple(x.shape)}"
            )
        last = max(_TAP_STAGE[t] for t in wanted)
        out: dict[str, torch.Tensor] = {}

        x = (x - 128.0) / 128.0
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, kernel_size=3, stride=2)
        if "64" in wanted:
            out["64"] = _spatial_mean(x)
        if last >= 1:
            x = self.Conv2d_3b_1x1(x)
            x = self.Conv2d_4a_3x3(x)
            x = F.max_pool2d(x, kernel_size=3, stride=2)
            if "192" in wanted:
                out["192"] = _spatial_mean(x)
        if last >= 2:
            for block in (
                self.Mixed_5b,
                self.Mixed_5c,
                self.Mixed_5d,
                self.Mixed_6a,
                self.Mixed_6b,
                self.Mixed_6c,
            ):
                x = block(x)
            kept: list[torch.Tensor] | None = [] if "spatial" in wanted else None
            x = self.Mixed_6d(x, keep_1x1=kept)
            if kept:
                out["spatial"] = spatial_features(kept[0])
            x = self.Mixed_6e(x)
            if "768" in wanted:
                out["768"] = _spatial_mean(x)
        if last >= 3:
            x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
            pool3 = _spatial_mean(x)
            if "pool3" in wanted:
                out["pool3"] = pool3
            if last >= 4:
                assert self.fc is not None  # guaranteed by _check_taps
                if "logits_unbiased" in wanted:
                    out["logits_unbiased"] = pool3 @ self.fc.weight.T
                if "logits" in wanted:
                    out["logits"] = self.fc(pool3)
        return {t: out[t] for t in wanted}
