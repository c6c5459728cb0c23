"""``--clip-model`` with bad ids, bad files and no network (issue 17).

Documented behaviour: an id that is not ``owner/name`` by the hub's rules, a malformed
``config.json`` / ``preprocessor_config.json``, a config that does not fit its weights, and a
truncated or corrupt weights file are each one ``error:`` line naming the id or the file
(exit 2). Without ``--offline``, a hub that cannot be reached is one line saying it is the
network and how to go offline (``--offline`` / ``HF_HUB_OFFLINE=1``, or download first) — no
retry log lines, no "check the id" — while a model already in the Hugging Face cache is used.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes import write_images
from tests.robustness.conftest import Runner, assert_user_error

pytest.importorskip("transformers")

from tests.backbones.clip.test_hf_loading import fake_hub_cache, save_tiny  # noqa: E402

UNREACHABLE = "http://127.0.0.1:9"


@pytest.fixture
def prompted(tmp_path: Path) -> Path:
    folder = tmp_path / "gen"
    write_images(folder, 3, seed=1)
    for p in folder.glob("*.png"):
        p.with_suffix(".txt").write_text("a red square")
    return folder


def _evaluate(cli: Runner, gen: Path, model: object, *extra: object):
    return cli("evaluate", gen, "-m", "clip_score", "--clip-model", model, "-f", "json", *extra)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny") / "clip"
    save_tiny(folder)
    return folder


def test_a_good_folder_works(cli: Runner, prompted: Path, tiny: Path) -> None:
    res = _evaluate(cli, prompted, tiny)
    assert res.code == 0, res.describe()


# ----------------------------------------------------------------- ids


BAD_IDS = ["owner/..", "owner/.", "owner/a..b", "owner/--x", "-owner/x", "owner/x-",
           "a/b/c", "owner/" + "x" * 97, "owner/x.git", "own er/x"]


@pytest.mark.parametrize("name", BAD_IDS)
def test_invalid_hub_id_is_one_line(cli: Runner, prompted: Path, name: str, monkeypatch) -> None:
    monkeypatch.chdir(prompted)  # no folder of that name here
    line = assert_user_error(_evaluate(cli, prompted, name))
    assert name[:40] in line and "Hugging Face id" in line


# ----------------------------------------------------------------- files


def _copy(tiny: Path, dest: Path) -> Path:
    import shutil

    shutil.copytree(tiny, dest)
    return dest


def _config(text: str | bytes) -> Callable[[Path], object]:
    def edit(folder: Path) -> None:
        path = folder / "config.json"
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    return edit


def _config_edit(change: Callable[[dict], object]) -> Callable[[Path], object]:
    def edit(folder: Path) -> None:
        cfg = json.loads((folder / "config.json").read_text())
        change(cfg)
        (folder / "config.json").write_text(json.dumps(cfg))

    return edit


def _truncate(name: str, keep: float) -> Callable[[Path], object]:
    def edit(folder: Path) -> None:
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: int(len(data) * keep)])

    return edit


def _bin_instead(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"PK\x03\x04 not a torch checkpoint" * 10)


BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "config-invalid-json": (_config('{"model_type": "clip", '), "config.json"),
    "config-a-list": (_config("[1, 2]"), "config.json"),
    "config-not-utf8": (_config(b'{"model_type": "cl\xffip"}'), "config.json"),
    "config-nested-deep": (_config('{"a": ' + "[" * 100_000 + "]" * 100_000 + "}"), "config.json"),
    "vision-config-a-list": (_config_edit(lambda c: c.update(vision_config=[1])), "config.json"),
    "hidden-size-text": (
        _config_edit(lambda c: c["vision_config"].update(hidden_size="wide")), "config.json"),
    "vocab-null": (_config_edit(lambda c: c["text_config"].update(vocab_size=None)), "config.json"),
    "layers-huge": (
        _config_edit(lambda c: c["vision_config"].update(num_hidden_layers=10**6,
                                                         intermediate_size=10**6)), "config.json"),
    "width-negative": (_config_edit(lambda c: c["vision_config"].update(hidden_size=-32)), "clip"),
    "heads-not-dividing": (
        _config_edit(lambda c: c["vision_config"].update(num_attention_heads=5)), "clip"),
    "preprocessor-invalid": (
        lambda f: (f / "preprocessor_config.json").write_text("{oops"), "preprocessor_config.json"),
    "preprocessor-wrong-types": (
        lambda f: (f / "preprocessor_config.json").write_text('{"size": "big", "crop_size": []}'),
        "preprocessor_config.json"),
    "safetensors-truncated-half": (_truncate("model.safetensors", 0.5), "model.safetensors"),
    "safetensors-truncated-header": (_truncate("model.safetensors", 0.0001), "model.safetensors"),
    "safetensors-empty": (_truncate("model.safetensors", 0), "model.safetensors"),
    "pytorch-bin-garbage": (_bin_instead, "pytorch_model.bin"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_model_folder_is_one_line(
    cli: Runner, prompted: Path, tiny: Path, tmp_path: Path, case: str
) -> None:
    edit, needle = BROKEN[case]
    folder = _copy(tiny, tmp_path / "clip")
    edit(folder)
    assert_user_error(_evaluate(cli, prompted, folder), needle)


# ----------------------------------------------------------------- network


@pytest.fixture
def network_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Online mode, an empty Hugging Face cache and a hub that refuses connections."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", UNREACHABLE)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                        UNREACHABLE + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("GENMETRICS_OFFLINE", "0")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    return cache


def test_network_down_says_it_is_the_network(cli: Runner, prompted: Path, network_down: Path) -> None:
    """Before: six lines of hub retries (~30 s), then "no config.json found; check the id"."""
    start = time.monotonic()
    res = _evaluate(cli, prompted, "openai/clip-vit-base-patch32")
    line = assert_user_error(res, "openai/clip-vit-base-patch32", "cannot be reached", "network",
                             "--offline", "HF_HUB_OFFLINE=1")
    assert "check the id" not in line
    assert "Retrying" not in res.err
    assert time.monotonic() - start < 20


def test_network_down_uses_a_cached_model(cli: Runner, prompted: Path, network_down: Path) -> None:
    fake_hub_cache(network_down, "someone/tiny-clip", "c" * 40)
    res = _evaluate(cli, prompted, "someone/tiny-clip")
    assert res.code == 0, res.describe()
    assert "Retrying" not in res.err


def test_offline_and_absent_names_the_offline_mode(cli: Runner, prompted: Path, network_down: Path) -> None:
    res = _evaluate(cli, prompted, "someone/absent", "--offline")
    assert_user_error(res, "someone/absent", "offline mode is on")
