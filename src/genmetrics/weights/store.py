"""Weights cache: pinned files, downloaded once, verified by sha256, loaded without pickle.

Layout: ``$GENMETRICS_HOME/weights/<name>/<filename>`` (``GENMETRICS_HOME`` defaults to
``~/.cache/genmetrics``). A verified file gets a ``.verified`` marker holding its sha256, size
and mtime so large files are not re-hashed on every run.

Offline mode (``GENMETRICS_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` or ``offline=True``) never touches
the network; a missing file then raises :class:`MissingWeightsError` with one line that names
the file, where it would come from and the import command.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from genmetrics.errors import MissingWeightsError, UserError, WeightsHashError


def genmetrics_home() -> Path:
    """Root of the genmetrics cache (weights and features)."""
    return Path(os.environ.get("GENMETRICS_HOME", Path.home() / ".cache" / "genmetrics"))


def offline_mode(offline: bool | None = None) -> bool:
    if offline is not None:
        return offline
    flags = (os.environ.get("GENMETRICS_OFFLINE", ""), os.environ.get("HF_HUB_OFFLINE", ""))
    return any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class WeightSpec:
    """A pinned weights file.

    ``url`` is a direct download; ``hf_repo``/``hf_filename``/``hf_revision`` a Hugging Face Hub
    file. ``sha256`` pins the downloaded file. ``convert`` (optional) turns the downloaded file
    into the cached safetensors file ``filename``; its output hash is pinned by
    ``converted_sha256`` when known (conversions are deterministic).
    """

    name: str
    filename: str
    sha256: str
    description: str = ""
    url: str | None = None
    hf_repo: str | None = None
    hf_filename: str | None = None
    hf_revision: str | None = None
    license: str = ""
    source_filename: str | None = None
    convert: Callable[[Path, Path], None] | None = field(default=None, compare=False)
    converted_sha256: str | None = None
    alt_sha256: tuple[str, ...] = ()
    """Other published forms of the same weights that ``import`` accepts (and converts)."""

    @property
    def origin(self) -> str:
        if self.url:
            return self.url
        if self.hf_repo:
            rev = f"@{self.hf_revision}" if self.hf_revision else ""
            return f"https://huggingface.co/{self.hf_repo}{rev} ({self.hf_filename})"
        return "(no public source)"

    def cache_dir(self) -> Path:
        return genmetrics_home() / "weights" / self.name

    def cached_path(self) -> Path:
        return self.cache_dir() / self.filename


_REGISTRY: dict[str, WeightSpec] = {}


def register_weights(spec: WeightSpec) -> WeightSpec:
    _REGISTRY[spec.name] = spec
    return spec


def weight_specs() -> dict[str, WeightSpec]:
    """All registered weights, by name (importing the backbones registers theirs)."""
    import genmetrics.backbones  # noqa: F401  (registers specs)

    return dict(_REGISTRY)


def get_weight_spec(name: str) -> WeightSpec:
    specs = weight_specs()
    if name not in specs:
        raise UserError(f"unknown weights '{name}'; known: {', '.join(sorted(specs))}")
    return specs[name]


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _write_marker(path: Path, digest: str) -> None:
    st = path.stat()
    atomic_write_text(_marker(path), json.dumps({"sha256": digest, "size": st.st_size, "mtime": st.st_mtime_ns}))


def _marker_ok(path: Path, expected: str | None) -> bool:
    try:
        info = json.loads(_marker(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return (
        info.get("size") == st.st_size
        and info.get("mtime") == st.st_mtime_ns
        and (expected is None or info.get("sha256") == expected)
    )


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a cached weights file, read from its ``.verified`` marker when still valid."""
    path = Path(path)
    if _marker_ok(path, None):
        return json.loads(_marker(path).read_text())["sha256"]
    return sha256_file(path)


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def missing_message(spec: WeightSpec) -> str:
    return (
        f"weights '{spec.name}' ({spec.filename}) are not in the cache {spec.cache_dir()} and "
        f"cannot be downloaded offline; they come from {spec.origin}. Download that file elsewhere "
        f"and run: genmetrics weights import {spec.name} PATH"
    )


def _download(spec: WeightSpec, dest_dir: Path) -> Path:
    """Fetch the source file into ``dest_dir`` and check its sha256."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if spec.hf_repo:
        from huggingface_hub import hf_hub_download

        local = Path(
            hf_hub_download(
                spec.hf_repo, spec.hf_filename or spec.filename, revision=spec.hf_revision,
                cache_dir=str(genmetrics_home() / "hf"),
            )
        )
    elif spec.url:
        local = dest_dir / (spec.source_filename or Path(spec.url).name)
        fd, tmp = tempfile.mkstemp(dir=dest_dir, suffix=".part")
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(spec.url, timeout=60) as resp:  # noqa: S310
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(tmp, local)
    else:
        raise MissingWeightsError(missing_message(spec))
    digest = sha256_file(local)
    if digest != spec.sha256:
        raise WeightsHashError(
            f"{local}: sha256 {digest} does not match the pinned {spec.sha256} for '{spec.name}'"
        )
    return local


def install_source_file(spec: WeightSpec, source: Path) -> Path:
    """Put a verified source file into the cache, converting it when the spec says so."""
    target = spec.cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    if spec.convert is None:
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)
        digest = spec.sha256
    else:
        tmp = target.with_name(f".{target.name}.tmp")
        spec.convert(source, tmp)
        os.replace(tmp, target)
        digest = sha256_file(target)
        if spec.converted_sha256 and digest != spec.converted_sha256:
            target.unlink(missing_ok=True)
            raise WeightsHashError(
                f"converted weights for '{spec.name}' hash to {digest}, expected {spec.converted_sha256}"
            )
    _write_marker(target, digest)
    return target


def import_weights(spec: WeightSpec, path: str | os.PathLike) -> Path:
    """Verify a user-supplied file by sha256 and install it (converted) into the cache."""
    source = Path(path)
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    digest = sha256_file(source)
    accepted = (spec.sha256, *spec.alt_sha256)
    if digest not in accepted:
        raise WeightsHashError(
            f"{source}: sha256 {digest} is not a known form of '{spec.name}' "
            f"(expected one of: {', '.join(accepted)})"
        )
    return install_source_file(spec, source)


def ensure_weights(spec: WeightSpec, offline: bool | None = None) -> Path:
    """Return the path of the cached (converted) weights file, downloading it if allowed."""
    target = spec.cached_path()
    if target.exists() and _marker_ok(target, None):
        return target
    if target.exists():
        expected = spec.converted_sha256 if spec.convert else spec.sha256
        digest = sha256_file(target)
        if expected is None or digest == expected:
            _write_marker(target, digest)
            return target
        raise WeightsHashError(
            f"{target}: sha256 {digest} does not match the pinned {expected}; delete it and run "
            f"genmetrics weights download {spec.name}"
        )
    if offline_mode(offline):
        raise MissingWeightsError(missing_message(spec))
    try:
        genmetrics_home().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=genmetrics_home()) as tmp:
            return install_source_file(spec, _download(spec, Path(tmp)))
    except (OSError, ConnectionError) as exc:
        raise MissingWeightsError(missing_message(spec) + f" (download failed: {exc})") from None


def verify_weights(spec: WeightSpec) -> tuple[bool, str]:
    """Re-hash the cached file; returns (ok, message)."""
    target = spec.cached_path()
    if not target.exists():
        return False, "not in cache"
    digest = sha256_file(target)
    expected = spec.converted_sha256 if spec.convert else spec.sha256
    if expected is not None and digest != expected:
        return False, f"sha256 mismatch: {digest} != {expected}"
    _write_marker(target, digest)
    return True, digest
