"""What an :class:`~genmetrics.pipeline.evaluator.Evaluator` keeps of one side (generated or
reference) between updates: exactly what its metrics need, nothing per image otherwise.

* A ``gaussian`` request (FID, sFID, FD on any space) is a float64
  :class:`~genmetrics.features.gaussian.GaussianStats`: count, mean and scatter, D + D² numbers
  whatever the number of images.
* An ``array`` request (KID, IS, P/R/D/C, FD∞, SWD, CMMD, text–image and reward metrics)
  keeps each image's float32 row (D numbers), plus its content sha256 for the per-image table.
* Prompt records are kept when a metric needs prompts.

States of several processes merge with :meth:`FeatureState.merged` in rank order: rows
concatenated, statistics merged exactly (:meth:`ExtractedFeatures.merge`), counts summed.
:meth:`FeatureState.state` is plain tensors, ints, strings, lists and dicts, so a checkpoint
saved with ``torch.save`` loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genmetrics.errors import UserError
from genmetrics.features.extract import ExtractedFeatures, FeatureRequest
from genmetrics.features.gaussian import GaussianStats

Space = tuple[str, str]


@dataclass
class FeatureState:
    """One side's accumulated features (see the module docstring)."""

    requests: tuple[FeatureRequest, ...]
    keep_prompts: bool = False
    n: int = 0
    hashes: list[str] = field(default_factory=list)
    rows: dict[Space, list[np.ndarray]] = field(default_factory=dict)
    gaussians: dict[Space, GaussianStats] = field(default_factory=dict)
    records: list[Any] = field(default_factory=list)
    forwards: dict[str, int] = field(default_factory=dict)
    cache_hits: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.requests:
            space = (r.backbone, r.output)
            if r.form == "array":
                self.rows.setdefault(space, [])
            else:
                self.gaussians.setdefault(space, GaussianStats())

    @property
    def keeps_rows(self) -> bool:
        """Whether anything is kept per image (else the state is O(D²) whatever N)."""
        return bool(self.rows) or self.keep_prompts

    def check(self, feats: ExtractedFeatures) -> None:
        """A UserError if ``feats`` cannot be added (dimensions unlike the earlier updates),
        before anything is changed."""
        for space, chunks in self.rows.items():
            new = feats.arrays.get(space)
            if new is not None and chunks and len(new) and new.shape[1] != chunks[0].shape[1]:
                raise UserError(f"{space[0]}:{space[1]} features are {new.shape[1]}-d, earlier "
                                f"ones {chunks[0].shape[1]}-d")
        for space, stats in self.gaussians.items():
            new_stats = feats.gaussians.get(space)
            if new_stats is not None and stats.dim is not None and new_stats.dim not in (None, stats.dim):
                raise UserError(f"{space[0]}:{space[1]} features are {new_stats.dim}-d, earlier "
                                f"ones {stats.dim}-d")

    def add(self, feats: ExtractedFeatures, records: Sequence[Any] | None) -> None:
        """Fold one update's features in (call :meth:`check` first: this cannot fail)."""
        self.n += len(feats)
        if self.keeps_rows:
            self.hashes += feats.hashes
        if self.keep_prompts:
            self.records += list(records or ())
        for space, chunks in self.rows.items():
            if len(feats):
                chunks.append(np.ascontiguousarray(feats.array(*space), dtype=np.float32))
        for space, stats in self.gaussians.items():
            stats.merge(feats.gaussian(*space))
        _add_counts(self.forwards, feats.forwards)
        _add_counts(self.cache_hits, feats.cache_hits)

    def features(self, skipped: int = 0) -> ExtractedFeatures:
        """As ``evaluate``'s extraction returns them: ids ``00000``, ``00001``… in feed order
        (what ``evaluate`` names in-memory images), locations ``image[i]``."""
        width = max(5, len(str(self.n)))
        ids = [f"{i:0{width}d}" for i in range(self.n)]
        hashes = self.hashes if self.keeps_rows else [""] * self.n
        return ExtractedFeatures(
            ids=ids, locations=[f"image[{i}]" for i in range(self.n)], hashes=list(hashes),
            arrays={space: _rows(chunks) for space, chunks in self.rows.items()},
            gaussians={space: GaussianStats.from_state(s.state()) for space, s in self.gaussians.items()},
            forwards=dict(self.forwards), cache_hits=dict(self.cache_hits),
        )

    @classmethod
    def merged(cls, parts: Sequence[FeatureState]) -> FeatureState:
        """Several processes' states as one, in the order given (rows concatenated,
        statistics merged exactly with :meth:`ExtractedFeatures.merge`)."""
        first = parts[0]
        shards = []
        for rank, part in enumerate(parts):
            feats = part.features()
            feats.ids = [f"{rank}/{i}" for i in feats.ids]  # unique across shards for merge
            if not part.n:
                feats.gaussians = {}
            shards.append(feats)
        joined = ExtractedFeatures.merge(shards)
        out = cls(first.requests, first.keep_prompts)
        out.n = sum(p.n for p in parts)
        out.hashes = [h for p in parts for h in p.hashes]
        out.records = [r for p in parts for r in p.records]
        for space in out.rows:
            rows = joined.arrays.get(space)
            out.rows[space] = [rows] if rows is not None and len(rows) else []
        for space in out.gaussians:
            if space in joined.gaussians:
                out.gaussians[space] = joined.gaussians[space]
        out.forwards, out.cache_hits = dict(joined.forwards), dict(joined.cache_hits)
        return out

    def bytes_per_image(self) -> int:
        """Feature bytes kept per image: 4 × the width of every kept row (0 when only
        statistics are kept, or before the first image)."""
        return sum(4 * int(chunks[0].shape[1]) for chunks in self.rows.values() if chunks)

    def nbytes(self) -> int:
        """Bytes of feature numbers held (rows and statistics)."""
        total = sum(c.nbytes for chunks in self.rows.values() for c in chunks)
        for stats in self.gaussians.values():
            s = stats.state()
            total += sum(np.asarray(s[k]).nbytes for k in ("mean", "scatter") if s[k] is not None)
        return total

    # -- checkpoints ------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Plain tensors, ints, strings, lists and dicts (``torch.load(weights_only=True)``)."""
        import torch

        from genmetrics.pipeline.batch_input import record_to_json

        def tensor(a: Any) -> Any:
            return None if a is None else torch.tensor(np.asarray(a))  # a copy

        return {
            "n": self.n,
            "hashes": list(self.hashes),
            "records": [record_to_json(r) for r in self.records],
            "rows": [{"backbone": b, "output": o, "rows": tensor(_rows(c))} for (b, o), c in self.rows.items()],
            "gaussians": [
                {"backbone": b, "output": o, "n": s.state()["n"], "dim": s.state()["dim"],
                 "mean": tensor(s.state()["mean"]), "scatter": tensor(s.state()["scatter"])}
                for (b, o), s in self.gaussians.items()
            ],
            "forwards": dict(self.forwards),
            "cache_hits": dict(self.cache_hits),
        }

    def load(self, state: dict[str, Any]) -> FeatureState:
        """A new state of the same requests from :meth:`state`; a UserError when it holds
        other feature spaces or inconsistent counts."""
        from genmetrics.pipeline.batch_input import prompt_records

        out = FeatureState(self.requests, self.keep_prompts)
        try:
            out.n = int(state["n"])
            rows = {(e["backbone"], e["output"]): e["rows"] for e in state["rows"]}
            gaussians = {(e["backbone"], e["output"]): e for e in state["gaussians"]}
            if set(rows) != set(out.rows) or set(gaussians) != set(out.gaussians):
                have = sorted(f"{b}:{o}" for b, o in (*rows, *gaussians))
                want = sorted(f"{b}:{o}" for b, o in (*out.rows, *out.gaussians))
                raise UserError(f"the saved state holds features {', '.join(have) or 'none'}, this "
                                f"Evaluator needs {', '.join(want)}; build it with the same metrics")
            for space, value in rows.items():
                arr = _numpy(value, np.float32)
                if len(arr) != out.n:
                    raise UserError(f"the saved state has {len(arr)} rows of {space[0]}:{space[1]} for {out.n} images")
                out.rows[space] = [arr] if len(arr) else []
            for space, e in gaussians.items():
                out.gaussians[space] = GaussianStats.from_state(
                    {"n": e["n"], "dim": e["dim"], "mean": _numpy(e["mean"], np.float64),
                     "scatter": _numpy(e["scatter"], np.float64)})
            out.hashes = [str(h) for h in state["hashes"]]
            if out.keep_prompts:
                out.records = prompt_records(state["records"], len(state["records"])) or []
            out.forwards = {str(k): int(v) for k, v in state["forwards"].items()}
            out.cache_hits = {str(k): int(v) for k, v in state["cache_hits"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"not an Evaluator state ({type(exc).__name__}: {exc})") from None
        if (out.keeps_rows and len(out.hashes) != out.n) or (out.keep_prompts and len(out.records) != out.n):
            raise UserError(f"the saved state lists {len(out.hashes)} images and {len(out.records)} "
                            f"prompts for {out.n} images")
        return out


def _rows(chunks: list[np.ndarray]) -> np.ndarray:
    if not chunks:
        return np.zeros((0, 0), np.float32)
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def _numpy(value: Any, dtype: Any) -> np.ndarray | None:
    if value is None:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=dtype)


def _add_counts(into: dict[str, int], more: dict[str, int]) -> None:
    for k, v in more.items():
        into[k] = into.get(k, 0) + int(v)
