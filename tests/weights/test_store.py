"""The weights store: install records, verify, refusing changed files, upgrading partial ones."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from genmetrics.cli.app import main
from genmetrics.errors import WeightsHashError
from genmetrics.weights import store
from genmetrics.weights.store import WeightSpec, sha256_file


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _convert(src: Path, dst: Path) -> dict:
    """A trivial deterministic 'conversion': reversed bytes; a 'FULL' source has both outputs."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[::-1])
    return {"source_form": "tiny-full" if data.startswith(b"FULL") else "tiny-partial",
            "outputs": ["a", "b"] if data.startswith(b"FULL") else ["a"]}


@pytest.fixture
def sources(tmp_path) -> dict[str, Path]:
    out = {}
    for name, data in (("plain", b"plain weights " * 64), ("full", b"FULL weights " * 64),
                       ("partial", b"PART weights " * 64)):
        out[name] = tmp_path / f"{name}.bin"
        out[name].write_bytes(data)
    return out


@pytest.fixture
def specs(sources, monkeypatch) -> dict[str, WeightSpec]:
    """Two small specs in the registry: a plain copy and a converted one with two forms."""
    store.weight_specs()  # registers the real ones first
    plain = WeightSpec(name="tiny-plain", filename="tiny.bin", sha256=sha256_file(sources["plain"]),
                       url="https://example.invalid/tiny.bin")
    conv = WeightSpec(name="tiny-conv", filename="tiny.safetensors",
                      sha256=sha256_file(sources["full"]), url="https://example.invalid/full.bin",
                      convert=_convert, alt_sha256=(sha256_file(sources["partial"]),),
                      outputs=("a", "b"))
    for spec in (plain, conv):
        monkeypatch.setitem(store._REGISTRY, spec.name, spec)
    return {"plain": plain, "conv": conv}


def test_install_records_what_was_written(specs, sources):
    res = store.import_weights(specs["plain"], sources["plain"])
    assert res.action == "installed" and res.path.read_bytes() == sources["plain"].read_bytes()
    rec = store.read_record(res.path)
    assert rec["sha256"] == sha256_file(res.path) == specs["plain"].sha256
    assert rec["source_sha256"] == specs["plain"].sha256 and rec["source_form"] == "published"
    assert rec["size"] == res.path.stat().st_size

    res = store.import_weights(specs["conv"], sources["full"])
    rec = store.read_record(res.path)
    assert rec["sha256"] == sha256_file(res.path) != specs["conv"].sha256  # the converted bytes
    assert rec["source_sha256"] == specs["conv"].sha256
    assert rec["source_form"] == "tiny-full" and rec["outputs"] == ["a", "b"]
    assert store.file_sha256(res.path) == rec["sha256"]


@pytest.mark.parametrize("which", ["plain", "conv"])
def test_verify_ok_then_tampered_fails_and_record_is_not_rewritten(specs, sources, which, capsys):
    spec = specs[which]
    path = store.import_weights(spec, sources["plain" if which == "plain" else "full"]).path
    assert main(["weights", "verify", spec.name]) == 0
    assert capsys.readouterr().out.startswith(f"{spec.name}: ok ")

    record_before = store.record_path(path).read_bytes()
    _flip_byte(path)
    assert main(["weights", "verify", spec.name]) == 1
    out = capsys.readouterr().out
    assert out.startswith(f"{spec.name}: FAILED") and "recorded" in out
    assert f"genmetrics weights download {spec.name}" in out
    assert main(["weights", "verify", spec.name]) == 1  # still FAILED: nothing was accepted
    assert store.record_path(path).read_bytes() == record_before


def test_load_refuses_a_changed_file(specs, sources, monkeypatch):
    spec = specs["conv"]
    path = store.import_weights(spec, sources["full"]).path
    recorded = store.read_record(path)["sha256"]
    assert store.verified_weights_path(spec, offline=True) == path
    _flip_byte(path)
    # the cheap identity (same size) still comes from the record: a fully cached run needs no hash
    assert store.ensure_weights(spec, offline=True) == path
    assert store.file_sha256(path) == recorded
    # ... but every load hashes the bytes
    with pytest.raises(WeightsHashError) as err:
        store.verified_weights_path(spec, offline=True)
    msg = str(err.value)
    assert str(path) in msg and recorded in msg
    assert "genmetrics weights download tiny-conv" in msg and "weights import tiny-conv" in msg
    assert err.value.exit_code == 2

    path.write_bytes(path.read_bytes() + b"x")  # a size change is caught without hashing
    with pytest.raises(WeightsHashError, match="size"):
        store.ensure_weights(spec, offline=True)


def test_file_without_record(specs, sources, capsys):
    conv = specs["conv"]
    conv.cached_path().parent.mkdir(parents=True)
    conv.cached_path().write_bytes(b"copied in by hand")
    assert main(["weights", "verify", "tiny-conv"]) == 1
    out = capsys.readouterr().out
    assert "tiny-conv: FAILED" in out and "no install record" in out
    assert "genmetrics weights import tiny-conv PATH" in out
    with pytest.raises(WeightsHashError, match="no install record"):
        store.ensure_weights(conv, offline=True)

    # a file that matches the spec's pin needs no record: it gets one on first use
    plain = specs["plain"]
    plain.cached_path().parent.mkdir(parents=True)
    plain.cached_path().write_bytes(sources["plain"].read_bytes())
    assert main(["weights", "verify", "tiny-plain"]) == 0
    assert "pinned" in capsys.readouterr().out
    assert not store.record_path(plain.cached_path()).exists()  # verify writes nothing
    store.ensure_weights(plain, offline=True)
    assert store.read_record(plain.cached_path())["sha256"] == plain.sha256


def test_old_marker_is_not_trusted(specs, sources):
    """A ``.verified`` marker of an older version may have blessed a changed file."""
    conv = specs["conv"]
    path = conv.cached_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"changed")
    path.with_name(path.name + ".verified").write_text(json.dumps(
        {"sha256": sha256_file(path), "size": 7, "mtime": path.stat().st_mtime_ns}))
    ok, msg = store.verify_weights(conv)
    assert not ok and "no install record" in msg
    store.import_weights(conv, sources["full"])
    assert not path.with_name(path.name + ".verified").exists()


def _fake_download(source: Path):
    def download(spec, dest_dir):
        return source
    return download


def test_download_replaces_partial_and_changed_files(specs, sources, monkeypatch, capsys):
    conv = specs["conv"]
    monkeypatch.setenv("COLUMNS", "300")
    store.import_weights(conv, sources["partial"])
    assert main(["weights", "list"]) == 0
    assert "a only" in capsys.readouterr().out

    monkeypatch.setattr(store, "_download", _fake_download(sources["full"]))
    assert main(["weights", "download", "tiny-conv"]) == 0
    assert "tiny-conv: replaced" in capsys.readouterr().out
    assert store.read_record(conv.cached_path())["outputs"] == ["a", "b"]
    assert main(["weights", "list"]) == 0
    assert "a+b" in capsys.readouterr().out

    assert main(["weights", "download", "tiny-conv"]) == 0  # complete and verified: no fetch
    assert "already cached" in capsys.readouterr().out

    _flip_byte(conv.cached_path())
    assert main(["weights", "download", "tiny-conv"]) == 0  # the fix the errors name
    assert "replaced" in capsys.readouterr().out
    assert main(["weights", "verify", "tiny-conv"]) == 0


def test_import_keeps_the_fuller_file_unless_forced(specs, sources, capsys):
    conv = specs["conv"]
    assert main(["weights", "import", "tiny-conv", str(sources["partial"])]) == 0
    assert main(["weights", "import", "tiny-conv", str(sources["full"])]) == 0
    assert "imported" in capsys.readouterr().out
    assert store.read_record(conv.cached_path())["outputs"] == ["a", "b"]

    assert main(["weights", "import", "tiny-conv", str(sources["partial"])]) == 0
    out = capsys.readouterr().out.strip()
    assert out.count("\n") == 0 and "kept the cached weights" in out and "--force" in out
    assert store.read_record(conv.cached_path())["outputs"] == ["a", "b"]
    assert main(["weights", "verify", "tiny-conv"]) == 0

    assert main(["weights", "import", "tiny-conv", str(sources["partial"]), "--force"]) == 0
    assert store.read_record(conv.cached_path())["outputs"] == ["a"]
    assert not [p for p in os.listdir(conv.cache_dir()) if p.endswith(".tmp")]


def test_import_over_a_changed_file_replaces_it(specs, sources):
    conv = specs["conv"]
    path = store.import_weights(conv, sources["full"]).path
    _flip_byte(path)
    # a fuller-file check would keep the changed file; it does not verify, so it is replaced
    assert store.import_weights(conv, sources["partial"]).action == "replaced"
    assert store.verify_weights(conv)[0]
