"""Shared test fixtures. ``shared_dir`` is the ``../shared`` folder beside the project root;
tests that need it skip cleanly when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GENMETRICS_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent (real weights and data are only there)")
    return SHARED


def shared_file(relative: str) -> Path:
    """Path of a file under ../shared, skipping the test when it is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"../shared/{relative} is absent")
    return path


@pytest.fixture(scope="session", autouse=True)
def _catalog() -> None:
    """The registries filled once, as every entry point does."""
    from genmetrics import catalog

    catalog.load()


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own empty GENMETRICS_HOME and runs offline."""
    home = tmp_path_factory.mktemp("gmhome")
    monkeypatch.setenv("GENMETRICS_HOME", str(home))
    monkeypatch.setenv("GENMETRICS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield home


@pytest.fixture(scope="session")
def real_photos():
    """Real photographs bundled with scikit-image, as HxWx3 uint8 arrays."""
    data = pytest.importorskip("skimage.data")
    return {
        "astronaut": data.astronaut(),
        "chelsea": data.chelsea(),
        "coffee": data.coffee(),
        "rocket": data.rocket(),
        "hubble": data.hubble_deep_field(),
        "immunohistochemistry": data.immunohistochemistry(),
    }


@pytest.fixture
def one_torch_thread():
    """Tiny networks run fastest on one thread, and far faster when the CPUs are shared."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def fake_backbone(monkeypatch):
    """Every backbone the evaluation creates is one counting :class:`PixelBackbone`."""
    from tests.fakes import PixelBackbone, patch_backbones

    bb = PixelBackbone()
    patch_backbones(monkeypatch, lambda name, opts: bb)
    return bb
