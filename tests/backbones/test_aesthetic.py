"""LAION aesthetic heads with the real published weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genmetrics.backbones.aesthetic import (
    ImprovedAestheticMLP,
    LinearAestheticHead,
    aesthetic_score,
    head_from_state_dict,
    load_aesthetic_head,
)
from genmetrics.backbones.clip.weights import clip_weight_spec
from genmetrics.errors import MissingWeightsError
from genmetrics.weights.store import import_weights
from tests.conftest import shared_file

FILES = {
    "aesthetic-laion-improved-l14": ("sac+logos+ava1-l14-linearMSE.pth", 768),
    "aesthetic-laion-v1-l14": ("sa_0_4_vit_l_14_linear.pth", 768),
    "aesthetic-laion-v1-b32": ("sa_0_4_vit_b_32_linear.pth", 512),
}


def _hand_formula(state: dict, x: np.ndarray) -> np.ndarray:
    """Explicit float64 affine chain (the improved MLP has no activations)."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    if "weight" in state:
        return (x @ state["weight"].T + state["bias"])[:, 0]
    for i in (0, 2, 4, 6, 7):
        x = x @ state[f"layers.{i}.weight"].T + state[f"layers.{i}.bias"]
    return x[:, 0]


@pytest.mark.parametrize("name", list(FILES))
def test_real_heads_match_hand_formula(name: str) -> None:
    filename, dim = FILES[name]
    raw = torch.load(
        shared_file(f"weights/aesthetic/{filename}"), map_location="cpu", weights_only=True
    )
    head = head_from_state_dict(raw)
    assert isinstance(head, ImprovedAestheticMLP if "improved" in name else LinearAestheticHead)
    state = {k: v.double().numpy() for k, v in raw.items()}
    gen = np.random.default_rng(0)
    units = gen.standard_normal((64, dim))
    units /= np.linalg.norm(units, axis=1, keepdims=True)
    scaled = units * gen.uniform(0.1, 30.0, (64, 1))  # not unit: the score normalises first
    for inp in (units, scaled):
        ours = aesthetic_score(torch.from_numpy(inp).float(), head).double().numpy()
        assert np.abs(ours - _hand_formula(state, inp)).max() <= 1e-5


def test_improved_head_is_eval_and_deterministic() -> None:
    raw = torch.load(
        shared_file("weights/aesthetic/sac+logos+ava1-l14-linearMSE.pth"),
        map_location="cpu",
        weights_only=True,
    )
    head = head_from_state_dict(raw)
    assert not head.training
    x = torch.randn(8, 768)
    assert torch.equal(aesthetic_score(x, head), aesthetic_score(x, head))


@pytest.mark.parametrize("name", list(FILES))
def test_import_and_load_from_cache(name: str) -> None:
    filename, dim = FILES[name]
    with pytest.raises(MissingWeightsError):
        load_aesthetic_head(name, offline=True)
    import_weights(clip_weight_spec(name), shared_file(f"weights/aesthetic/{filename}"))
    head = load_aesthetic_head(name, offline=True)
    raw = torch.load(
        shared_file(f"weights/aesthetic/{filename}"), map_location="cpu", weights_only=True
    )
    x = torch.randn(4, dim)
    assert torch.equal(aesthetic_score(x, head), aesthetic_score(x, head_from_state_dict(raw)))
