"""Forged statistics files as ``--reference``: every declared shape, dtype and size is checked
from the ``.npy`` headers before anything is inflated, and each case is one ``error:`` line
naming the file, exit code 2, no forward pass, and bounded memory.

Before: a 3 MB deflate bomb declaring a 20000 x 20000 ``sigma`` took 3.35 GB before the shape
error, because ``np.load`` inflated it first.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.fakes import PixelBackbone
from tests.robustness.conftest import Runner, Sets, assert_user_error, good_stats

Member = tuple[dict, bytes | int]
"""An ``.npy`` member: its header dict and its data (bytes, or a count of zero bytes)."""


def _npy_header(descr: str, shape: tuple[int, ...], fortran: bool = False) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": fortran, "shape": shape}
    )
    return buf.getvalue()


def _array_member(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=True)
    return buf.getvalue()


def write_forged_npz(path: Path, members: dict[str, bytes | tuple[bytes, int]]) -> Path:
    """A deflated zip of ``NAME.npy`` members: raw bytes, or (header bytes, N zero bytes)
    streamed in blocks (a 16 MB member costs ~16 KB on disk and no 16 MB buffer)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                if isinstance(content, tuple):
                    head, zeros = content
                    f.write(head)
                    block = bytes(1 << 20)
                    while zeros > 0:
                        f.write(block[: min(zeros, len(block))])
                        zeros -= len(block)
                else:
                    f.write(content)
    return path


def _good(dim: int = 64) -> dict[str, bytes | tuple[bytes, int]]:
    return {k: _array_member(np.asarray(v)) for k, v in good_stats(dim).items()}


def _with(**members: bytes | tuple[bytes, int]) -> Callable[[Path], Path]:
    return lambda path: write_forged_npz(path, {**_good(), **members})


def _manifest(obj: object) -> bytes:
    return _array_member(np.array(json.dumps(obj)))


def _deep_json(path: Path) -> Path:
    return write_forged_npz(path, {**_good(), "manifest": _array_member(np.array("[" * 200_000))})


def _adm(**members: bytes | tuple[bytes, int]) -> Callable[[Path], Path]:
    base = {
        "mu": _array_member(np.zeros(2048)), "sigma": (_npy_header("<f8", (2048, 2048)), 2048 * 2048 * 8),
        "mu_s": _array_member(np.zeros(2023)), "sigma_s": (_npy_header("<f8", (2023, 2023)), 2023 * 2023 * 8),
    }
    return lambda path: write_forged_npz(path, {**base, **members})


def _npy_renamed(path: Path) -> Path:
    np.save(path.with_suffix(".npy"), np.eye(4))
    path.with_suffix(".npy").rename(path)
    return path


BOMB = (_npy_header("<f8", (20000, 20000)), 16 << 20)
"""sigma declaring 20000 x 20000 float64 (3.2 GB), holding 16 MB of zeros (16 KB deflated)."""

CASES = [
    pytest.param(lambda p: write_forged_npz(p, {"mu": (_npy_header("<f8", (20000,)), 160_000),
                                                "sigma": BOMB}), id="bomb-20000x20000"),
    pytest.param(_with(sigma=BOMB), id="bomb-sigma-not-d-by-d"),
    pytest.param(_with(sigma=(_npy_header("<f8", (64, 64)), 64 * 32 * 8)), id="sigma-truncated"),
    pytest.param(_with(sigma=_array_member(np.eye(64, dtype=np.int64))), id="sigma-int64"),
    pytest.param(_with(sigma=_array_member(np.eye(64, dtype=np.complex128))), id="sigma-complex"),
    pytest.param(_with(sigma=_array_member(np.eye(64, dtype=bool))), id="sigma-bool"),
    pytest.param(_with(sigma=_array_member(np.zeros((64, 64), dtype=[("a", "<f8")]))),
                 id="sigma-structured"),
    pytest.param(_with(sigma=_array_member(np.array([None] * 4, dtype=object).reshape(2, 2))),
                 id="sigma-object"),
    pytest.param(_with(mu=_array_member(np.zeros((64, 1)))), id="mu-2d"),
    pytest.param(_with(sigma=_array_member(np.zeros((64, 64, 1)))), id="sigma-3d"),
    pytest.param(_with(mu=_array_member(np.zeros(0)), sigma=_array_member(np.zeros((0, 0)))),
                 id="zero-dims"),
    pytest.param(_with(sigma=_array_member(np.eye(63))), id="mu-sigma-dims-differ"),
    pytest.param(_with(n=_array_member(np.int64(10**15))), id="n-huge-value"),
    pytest.param(_with(n=(_npy_header("<i8", (10**7,)), 8 * 10**7)), id="n-huge-array"),
    pytest.param(_with(n=_array_member(np.float64(np.inf))), id="n-infinite"),
    pytest.param(_with(n=_array_member(np.array("100"))), id="n-a-string"),
    pytest.param(_with(manifest=(_npy_header("<U2000000", ()), 8_000_000)), id="manifest-8mb"),
    pytest.param(_with(manifest=_array_member(np.zeros(3))), id="manifest-not-text"),
    pytest.param(_deep_json, id="manifest-json-nested-200k-deep"),
    pytest.param(_with(manifest=_manifest({"backbone": "inception", "output": "pool3",
                                           "extra_spaces": [{"mu": "mu_1", "sigma": "nope"}]})),
                 id="manifest-extra-space-missing-arrays"),
    pytest.param(_with(manifest=_manifest({"backbone": "inception", "output": "pool3",
                                           "extra_spaces": [{"mu": ["x"], "sigma": 3, "n": [1]}]})),
                 id="manifest-extra-space-wrong-types"),
    pytest.param(_with(manifest=_manifest({"backbone": "inception", "output": "pool3",
                                           "extra_spaces": "mu_1"})),
                 id="manifest-extra-spaces-not-a-list"),
    pytest.param(_with(manifest=_manifest({"backbone": "inception", "output": "pool3",
                                           "extra_spaces": [{"mu": "mu", "sigma": "sigma",
                                                             "manifest": [1]}]})),
                 id="manifest-extra-space-manifest-not-object"),
    pytest.param(_npy_renamed, id="npy-renamed-npz"),
    pytest.param(_adm(sigma_s=BOMB), id="adm-batch-sigma-s-bomb"),
    pytest.param(_adm(mu_s=_array_member(np.zeros(2048)),
                      sigma_s=(_npy_header("<f8", (2048, 2048)), 2048 * 2048 * 8)),
                 id="adm-batch-spatial-2048d"),
    pytest.param(_adm(sigma=_array_member(np.eye(3, dtype=np.int32))), id="adm-batch-sigma-int"),
]


@pytest.mark.parametrize("build", CASES)
def test_forged_statistics_file(build, sets: Sets, fake_backbone: PixelBackbone, cli: Runner,
                                request: pytest.FixtureRequest) -> None:
    name = f"ref-{request.node.callspec.id}.npz"
    ref = build(sets.root / name)
    tracemalloc.start()
    try:
        res = cli("evaluate", sets.gen, "-r", ref, "-m", "fid")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_user_error(res, name)
    assert fake_backbone.calls == 0, "the bad file was noticed only after the forward passes"
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB traced while refusing {name}"
