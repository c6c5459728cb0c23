"""Backbones whose forward needs each image's prompt (e.g. ImageReward).

The one-pass extraction (:func:`genmetrics.features.extract.extract_features`) decodes each
image once, preprocesses it for every backbone, and calls :meth:`forward_prompted` with the
prompts of the batch; rows are cached under sha256(image content hash | prompt hash), so the
same image scored against another prompt is another row.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np

from genmetrics.backbones.registry import Backbone
from genmetrics.errors import UserError


class PromptConditionedBackbone(Backbone):
    """An image backbone whose outputs depend on the prompt of each image."""

    prompt_conditioned = True

    @abstractmethod
    def forward_prompted(self, batch: np.ndarray, prompts: Sequence[str]) -> dict[str, np.ndarray]:
        """Preprocessed images (B, ...) and their B prompts → every output, each (B, D)."""

    def forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        raise UserError(f"{self.name} scores an image against its prompt; it needs --prompts")
