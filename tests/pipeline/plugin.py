"""A genmetrics plugin for tests that run the CLI in other processes (torchrun ranks, Ray
workers): it registers ``inception`` as the real FID Inception architecture with random
weights from ``GENMETRICS_TEST_INCEPTION`` (a safetensors file the test wrote), and can make
one rank die after some batches (``GENMETRICS_TEST_DIE_RANK`` / ``_DIE_AFTER``)."""

from __future__ import annotations

import os

from genmetrics.backbones.inception.backbone import InceptionBackbone
from genmetrics.backbones.registry import register_backbone


class _DyingInception(InceptionBackbone):
    batches = 0

    def forward(self, batch):
        out = super().forward(batch)
        self.batches += 1
        if self.batches >= int(os.environ["GENMETRICS_TEST_DIE_AFTER"]):
            os._exit(17)  # like a killed worker: no clean-up, no message
        return out


def _create(options):
    path = os.environ["GENMETRICS_TEST_INCEPTION"]
    dies = os.environ.get("GENMETRICS_TEST_DIE_RANK") == os.environ.get("RANK", "0")
    return (_DyingInception if dies else InceptionBackbone)(options, weights_path=path)


def register() -> None:
    register_backbone("inception", _create, replace=True)
