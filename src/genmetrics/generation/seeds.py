"""Per-image seeds that depend only on the base seed, the prompt id and the sample index.

``seed = (base_seed + H(prompt_id, sample)) mod 2**63`` with ``H`` the first 8 bytes (big
endian) of ``sha256(f"{prompt_id}|{sample}")``. The seed of an image therefore does not change
when the suite is filtered (``styles``, ``limit_per_style``), reordered or batched differently.
"""

from __future__ import annotations

import hashlib

SEED_MODULUS = 2**63
SEED_POLICY = (
    "seed = (base_seed + int.from_bytes(sha256(f'{prompt_id}|{sample}').digest()[:8], 'big')) "
    "mod 2**63; one torch.Generator(generator_device).manual_seed(seed) per image"
)


def image_seed(base_seed: int, prompt_id: str, sample: int) -> int:
    """Seed of sample ``sample`` (0-based) of prompt ``prompt_id``."""
    digest = hashlib.sha256(f"{prompt_id}|{sample}".encode()).digest()
    return (int(base_seed) + int.from_bytes(digest[:8], "big")) % SEED_MODULUS
