"""Reference statistics files: FID's ``mu``/``sigma`` in a pytorch-fid compatible ``.npz``.

A file written here holds ``mu`` (D,), ``sigma`` (D, D), ``n`` and ``manifest``, a JSON string
saying what made the numbers: backbone name, output, backbone cache key, weights sha256,
protocol, dtype, D, n and the genmetrics version. pytorch-fid reads ``mu`` and ``sigma`` and
ignores the rest.

A file holds statistics of one feature space — a (backbone, output) pair such as Inception
``pool3``, DINOv2 ``cls`` or CLIP ``embed`` — in ``mu``/``sigma``, and may carry more spaces of
the same images (:func:`save_reference_stats` ``extra_spaces``: ``mu_1``/``sigma_1``/``n_1`` ...,
listed in the manifest's ``extra_spaces``), e.g. Inception pool3 and the sFID spatial
features. Using a file with a space it does not hold is a UserError naming the spaces it has
and the ``genmetrics stats --features`` command that makes the right one.

Reading validates the arrays (:func:`validate_gaussian`) and :func:`check_reference` compares
the manifest with the running backbone: statistics made with another protocol, network, layer,
weights or dtype give a wrong FID with no other sign, so any difference is an error. A file
without a manifest (pytorch-fid's own) is accepted with a warning saying what is assumed.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.backbones.registry import Backbone
from genmetrics.errors import UserError
from genmetrics.features.extract import ExtractedFeatures
from genmetrics.features.gaussian import GaussianStats

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
    extra: dict[tuple[str, str], tuple[GaussianStats, dict[str, Any]]] = field(default_factory=dict)
    """Further feature spaces of the same images: (backbone, output) → (stats, manifest)."""

    @property
    def dim(self) -> int:
        return int(self.stats.dim or 0)

    @property
    def space(self) -> tuple[str, str]:
        """The (backbone, output) of ``mu``/``sigma`` (Inception pool3 when unstated)."""
        m = self.manifest or {}
        return (m.get("backbone") or "inception", m.get("output") or "pool3")

    @property
    def spaces(self) -> list[tuple[str, str]]:
        return [self.space, *self.extra]

    def stats_for(self, backbone: str, output: str) -> GaussianStats:
        """The statistics of one feature space; UserError naming the file's spaces if absent."""
        if (backbone, output) == self.space:
            return self.stats
        if (backbone, output) in self.extra:
            return self.extra[(backbone, output)][0]
        raise UserError(space_missing_message(self, backbone, output))

    def manifest_for(self, backbone: str, output: str) -> dict[str, Any] | None:
        if (backbone, output) in self.extra:
            return self.extra[(backbone, output)][1]
        self.stats_for(backbone, output)
        return self.manifest

    def features(self, backbone: str, output: str) -> ExtractedFeatures:
        """As the reference side of an evaluation (Gaussian statistics only)."""
        return self.features_for([(backbone, output)])

    def features_for(self, spaces) -> ExtractedFeatures:
        """The reference side for several (backbone, output) spaces at once."""
        feats = ExtractedFeatures()
        for space in dict.fromkeys(tuple(sp) for sp in spaces):
            feats.gaussians[space] = self.stats_for(*space)
        return feats

    def check_dim(self, dim: int | None, what: str) -> None:
        """UserError when the features this file is compared with are not ``self.dim``-d."""
        if dim is not None and int(dim) != self.dim:
            raise UserError(
                f"{self.path}: the statistics are {self.dim}-d but {what} are {dim}-d; they were "
                "made with another network or layer: recompute them with genmetrics stats"
            )


def space_name(backbone: str, output: str) -> str:
    return f"{backbone}:{output}"


def space_missing_message(ref: ReferenceStats, backbone: str, output: str) -> str:
    have = ", ".join(space_name(*sp) for sp in ref.spaces)
    return (
        f"{ref.path} holds statistics of {have}, not of {space_name(backbone, output)}: "
        f"statistics of one feature space cannot serve another; make them with genmetrics "
        f"stats REAL --features {backbone} (output {output}), or pass the images as --reference"
    )


def stats_manifest(
    backbone: Backbone, output: str, protocol: str, n: int | None, dim: int | None
) -> dict[str, Any]:
    """What made a statistics file (stored as its ``manifest``)."""
    from genmetrics.version import __version__

    run = backbone.manifest()
    return {
        "format": FORMAT,
        "backbone": backbone.name,
        "output": output,
        "feature_space": space_name(backbone.name, output),
        "preprocess": run.get("preprocess") or run.get("protocol"),
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
    stats: GaussianStats,
    path: str | os.PathLike,
    manifest: dict[str, Any],
    extra_spaces: list[tuple[GaussianStats, dict[str, Any]]] | None = None,
) -> Path:
    """Write ``mu``/``sigma`` (pytorch-fid's keys), ``n`` and the manifest as JSON text; each of
    ``extra_spaces`` ((stats, its :func:`stats_manifest`) of another feature space of the same
    images) goes to ``mu_i``/``sigma_i``/``n_i`` and is listed in ``manifest["extra_spaces"]``."""
    from genmetrics.atomic import atomic_write

    arrays = stats.to_arrays()
    extra = {} if arrays["n"] is None else {"n": np.int64(arrays["n"])}
    manifest = dict(manifest)
    listed = []
    seen = {(manifest.get("backbone"), manifest.get("output"))}
    for i, (other, m) in enumerate(extra_spaces or (), start=1):
        space = (m.get("backbone"), m.get("output"))
        if space in seen:
            raise UserError(f"feature space {space_name(*space)} is given twice")
        seen.add(space)
        a = other.to_arrays()
        extra[f"mu_{i}"], extra[f"sigma_{i}"] = a["mu"], a["sigma"]
        if a["n"] is not None:
            extra[f"n_{i}"] = np.int64(a["n"])
        listed.append({"mu": f"mu_{i}", "sigma": f"sigma_{i}", "n": f"n_{i}", "manifest": m})
    if listed:
        manifest["extra_spaces"] = listed
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
            manifest = _manifest(raw, path)
            extra_raw = []
            for entry in (manifest or {}).get("extra_spaces") or []:
                keys = (entry.get("mu"), entry.get("sigma"))
                if not isinstance(entry, dict) or not set(keys) <= files:
                    raise UserError(f"{path}: its manifest lists a feature space whose arrays "
                                    "are missing; recompute the file with genmetrics stats")
                nk = entry.get("n")
                extra_raw.append((data[keys[0]], data[keys[1]],
                                  data[nk] if nk in files else None, entry.get("manifest") or {}))
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - bad zip, pickled objects, truncated file...
        raise UserError(f"{path}: not a readable statistics .npz ({type(exc).__name__}: {exc})") from None
    count = _count(n, path)
    validate_gaussian(mu, sigma, path)
    extra: dict[tuple[str, str], tuple[GaussianStats, dict[str, Any]]] = {}
    for e_mu, e_sigma, e_n, e_manifest in extra_raw:
        validate_gaussian(e_mu, e_sigma, path)
        space = (str(e_manifest.get("backbone")), str(e_manifest.get("output")))
        extra[space] = (GaussianStats.from_mu_sigma(e_mu, e_sigma, _count(e_n, path)), e_manifest)
    return ReferenceStats(path, GaussianStats.from_mu_sigma(mu, sigma, count), manifest, extra)


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
    """The running ``backbone`` (and run ``protocol``) must be what made ``ref``'s statistics of
    the (``backbone``, ``output``) feature space: a UserError naming both values otherwise
    (also when the file holds no statistics of that space). A file without a manifest (assumed
    Inception pool3) gets one warning."""
    if ref.manifest is None and (backbone.name, output) != ("inception", "pool3"):
        raise UserError(
            f"{ref.path} has no manifest, so it is assumed to hold Inception pool3 statistics; "
            f"this run needs {space_name(backbone.name, output)}: make them with genmetrics "
            f"stats REAL --features {backbone.name}"
        )
    stats = ref.stats_for(backbone.name, output)
    dims = getattr(backbone, "output_dims", None) or {}
    want = dims.get(output)
    if want is not None and stats.dim is not None and int(want) != int(stats.dim):
        raise UserError(
            f"{ref.path}: the {space_name(backbone.name, output)} statistics are {stats.dim}-d "
            f"but {backbone.name} {output} features are {want}-d; they were made with another "
            "network or layer: recompute them with genmetrics stats"
        )
    run = backbone.manifest()
    protocol = protocol or run.get("protocol")
    m = ref.manifest_for(backbone.name, output)
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
