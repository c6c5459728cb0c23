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

Opening a file reads the declared shape and dtype of every array from its ``.npy`` header
(:mod:`genmetrics.features.npz`) and the small ``n``/``manifest`` arrays, and refuses
out-of-bound declarations (a non-float, object or mismatched ``mu``/``sigma``, D above
:data:`MAX_DIM`, an oversized manifest) before any matrix is inflated.
:func:`check_reference` then compares the manifest and the declared dims with the running
backbone — statistics made with another protocol, network, layer, weights or dtype give a
wrong FID with no other sign, so any difference is an error — and only then are the arrays of
the spaces a run uses read and validated (:func:`~genmetrics.features.validate.validate_gaussian`,
on first use or :meth:`ReferenceStats.load`): a file holding pool3 and sFID statistics costs
one 2048-d validation when only FID is asked. A file without a manifest (pytorch-fid's own)
is accepted with a warning saying what is assumed.
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
from genmetrics.features.gaussian import GaussianStats
from genmetrics.features.npz import NpzArchive, check_declared, open_npz
from genmetrics.features.validate import PSD_TOL, SYMMETRY_TOL, tolerance, validate_gaussian

__all__ = [
    "ASSUMED", "FORMAT", "MAX_DIM", "PSD_TOL", "SYMMETRY_TOL", "ReferenceStats", "StoredSpace",
    "check_reference", "read_reference_stats", "save_reference_stats", "space_missing_message",
    "space_name", "stats_manifest", "stored_space", "tolerance", "validate_gaussian",
]

FORMAT = "genmetrics-reference-stats/1"
ASSUMED = "Inception pool3 (2048-d) statistics made with a protocol compatible with this run"
MAX_DIM = 16_384
"""Largest feature dimension a statistics file may declare (its float64 ``sigma`` is then
2 GiB): every built-in space is at most 2048-d, and a forged header beyond it is refused
before anything is inflated. A run also refuses a declared D other than its backbone's."""
MAX_COUNT = 10**12
"""Largest sample count ``n`` a statistics file may declare (``sigma · (n - 1)`` stays finite)."""
MAX_MANIFEST_BYTES = 4 << 20
"""Largest ``manifest`` string a statistics file may declare."""

Space = tuple[str, str]


@dataclass(frozen=True)
class StoredSpace:
    """Where one feature space's statistics lie in a file, from the headers and manifest."""

    mu: str
    sigma: str
    dim: int
    n: int | None
    manifest: dict[str, Any] | None


class ReferenceStats:
    """Statistics of one or more feature spaces read from ``path``; ``manifest`` is ``None``
    for a file without one. Each space's arrays are read and validated on first use (or by
    :meth:`load`), after the manifest checks."""

    def __init__(self, path: Path, manifest: dict[str, Any] | None,
                 stored: dict[Space, StoredSpace]) -> None:
        self.path, self.manifest = Path(path), manifest
        self._stored = dict(stored)  # the first is the file's mu/sigma
        self._loaded: dict[Space, GaussianStats] = {}

    @property
    def space(self) -> Space:
        """The (backbone, output) of ``mu``/``sigma`` (Inception pool3 when unstated)."""
        return next(iter(self._stored))

    @property
    def spaces(self) -> list[Space]:
        return list(self._stored)

    @property
    def dim(self) -> int:
        return self._stored[self.space].dim

    @property
    def stats(self) -> GaussianStats:
        """The statistics of ``mu``/``sigma`` (read and validated on first use)."""
        return self.stats_for(*self.space)

    def _entry(self, backbone: str, output: str) -> StoredSpace:
        entry = self._stored.get((backbone, output))
        if entry is None:
            raise UserError(space_missing_message(self, backbone, output))
        return entry

    def declared_dim(self, backbone: str, output: str) -> int:
        """D of one feature space as its headers declare it (nothing is read)."""
        return self._entry(backbone, output).dim

    def load(self, spaces) -> None:
        """Read and validate the arrays of ``spaces`` now (each once), so a bad matrix is
        refused before any image is read."""
        todo = [sp for sp in dict.fromkeys(tuple(sp) for sp in spaces) if sp not in self._loaded]
        entries = [self._entry(*sp) for sp in todo]
        if not todo:
            return
        with open_npz(self.path) as archive:
            for sp, entry in zip(todo, entries, strict=True):
                if {entry.mu, entry.sigma} - set(archive.names):
                    raise UserError(f"{self.path}: the arrays of {space_name(*sp)} are missing")
                mu, sigma = archive.read(entry.mu), archive.read(entry.sigma)
                validate_gaussian(mu, sigma, self.path)
                self._loaded[sp] = GaussianStats.from_mu_sigma(mu, sigma, entry.n)

    def stats_for(self, backbone: str, output: str) -> GaussianStats:
        """The statistics of one feature space; UserError naming the file's spaces if absent."""
        self.load([(backbone, output)])
        return self._loaded[(backbone, output)]

    def manifest_for(self, backbone: str, output: str) -> dict[str, Any] | None:
        return self._entry(backbone, output).manifest

    def features(self, backbone: str, output: str) -> ExtractedFeatures:
        """As the reference side of an evaluation (Gaussian statistics only)."""
        return self.features_for([(backbone, output)])

    def features_for(self, spaces) -> ExtractedFeatures:
        """The reference side for several (backbone, output) spaces at once."""
        feats = ExtractedFeatures()
        wanted = list(dict.fromkeys(tuple(sp) for sp in spaces))
        self.load(wanted)
        for space in wanted:
            feats.gaussians[space] = self._loaded[space]
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
    """Open a statistics ``.npz`` (ours or pytorch-fid's): its manifest, and the shapes and
    dtypes its headers declare, checked; the matrices are read on first use. UserError naming
    the file for anything unreadable or out of bounds."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file" + (" (it is a folder)" if path.is_dir() else ""))
    with open_npz(path) as archive:
        files = set(archive.names)
        if not {"mu", "sigma"} <= files:
            raise UserError(
                f"{path}: not a statistics file: it needs 'mu' and 'sigma' arrays "
                f"(it has {', '.join(sorted(files)) or 'none'})"
            )
        manifest = _manifest(_small(archive, "manifest", "US", MAX_MANIFEST_BYTES, "a JSON string"), path)
        n = _count(_small(archive, "n", "iuf", 16, "an integer sample count"), path)
        first = (str((manifest or {}).get("backbone") or "inception"),
                 str((manifest or {}).get("output") or "pool3"))
        stored = {first: stored_space(archive, "mu", "sigma", n, manifest)}
        listed = (manifest or {}).get("extra_spaces") or []
        for entry in listed if isinstance(listed, list) else [None]:
            entry = entry if isinstance(entry, dict) else {}
            keys, m, nk = (entry.get("mu"), entry.get("sigma")), entry.get("manifest") or {}, entry.get("n")
            if not all(isinstance(k, str) and k in files for k in keys) or not isinstance(m, dict):
                raise UserError(f"{path}: its manifest lists a feature space whose arrays "
                                "are missing; recompute the file with genmetrics stats")
            nk = nk if isinstance(nk, str) else None
            count = _count(_small(archive, nk, "iuf", 16, "an integer sample count"), path)
            space = (str(m.get("backbone")), str(m.get("output")))
            stored[space] = stored_space(archive, str(keys[0]), str(keys[1]), count, m)
    return ReferenceStats(path, manifest, stored)


def stored_space(archive: NpzArchive, mu: str, sigma: str, n: int | None,
                 manifest: dict[str, Any] | None) -> StoredSpace:
    """The declared ``mu`` (D,) and ``sigma`` (D, D) of one space, refused from the headers
    when not floating point, not matching, or D above :data:`MAX_DIM`."""
    hm = check_declared(archive, mu, kinds="f", ndim=(1,), max_items=MAX_DIM,
                        what=f"a float vector of at most {MAX_DIM} dims")
    d = hm.shape[0]
    check_declared(archive, sigma, kinds="f", ndim=(2,), max_items=MAX_DIM * MAX_DIM,
                   what=f"a float {d} x {d} matrix (as '{mu}' is {d}-d)")
    hs = archive.headers[sigma]
    if d == 0 or hs.shape != (d, d):
        raise UserError(
            f"{archive.path}: '{mu}' must be (D,) and '{sigma}' (D, D); the headers declare "
            f"{hm.shape} and {hs.shape}"
        )
    return StoredSpace(mu, sigma, d, n, manifest)


def _small(archive: NpzArchive, name: str | None, kinds: str, max_bytes: int, what: str):
    """A small array (``n``, ``manifest``), read only once its header is within bounds."""
    if name is None or name not in archive.headers:
        return None
    h = check_declared(archive, name, kinds=kinds, ndim=(0, 1), max_items=max_bytes, what=what)
    if h.nbytes > max_bytes:
        raise UserError(f"{archive.path}: '{name}' must be {what} of at most {max_bytes} bytes, "
                        f"but its header declares {h.describe()}")
    return archive.read(name)


def _count(n: np.ndarray | None, path: Path) -> int | None:
    if n is None:
        return None
    value = n.item() if n.size == 1 else None
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not float(value).is_integer() or not 2 <= value <= MAX_COUNT:
        got = n.tolist() if n.size <= 4 else f"an array of shape {n.shape}"
        raise UserError(f"{path}: 'n' must be an integer from 2 to {MAX_COUNT:.0e}, got {got!r}")
    return int(value)


def _manifest(raw: np.ndarray | None, path: Path) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        text = raw.item()
        manifest = json.loads(text.decode("utf-8") if isinstance(text, bytes) else str(text))
    except (ValueError, TypeError, RecursionError) as exc:
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
    dim = ref.declared_dim(backbone.name, output)
    dims = getattr(backbone, "output_dims", None) or {}
    want = dims.get(output)
    if want is not None and int(want) != int(dim):
        raise UserError(
            f"{ref.path}: the {space_name(backbone.name, output)} statistics are {dim}-d "
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
