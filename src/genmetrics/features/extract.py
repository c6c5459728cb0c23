"""One pass over a set of images: each image is read and hashed once, decoded at most once,
and run through each backbone at most once; results come from the cache when present.

Outputs are either kept per image (``form="array"``) or streamed into mergeable Gaussian
statistics (``form="gaussian"``, for FID) so memory does not grow with N.
"""

from __future__ import annotations

import contextlib
import sys
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from genmetrics.backbones.registry import Backbone, TextBackbone
from genmetrics.errors import UserError
from genmetrics.features import set_stats
from genmetrics.features.cache import FeatureCache
from genmetrics.features.cache_writer import CacheWriter
from genmetrics.features.gaussian import GaussianStats
from genmetrics.features.prepare import (
    SLOT_SEP,
    ChunkPreparer,
    Features,
    PreparedChunk,
    cache_key,
    default_workers,
    known_digests,
    prompted_hash,
    text_hash,
)
from genmetrics.features.set_stats import RowFolder
from genmetrics.sources.items import ImageItem

__all__ = [
    "ExtractedFeatures",
    "FeatureRequest",
    "cache_key",
    "encode_texts_cached",
    "extract_features",
    "prompted_hash",
    "text_hash",
]


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
    batch_sizes: dict[str, int] = field(default_factory=dict)
    """Batch size each backbone ran with (less than asked after running out of memory)."""
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
            for name, size in part.batch_sizes.items():
                out.batch_sizes[name] = min(size, out.batch_sizes.get(name, size))
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

PREFETCH_CHUNKS = 2
"""Chunks prepared ahead of the one the networks are running on (bounded: memory holds at
most this many chunks of network inputs besides the current one)."""


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

    The stages overlap when a network runs on a GPU: while it runs on one chunk of images (a
    few whole batches), one thread hashes, looks up and decodes the next chunks
    (:mod:`.prepare`, decoding fanned out to ``workers`` threads, default one per core). On
    the CPU the chunk is prepared, then run (both stages use every core). Either way another
    thread commits finished batches to the cache (:mod:`.cache_writer`). Chunks and batches
    are the same in both modes, so the features are bit-identical.

    Memory is bounded by the chunks of preprocessed inputs in flight and the decode budget:
    each image is decoded and preprocessed for every backbone that needs it in one step, and
    only the small network inputs are kept.

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
    digests, found = _stored_statistics(items, backbones, requests, cache)
    streamed = {(r.backbone, r.output) for r in requests if r.form == "gaussian"}
    if digests is not None and all(r.form == "gaussian" for r in requests) and streamed <= found.keys():
        # every statistic asked was stored for exactly these files: no row is read
        result.ids = [item.id for item in items]
        result.locations = [item.location for item in items]
        result.hashes, result.gaussians = digests, found
        result.cache_hits = dict.fromkeys(needed, len(items))
        result.batch_sizes = dict.fromkeys(needed, batch_size)
        if progress:
            progress(len(items))
        return result
    collect: dict[tuple[str, str], list[np.ndarray]] = {}
    for r in requests:
        if r.form == "array":
            collect.setdefault((r.backbone, r.output), [])
    # stored statistics of an output whose rows are read anyway (kept per image) spare the fold
    found = {key: stats for key, stats in found.items() if key in collect}
    folders = {key: RowFolder(GaussianStats()) for key in sorted(streamed - found.keys())}
    chunk = batch_size * max(4, -(-64 // batch_size))  # whole batches: shards align
    starts = range(0, len(items), chunk)
    with contextlib.ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=workers or default_workers()))
        writer = stack.enter_context(CacheWriter(cache))
        ahead = ThreadPoolExecutor(max_workers=1, thread_name_prefix="genmetrics-prepare")
        stack.callback(ahead.shutdown, wait=True, cancel_futures=True)
        stage = ChunkPreparer(backbones, needed, cache, pool, strict, prompt_of)
        runner = _NetworkStage(backbones, needed, batch_size, stage, writer)
        pending: deque[Future[PreparedChunk]] = deque()
        depth = PREFETCH_CHUNKS if _on_accelerator([backbones[b] for b in needed]) else 0
        for start in starts:
            pending.append(ahead.submit(stage.prepare, items[start : start + chunk]))
            if len(pending) > depth:
                _collect(pending.popleft().result(), runner, result, collect, folders, warn,
                         progress)
        while pending:
            _collect(pending.popleft().result(), runner, result, collect, folders, warn, progress)
    result.batch_sizes = {b: runner.batch_sizes.get(b, batch_size) for b in needed}
    for key, rows in collect.items():
        result.arrays[key] = np.stack(rows) if rows else np.zeros((0, 0), np.float32)
    if found and result.hashes != digests:  # a file was skipped: fold the rows that were kept
        folders.update((key, RowFolder(GaussianStats())) for key in found)
        for key in found:
            folders[key].add(list(result.arrays[key]))
        found = {}
    result.gaussians.update(found)
    for (bname, output), folder in folders.items():
        stats = result.gaussians[(bname, output)] = folder.finish()
        bb = backbones[bname]
        if cache is not None and not getattr(bb, "prompt_conditioned", False):
            set_stats.store_state(cache, cache_key(bb), output, result.hashes, stats)
    return result


def _stored_statistics(items, backbones, requests, cache):
    """(content hashes of ``items``, {(backbone, output): statistics}) for the streamed
    requests whose statistics over exactly these files, in this order, are in the cache
    (:mod:`.set_stats`); (None, {}) when some file's hash is not known from the cache."""
    wanted = {(r.backbone, r.output) for r in requests if r.form == "gaussian"
              and not getattr(backbones[r.backbone], "prompt_conditioned", False)}
    if cache is None or not wanted or len(items) < set_stats.MIN_ROWS:
        return None, {}
    digests = known_digests(items, cache)
    if digests is None:
        return None, {}
    found = {(b, o): stats for b, o in sorted(wanted)
             if (stats := set_stats.load_state(cache, cache_key(backbones[b]), o, digests)) is not None}
    return digests, found


def _collect(prepared: PreparedChunk, runner: _NetworkStage, result: ExtractedFeatures,
             collect, folders: dict[tuple[str, str], RowFolder], warn, progress) -> None:
    """Run the networks on one prepared chunk and append its rows, in list order."""
    for where, reason in prepared.skipped:
        result.skipped.append((where, reason))
        warn(f"skipped {where}: {reason}")
    for bname, hits in prepared.cache_hits.items():
        result.cache_hits[bname] += hits
    feats = runner.run(prepared, result.forwards)
    stage = runner.stage
    ok = [(it, d) for it, d in prepared.keep if d in feats]
    for item, digest in ok:
        result.ids.append(item.id)
        result.locations.append(item.location)
        result.hashes.append(digest)
    for (bname, output), rows in collect.items():
        bb = runner.backbones[bname]
        rows.extend(feats[d][stage.slot(bname, bb, it)][output] for it, d in ok)
    for (bname, output), folder in folders.items():
        bb = runner.backbones[bname]
        folder.add([feats[d][stage.slot(bname, bb, it)][output] for it, d in ok])
    if progress:
        progress(prepared.size)


class _NetworkStage:
    """The networks' side of a pass: batches of prepared inputs through each backbone, the
    finished rows handed to the cache writer."""

    def __init__(self, backbones, needed, batch_size, stage: ChunkPreparer, writer: CacheWriter):
        self.backbones = backbones
        self.needed = needed
        self.batch_size = batch_size
        self.stage = stage
        self.writer = writer
        self.batch_sizes: dict[str, int] = {}
        """Batch size per backbone: ``batch_size``, or less after running out of memory."""

    def _forward(self, bname: str, bb: Backbone, inputs: list, prompts: list):
        """One batch through one backbone; None when the device ran out of memory, after
        halving that backbone's batch size for the rest of the pass (never below 1)."""
        collate = getattr(bb, "collate", np.stack)  # duck-typed plugins: stacked
        try:
            if getattr(bb, "prompt_conditioned", False):
                return bb.forward_prompted(collate(inputs), prompts)
            return bb.forward(collate(inputs))
        except RuntimeError as exc:
            if not _out_of_device_memory(exc) or len(inputs) == 1:
                raise
        _free_device_memory()
        self.batch_sizes[bname] = max(1, len(inputs) // 2)
        return None

    def run(self, chunk: PreparedChunk, forwards: dict[str, int]) -> dict[str, dict[str, Features]]:
        """{content hash: {slot: {output: vector}}} for every usable image of the chunk."""
        keep, have, inputs = chunk.keep, chunk.have, chunk.inputs
        for bname in self.needed:
            bb: Backbone = self.backbones[bname]
            idx = [i for i in sorted(inputs) if bname in inputs[i]]
            s = 0
            while s < len(idx):
                sub = idx[s : s + self.batch_sizes.setdefault(bname, self.batch_size)]
                out = self._forward(bname, bb, [inputs[i][bname] for i in sub],
                                    [self.stage.prompt_of.get(id(keep[i][0])) for i in sub])
                if out is None:  # out of device memory: the batch size was halved, again
                    continue
                s += len(sub)
                for i in sub:
                    del inputs[i][bname]
                forwards[bname] += len(sub)
                fresh: list[tuple[str, Features]] = []
                for j, i in enumerate(sub):
                    vecs = {k: np.asarray(v[j], dtype=np.float32) for k, v in out.items()}
                    item, digest = keep[i]
                    have[digest][self.stage.slot(bname, bb, item)] = vecs
                    fresh.append((self.stage.row_key(bb, item, digest), vecs))
                # every finished batch is kept (off this thread): an interrupted run resumes
                self.writer.put(cache_key(bb), fresh)
        want = set(self.needed)
        return {
            d: v for d, v in have.items()
            if d not in chunk.bad and want <= {k.split(SLOT_SEP, 1)[0] for k in v}
        }


def _on_accelerator(backbones: Sequence[Backbone]) -> bool:
    """Whether any network runs off the CPU. Only then do decoding and the networks overlap:
    on the CPU the network already uses every core, and decode threads beside its OpenMP
    threads oversubscribe them (measured: the same pass 1.2–3.5× slower in wall time)."""
    return any(getattr(bb, "device_type", "cpu") not in ("cpu", "meta") for bb in backbones)


def _out_of_device_memory(exc: BaseException) -> bool:
    """torch's ``OutOfMemoryError`` (CUDA, MPS), recognised without importing torch."""
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in str(exc).lower()


def _free_device_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


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
