"""The host stage of a pass: hash each image, look its features up in the cache, and decode
and preprocess the misses for every backbone that needs them — one chunk at a time, so that
:mod:`genmetrics.features.extract` can prepare the next chunks while the networks run.

Nothing here runs a network or writes a feature: a :class:`PreparedChunk` holds the cached
features, the network inputs of the misses and the files that could not be used, in the
chunk's order.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

from genmetrics.backbones.registry import Backbone
from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.features.cache import FeatureCache
from genmetrics.sources.decode import DECODE_REVISION, load_rgb, open_image
from genmetrics.sources.items import ImageItem, content_hash

KEEP_BLOB_BYTES = 8 << 20
"""Encoded files up to this size are kept between hashing and decoding (read once); larger
ones are hashed as a stream and read again only if they must be decoded."""
KEEP_CHUNK_BYTES = 128 << 20
"""At most this many encoded bytes are kept per chunk between hashing and decoding."""
DECODE_BUDGET_PIXELS = 48_000_000
"""Decoded pixels held at once by all decode threads together (≈ 144 MB as uint8, plus the
resize's float copies). An image larger than this is decoded alone."""

SLOT_SEP = "\x00"

Features = dict[str, np.ndarray]
"""One image's outputs of one backbone: {output name: vector}."""


def default_workers() -> int:
    """Decode threads: one per core this process may run on. Pillow's decoders and resizes
    and numpy's array work release the GIL, so threads scale with the cores."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


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


@dataclass
class PreparedChunk:
    """One chunk of images after the host stage, in list order.

    ``keep``: (item, content hash) of every readable image; ``have``: features found in the
    cache, by content hash and slot; ``inputs``: network inputs of the misses, by position in
    ``keep`` and backbone; ``bad``: hashes that could not be decoded; ``skipped``: (location,
    reason) to report, in order; ``cache_hits``: rows served per backbone.
    """

    size: int
    keep: list[tuple[ImageItem, str]] = field(default_factory=list)
    have: dict[str, dict[str, Features]] = field(default_factory=dict)
    inputs: dict[int, dict[str, object]] = field(default_factory=dict)
    bad: set[str] = field(default_factory=set)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    cache_hits: dict[str, int] = field(default_factory=dict)


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


def _stat(path: str) -> tuple[int, ...] | None:
    """What identifies an unchanged file: size, mtime, inode and ctime (a file replaced by
    another of the same size and mtime still gets a new inode or ctime)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns


def known_digests(items: Sequence[ImageItem], cache: FeatureCache) -> list[str] | None:
    """The content hash of every item, when each is a file the cache hashed and that is
    unchanged since (see :func:`_stat`); None otherwise. Reads no image."""
    stats: dict[str, tuple[int, ...]] = {}
    for item in items:
        st = _stat(item.file) if item.file else None
        if st is None:
            return None
        stats[item.location] = st
    known = cache.known_hashes(stats)
    if len(known) < len(stats):
        return None
    return [known[item.location] for item in items]


def _decode_and_preprocess(
    item: ImageItem, blob, bbs: list[tuple[str, Backbone]], budget: PixelBudget
) -> dict[str, object]:
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


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def prompted_hash(image_hash: str, prompt: str) -> str:
    """Cache row of a prompt-conditioned backbone: sha256 of (image content hash, prompt hash)."""
    return hashlib.sha256(f"{image_hash}|{text_hash(prompt)}".encode()).hexdigest()


def cache_key(backbone: Backbone) -> str:
    """The cache identity of a backbone's image features: its own key (weights, protocol,
    dtype) and the decode revision (pixels of the same file under this decode policy)."""
    return f"{backbone.key}|decode-r{DECODE_REVISION}"


class ChunkPreparer:
    """The host stage for one pass (see module docstring). ``prepare`` is called for one
    chunk at a time, in order, on one thread; the decoding inside fans out to ``pool``."""

    def __init__(
        self,
        backbones: dict[str, Backbone],
        needed: Sequence[str],
        cache: FeatureCache | None,
        pool: Executor,
        strict: bool,
        prompt_of: dict[int, str],
        budget: PixelBudget | None = None,
    ) -> None:
        self.backbones = backbones
        self.needed = list(needed)
        self.cache = cache
        self.pool = pool
        self.strict = strict
        self.prompt_of = prompt_of
        self.budget = budget or PixelBudget(DECODE_BUDGET_PIXELS)

    def row_key(self, bb: Backbone, item: ImageItem, digest: str) -> str:
        if getattr(bb, "prompt_conditioned", False):
            return prompted_hash(digest, self.prompt_of[id(item)])
        return digest

    def slot(self, bname: str, bb: Backbone, item: ImageItem) -> str:
        """Where an item's features of one backbone are kept within a chunk: the backbone
        name, plus the prompt hash for a prompt-conditioned backbone (one image, several
        prompts)."""
        if getattr(bb, "prompt_conditioned", False):
            return f"{bname}{SLOT_SEP}{text_hash(self.prompt_of[id(item)])}"
        return bname

    def _skip(self, chunk: PreparedChunk, where: str, reason: str) -> None:
        if self.strict:
            raise UserError(f"{where}: {reason} (remove the file, or run without --strict to skip it)")
        chunk.skipped.append((where, reason))

    def prepare(self, part: Sequence[ImageItem]) -> PreparedChunk:
        chunk = PreparedChunk(size=len(part), cache_hits=dict.fromkeys(self.needed, 0))
        blobs = self._hash(part, chunk)
        hashes = [d for _, d in chunk.keep]
        chunk.have = {d: {} for d in hashes}
        missing: dict[int, list[tuple[str, Backbone]]] = {}
        for bname in self.needed:
            bb = self.backbones[bname]
            keys = [self.row_key(bb, it, d) for it, d in chunk.keep]
            found = self.cache.get_many(cache_key(bb), keys, bb.outputs) if self.cache else {}
            for i, (item, d) in enumerate(chunk.keep):
                if keys[i] in found:
                    chunk.have[d][self.slot(bname, bb, item)] = found[keys[i]]
                    chunk.cache_hits[bname] += 1
                else:
                    missing.setdefault(i, []).append((bname, bb))

        def work(i: int):
            item = chunk.keep[i][0]
            try:
                return i, _decode_and_preprocess(item, blobs[i], missing[i], self.budget), None
            except ImageDecodeError as exc:
                return i, None, exc.reason

        for i, prepared, err in self.pool.map(work, sorted(missing)):
            blobs[i] = None
            if err is not None:
                self._skip(chunk, chunk.keep[i][0].location, err)
                chunk.bad.add(hashes[i])
            else:
                chunk.inputs[i] = prepared
        return chunk

    def _hash(self, part: Sequence[ImageItem], chunk: PreparedChunk) -> list:
        """Content hash of each item into ``chunk.keep``; returns the encoded bytes kept for
        decoding, aligned with ``chunk.keep``. Files unchanged since the cache last hashed
        them are not read here; everything else is read (or streamed) once and hashed."""
        known: dict[str, str] = {}
        stats: dict[str, tuple[int, ...]] = {}
        if self.cache is not None:
            for item in part:
                st = _stat(item.file) if item.file else None
                if st is not None:
                    stats[item.location] = st
            known = self.cache.known_hashes(stats) if stats else {}
        todo = [item for item in part if item.location not in known]
        hashed = dict(zip((i.location for i in todo), self.pool.map(_hash_item, todo), strict=True))
        blobs: list = []
        kept_bytes = 0
        fresh: list[tuple[str, tuple[int, ...], str]] = []
        for item in part:
            if item.location in known:
                chunk.keep.append((item, known[item.location]))
                blobs.append(None)
                continue
            blob, digest, err = hashed[item.location]
            if err is not None or digest is None:
                self._skip(chunk, item.location, err or "cannot read file")
                continue
            if isinstance(blob, bytes):
                kept_bytes += len(blob)
                if kept_bytes > KEEP_CHUNK_BYTES:
                    blob = None  # read again when decoded: the chunk's bytes stay bounded
            chunk.keep.append((item, digest))
            blobs.append(blob)
            if item.location in stats:
                fresh.append((item.location, stats[item.location], digest))
        if self.cache is not None and fresh:
            self.cache.remember_hashes(fresh)
        return blobs
