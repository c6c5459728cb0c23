"""A PyTorch Lightning callback that runs an :class:`~genmetrics.Evaluator` over each
validation epoch and logs its metrics (``val/fid``…) like any ``self.log`` value, so
``ModelCheckpoint(monitor="val/fid", mode="min")`` and every logger see them.

This module imports without Lightning; ``GenMetricsCallback`` is built on first use from
``lightning.pytorch.Callback`` (or ``pytorch_lightning.Callback`` when only that is installed)::

    from genmetrics.integrations.lightning import GenMetricsCallback

    def sample(model, batch, batch_idx):          # images (N,3,H,W) in [0, 1], and prompts
        return model.sample(batch["prompt"]), batch["prompt"]

    callback = GenMetricsCallback(["fid", "kid", "clip_score"], reference="real/", generate=sample)
    trainer = L.Trainer(callbacks=[callback], ...)

Without ``generate``, the images come from ``validation_step``'s return value: a tensor, or a
mapping with ``"images"`` (and ``"prompts"``). ``real(batch)`` feeds real images when no
``reference`` is given. The Evaluator is made in ``setup`` (after the process group exists,
so each rank takes its own GPU); its state travels in Lightning checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from genmetrics.errors import UserError

__all__ = ["GenMetricsCallback", "EvaluatorHooks"]  # noqa: F822 - built on first use (__getattr__)


class EvaluatorHooks:
    """The callback's behaviour, without Lightning (duck-typed trainer and module)."""

    def __init__(
        self,
        metrics: Any = ("fid",),
        reference: Any = None,
        *,
        generate: Callable[[Any, Any, int], Any] | None = None,
        real: Callable[[Any], Any] | None = None,
        prefix: str = "val/",
        every_n_epochs: int = 1,
        on_sanity_check: bool = False,
        evaluator: Any = None,
        **evaluator_options: Any,
    ) -> None:
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise UserError(f"every_n_epochs must be an integer of at least 1, got {every_n_epochs!r}")
        self._spec = (metrics, reference, evaluator_options)  # picklable (ddp_spawn)
        self.evaluator = evaluator
        self.generate, self.real = generate, real
        self.prefix, self.every_n_epochs, self.on_sanity_check = prefix, every_n_epochs, on_sanity_check
        self.last_result: Any = None
        self._pending_state: dict[str, Any] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def setup(self, trainer: Any, pl_module: Any, stage: str) -> None:
        if self.evaluator is None:
            self.evaluator = _evaluator(*self._spec)
        if self._pending_state is not None:
            self.evaluator.load_state_dict(self._pending_state)
            self._pending_state = None

    def _active(self, trainer: Any) -> bool:
        if getattr(trainer, "sanity_checking", False) and not self.on_sanity_check:
            return False
        return (int(getattr(trainer, "current_epoch", 0)) + 1) % self.every_n_epochs == 0

    def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
        if self._active(trainer):
            self._ready().reset()

    def on_validation_batch_end(self, trainer: Any, pl_module: Any, outputs: Any, batch: Any,
                                batch_idx: int, dataloader_idx: int = 0) -> None:
        if not self._active(trainer):
            return
        evaluator = self._ready()
        found = self.generate(pl_module, batch, batch_idx) if self.generate else outputs
        images, prompts = _images_and_prompts(found)
        if images is not None:
            evaluator.update(images, prompts=prompts)
        if self.real is not None:
            evaluator.update(self.real(batch), real=True)

    def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._active(trainer):
            return
        result = self._ready().compute()
        self.last_result = result
        if result is not None and hasattr(pl_module, "log_dict"):
            pl_module.log_dict(result.to_dict(prefix=self.prefix), sync_dist=False)

    def _ready(self) -> Any:
        if self.evaluator is None:  # a trainer that skipped setup
            self.setup(None, None, "validate")
        return self.evaluator

    # -- checkpoints ------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"evaluator": self.evaluator.state_dict()} if self.evaluator is not None else {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict.get("evaluator")
        if state is None:
            return
        if self.evaluator is None:
            self._pending_state = state  # applied in setup, once the Evaluator exists
        else:
            self.evaluator.load_state_dict(state)


def _evaluator(metrics: Any, reference: Any, options: dict[str, Any]) -> Any:
    from genmetrics.pipeline.evaluator import Evaluator

    return Evaluator(metrics, reference, **options)


def _images_and_prompts(found: Any) -> tuple[Any, Any]:
    """What ``generate`` or ``validation_step`` gave: images, ``(images, prompts)`` or a
    mapping with ``"images"`` (and ``"prompts"``); ``None`` gives nothing to add."""
    if found is None:
        return None, None
    if isinstance(found, Mapping):
        if "images" not in found:
            raise UserError("GenMetricsCallback: validation_step returned a mapping without "
                            "'images'; return {'images': …} or pass generate=")
        return found["images"], found.get("prompts")
    if isinstance(found, tuple) and len(found) == 2 and (
            found[1] is None or isinstance(found[1], (str, list, tuple))):
        return found
    return found, None


def _callback_base() -> type:
    try:
        from lightning.pytorch import Callback
    except ImportError:
        try:
            from pytorch_lightning import Callback
        except ImportError:
            raise UserError("GenMetricsCallback needs PyTorch Lightning: pip install lightning "
                            "(or use genmetrics.Evaluator in your own loop)") from None
    return Callback


def __getattr__(name: str) -> Any:
    if name == "GenMetricsCallback":
        base = _callback_base()
        cls = type("GenMetricsCallback", (EvaluatorHooks, base), {
            "__doc__": "Lightning callback running a genmetrics Evaluator each validation "
                       "epoch (see :mod:`genmetrics.integrations.lightning`).",
            "__module__": __name__,
        })
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
