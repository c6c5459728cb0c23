import hashlib
import os
import sys
from pathlib import Path

import pytest

from genmetrics.errors import UserError
from genmetrics.generation import apply_hook, image_relpath, image_seed, resolve_hook
from genmetrics.generation.hooks import hook_fingerprint, hook_name
from genmetrics.generation.manifest import check_resumable, read_records
from genmetrics.generation.pipeline import _locate, folder_fingerprint
from genmetrics.suites import PromptItem

ITEM = PromptItem("anime/00042", "anime", 42, "a cat")


def test_seed_policy():
    digest = hashlib.sha256(b"anime/00042|0").digest()
    expected = int.from_bytes(digest[:8], "big") % 2**63
    assert image_seed(0, "anime/00042", 0) == expected
    assert image_seed(5, "anime/00042", 0) == (expected + 5) % 2**63
    seeds = {image_seed(0, f"photo/{i:05d}", k) for i in range(800) for k in range(4)}
    assert len(seeds) == 3200 and all(0 <= s < 2**63 for s in seeds)


def test_layout():
    assert image_relpath(ITEM, 0, 1) == "anime/00042.png"
    assert [image_relpath(ITEM, k, 3) for k in range(3)] == [
        "anime/00042_k0.png",
        "anime/00042_k1.png",
        "anime/00042_k2.png",
    ]


def test_resolve_hook_module_and_file(tmp_path, monkeypatch):
    assert resolve_hook("os.path:basename")("a/b") == "b"
    hook_file = tmp_path / "myhook.py"
    hook_file.write_text("def tag(pipe):\n    pipe['tagged'] = True\n    return pipe\n")
    assert apply_hook({}, f"{hook_file}:tag") == {"tagged": True}
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("myhook", None)
    assert apply_hook({}, "myhook:tag") == {"tagged": True}
    assert hook_name("myhook:tag") == "myhook:tag"
    assert hook_name(test_layout).endswith(":test_layout")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nocolon", "not of the form"),
        ("no_such_module_xyz:f", "cannot be imported"),
        ("os.path:nope", "has no attribute"),
        ("os:sep", "not callable"),
        ("missing/file.py:f", "does not exist"),
    ],
)
def test_bad_hooks(spec, message):
    with pytest.raises(UserError, match=message):
        resolve_hook(spec)


def test_hook_returning_none():
    with pytest.raises(UserError, match="returned None"):
        apply_hook(object(), lambda pipe: None)


def test_manifest_tolerates_torn_line(tmp_path):
    path = tmp_path / "generation.jsonl"
    path.write_text('{"id": "a/00000", "image": "a/00000.png"}\n{"id": "a/000')
    assert list(read_records(path)) == ["a/00000"]


def test_check_resumable(tmp_path):
    old = {"sampling": {"steps": 2}, "seed": {"base": 0}}
    check_resumable(tmp_path, None, old)
    check_resumable(tmp_path, old, {"sampling": {"steps": 2}, "seed": {"base": 0}})
    with pytest.raises(UserError, match=r"sampling\.steps: 2 there, 3 now"):
        check_resumable(tmp_path, old, {"sampling": {"steps": 3}, "seed": {"base": 0}})


def test_folder_fingerprint(tmp_path):
    (tmp_path / "unet").mkdir()
    (tmp_path / "unet" / "w.bin").write_bytes(b"\x00" * 10)
    (tmp_path / "model_index.json").write_text("{}")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "meta").write_text("ignored")
    first = folder_fingerprint(tmp_path)
    assert first[0].startswith("files-sha256:") and first[1:] == (2, 12)
    (tmp_path / ".cache" / "meta").write_text("changed, still ignored")
    assert folder_fingerprint(tmp_path) == first
    (tmp_path / "unet" / "w.bin").write_bytes(b"\x00" * 9 + b"\x01")  # same size
    os.utime(tmp_path / "unet" / "w.bin", ns=(1, 1))
    assert folder_fingerprint(tmp_path)[0] != first[0]
    (tmp_path / "unet" / "w.bin").rename(tmp_path / "unet" / "v.bin")
    assert folder_fingerprint(tmp_path)[0] != first[0]


def test_hub_pipeline_is_pinned_by_its_commit(tmp_path, monkeypatch):
    diffusers = pytest.importorskip("diffusers")
    snapshot = tmp_path / "models--org--model" / "snapshots" / ("ab" * 20)
    snapshot.mkdir(parents=True)
    (snapshot / "model_index.json").write_text("{}")
    monkeypatch.setattr(diffusers.DiffusionPipeline, "download", lambda *a, **k: str(snapshot))
    _, source = _locate("org/model", True, None, "fp16")
    assert source.fingerprint == f"hub:org/model@{'ab' * 20}"
    assert (source.commit_hash, source.variant) == ("ab" * 20, "fp16")


def test_hook_fingerprint(tmp_path, monkeypatch):
    assert hook_fingerprint(None) is None
    hook_file = tmp_path / "fphook.py"
    hook_file.write_text("def tag(pipe):\n    return pipe\n")
    digest = hashlib.sha256(hook_file.read_bytes()).hexdigest()
    by_file = hook_fingerprint(f"{hook_file}:tag")
    assert by_file == {
        "spec": f"{hook_file}:tag",
        "function": "tag",
        "file": str(hook_file.resolve()),
        "source_sha256": digest,
    }
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("fphook", None)
    by_module = hook_fingerprint("fphook:tag")
    assert by_module["source_sha256"] == digest and "fphook" not in sys.modules  # not imported
    by_callable = hook_fingerprint(test_layout)
    assert by_callable["function"] == "test_layout"
    assert by_callable["source_sha256"] == hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
    with pytest.raises(UserError, match="cannot be imported"):
        hook_fingerprint("no_such_module_xyz:f")
    with pytest.raises(UserError, match="does not exist"):
        hook_fingerprint("missing/file.py:f")


def test_check_resumable_shortens_hashes(tmp_path):
    old = {"pipeline": {"fingerprint": "files-sha256:" + "a" * 64}}
    new = {"pipeline": {"fingerprint": "files-sha256:" + "b" * 64}}
    with pytest.raises(UserError) as info:
        check_resumable(tmp_path, old, new)
    assert f"'files-sha256:{'a' * 16}…' there, 'files-sha256:{'b' * 16}…' now" in str(info.value)
