"""One pass over a set of images: each image is read and hashed once, decoded at most once,
and run through each backbone at most once; results come from the cache when present.

Outputs are either kept per image (``form="array"``) or streamed into mergeable Gaussian
statistics (``form="gaussian"``, for FID) so memory does not grow with N.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from genmetrics.backbones.registry import Backbone, TextBackbone
from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.metrics.functional.gaussian import GaussianStats
from genmetrics.sources.decode import decode_image
from genmetrics.sources.items import ImageItem, content_hash


@dataclass(frozen=True)
class FeatureRequest:
    """One output of one backbone, kept per image or streamed as Gaussian statistics."""

    backbone: str
    output: str
    form: Literal["array", "gaussian"] = "array"


@dataclass
class ExtractedFeatures:
    """What one pass over one image set produced."""

    ids: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    hashes: list[str] = field(default_factory=list)
    arrays: dict[tuple[str, str], np.ndarray] = field(default_factory=dict)
    gaussians: dict[tuple[str, str], GaussianStats] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    forwards: dict[str, int] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def array(self, backbone: str, output: str) -> np.ndarray:
        return self.arrays[(backbone, output)]

    def gaussian(self, backbone: str, output: str) -> GaussianStats:
        return self.gaussians[(backbone, output)]


ProgressFn = Callable[[int], None]


def _read(item: ImageItem) -> tuple[bytes | np.ndarray | None, str | None]:
    try:
        return item.read(), None
    except (OSError, KeyError, ValueError) as exc:
        return None, f"cannot read file ({exc})"


def _default_workers() -> int:
    return max(1, min(8, (os.cpu_count() or 1)))


def extract_features(
    items: Sequence[ImageItem],
    backbones: dict[str, Backbone],
    requests: Sequence[FeatureRequest],
    *,
    cache: FeatureCache | None = None,
    batch_size: int = 32,
    workers: int | None = None,
    strict: bool = False,
    progress: ProgressFn | None = None,
    warn: Callable[[str], None] | None = None,
) -> ExtractedFeatures:
    """Run the requested backbones over ``items`` in one pass (see module docstring)."""
    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    needed = sorted({r.backbone for r in requests})
    result = ExtractedFeatures(
        forwards=dict.fromkeys(needed, 0), cache_hits=dict.fromkeys(needed, 0)
    )
    collect: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in requests:
        if r.form == "array":
            collect.setdefault((r.backbone, r.output), [])
        else:
            result.gaussians.setdefault((r.backbone, r.output), GaussianStats())
    chunk = max(4 * batch_size, 64)
    with ThreadPoolExecutor(max_workers=workers or _default_workers()) as pool:
        for start in range(0, len(items), chunk):
            part = list(items[start : start + chunk])
            keep = _hash_chunk(part, cache, pool, result, strict, warn)
            feats = _features_for(keep, backbones, needed, cache, batch_size, pool, result, strict, warn)
            ok = [k for k in keep if k[2] in feats]
            for item, _, digest in ok:
                result.ids.append(item.id)
                result.locations.append(item.location)
                result.hashes.append(digest)
            for (bname, output), rows in collect.items():
                rows.extend(feats[d][bname][output] for _, _, d in ok)
            for (bname, output), stats in result.gaussians.items():
                if ok:
                    stats.update(np.stack([feats[d][bname][output] for _, _, d in ok]))
            if progress:
                progress(len(part))
    for key, rows in collect.items():
        result.arrays[key] = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    return result


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _hash_chunk(part, cache, pool, result, strict, warn) -> list[tuple[ImageItem, bytes | np.ndarray | None, str]]:
    """Content hash of each item. Files unchanged since the cache last hashed them (same
    size and mtime) are not read here; everything else is read once and hashed."""
    known: dict[str, str] = {}
    stats: dict[str, tuple[int, int]] = {}
    if cache is not None:
        for item in part:
            st = _stat(item.file) if item.file else None
            if st is not None:
                stats[item.file] = st  # type: ignore[index]
        known = cache.known_hashes(stats) if stats else {}
    todo = [item for item in part if not (item.file and item.file in known)]
    blobs = dict(zip((i.location for i in todo), pool.map(_read, todo), strict=True))
    keep: list[tuple[ImageItem, bytes | np.ndarray | None, str]] = []
    fresh: list[tuple[str, int, int, str]] = []
    for item in part:
        if item.file and item.file in known:
            keep.append((item, None, known[item.file]))
            continue
        blob, err = blobs[item.location]
        if err is not None:
            _skip(result, item.location, err, strict, warn)
            continue
        digest = content_hash(blob)  # type: ignore[arg-type]
        keep.append((item, blob, digest))
        if item.file and item.file in stats:
            fresh.append((item.file, *stats[item.file], digest))
    if cache is not None:
        cache.remember_hashes(fresh)
    return keep


def _skip(result: ExtractedFeatures, where: str, reason: str, strict: bool, warn) -> None:
    if strict:
        raise UserError(f"{where}: {reason} (remove the file, or run without --strict to skip it)")
    result.skipped.append((where, reason))
    warn(f"skipped {where}: {reason}")


def _features_for(
    keep, backbones, needed, cache, batch_size, pool, result, strict, warn
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """{content hash: {backbone: {output: vector}}} for every decodable image of the chunk."""
    hashes = [d for _, _, d in keep]
    have: dict[str, dict[str, dict[str, np.ndarray]]] = {d: {} for d in hashes}
    missing: dict[str, list[int]] = {}
    for bname in needed:
        bb = backbones[bname]
        cached = cache.get_many(bb.key, hashes, bb.outputs) if cache is not None else {}
        for i, d in enumerate(hashes):
            if d in cached:
                have[d][bname] = cached[d]
                result.cache_hits[bname] += 1
            else:
                missing.setdefault(bname, []).append(i)
    to_decode = sorted({i for idx in missing.values() for i in idx})
    decoded: dict[int, np.ndarray] = {}
    bad: set[str] = set()
    if to_decode:

        def dec(i: int):
            item, blob, _ = keep[i]
            if blob is None:  # hash known from an unchanged file: read it only now
                blob, err = _read(item)
                if err is not None:
                    return i, None, err
            try:
                return i, decode_image(blob, item.location), None
            except ImageDecodeError as exc:
                return i, None, exc.reason

        for i, img, err in pool.map(dec, to_decode):
            if err is not None:
                _skip(result, keep[i][0].location, err, strict, warn)
                bad.add(hashes[i])
            else:
                decoded[i] = img
    for bname, idx in missing.items():
        bb: Backbone = backbones[bname]
        idx = [i for i in idx if i in decoded]
        for s in range(0, len(idx), batch_size):
            sub = idx[s : s + batch_size]
            inputs = list(pool.map(lambda i, bb=bb: bb.preprocess(decoded[i]), sub))
            out = bb.forward(np.stack(inputs))
            result.forwards[bname] += len(sub)
            fresh: list[tuple[str, dict[str, np.ndarray]]] = []
            for j, i in enumerate(sub):
                vecs = {k: np.asarray(v[j], dtype=np.float32) for k, v in out.items()}
                have[hashes[i]][bname] = vecs
                fresh.append((hashes[i], vecs))
            if cache is not None:  # every finished batch is kept: an interrupted run resumes
                cache.put_many(bb.key, fresh)
    return {d: v for d, v in have.items() if d not in bad and len(v) == len(needed)}


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode_texts_cached(
    encoder: TextBackbone, texts: Sequence[str], cache: FeatureCache | None, batch_size: int = 64
) -> np.ndarray:
    """Embed texts once each (duplicates share one forward), through the cache."""
    unique = list(dict.fromkeys(texts))
    keys = [text_hash(t) for t in unique]
    found = cache.get_many(encoder.text_key, keys, ["text"]) if cache is not None else {}
    todo = [t for t, k in zip(unique, keys, strict=True) if k not in found]
    fresh = []
    for s in range(0, len(todo), batch_size):
        sub = todo[s : s + batch_size]
        emb = encoder.encode_texts(sub)
        for t, e in zip(sub, emb, strict=True):
            vec = np.asarray(e, dtype=np.float32)
            found[text_hash(t)] = {"text": vec}
            fresh.append((text_hash(t), {"text": vec}))
    if cache is not None:
        cache.put_many(encoder.text_key, fresh)
    by_text = {t: found[k]["text"] for t, k in zip(unique, keys, strict=True)}
    if not texts:
        return np.zeros((0, 0), np.float32)
    return np.stack([by_text[t] for t in texts])
