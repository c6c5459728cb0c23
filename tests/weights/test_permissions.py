"""Installed weights follow the umask like every other file genmetrics writes (issue 17:
imported weights were 0600 — safetensors and mkstemp create files owner-only)."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from genmetrics.cli.app import main
from genmetrics.weights import store
from genmetrics.weights.store import WeightSpec, sha256_file


def _owner_only_convert(src: Path, dst: Path) -> dict:
    """Like safetensors' ``save_file``: the converted file is created mode 0600."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(Path(src).read_bytes()[::-1])
    return {"source_form": "tiny", "outputs": ["a"]}


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[WeightSpec, Path]:
    src = tmp_path / "w.bin"
    src.write_bytes(b"weights " * 100)
    store.weight_specs()
    spec = WeightSpec(name="tiny-perm", filename="tiny.safetensors", sha256=sha256_file(src),
                      url="https://example.invalid/w.bin", convert=_owner_only_convert,
                      outputs=("a",))
    monkeypatch.setitem(store._REGISTRY, spec.name, spec)
    return spec, src


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(params=[0o022, 0o027, 0o002])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def test_imported_weights_follow_the_umask(spec, umask) -> None:
    spec, src = spec
    assert main(["weights", "import", spec.name, str(src)]) == 0
    target = spec.cached_path()
    assert _mode(target) == 0o666 & ~umask
    assert _mode(store.record_path(target)) == 0o666 & ~umask


def test_downloaded_weights_follow_the_umask(spec, umask, monkeypatch) -> None:
    spec, src = spec
    data = src.read_bytes()
    monkeypatch.setattr(store.urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(data))
    monkeypatch.setenv("GENMETRICS_OFFLINE", "0")
    store.download_weights(spec, offline=False)
    assert _mode(spec.cached_path()) == 0o666 & ~umask
    leftovers = [p for p in spec.cache_dir().iterdir() if p.suffix in (".part", ".tmp")]
    assert not leftovers
    for p in spec.cache_dir().iterdir():  # the downloaded source beside it too
        if p.is_file():
            assert _mode(p) == 0o666 & ~umask, p
