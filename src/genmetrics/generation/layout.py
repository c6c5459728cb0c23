"""Image file layout of a generation run.

``OUT/STYLE/NNNNN.png`` when one image is made per prompt (``NNNNN`` is the prompt's 0-based
index within its style, as in the HPS v2 benchmark layout) and ``OUT/STYLE/NNNNN_k{j}.png``
(``j`` = 0 .. K-1) when ``images_per_prompt`` K > 1. An image's id is its path without ``.png``.
"""

from __future__ import annotations

from genmetrics.suites import PromptItem

MANIFEST_NAME = "generation.jsonl"
SETTINGS_NAME = "generation.json"
LAYOUT = "STYLE/NNNNN.png when images_per_prompt == 1, else STYLE/NNNNN_k{j}.png, j = 0..K-1"


def image_id(item: PromptItem, sample: int, images_per_prompt: int) -> str:
    if images_per_prompt == 1:
        return f"{item.style}/{item.stem}"
    return f"{item.style}/{item.stem}_k{sample}"


def image_relpath(item: PromptItem, sample: int, images_per_prompt: int) -> str:
    """Path of an image relative to the output folder, with ``/`` separators."""
    return image_id(item, sample, images_per_prompt) + ".png"
