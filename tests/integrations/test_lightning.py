"""The Lightning callback on a tiny generator: metrics logged each validation epoch (and
usable by ModelCheckpoint), equal to feeding the same images to an Evaluator by hand; its state
in checkpoints; the same hooks on a duck-typed trainer; importable without Lightning."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch

import genmetrics
from genmetrics.errors import UserError
from genmetrics.integrations.lightning import EvaluatorHooks
from tests.conftest import ROOT
from tests.pipeline.evaluator_helpers import images, light_inception

OPTIONS = dict(batch_size=4, device="cpu", cache=False, kid_subset_size=4, kid_subsets=5)


class TinyGenerator(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Linear(8, 3 * 16 * 16)

    def forward(self, z):
        return torch.sigmoid(self.net(z)).view(-1, 3, 16, 16)


def _data():
    g = torch.Generator().manual_seed(1)
    noise = torch.randn(12, 8, generator=g)
    real = torch.from_numpy(images(12, seed=2, size=(16, 16))).permute(0, 3, 1, 2)
    return noise, real


def test_callback_in_a_lightning_trainer(tmp_path):
    L = pytest.importorskip("lightning.pytorch")
    from genmetrics.integrations.lightning import GenMetricsCallback

    noise, real = _data()

    class Module(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.gen = TinyGenerator()

        def training_step(self, batch, batch_idx):
            z, _ = batch
            return self.gen(z).mean()

        def validation_step(self, batch, batch_idx):
            z, _ = batch
            return {"images": self.gen(z)}

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    data = torch.utils.data.TensorDataset(noise, real)
    loader = torch.utils.data.DataLoader(data, batch_size=4)
    bb = light_inception(tmp_path)
    callback = GenMetricsCallback("fid,kid", real=lambda batch: batch[1], backbones={"inception": bb}, **OPTIONS)
    checkpoint = L.callbacks.ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/fid", mode="min")
    trainer = L.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[callback, checkpoint], num_sanity_val_steps=1, limit_train_batches=2)
    module = Module()
    trainer.fit(module, loader, loader)
    logged = trainer.callback_metrics
    assert {"val/fid", "val/kid", "val/kid_std"} <= set(logged)
    assert checkpoint.best_model_path and checkpoint.best_model_score is not None

    by_hand = genmetrics.Evaluator("fid,kid", backbones={"inception": bb}, **OPTIONS)
    module.eval()
    for s in range(0, 12, 4):
        by_hand.update(module.gen(noise[s : s + 4]).detach())
        by_hand.update(real[s : s + 4], real=True)
    expected = by_hand.compute()
    assert float(logged["val/fid"]) == pytest.approx(expected["fid"], rel=1e-6)
    assert callback.last_result["kid"] == expected["kid"]
    assert callback.last_result.counts["generated"] == 12  # the sanity check was not counted
    assert next(module.parameters()).dtype == torch.float32

    saved = torch.load(checkpoint.best_model_path, weights_only=False)
    state = next(v for k, v in saved["callbacks"].items() if "GenMetricsCallback" in k)
    fresh = GenMetricsCallback("fid,kid", backbones={"inception": bb}, **OPTIONS)
    fresh.load_state_dict(state)
    fresh.setup(None, None, "fit")
    assert fresh.evaluator.counts["generated"] == 12


class _Module:
    def __init__(self) -> None:
        self.logged: dict = {}

    def log_dict(self, values, **kwargs) -> None:
        self.logged.update(values)


def test_hooks_with_a_duck_typed_trainer(tmp_path):
    bb = light_inception(tmp_path)
    noise, real = _data()
    gen = TinyGenerator()
    hooks = EvaluatorHooks("fid", reference=list(real.permute(0, 2, 3, 1).numpy()),
                           generate=lambda module, batch, i: (gen(batch), None),
                           every_n_epochs=2, prefix="eval/", backbones={"inception": bb}, **OPTIONS)
    module = _Module()
    for epoch in range(2):
        trainer = SimpleNamespace(current_epoch=epoch, sanity_checking=False)
        hooks.on_validation_epoch_start(trainer, module)
        for i in range(3):
            hooks.on_validation_batch_end(trainer, module, None, noise[4 * i : 4 * i + 4], i)
        hooks.on_validation_epoch_end(trainer, module)
        assert bool(module.logged) == (epoch == 1)  # every second epoch only
    assert set(module.logged) == {"eval/fid"} and hooks.last_result.counts["generated"] == 12
    assert hooks.state_dict()["evaluator"]["generated"]["n"] == 12
    with pytest.raises(UserError, match="every_n_epochs"):
        EvaluatorHooks("fid", every_n_epochs=0)
    from_outputs = EvaluatorHooks("fid", backbones={"inception": bb}, **OPTIONS)
    with pytest.raises(UserError, match="without 'images'"):
        from_outputs.on_validation_batch_end(SimpleNamespace(current_epoch=0), module, {"loss": 1.0}, noise[:4], 0)


def test_module_imports_without_lightning():
    code = (
        "import sys; sys.modules['lightning'] = None; sys.modules['pytorch_lightning'] = None\n"
        "import genmetrics.integrations.lightning as m\n"
        "from genmetrics.errors import UserError\n"
        "try:\n    m.GenMetricsCallback\nexcept UserError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert "pip install lightning" in out.stdout


def test_to_dict_with_a_prefix_is_flat_floats(tmp_path):
    ev = genmetrics.Evaluator("fid,kid", backbones={"inception": light_inception(tmp_path)}, **OPTIONS)
    ev.update(images(6, 1))
    ev.update(images(6, 2), real=True)
    flat = ev.compute().to_dict(prefix="val/")
    assert set(flat) == {"val/fid", "val/kid", "val/kid_std"}
    assert all(isinstance(v, float) for v in flat.values())
    assert np.isfinite(flat["val/fid"])
