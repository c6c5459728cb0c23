"""Reference statistics files: FID's ``mu``/``sigma`` in a pytorch-fid compatible ``.npz``.

A file written here holds ``mu`` (D,), ``sigma`` (D, D), ``n`` and ``manifest``, a JSON string
saying what made the numbers: backbone name, output, backbone cache key, weights sha256,
protocol, dtype, D, n and the genmetrics version. pytorch-fid reads ``mu`` and ``sigma`` and
ignores the rest.

Reading validates the arrays (:func:`validate_gaussian`) and :func:`check_reference` compares
the manifest with the running backbone: statistics made with another protocol, network, layer,
weights or dtype give a wrong FID with no other sign, so any difference is an error. A file
without a manifest (pytorch-fid's own) is accepted with a warning saying what is assumed.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.registry import Backbone
from genmetrics.errors import UserError
from genmetrics.features.extract import ExtractedFeatures
from genmetrics.metrics.functional.gaussian import GaussianStats

FORMAT = "genmetrics-reference-stats/1"
SYMMETRY_TOL = 1e-6
"""``max|S - S^T| <= tol * max|S|`` (relative), for float64 files."""
PSD_TOL = 1e-6
"""Smallest eigenvalue ``>= -tol * max|eigenvalue|`` (relative), for float64 files."""
ASSUMED = "Inception pool3 (2048-d) statistics made with a protocol compatible with this run"


def tolerance(dim: int, dtype: np.dtype) -> float:
    """Relative tolerance of the symmetry and PSD checks: 1e-6, or ``10 sqrt(D) eps`` of the
    stored dtype when larger (a float32 file carries float32 rounding)."""
    eps = float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0
    return max(SYMMETRY_TOL, 10.0 * float(np.sqrt(max(dim, 1))) * eps)


@dataclass
class ReferenceStats:
    """Statistics read from ``path``; ``manifest`` is ``None`` for a file without one."""

    path: Path
    stats: GaussianStats
    manifest: dict[str, Any] | None

    @property
    def dim(self) -> int:
        return int(self.stats.dim or 0)

    def features(self, backbone: str, output: str) -> ExtractedFeatures:
        """As the reference side of an evaluation (Gaussian statistics only)."""
        feats = ExtractedFeatures()
        feats.gaussians[(backbone, output)] = self.stats
        return feats

    def check_dim(self, dim: int | None, what: str) -> None:
        """UserError when the features this file is compared with are not ``self.dim``-d."""
        if dim is not None and int(dim) != self.dim:
            raise UserError(
                f"{self.path}: the statistics are {self.dim}-d but {what} are {dim}-d; they were "
                "made with another network or layer: recompute them with genmetrics stats"
            )


def stats_manifest(
    backbone: Backbone, output: str, protocol: str, n: int | None, dim: int | None
) -> dict[str, Any]:
    """What made a statistics file (stored as its ``manifest``)."""
    from genmetrics import __version__

    run = backbone.manifest()
    return {
        "format": FORMAT,
        "backbone": backbone.name,
        "output": output,
        "key": backbone.key,
        "weights_sha256": run.get("weights_sha256"),
        "protocol": protocol,
        "dtype": run.get("dtype"),
        "dim": dim,
        "n": n,
        "genmetrics": __version__,
        "backbone_manifest": run,
    }


def save_reference_stats(
    stats: GaussianStats, path: str | os.PathLike, manifest: dict[str, Any]
) -> Path:
    """Write ``mu``/``sigma`` (pytorch-fid's keys), ``n`` and the manifest as JSON text."""
    from genmetrics.atomic import atomic_write

    arrays = stats.to_arrays()
    extra = {} if arrays["n"] is None else {"n": np.int64(arrays["n"])}
    text = np.array(json.dumps(manifest, sort_keys=True, default=str))

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, mu=arrays["mu"], sigma=arrays["sigma"], manifest=text, **extra)

    return atomic_write(path, write)


def read_reference_stats(path: str | os.PathLike) -> ReferenceStats:
    """Read and validate a statistics ``.npz`` (ours or pytorch-fid's); UserError naming the
    file for anything unreadable or invalid."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    try:
        with np.load(path, allow_pickle=False) as data:
            files = set(data.files)
            if not {"mu", "sigma"} <= files:
                raise UserError(
                    f"{path}: not a statistics file: it needs 'mu' and 'sigma' arrays "
                    f"(it has {', '.join(sorted(files)) or 'none'})"
                )
            mu, sigma = data["mu"], data["sigma"]
            n = data["n"] if "n" in files else None
            raw = data["manifest"] if "manifest" in files else None
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - bad zip, pickled objects, truncated file...
        raise UserError(f"{path}: not a readable statistics .npz ({type(exc).__name__}: {exc})") from None
    count = _count(n, path)
    validate_gaussian(mu, sigma, path)
    manifest = _manifest(raw, path)
    return ReferenceStats(path, GaussianStats.from_mu_sigma(mu, sigma, count), manifest)


def _count(n: np.ndarray | None, path: Path) -> int | None:
    if n is None:
        return None
    value = n.item() if n.size == 1 else None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not float(value).is_integer() or value < 2:
        got = n.tolist() if n.size <= 4 else f"an array of shape {n.shape}"
        raise UserError(f"{path}: 'n' must be an integer of at least 2, got {got!r}")
    return int(value)


def _manifest(raw: np.ndarray | None, path: Path) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        manifest = json.loads(str(raw.item()))
    except (ValueError, TypeError) as exc:
        raise UserError(f"{path}: its 'manifest' is not valid JSON ({exc}); recompute the file "
                        "with genmetrics stats") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: its 'manifest' is not a JSON object; recompute the file with "
                        "genmetrics stats")
    if "format" not in manifest and isinstance(manifest.get("backbones"), dict):
        manifest = _from_early_manifest(manifest)
    return manifest


def _from_early_manifest(m: dict[str, Any]) -> dict[str, Any]:
    """Files written before the manifest had its own fields (``backbones.inception`` only)."""
    bb = m["backbones"].get("inception") or {}
    return {
        "backbone": bb.get("name", "inception"),
        "output": "pool3",
        "key": bb.get("key"),
        "weights_sha256": bb.get("weights_sha256"),
        "protocol": m.get("protocol", bb.get("protocol")),
        "dtype": bb.get("dtype"),
        "n": m.get("n"),
        "backbone_manifest": bb,
    }


def validate_gaussian(mu: Any, sigma: Any, where: str | os.PathLike) -> None:
    """``mu`` (D,) and ``sigma`` (D, D) real, finite, ``sigma`` symmetric and positive
    semi-definite within :func:`tolerance`; a UserError naming ``where`` otherwise."""
    mu, sigma = np.asarray(mu), np.asarray(sigma)
    for name, arr in (("mu", mu), ("sigma", sigma)):
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
            raise UserError(f"{where}: '{name}' must be a real numeric array, got {arr.dtype}")
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]) or mu.shape[0] == 0:
        raise UserError(
            f"{where}: 'mu' must be (D,) and 'sigma' (D, D); got {mu.shape} and {sigma.shape}"
        )
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise UserError(f"{where}: the statistics contain NaN or infinite values")
    tol = tolerance(mu.shape[0], sigma.dtype)
    s = sigma.astype(np.float64)
    scale = float(np.abs(s).max())
    asym = float(np.abs(s - s.T).max())
    if asym > tol * scale:
        raise UserError(
            f"{where}: the covariance is not symmetric (max |S - S^T| = {asym:.3g}, more than "
            f"{tol:.0e} x max |S| = {scale:.3g})"
        )
    eig = np.linalg.eigvalsh((s + s.T) * 0.5)
    top = float(np.abs(eig).max())
    if eig[0] < -tol * top:
        raise UserError(
            f"{where}: the covariance is not positive semi-definite (smallest eigenvalue "
            f"{eig[0]:.3g}, below -{tol:.0e} x the largest magnitude {top:.3g}); it is not a "
            "covariance matrix"
        )


def check_reference(
    ref: ReferenceStats, backbone: Backbone, *, output: str, protocol: str | None = None
) -> None:
    """The running ``backbone`` (and run ``protocol``) must be what made ``ref``: a UserError
    naming both values otherwise. A file without a manifest gets one warning."""
    dims = getattr(backbone, "output_dims", None) or {}
    ref.check_dim(dims.get(output), f"{backbone.name} {output} features")
    run = backbone.manifest()
    protocol = protocol or run.get("protocol")
    m = ref.manifest
    if m is None:
        warnings.warn(
            f"{ref.path} has no manifest (e.g. made by pytorch-fid): assumed to be {ASSUMED} "
            f"('{protocol}'); it cannot be checked, so recompute it with genmetrics stats "
            f"--protocol {protocol} to be sure",
            UserWarning,
            stacklevel=2,
        )
        return
    stored_protocol = m.get("protocol")
    checks = [
        ("protocol", stored_protocol, protocol,
         f"recompute it with genmetrics stats --protocol {protocol} or pass --protocol "
         f"{stored_protocol}"),
        ("backbone", m.get("backbone"), backbone.name, "recompute it with genmetrics stats"),
        ("output", m.get("output"), output, "recompute it with genmetrics stats"),
        ("weights sha256", m.get("weights_sha256"), run.get("weights_sha256"),
         f"recompute it with genmetrics stats (these {backbone.name} weights), or install the "
         "weights it was made with (genmetrics weights list)"),
        ("dtype", m.get("dtype"), run.get("dtype"),
         f"pass --dtype {m.get('dtype')} or recompute it at {run.get('dtype')}"),
        ("backbone key", m.get("key"), backbone.key,
         "recompute it with genmetrics stats (the features it was made from have changed)"),
    ]
    for what, stored, current, fix in checks:
        if stored is not None and current is not None and stored != current:
            raise UserError(
                f"{ref.path} was made with {what} '{stored}' but this run uses '{current}'; {fix}"
            )
