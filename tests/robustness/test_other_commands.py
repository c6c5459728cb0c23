"""Bad input to ``pair``, ``suites`` and ``weights``."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import shared_file
from tests.robustness.conftest import Runner, assert_no_traceback, assert_user_error, noise


def _image(path: Path, width: int, height: int, seed: int = 0) -> Path:
    Image.fromarray(noise(height, width, seed=seed)).save(path)
    return path


def test_pair_of_different_sizes(tmp_path: Path, cli: Runner) -> None:
    a = _image(tmp_path / "left-32x24.png", 32, 24)
    b = _image(tmp_path / "right-48x40.png", 48, 40, seed=1)
    assert_user_error(cli("pair", a, b, "-m", "psnr,ssim"), "left-32x24.png", "right-48x40.png")


def test_pair_with_a_missing_file(tmp_path: Path, cli: Runner) -> None:
    a = _image(tmp_path / "present.png", 32, 24)
    assert_user_error(cli("pair", a, tmp_path / "absent.png"), "absent.png")


def test_pair_with_a_corrupt_image(tmp_path: Path, cli: Runner) -> None:
    a = _image(tmp_path / "fine.png", 32, 24)
    b = tmp_path / "broken.png"
    b.write_bytes(a.read_bytes()[:60])
    assert_user_error(cli("pair", a, b, "-m", "psnr"), "broken.png")


def test_suites_export_unknown_suite(tmp_path: Path, cli: Runner) -> None:
    assert_user_error(cli("suites", "export", "no-such-suite"), "no-such-suite")


def test_weights_import_unknown_name(tmp_path: Path, cli: Runner) -> None:
    source = tmp_path / "some.pt"
    source.write_bytes(b"x" * 100)
    assert_user_error(cli("weights", "import", "no-such-weights", source), "no-such-weights")


def test_weights_import_missing_file(tmp_path: Path, cli: Runner) -> None:
    assert_user_error(cli("weights", "import", "inception", tmp_path / "absent.pt"), "absent.pt")


def test_weights_import_wrong_hash(tmp_path: Path, cli: Runner, _isolated_home: Path) -> None:
    source = tmp_path / "wrong-file.pt"
    source.write_bytes(b"definitely not inception weights" * 50)
    assert_user_error(cli("weights", "import", "inception", source), "wrong-file.pt")
    installed = list((_isolated_home / "weights").rglob("*.safetensors"))
    assert installed == [], f"a file that failed verification was installed: {installed}"


def test_weights_verify_tampered_file(tmp_path: Path, cli: Runner) -> None:
    """Import a real (small) weights file, flip one byte of the cached copy: verify must say
    FAILED and exit 1 — even when no hash of the converted file is pinned, the hash recorded
    at import time is."""
    name = "aesthetic-laion-v1-b32"
    source = shared_file("weights/aesthetic/sa_0_4_vit_b_32_linear.pth")
    imported = cli("weights", "import", name, source)
    assert imported.code == 0, imported.describe()
    from genmetrics.weights.store import get_weight_spec

    cached = get_weight_spec(name).cached_path()
    data = bytearray(cached.read_bytes())
    data[len(data) // 2] ^= 0xFF
    cached.write_bytes(bytes(data))
    res = cli("weights", "verify", name)
    assert_no_traceback(res)
    assert res.code == 1, res.describe()
    assert any(line.startswith(f"{name}: FAILED") for line in res.out.splitlines()), res.describe()


@pytest.mark.parametrize(
    "command",
    [["weights", "verify", "no-such-weights"], ["weights", "download", "no-such-weights"]],
    ids=["weights-verify-unknown", "weights-download-unknown"],
)
def test_weights_unknown_name(command: list[str], cli: Runner) -> None:
    assert_user_error(cli(*command), "no-such-weights")
