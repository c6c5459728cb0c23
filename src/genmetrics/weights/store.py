"""Weights cache: pinned files, downloaded once, recorded by sha256, loaded without pickle.

Layout: ``$GENMETRICS_HOME/weights/<name>/<filename>`` (``GENMETRICS_HOME`` defaults to
``~/.cache/genmetrics``). Installing a file (download or import, converted or copied) writes an
install record beside it, ``<filename>.record.json``: the sha256 and size of the bytes we wrote,
the sha256 and form of the source they came from, and the outputs the weights provide.

* :func:`ensure_weights` is cheap (the record exists and the size matches), so a fully cached
  run never re-hashes a large file; the record's sha256 is the weights' cache identity.
* :func:`check_weights_file` hashes the file and compares it with the record; every loader calls
  it right before reading the tensors, so a changed file is never run.
* :func:`verify_weights` re-hashes against the record (and the pin, when the spec has one) and
  never rewrites the record: a changed file stays FAILED until it is downloaded or imported again.

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
from typing import Any, Literal

from genmetrics.atomic import umask_mode
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


ConvertFn = Callable[[Path, Path], "dict[str, Any] | None"]
"""``convert(source, dest)``; may return ``{"source_form": ..., "outputs": [...]}`` for the record."""


@dataclass(frozen=True)
class WeightSpec:
    """A pinned weights file.

    ``url`` is a direct download; ``hf_repo``/``hf_filename``/``hf_revision`` a Hugging Face Hub
    file. ``sha256`` pins the downloaded file. ``convert`` (optional) turns the downloaded file
    into the cached safetensors file ``filename``; its output hash is pinned by
    ``converted_sha256`` when known (conversions are deterministic). ``outputs`` lists what the
    downloadable form provides: a cached file recorded with fewer (installed from a partial
    form) is replaced by ``weights download``.
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
    convert: ConvertFn | None = field(default=None, compare=False)
    converted_sha256: str | None = None
    alt_sha256: tuple[str, ...] = ()
    """Other published forms of the same weights that ``import`` accepts (and converts)."""
    outputs: tuple[str, ...] = ()

    @property
    def origin(self) -> str:
        if self.url:
            return self.url
        if self.hf_repo:
            rev = f"@{self.hf_revision}" if self.hf_revision else ""
            return f"https://huggingface.co/{self.hf_repo}{rev} ({self.hf_filename})"
        return "(no public source)"

    @property
    def installed_sha256(self) -> str | None:
        """The pinned sha256 of the cached file, when it is known in advance."""
        return self.sha256 if self.convert is None else self.converted_sha256

    def cache_dir(self) -> Path:
        return genmetrics_home() / "weights" / self.name

    def cached_path(self) -> Path:
        return self.cache_dir() / self.filename


_REGISTRY: dict[str, WeightSpec] = {}


def register_weights(spec: WeightSpec, *, replace: bool = False) -> WeightSpec:
    """Add ``spec``; a name already registered is refused unless ``replace=True`` (recorded
    for the manifests, :func:`genmetrics.overrides.replacements`)."""
    from genmetrics.overrides import claim

    claim("weights", spec.name, spec.name in _REGISTRY, replace, "register_weights")
    _REGISTRY[spec.name] = spec
    return spec


def weight_specs() -> dict[str, WeightSpec]:
    """All registered weights, by name (after :func:`genmetrics.catalog.load`)."""
    return dict(_REGISTRY)


def get_weight_spec(name: str) -> WeightSpec:
    specs = weight_specs()
    if name not in specs:
        raise UserError(f"unknown weights '{name}'; known: {', '.join(sorted(specs))}")
    return specs[name]


# --- install records -------------------------------------------------------------------------

RECORD_SUFFIX = ".record.json"


def record_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path.with_name(path.name + RECORD_SUFFIX)


def read_record(path: str | os.PathLike) -> dict[str, Any] | None:
    """The install record of a cached weights file; ``None`` when absent or unreadable."""
    try:
        info = json.loads(record_path(path).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
        return None
    return info


def _write_record(
    spec: WeightSpec, path: Path, digest: str, source_sha256: str | None, info: dict[str, Any]
) -> dict[str, Any]:
    from genmetrics.version import __version__

    if info.get("source_form"):
        form = str(info["source_form"])
    elif source_sha256 is None:
        form = "pinned file"
    else:
        form = "published" if source_sha256 == spec.sha256 else "alternate published form"
    record = {
        "name": spec.name,
        "file": path.name,
        "sha256": digest,
        "size": path.stat().st_size,
        "source_sha256": source_sha256,
        "source_form": form,
        "outputs": [str(o) for o in (info.get("outputs") or spec.outputs)],
        "genmetrics": __version__,
    }
    atomic_write_text(record_path(path), json.dumps(record, indent=1, sort_keys=True) + "\n")
    return record


def outputs_label(spec: WeightSpec, record: dict[str, Any] | None) -> str:
    """``pool3+logits_unbiased``, or ``pool3 only`` when the record lacks some of ``spec.outputs``."""
    outputs = list((record or {}).get("outputs") or [])
    if not outputs:
        return ""
    text = "+".join(outputs)
    return f"{text} only" if not _complete(spec, record) else text


def _complete(spec: WeightSpec, record: dict[str, Any] | None) -> bool:
    recorded = (record or {}).get("outputs") or spec.outputs
    return set(spec.outputs) <= set(recorded)


def fix_hint(name: str) -> str:
    return (
        f"run 'genmetrics weights download {name}' or "
        f"'genmetrics weights import {name} PATH' to install it again"
    )


def _no_record_message(name: str, path: Path) -> str:
    return (
        f"{path} has no install record (cached by an older genmetrics or copied in by hand), so "
        f"its sha256 cannot be checked; {fix_hint(name)}"
    )


def file_sha256(path: str | os.PathLike) -> str:
    """Cache identity of a weights file: its recorded sha256 while the size still matches,
    else a fresh hash. Loading the network checks the bytes (:func:`check_weights_file`)."""
    path = Path(path)
    record = read_record(path)
    try:
        if record is not None and record.get("size") == path.stat().st_size:
            return record["sha256"]
    except OSError:
        pass
    return sha256_file(path)


def check_weights_file(
    path: str | os.PathLike, expected: str | None = None, name: str | None = None
) -> str:
    """Hash ``path`` now and compare with ``expected`` (default: its install record).

    Called right before the tensors are read, on every load; raises :class:`WeightsHashError`
    (exit 2) naming the file and the fix. Returns the sha256.
    """
    path = Path(path)
    record = read_record(path)
    name = name or (record or {}).get("name") or path.parent.name
    if expected is None:
        if record is None:
            raise WeightsHashError(_no_record_message(name, path))
        expected = record["sha256"]
    digest = sha256_file(path)
    if digest != expected:
        raise WeightsHashError(
            f"{path}: sha256 {digest} is not the {expected} recorded when it was installed "
            f"(the file was changed or corrupted); {fix_hint(name)}"
        )
    return digest


def atomic_write_text(path: Path, text: str) -> None:
    from genmetrics.atomic import atomic_write_text as write

    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, text)


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
        umask_mode(tmp)  # mkstemp makes 0600; the cache follows the umask like every file
        os.replace(tmp, local)
    else:
        raise MissingWeightsError(missing_message(spec))
    digest = sha256_file(local)
    if digest != spec.sha256:
        raise WeightsHashError(
            f"{local}: sha256 {digest} does not match the pinned {spec.sha256} for '{spec.name}'"
        )
    return local


# --- installing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstallResult:
    """What an install did: ``installed`` (nothing was cached), ``replaced``, ``kept`` (the
    cached file provides more outputs than the new one and ``force`` was not given) or
    ``cached`` (``weights download`` found a verified, complete copy)."""

    path: Path
    record: dict[str, Any]
    previous: dict[str, Any] | None
    action: Literal["installed", "replaced", "kept", "cached"]


def _verified_record(spec: WeightSpec, target: Path) -> dict[str, Any] | None:
    """The record of the cached file when the file hashes to it (and to the pin, if any)."""
    record = read_record(target) if target.exists() else None
    if record is None:
        return None
    pinned = spec.installed_sha256
    if pinned is not None and record["sha256"] != pinned:
        return None
    return record if sha256_file(target) == record["sha256"] else None


def install_source_file(
    spec: WeightSpec, source: Path, *, force: bool = True, source_sha256: str | None = None
) -> InstallResult:
    """Put a verified source file into the cache (converted when the spec says so) and record
    the sha256 of the bytes written. Without ``force``, a cached file that verifies and
    provides more outputs than the new one is kept."""
    target = spec.cached_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    source_sha256 = source_sha256 or sha256_file(source)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        if spec.convert is None:
            shutil.copyfile(source, tmp)
            info: dict[str, Any] = {}
        else:
            info = spec.convert(source, tmp) or {}
        digest = sha256_file(tmp)
        pinned = spec.installed_sha256
        if pinned is not None and digest != pinned:
            raise WeightsHashError(
                f"installed weights for '{spec.name}' hash to {digest}, expected {pinned}"
            )
        previous = read_record(target) if force else _verified_record(spec, target)
        new_outputs = set(info.get("outputs") or spec.outputs)
        if not force and previous is not None and set(previous.get("outputs") or ()) > new_outputs:
            return InstallResult(target, previous, previous, "kept")
        existed = target.exists()
        umask_mode(tmp)  # converters (safetensors) write 0600; the cache follows the umask
        record_path(target).unlink(missing_ok=True)  # no stale record while the file changes
        target.with_name(target.name + ".verified").unlink(missing_ok=True)  # old marker
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    record = _write_record(spec, target, digest, source_sha256, info)
    return InstallResult(target, record, previous, "replaced" if existed else "installed")


def import_weights(
    spec: WeightSpec, path: str | os.PathLike, *, force: bool = False
) -> InstallResult:
    """Verify a user-supplied file by sha256 and install it (converted) into the cache.

    A cached file that provides more outputs (e.g. the full Inception over a pool3-only import)
    is kept unless ``force``; the result says which happened."""
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
    return install_source_file(spec, source, force=force, source_sha256=digest)


def _fetch(spec: WeightSpec) -> InstallResult:
    try:
        genmetrics_home().mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=genmetrics_home()) as tmp:
            return install_source_file(spec, _download(spec, Path(tmp)), source_sha256=spec.sha256)
    except (OSError, ConnectionError) as exc:
        raise MissingWeightsError(missing_message(spec) + f" (download failed: {exc})") from None


def download_weights(spec: WeightSpec, offline: bool | None = False) -> InstallResult:
    """``weights download``: fetch and install the published file unless a verified copy that
    provides every output is cached. A changed, unrecorded or partial (e.g. pool3-only
    Inception) cached file is replaced."""
    target = spec.cached_path()
    previous = _verified_record(spec, target)
    if previous is not None and _complete(spec, previous):
        return InstallResult(target, previous, previous, "cached")
    if offline_mode(offline):
        raise MissingWeightsError(missing_message(spec))
    result = _fetch(spec)
    return InstallResult(result.path, result.record, previous, result.action)


def cached_record(spec: WeightSpec) -> dict[str, Any]:
    """The install record of the cached file, after cheap checks (record present, size and pin
    match); raises :class:`WeightsHashError` otherwise. A file without a record that matches
    the spec's pin gets one."""
    target = spec.cached_path()
    record = read_record(target)
    pinned = spec.installed_sha256
    if record is None:
        if pinned is not None and sha256_file(target) == pinned:
            return _write_record(spec, target, pinned, None if spec.convert else spec.sha256, {})
        raise WeightsHashError(_no_record_message(spec.name, target))
    if pinned is not None and record["sha256"] != pinned:
        raise WeightsHashError(
            f"{target}: recorded sha256 {record['sha256']} is not the pinned {pinned}; "
            f"{fix_hint(spec.name)}"
        )
    if record.get("size") != target.stat().st_size:
        raise WeightsHashError(
            f"{target}: size {target.stat().st_size} is not the {record.get('size')} recorded when "
            f"it was installed (the file was changed or corrupted); {fix_hint(spec.name)}"
        )
    return record


def ensure_weights(spec: WeightSpec, offline: bool | None = None) -> Path:
    """Path of the cached (converted) weights file, downloading it if allowed.

    Cheap when cached (see :func:`cached_record`); the bytes are hashed when the network is
    loaded (:func:`check_weights_file`, or :func:`verified_weights_path`)."""
    target = spec.cached_path()
    if target.exists():
        cached_record(spec)
        return target
    if offline_mode(offline):
        raise MissingWeightsError(missing_message(spec))
    return _fetch(spec).path


def verified_weights_path(spec: WeightSpec, offline: bool | None = None) -> Path:
    """:func:`ensure_weights`, then hash the file against its record: call right before loading."""
    path = ensure_weights(spec, offline)
    check_weights_file(path, name=spec.name)
    return path


def verify_weights(spec: WeightSpec) -> tuple[bool, str]:
    """Re-hash the cached file against its install record (and pin); returns (ok, message).
    Never rewrites the record."""
    target = spec.cached_path()
    if not target.exists():
        return False, "not in cache"
    digest = sha256_file(target)
    record = read_record(target)
    pinned = spec.installed_sha256
    if record is None:
        if pinned is not None and digest == pinned:
            return True, f"{digest} (matches the pinned sha256; no install record yet)"
        return False, f"{digest}: no install record, so it cannot be checked; {fix_hint(spec.name)}"
    if digest != record["sha256"]:
        return False, (
            f"sha256 {digest} is not the {record['sha256']} recorded when it was installed "
            f"(the file was changed or corrupted); {fix_hint(spec.name)}"
        )
    if pinned is not None and digest != pinned:
        return False, f"sha256 {digest} is not the pinned {pinned}; {fix_hint(spec.name)}"
    source = record.get("source_sha256")
    if source is not None and source not in (spec.sha256, *spec.alt_sha256):
        return False, (
            f"installed from {source}, which is not a known form of '{spec.name}'; "
            f"{fix_hint(spec.name)}"
        )
    provides = outputs_label(spec, record)
    extra = f", {provides}" if provides else ""
    return True, f"{digest} (from {record.get('source_form', 'unknown form')}{extra})"
