import io
import tarfile
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from genmetrics.errors import UserError
from genmetrics.sources.items import content_hash, items_from


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def tree(tmp_path):
    rng = np.random.default_rng(0)
    for rel, ext in [("b/2", ".PNG"), ("a/1", ".jpg"), ("a/0", ".webp"), ("c", ".TIFF")]:
        p = tmp_path / f"{rel}{ext}"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (9, 7, 3), dtype=np.uint8)).save(p)
    (tmp_path / "notes.md").write_text("not an image")
    return tmp_path


def test_folder_recursive_sorted_any_case(tree):
    items = items_from(tree)
    assert [i.id for i in items] == ["a/0", "a/1", "b/2", "c"]
    assert all(isinstance(i.read(), bytes) for i in items)


def test_zip_tar_and_list_give_same_ids(tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("arch")
    files = sorted(p for p in tree.rglob("*") if p.suffix.lower() != ".md" and p.is_file())
    with zipfile.ZipFile(out / "set.zip", "w") as zf:
        for p in files:
            zf.write(p, p.relative_to(tree).as_posix())
    with tarfile.open(out / "set.tar.gz", "w:gz") as tf:
        for p in files:
            tf.add(p, p.relative_to(tree).as_posix())
    listing = tree / "list.txt"
    listing.write_text("\n".join(p.relative_to(tree).as_posix() for p in reversed(files)) + "\n")
    expected = [i.id for i in items_from(tree)]
    for src in (out / "set.zip", out / "set.tar.gz"):
        got = items_from(src)
        assert [i.id for i in got] == expected
        assert [content_hash(i.read()) for i in got] == [content_hash(i.read()) for i in items_from(tree)]
    assert sorted(i.id for i in items_from(listing)) == expected


def test_in_memory_arrays_tensors_pil():
    rng = np.random.default_rng(1)
    u8 = rng.integers(0, 255, (8, 6, 3), dtype=np.uint8)
    f = u8.astype(np.float32) / 255
    t = torch.from_numpy(f).permute(2, 0, 1)
    pil = Image.fromarray(u8)
    items = items_from([u8, f, t, pil])
    arrays = [i.read() for i in items]
    for a in arrays:
        np.testing.assert_array_equal(a, u8)
    batch = items_from(torch.from_numpy(np.stack([f, f])).permute(0, 3, 1, 2))
    assert len(batch) == 2


def test_float_out_of_range_is_a_user_error():
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        items_from([np.full((4, 4, 3), 2.0, np.float32)])


def test_empty_and_missing_sources(tmp_path):
    with pytest.raises(UserError, match="contains no images"):
        items_from(tmp_path)
    with pytest.raises(UserError, match="no such file"):
        items_from(tmp_path / "nope")


def test_same_id_collision_is_reported(tmp_path):
    img = np.zeros((4, 4, 3), np.uint8)
    Image.fromarray(img).save(tmp_path / "x.png")
    Image.fromarray(img).save(tmp_path / "x.jpg")
    with pytest.raises(UserError, match="same id"):
        items_from(tmp_path)


def test_unsupported_formats_and_loops_are_reported_not_silently_skipped(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "ok.png")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "anim.gif")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "dangling.png").symlink_to(tmp_path / "nowhere.png")
    items = items_from(tmp_path)
    assert [i.id for i in items] == ["ok"]
    reasons = {p.rsplit("/", 1)[-1]: r for p, r in items.problems}
    assert "not read" in reasons["anim.gif"] and "broken symbolic link" in reasons["dangling.png"]
    assert any("loop" in r for r in reasons.values())


def test_only_unsupported_files_name_them(tmp_path):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "a.gif")
    with pytest.raises(UserError, match=r"contains no images.*a\.gif"):
        items_from(tmp_path)


def test_non_utf8_file_name_gets_a_printable_id_and_is_read(tmp_path):
    import os

    name = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(name, "wb") as f:
        f.write(_png(np.zeros((4, 4, 3), np.uint8)))
    (item,) = items_from(tmp_path)
    assert item.id == "caf\\xe9" and item.location.endswith("caf\\xe9.png")
    item.location.encode("utf-8")  # printable, storable, JSON-safe
    assert item.read()[:4] == b"\x89PNG"


def test_zip_archive_is_opened_once_not_per_member(tmp_path, monkeypatch):
    """Reading N members used to reopen the archive (and re-read its directory) per member."""
    path = tmp_path / "many.zip"
    png = _png(np.zeros((2, 2, 3), np.uint8))
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(300):
            zf.writestr(f"{i:04d}.png", png)
    opened = []
    real = zipfile.ZipFile
    monkeypatch.setattr(zipfile, "ZipFile", lambda *a, **k: (opened.append(1), real(*a, **k))[1])
    items = items_from(path)
    assert all(item.read() == png for item in items)
    assert len(items) == 300 and len(opened) <= 2


def test_corrupt_zip_member_is_a_read_error_not_a_crash(tmp_path):
    path = tmp_path / "bad.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.png", _png(np.full((64, 64, 3), 7, np.uint8)) * 4)
    data = bytearray(path.read_bytes())
    data[60:80] = b"\xff" * 20  # inside the compressed member
    path.write_bytes(bytes(data))
    (item,) = items_from(path)
    with pytest.raises(OSError):
        item.read()


def test_tar_members_are_read_lazily_by_offset(tmp_path):
    path = tmp_path / "set.tar.gz"
    png = _png(np.ones((3, 3, 3), np.uint8))
    with tarfile.open(path, "w:gz") as tf:
        for i in range(3):
            info = tarfile.TarInfo(f"d/{i}.png")
            info.size = len(png)
            tf.addfile(info, io.BytesIO(png))
    items = items_from(path)
    assert [i.id for i in items] == ["d/0", "d/1", "d/2"] and items[2].read() == png


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.full((4, 4, 3), np.nan, np.float32), "NaN or infinite"),
        (np.full((4, 4, 3), np.inf, np.float32), "NaN or infinite"),
        (np.zeros((0, 0, 3), np.uint8), "no pixels"),
        (np.zeros((1, 500, 3), np.uint8), "aspect ratio"),
    ],
)
def test_bad_in_memory_images_are_user_errors_naming_the_index(image, match):
    with pytest.raises(UserError, match=rf"image\[1\].*{match}"):
        items_from([np.zeros((4, 4, 3), np.uint8), image])
