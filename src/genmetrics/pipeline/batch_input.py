"""What :meth:`Evaluator.update <genmetrics.pipeline.evaluator.Evaluator.update>` accepts,
turned into what ``evaluate`` reads from memory: HxWx3 uint8 arrays, one per image.

* torch tensors on any device: ``(N, C, H, W)`` or ``(N, H, W, C)`` batches, one ``(C, H, W)``
  / ``(H, W, C)`` / ``(H, W)`` image, C in 1, 3, 4; uint8, or float in [0, 1] (float16,
  bfloat16, float32, float64). Checked and converted on their device (one small transfer of
  two numbers for the check), then copied to the host as uint8 — the resize protocols run on
  the host (``clean`` is Pillow's), as in ``evaluate``.
* numpy arrays with the same shapes and dtypes, PIL images, and lists or tuples of any of
  these (a list's tensors must share one device).

The layout rule is the one of :func:`genmetrics.sources.items.array_items`: channels first when
the first image axis is 1, 3 or 4 and the last is not. Floats become uint8 as there:
``rint(clip(x, 0, 1) · 255)`` in the input's precision (float16/bfloat16 in float32), so the
Evaluator and ``evaluate`` see the same pixels. Every error is a :class:`UserError` naming the
image (``image[i]``); the caller adds which update it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genmetrics.errors import ImageDecodeError, UserError

CHANNELS = (1, 3, 4)
FLOAT_SLACK = 1e-6
"""Float pixels may overshoot [0, 1] by this much (rounding in the caller's model)."""


def batch_images(images: Any) -> list[np.ndarray]:
    """``images`` (see the module docstring) as a list of HxWx3 uint8 arrays."""
    if _is_tensor(images) or isinstance(images, np.ndarray):
        return _array_batch(images, batched=images.ndim not in (2, 3))
    if _is_pil(images):
        return [_pil(images, 0)]
    if isinstance(images, (list, tuple)):
        tensors = [x for x in images if _is_tensor(x)]
        devices = sorted({str(x.device) for x in tensors})
        if len(devices) > 1:
            raise UserError(f"the images are on several devices ({', '.join(devices)}); put the "
                            "batch on one device")
        if tensors and len(tensors) == len(images) and len({tuple(x.shape) for x in tensors}) == 1 \
                and len({x.dtype for x in tensors}) == 1 and tensors[0].ndim in (2, 3):
            import torch

            return _array_batch(torch.stack([x.detach() for x in tensors]), batched=True)
        out: list[np.ndarray] = []
        for i, x in enumerate(images):
            if _is_pil(x):
                out.append(_pil(x, i))
            elif (_is_tensor(x) or isinstance(x, np.ndarray)) and x.ndim in (2, 3):
                out += _array_batch(x, batched=False, first=i)
            else:
                what = f"shape {tuple(x.shape)}" if hasattr(x, "shape") else f"a {type(x).__name__}"
                raise UserError(f"image[{i}]: expected one image (HxWx3 array, 3xHxW tensor or PIL "
                                f"image) in the list, got {what}")
        return out
    raise UserError(f"unsupported image batch of type {type(images).__name__}; pass a tensor "
                    "(N,3,H,W) or (N,H,W,3), a numpy array, PIL images or a list of them")


def _is_tensor(x: Any) -> bool:
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def _is_pil(x: Any) -> bool:
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover
        return False
    return isinstance(x, Image.Image)


def _pil(image: Any, index: int) -> np.ndarray:
    from genmetrics.sources.decode import pil_to_rgb_array

    where = f"image[{index}]"
    try:
        arr = pil_to_rgb_array(image.copy(), where)  # the caller's image is left untouched
    except ImageDecodeError as exc:
        raise UserError(str(exc)) from None
    _check_size(arr.shape[0], arr.shape[1], where)
    return arr


def _check_size(height: int, width: int, where: str) -> None:
    from genmetrics.sources.decode import check_dimensions

    try:
        check_dimensions(width, height, where)
    except ImageDecodeError as exc:
        raise UserError(str(exc)) from None


def _array_batch(x: Any, *, batched: bool, first: int = 0) -> list[np.ndarray]:
    """A tensor or array of one image (``batched=False``) or a batch → uint8 HxWx3 arrays."""
    import torch

    t = x.detach() if _is_tensor(x) else torch.from_numpy(np.ascontiguousarray(x))
    where = "image[0]" if not batched else "the batch"
    if not batched:
        if t.ndim == 2:
            t = t[..., None]
        if t.ndim != 3:
            raise UserError(f"image[{first}]: expected an HxWx3 (or 3xHxW) image, got shape {tuple(t.shape)}")
        t = t[None]
        where = f"image[{first}]"
    if t.ndim != 4:
        raise UserError(f"expected images of shape (N, 3, H, W) or (N, H, W, 3), got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        return []
    if t.shape[1] in CHANNELS and t.shape[-1] not in CHANNELS:
        t = t.permute(0, 2, 3, 1)
    if t.shape[-1] not in CHANNELS:
        raise UserError(f"{where}: expected 1, 3 or 4 channels (N, 3, H, W) or (N, H, W, 3), "
                        f"got shape {tuple(x.shape)}")
    _check_size(int(t.shape[1]), int(t.shape[2]), where)
    t = _to_uint8(t[..., :3], first)
    if t.shape[-1] == 1:
        t = t.expand(-1, -1, -1, 3)
    host = t.contiguous().cpu().numpy()
    return [np.ascontiguousarray(a) for a in host]


def _to_uint8(t: Any, first: int) -> Any:
    import torch

    if t.dtype == torch.uint8:
        return t
    if not t.is_floating_point():
        raise UserError(f"unsupported dtype {str(t.dtype).replace('torch.', '')}; use uint8 or "
                        "float in [0, 1]")
    if t.dtype not in (torch.float32, torch.float64):
        t = t.float()
    lo, hi = (float(v) for v in torch.stack(torch.aminmax(t)).cpu())  # one transfer
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = (~torch.isfinite(t)).flatten(1).any(1)
        raise UserError(f"image[{first + _first(bad)}]: contains NaN or infinite pixel values; "
                        "fix the image")
    if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
        bad = ((t < -FLOAT_SLACK) | (t > 1 + FLOAT_SLACK)).flatten(1).any(1)
        raise UserError(f"image[{first + _first(bad)}]: float images must lie in [0, 1] (got "
                        f"values in [{lo:.4g}, {hi:.4g}]); scale them first, e.g. (x + 1) / 2")
    return torch.round(torch.clamp(t, 0, 1) * 255).to(torch.uint8)


def _first(mask: Any) -> int:
    return int(mask.nonzero()[0, 0]) if bool(mask.any()) else 0


def prompt_records(prompts: Any, n: int) -> list[Any] | None:
    """``prompts`` of one update as one :class:`PromptRecord` per image (or ``None``): a
    string (one image), or a list of strings, ``{"prompt": …, "style"/"prompt_id"/"seed"/
    other manifest fields: …}`` dicts or records, as long as the batch."""
    from genmetrics.prompts.attach import PromptRecord

    if prompts is None:
        return None
    if isinstance(prompts, (str, dict, PromptRecord)):
        prompts = [prompts]
    if not isinstance(prompts, Sequence):
        raise UserError(f"prompts must be a list of strings (one per image), got a {type(prompts).__name__}")
    if len(prompts) != n:
        raise UserError(f"{len(prompts)} prompt(s) for {n} image(s); pass one prompt per image")
    return [_record(p, i) for i, p in enumerate(prompts)]


def _record(p: Any, i: int) -> Any:
    from genmetrics.prompts.attach import PromptRecord

    if isinstance(p, PromptRecord):
        return p
    if isinstance(p, str):
        return PromptRecord(p)
    if isinstance(p, dict) and isinstance(p.get("prompt"), str):
        known = {"prompt", "style", "prompt_id", "seed"}
        extra = tuple(sorted((str(k), str(v)) for k, v in p.items() if k not in known and v is not None))
        seed = p.get("seed")
        return PromptRecord(p["prompt"], p.get("style"), p.get("prompt_id"),
                            None if seed is None else int(seed), extra)
    raise UserError(f"prompt[{i}]: expected a string or a dict with a 'prompt' string, got {p!r:.60}")


def record_to_json(record: Any) -> dict[str, Any]:
    """A :class:`PromptRecord` as a JSON-able dict (:func:`prompt_records` reads it back)."""
    out: dict[str, Any] = {"prompt": record.prompt}
    for key in ("style", "prompt_id", "seed"):
        if getattr(record, key) is not None:
            out[key] = getattr(record, key)
    out.update(dict(record.extra))
    return out
