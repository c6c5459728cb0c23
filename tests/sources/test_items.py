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
