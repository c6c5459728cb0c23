"""One pass over a set of images: each image is read and hashed once, decoded at most once,
and run through each backbone at most once; results come from the cache when present.

Outputs are either kept per image (``form="array"``) or streamed into mergeable Gaussian
statistics (``form="gaussian"``, for FID) so memory does not grow with N.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from genmetrics.backbones.registry import Backbone, TextBackbone
from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.features.gaussian import GaussianStats
from genmetrics.sources.decode import DECODE_REVISION, load_rgb, open_image
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
    cache_corrupt_rows: int = 0
    """Cache rows that failed their checksum during this pass (recomputed, counted)."""

    def __len__(self) -> int:
        return len(self.ids)

    def array(self, backbone: str, output: str) -> np.ndarray:
        return self.arrays[(backbone, output)]

    def gaussian(self, backbone: str, output: str) -> GaussianStats:
        return self.gaussians[(backbone, output)]

    @classmethod
    def merge(cls, parts: Sequence[ExtractedFeatures]) -> ExtractedFeatures:
        """Shards of one image list, in list order, as one result: rows concatenated,
        statistics merged exactly (Chan et al.), counts summed. Shards must be disjoint."""
        out = cls()
        for part in parts:
            out.ids += part.ids
            out.locations += part.locations
            out.hashes += part.hashes
            out.skipped += part.skipped
            out.cache_corrupt_rows += part.cache_corrupt_rows
            for counts, theirs in ((out.forwards, part.forwards), (out.cache_hits, part.cache_hits)):
                for k, v in theirs.items():
                    counts[k] = counts.get(k, 0) + v
            for key, stats in part.gaussians.items():
                out.gaussians.setdefault(key, GaussianStats()).merge(stats)
        if len(set(out.ids)) != len(out.ids):
            raise ValueError("shards overlap: an image id occurs in more than one shard")
        for key in {k for p in parts for k in p.arrays}:
            rows = [p.arrays[key] for p in parts if key in p.arrays and len(p.arrays[key])]
            out.arrays[key] = np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)
        return out

    def subset(self, ids: Sequence[str]) -> ExtractedFeatures:
        """The rows of ``ids`` (in that order), e.g. one style of a benchmark. Gaussian
        statistics cannot be sliced: a subset of a streamed set is an error."""
        if self.gaussians:
            raise ValueError("streamed statistics cannot be sliced; extract the subset itself")
        row = {i: n for n, i in enumerate(self.ids)}
        missing = [i for i in ids if i not in row]
        if missing:
            raise KeyError(f"{len(missing)} id(s) not in these features, first: {missing[0]}")
        take = [row[i] for i in ids]
        return ExtractedFeatures(
            ids=list(ids),
            locations=[self.locations[n] for n in take],
            hashes=[self.hashes[n] for n in take],
            arrays={k: v[take] for k, v in self.arrays.items()},
            forwards=dict.fromkeys(self.forwards, 0),
            cache_hits=dict.fromkeys(self.cache_hits, 0),
        )


ProgressFn = Callable[[int], None]

KEEP_BLOB_BYTES = 8 << 20
"""Encoded files up to this size are kept between hashing and decoding (read once); larger
ones are hashed as a stream and read again only if they must be decoded."""
KEEP_CHUNK_BYTES = 128 << 20
"""At most this many encoded bytes are kept per chunk between hashing and decoding."""
DECODE_BUDGET_PIXELS = 48_000_000
"""Decoded pixels held at once by all decode threads together (≈ 144 MB as uint8, plus the
resize's float copies). An image larger than this is decoded alone."""


class PixelBudget:
    """A counting gate on decoded pixels, so memory is bounded by the batch and the budget,
    never by how large the images are or how many threads decode them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._cond = threading.Condition()

    @contextlib.contextmanager
    def hold(self, pixels: int) -> Iterator[None]:
        amount = max(1, min(int(pixels), self.limit))
        with self._cond:
            self._cond.wait_for(lambda: self._used + amount <= self.limit)
            self._used += amount
        try:
            yield
        finally:
            with self._cond:
                self._used -= amount
                self._cond.notify_all()


def _read(item: ImageItem) -> tuple[bytes | np.ndarray | None, str | None]:
    try:
        return item.read(), None
    except (OSError, KeyError, ValueError, EOFError) as exc:
        return None, f"cannot read file ({exc})"


def _hash_item(item: ImageItem) -> tuple[bytes | np.ndarray | None, str | None, str | None]:
    """(blob kept for decoding or None, content hash, error)."""
    if item.file is not None:
        try:
            size = os.path.getsize(item.file)
            if size > KEEP_BLOB_BYTES:  # hash as a stream; read again only to decode
                h = hashlib.sha256()
                with open(item.file, "rb") as f:
                    while block := f.read(1 << 20):
                        h.update(block)
                return None, h.hexdigest(), None
        except OSError as exc:
            return None, None, f"cannot read file ({exc.strerror or exc})"
    blob, err = _read(item)
    if err is not None:
        return None, None, err
    digest = content_hash(blob)  # type: ignore[arg-type]
    keep = isinstance(blob, np.ndarray) or len(blob) <= KEEP_BLOB_BYTES  # type: ignore[arg-type]
    return (blob if keep else None), digest, None


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
    prompts: Sequence[str | None] | None = None,
) -> ExtractedFeatures:
    """Run the requested backbones over ``items`` in one pass (see module docstring).

    Memory is bounded by the chunk of preprocessed inputs (a few batches) and the decode
    budget: each image is decoded and preprocessed for every backbone that needs it in one
    step, and only the small network inputs are kept.

    ``prompts`` (aligned with ``items``; default: each item's ``prompt`` attribute) feed
    prompt-conditioned backbones (``prompt_conditioned = True``, e.g. ImageReward), whose
    features are cached per (image content, prompt) pair.
    """
    warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
    needed = sorted({r.backbone for r in requests})
    prompt_of = _prompts_of(items, [backbones[b] for b in needed], prompts)
    result = ExtractedFeatures(
        forwards=dict.fromkeys(needed, 0), cache_hits=dict.fromkeys(needed, 0)
    )
    collect: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in requests:
        if r.form == "array":
            collect.setdefault((r.backbone, r.output), [])
        else:
            result.gaussians.setdefault((r.backbone, r.output), GaussianStats())
    chunk = batch_size * max(4, -(-64 // batch_size))  # whole batches: shards align
    budget = PixelBudget(DECODE_BUDGET_PIXELS)
    with ThreadPoolExecutor(max_workers=workers or _default_workers()) as pool:
        for start in range(0, len(items), chunk):
            part = list(items[start : start + chunk])
            keep = _hash_chunk(part, cache, pool, result, strict, warn)
            feats = _features_for(
                keep, backbones, needed, cache, batch_size, pool, budget, result, strict, warn,
                prompt_of,
            )
            ok = [k for k in keep if k[2] in feats]
            for item, _, digest in ok:
                result.ids.append(item.id)
                result.locations.append(item.location)
                result.hashes.append(digest)
            for (bname, output), rows in collect.items():
                bb = backbones[bname]
                rows.extend(feats[d][_slot(bname, bb, it, prompt_of)][output] for it, _, d in ok)
            for (bname, output), stats in result.gaussians.items():
                if ok:
                    bb = backbones[bname]
                    stats.update(np.stack(
                        [feats[d][_slot(bname, bb, it, prompt_of)][output] for it, _, d in ok]
                    ))
            if progress:
                progress(len(part))
    for key, rows in collect.items():
        result.arrays[key] = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    return result


def _stat(path: str) -> tuple[int, ...] | None:
    """What identifies an unchanged file: size, mtime, inode and ctime (a file replaced by
    another of the same size and mtime still gets a new inode or ctime)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def _hash_chunk(part, cache, pool, result, strict, warn) -> list[tuple[ImageItem, bytes | np.ndarray | None, str]]:
    """Content hash of each item. Files unchanged since the cache last hashed them are not
    read here; everything else is read (or streamed) once and hashed."""
    known: dict[str, str] = {}
    stats: dict[str, tuple[int, ...]] = {}
    if cache is not None:
        for item in part:
            st = _stat(item.file) if item.file else None
            if st is not None:
                stats[item.location] = st
        known = cache.known_hashes(stats) if stats else {}
    todo = [item for item in part if item.location not in known]
    hashed = dict(zip((i.location for i in todo), pool.map(_hash_item, todo), strict=True))
    keep: list[tuple[ImageItem, bytes | np.ndarray | None, str]] = []
    kept_bytes = 0
    fresh: list[tuple[str, tuple[int, ...], str]] = []
    for item in part:
        if item.location in known:
            keep.append((item, None, known[item.location]))
            continue
        blob, digest, err = hashed[item.location]
        if err is not None or digest is None:
            _skip(result, item.location, err or "cannot read file", strict, warn)
            continue
        if isinstance(blob, bytes):
            kept_bytes += len(blob)
            if kept_bytes > KEEP_CHUNK_BYTES:
                blob = None  # read again when decoded: the chunk's bytes stay bounded
        keep.append((item, blob, digest))
        if item.location in stats:
            fresh.append((item.location, stats[item.location], digest))
    if cache is not None:
        cache.remember_hashes(fresh)
    return keep


def _skip(result: ExtractedFeatures, where: str, reason: str, strict: bool, warn) -> None:
    if strict:
        raise UserError(f"{where}: {reason} (remove the file, or run without --strict to skip it)")
    result.skipped.append((where, reason))
    warn(f"skipped {where}: {reason}")


def _prepare(
    item: ImageItem, blob, bbs: list[tuple[str, Backbone]], budget: PixelBudget
) -> dict[str, np.ndarray]:
    """Decode one image and preprocess it for each backbone in ``bbs``, holding its
    full-resolution pixels only inside the decode budget and only until the small network
    inputs exist. A file not kept after hashing is opened by path, never read whole."""
    if blob is None:
        if item.file is not None:
            blob = item.file
        else:
            blob, err = _read(item)
            if err is not None:
                raise ImageDecodeError(item.location, err)
    try:
        if isinstance(blob, np.ndarray):
            with budget.hold(blob.shape[0] * blob.shape[1]):
                return {name: bb.preprocess(blob) for name, bb in bbs}
        img = open_image(blob, item.location)
        del blob
        with budget.hold(img.width * img.height):
            pixels = load_rgb(img, item.location)  # closes img: its memory is freed here
            del img
            return {name: bb.preprocess(pixels) for name, bb in bbs}
    except MemoryError:
        raise ImageDecodeError(item.location, "out of memory while decoding or resizing") from None
    except OSError as exc:
        raise ImageDecodeError(item.location, f"cannot read file ({exc.strerror or exc})") from None


def _features_for(
    keep, backbones, needed, cache, batch_size, pool, budget, result, strict, warn,
    prompt_of=None,
) -> dict[str, dict[str, dict[str, np.ndarray]]]:
    """{content hash: {slot: {output: vector}}} for every decodable image of the chunk
    (slot: the backbone name, plus the prompt hash for prompt-conditioned ones)."""
    prompt_of = prompt_of or {}
    hashes = [d for _, _, d in keep]
    have: dict[str, dict[str, dict[str, np.ndarray]]] = {d: {} for d in hashes}
    missing: dict[int, list[tuple[str, Backbone]]] = {}
    for bname in needed:
        bb = backbones[bname]
        keys = [_row_key(bb, it, d, prompt_of) for it, _, d in keep]
        cached = cache.get_many(cache_key(bb), keys, bb.outputs) if cache is not None else {}
        for i, d in enumerate(hashes):
            if keys[i] in cached:
                have[d][_slot(bname, bb, keep[i][0], prompt_of)] = cached[keys[i]]
                result.cache_hits[bname] += 1
            else:
                missing.setdefault(i, []).append((bname, bb))
    inputs: dict[int, dict[str, np.ndarray]] = {}
    bad: set[str] = set()

    def prepare(i: int):
        item, blob, _ = keep[i]
        try:
            return i, _prepare(item, blob, missing[i], budget), None
        except ImageDecodeError as exc:
            return i, None, exc.reason

    for i, prepared, err in pool.map(prepare, sorted(missing)):
        if err is not None:
            _skip(result, keep[i][0].location, err, strict, warn)
            bad.add(hashes[i])
        else:
            inputs[i] = prepared
    for bname in needed:
        bb: Backbone = backbones[bname]
        idx = [i for i in sorted(inputs) if bname in inputs[i]]
        for s in range(0, len(idx), batch_size):
            sub = idx[s : s + batch_size]
            batch = np.stack([inputs[i].pop(bname) for i in sub])
            if getattr(bb, "prompt_conditioned", False):
                out = bb.forward_prompted(batch, [prompt_of[id(keep[i][0])] for i in sub])
            else:
                out = bb.forward(batch)
            result.forwards[bname] += len(sub)
            fresh: list[tuple[str, dict[str, np.ndarray]]] = []
            for j, i in enumerate(sub):
                vecs = {k: np.asarray(v[j], dtype=np.float32) for k, v in out.items()}
                item = keep[i][0]
                have[hashes[i]][_slot(bname, bb, item, prompt_of)] = vecs
                fresh.append((_row_key(bb, item, hashes[i], prompt_of), vecs))
            if cache is not None:  # every finished batch is kept: an interrupted run resumes
                cache.put_many(cache_key(bb), fresh)
    want = set(needed)
    return {
        d: v for d, v in have.items()
        if d not in bad and want <= {k.split(_SLOT_SEP, 1)[0] for k in v}
    }


_SLOT_SEP = "\x00"


def _prompts_of(items, bbs, prompts) -> dict[int, str]:
    """{id(item): prompt} when a prompt-conditioned backbone is asked for (else empty)."""
    conditioned = [bb.name for bb in bbs if getattr(bb, "prompt_conditioned", False)]
    if not conditioned:
        return {}
    if prompts is None:
        prompts = [getattr(item, "prompt", None) for item in items]
    if len(prompts) != len(items):
        raise ValueError(f"{len(prompts)} prompts for {len(items)} images")
    out: dict[int, str] = {}
    for item, prompt in zip(items, prompts, strict=True):
        if prompt is None:
            raise UserError(
                f"{item.location}: {', '.join(conditioned)} needs the prompt of each image; "
                "pass --prompts FILE (or sidecar .txt files)"
            )
        out[id(item)] = str(prompt)
    return out


def prompted_hash(image_hash: str, prompt: str) -> str:
    """Cache row of a prompt-conditioned backbone: sha256 of (image content hash, prompt hash)."""
    return hashlib.sha256(f"{image_hash}|{text_hash(prompt)}".encode()).hexdigest()


def _row_key(bb: Backbone, item: ImageItem, digest: str, prompt_of: dict[int, str]) -> str:
    if getattr(bb, "prompt_conditioned", False):
        return prompted_hash(digest, prompt_of[id(item)])
    return digest


def _slot(bname: str, bb: Backbone, item: ImageItem, prompt_of: dict[int, str]) -> str:
    """Where an item's features of one backbone are kept within a chunk: the backbone name,
    plus the prompt hash for a prompt-conditioned backbone (one image, several prompts)."""
    if getattr(bb, "prompt_conditioned", False):
        return f"{bname}{_SLOT_SEP}{text_hash(prompt_of[id(item)])}"
    return bname


def cache_key(backbone: Backbone) -> str:
    """The cache identity of a backbone's image features: its own key (weights, protocol,
    dtype) and the decode revision (pixels of the same file under this decode policy)."""
    return f"{backbone.key}|decode-r{DECODE_REVISION}"


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
