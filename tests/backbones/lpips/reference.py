"""A re-statement of the ``lpips`` package's v0.1 forward (richzhang/PerceptualSimilarity,
lpips/lpips.py, lpips/pretrained_networks.py, lpips/__init__.py) over torchvision's
AlexNet / VGG16 / SqueezeNet 1.1 ``features`` (torchvision/models/{alexnet,vgg,squeezenet}.py),
written the way those sources build them: in-place ReLUs, VGG from its cfg list, the
slices filled with ``add_module(str(x), features[x])``, the linear heads with their Dropout.
The package itself cannot be imported here (it imports torchvision at module level)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class TvFire(nn.Module):
    def __init__(self, inplanes, squeeze_planes, expand1x1_planes, expand3x3_planes):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, kernel_size=1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, kernel_size=1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


def tv_alexnet_features():
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def tv_vgg16_features():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers += [nn.MaxPool2d(kernel_size=2, stride=2)]
        else:
            layers += [nn.Conv2d(in_channels, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            in_channels = v
    return nn.Sequential(*layers)


def tv_squeezenet1_1_features():
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        TvFire(64, 16, 64, 64), TvFire(128, 16, 64, 64),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        TvFire(128, 32, 128, 128), TvFire(256, 32, 128, 128),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        TvFire(256, 48, 192, 192), TvFire(384, 48, 192, 192),
        TvFire(384, 64, 256, 256), TvFire(512, 64, 256, 256),
    )


_SLICES = {
    "alex": (tv_alexnet_features, [(0, 2), (2, 5), (5, 8), (8, 10), (10, 12)], [64, 192, 384, 256, 256]),
    "vgg": (tv_vgg16_features, [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)], [64, 128, 256, 512, 512]),
    "squeeze": (
        tv_squeezenet1_1_features,
        [(0, 2), (2, 5), (5, 8), (8, 10), (10, 11), (11, 12), (12, 13)],
        [64, 128, 256, 384, 384, 512, 512],
    ),
}


class PretrainedNet(nn.Module):
    """pretrained_networks.{alexnet,vgg16,squeezenet}: the features cut into slices."""

    def __init__(self, features, bounds):
        super().__init__()
        self.slices = nn.ModuleList()
        for lo, hi in bounds:
            s = nn.Sequential()
            for x in range(lo, hi):
                s.add_module(str(x), features[x])
            self.slices.append(s)

    def forward(self, x):
        out = []
        for s in self.slices:
            x = s(x)
            out.append(x)
        return out


class ScalingLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("shift", torch.Tensor([-0.030, -0.088, -0.188])[None, :, None, None])
        self.register_buffer("scale", torch.Tensor([0.458, 0.448, 0.450])[None, :, None, None])

    def forward(self, inp):
        return (inp - self.shift) / self.scale


class NetLinLayer(nn.Module):
    def __init__(self, chn_in, chn_out=1, use_dropout=True):
        super().__init__()
        layers = [nn.Dropout()] if use_dropout else []
        layers += [nn.Conv2d(chn_in, chn_out, 1, stride=1, padding=0, bias=False)]
        self.model = nn.Sequential(*layers)

    def forward(self, x):
        return self.model(x)


def normalize_tensor(in_feat, eps=1e-10):
    norm_factor = torch.sqrt(torch.sum(in_feat**2, dim=1, keepdim=True))
    return in_feat / (norm_factor + eps)


def spatial_average(in_tens, keepdim=True):
    return in_tens.mean([2, 3], keepdim=keepdim)


def resize_tensor(x, size):
    """torchmetrics' ``_resize_tensor`` (from torch-fidelity's LPIPS)."""
    if x.shape[-1] > size and x.shape[-2] > size:
        return torch.nn.functional.interpolate(x, (size, size), mode="area")
    return torch.nn.functional.interpolate(x, (size, size), mode="bilinear", align_corners=False)


class ReferenceLPIPS(nn.Module):
    """``lpips.LPIPS(net=..., version='0.1')`` forward, eval mode; ``resize`` as torchmetrics."""

    def __init__(self, net, resize=None):
        super().__init__()
        make, bounds, chns = _SLICES[net]
        self.features = make()  # torchvision's key layout: features.N.*
        self.net = PretrainedNet(self.features, bounds)
        self.scaling_layer = ScalingLayer()
        self.lins = nn.ModuleList([NetLinLayer(c) for c in chns])
        self.resize = resize
        self.eval()

    def head_state_dict(self):
        return {f"lin{i}.model.1.weight": lin.model[1].weight.detach().clone() for i, lin in enumerate(self.lins)}

    def trunk_state_dict(self):
        return {f"features.{k}": v.detach().clone() for k, v in self.features.state_dict().items()}

    def forward(self, in0, in1):
        in0_input, in1_input = self.scaling_layer(in0), self.scaling_layer(in1)
        if self.resize is not None:
            in0_input, in1_input = resize_tensor(in0_input, self.resize), resize_tensor(in1_input, self.resize)
        outs0, outs1 = self.net.forward(in0_input), self.net.forward(in1_input)
        val = 0
        for kk in range(len(self.lins)):
            feats0, feats1 = normalize_tensor(outs0[kk]), normalize_tensor(outs1[kk])
            diff = (feats0 - feats1) ** 2
            val += spatial_average(self.lins[kk](diff), keepdim=True)
        return val


def im2tensor(image, cent=1.0, factor=255.0 / 2.0):
    """lpips.im2tensor: uint8 HxWx3 → 1x3xHxW in [-1, 1]."""
    return torch.Tensor((image / factor - cent)[:, :, :, np.newaxis].transpose((3, 2, 0, 1)))


def random_reference(net, seed=0, resize=None):
    """A reference net with random weights (trunk as torchvision initialises it, heads ≥ 0)."""
    torch.manual_seed(seed)
    ref = ReferenceLPIPS(net, resize)
    with torch.no_grad():
        for lin in ref.lins:
            lin.model[1].weight.uniform_(0.0, 1.0)
        for p in ref.features.parameters():
            if p.ndim == 1:
                p.uniform_(-0.05, 0.05)
    return ref
