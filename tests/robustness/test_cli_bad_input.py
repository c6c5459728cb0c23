"""Bad image files and bad sources given to ``genmetrics evaluate``.

Documented behaviour: an unreadable image inside a source is skipped, counted
(``counts.generated_skipped``), listed in ``skipped`` and named in a ``warning:`` line, and the
run exits 0; with ``--strict`` the same file is a user error (exit 2, one ``error:`` line naming
it). A source that cannot be used at all is a user error naming it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from tests.fakes import PixelBackbone
from tests.robustness.conftest import (
    N_GOOD,
    Runner,
    Sets,
    assert_counted,
    assert_skipped,
    assert_user_error,
    bomb_png,
    cmyk_jpeg,
    corrupt_zip,
    exif_orientation_as_text,
    exif_orientation_out_of_file,
    gif,
    jpeg_bytes,
    la_png,
    make_fifo,
    palette_png_with_transparency,
    png16_rgb,
    png_bytes,
    truncated_targz,
    unreadable_dir_link,
    write_png,
    zip_with_corrupt_member,
)

Builder = Callable[[Path], object]


def _bytes(data: bytes) -> Builder:
    return lambda path: path.write_bytes(data)


def _half(data: bytes) -> Builder:
    return lambda path: path.write_bytes(data[: len(data) // 2])


# (id, file name inside the generated folder, builder)
UNREADABLE_IMAGES: list[tuple[str, str, Builder]] = [
    ("zero-byte-png", "zero-bytes.png", _bytes(b"")),
    ("truncated-png", "cut-short.png", _half(png_bytes((64, 64), seed=11))),
    ("truncated-jpeg", "cut-short.jpg", _half(jpeg_bytes((128, 96), seed=12))),
    ("text-named-png", "really-text.png", _bytes(b"this is a text file, not a PNG\n" * 4)),
    (
        "html-named-jpg",
        "error-page.jpg",
        _bytes(b"<!DOCTYPE html><html><body><h1>403 Forbidden</h1></body></html>\n"),
    ),
    ("gif-not-read", "animated.gif", gif),
    ("decompression-bomb-header", "bomb.png", bomb_png),
    # sizes are width x height
    ("aspect-1x2000000", "tall-strip.png", lambda p: write_png(p, 1, 2_000_000)),
    ("aspect-2000000x1", "long-strip.png", lambda p: write_png(p, 2_000_000, 1)),
    ("aspect-89000000x1", "wide-strip.png", lambda p: write_png(p, 89_000_000, 1)),
]

# (id, file name, builder): unusual but valid images, which must be read (not skipped)
VALID_ODD_IMAGES: list[tuple[str, str, Builder]] = [
    ("cmyk-jpeg", "cmyk.jpg", cmyk_jpeg),
    ("rgb-16-bit-png", "deep16.png", png16_rgb),
    ("palette-png-transparency", "palette.png", palette_png_with_transparency),
    ("la-png", "gray-alpha.png", la_png),
    ("exif-orientation-as-text", "exif-text.jpg", exif_orientation_as_text),
    ("exif-orientation-past-end", "exif-broken.jpg", exif_orientation_out_of_file),
]


def _ids(cases: list[tuple[str, str, Builder]]) -> list[str]:
    return [c[0] for c in cases]


@pytest.mark.parametrize("case, name, build", UNREADABLE_IMAGES, ids=_ids(UNREADABLE_IMAGES))
def test_unreadable_image_is_skipped_and_counted(
    case: str, name: str, build: Builder, sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    build(sets.gen / name)
    assert_skipped(cli(*sets.evaluate()), name, generated=N_GOOD)


@pytest.mark.parametrize("case, name, build", UNREADABLE_IMAGES, ids=_ids(UNREADABLE_IMAGES))
def test_unreadable_image_with_strict_is_one_error(
    case: str, name: str, build: Builder, sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    build(sets.gen / name)
    assert_user_error(cli(*sets.evaluate("--strict")), name)


@pytest.mark.parametrize("case, name, build", VALID_ODD_IMAGES, ids=_ids(VALID_ODD_IMAGES))
def test_unusual_valid_image_is_read(
    case: str, name: str, build: Builder, sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    build(sets.gen / name)
    assert_counted(cli(*sets.evaluate("--strict")), N_GOOD + 1)
    assert fake_backbone.images >= N_GOOD + 1


def _print_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    """What Python does with a warning outside pytest: format it, write it to stderr."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def test_decoder_warnings_name_the_file(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """Pillow warns about the broken EXIF block; on the terminal each such line must say
    which file it is about (or not be shown at all)."""
    exif_orientation_out_of_file(sets.gen / "exif-broken.jpg")
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = _print_warning
        res = cli(*sets.evaluate())
    assert_counted(res, N_GOOD + 1)
    about_files = [w for w in res.warnings if not w.startswith("warning: fid: ")]
    unnamed = [w for w in about_files if "exif-broken.jpg" not in w]
    assert not unnamed, f"warnings that do not name the file: {unnamed}"


# --------------------------------------------------------------------------- folder layout


def test_symlink_loop_is_reported_and_not_followed(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    os.symlink(".", sets.gen / "loop", target_is_directory=True)
    assert_skipped(cli(*sets.evaluate()), "loop", generated=N_GOOD)


def test_unreadable_subfolder_is_reported(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    unreadable_dir_link(sets.gen / "locked")
    assert_skipped(cli(*sets.evaluate()), "locked", generated=N_GOOD)


class FifoWatchdog:
    """Unblocks anyone stuck opening ``fifo`` for reading once ``seconds`` have passed, and
    remembers that it had to."""

    def __init__(self, fifo: Path, seconds: float) -> None:
        self.fifo = fifo
        self.seconds = seconds
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        if self._stop.wait(self.seconds):
            return
        self.fired = True
        while not self._stop.is_set():
            try:  # a blocked reader's open() returns once a writer opens; closing gives it EOF
                os.close(os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass
            time.sleep(0.2)

    def __enter__(self) -> FifoWatchdog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_fifo_named_png_does_not_hang(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    fifo = make_fifo(sets.gen / "pipe.png")
    with FifoWatchdog(fifo, seconds=15) as watchdog:
        res = cli(*sets.evaluate())
    assert not watchdog.fired, "the run blocked opening a fifo named .png"
    assert_skipped(res, "pipe.png", generated=N_GOOD)


def _bytes_name(folder: Path, name: bytes, data: bytes) -> None:
    fd = os.open(os.fsencode(folder) + b"/" + name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def test_non_utf8_file_name_is_read_and_written_out(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    _bytes_name(sets.gen, b"\xff\xfe-photo.png", png_bytes(seed=21))
    out = sets.root / "out"
    assert_counted(cli(*sets.evaluate("--out", out)), N_GOOD + 1)
    assert (out / "summary.json").is_file()
    assert "\\xff\\xfe-photo" in (out / "per_image.csv").read_text(encoding="utf-8")


def test_non_utf8_file_name_of_a_broken_image_is_named(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    _bytes_name(sets.gen, b"broken-\xff.png", b"not an image")
    assert_skipped(cli(*sets.evaluate()), "broken-\\xff.png", generated=N_GOOD)


def test_duplicate_ids_name_both_files(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    (sets.gen / "same.png").write_bytes(png_bytes(seed=31))
    (sets.gen / "same.jpg").write_bytes(jpeg_bytes(seed=32))
    assert_user_error(cli(*sets.evaluate()), "same.png", "same.jpg")
    assert fake_backbone.calls == 0


def test_empty_folder(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    empty = sets.root / "nothing-here"
    empty.mkdir()
    assert_user_error(cli(*sets.evaluate(gen=empty)), "nothing-here")
    assert fake_backbone.calls == 0


def test_folder_of_non_image_files(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    docs = sets.root / "only-docs"
    docs.mkdir()
    for name in ("notes.txt", "data.csv", "README.md", "weights.pt"):
        (docs / name).write_text("not an image\n")
    assert_user_error(cli(*sets.evaluate(gen=docs)), "only-docs")
    assert fake_backbone.calls == 0


def test_folder_of_only_gifs(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    gifs = sets.root / "only-gifs"
    gifs.mkdir()
    gif(gifs / "a.gif")
    gif(gifs / "b.gif")
    assert_user_error(cli(*sets.evaluate(gen=gifs)), "only-gifs", ".gif")
    assert fake_backbone.calls == 0


def test_single_1x1_image_is_too_few_for_fid(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    """Strict reading: the error names the set that is too small, not just the metric."""
    tiny = sets.root / "one-pixel-set"
    tiny.mkdir()
    Image.new("RGB", (1, 1), (200, 10, 10)).save(tiny / "dot.png")
    assert_user_error(cli(*sets.evaluate(gen=tiny)), "fid", "one-pixel-set")


# --------------------------------------------------------------------------- sources


def test_corrupt_zip(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    source = corrupt_zip(sets.root / "corrupt.zip")
    assert_user_error(cli(*sets.evaluate(gen=source)), "corrupt.zip")
    assert fake_backbone.calls == 0


def test_zip_with_corrupt_member_is_skipped_and_counted(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    source = zip_with_corrupt_member(sets.root / "damaged.zip")
    assert_skipped(cli(*sets.evaluate(gen=source)), "broken.png", generated=N_GOOD)


def test_truncated_tar_gz(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    source = truncated_targz(sets.root / "cut.tar.gz")
    assert_user_error(cli(*sets.evaluate(gen=source)), "cut.tar.gz")
    assert fake_backbone.calls == 0


def test_list_file_with_some_missing_files(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    listing = sets.root / "some-missing.txt"
    names = sorted(p.name for p in sets.gen.iterdir())
    listing.write_text("".join(f"gen/{n}\n" for n in names) + "gen/vanished.png\n")
    assert_skipped(cli(*sets.evaluate(gen=listing)), "vanished.png", generated=N_GOOD)


def test_list_file_of_missing_files(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    listing = sets.root / "all-missing.txt"
    listing.write_text("gone-1.png\ngone-2.png\n")
    assert_user_error(cli(*sets.evaluate(gen=listing)), "gone-1.png")
    assert fake_backbone.calls == 0


def test_list_file_of_binary_garbage(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    listing = sets.root / "garbage.txt"
    listing.write_bytes(bytes(range(256)) * 8)
    assert_user_error(cli(*sets.evaluate(gen=listing)), "garbage.txt")
    assert fake_backbone.calls == 0


def test_empty_list_file(sets: Sets, fake_backbone: PixelBackbone, cli: Runner) -> None:
    listing = sets.root / "empty-list.txt"
    listing.write_text("")
    assert_user_error(cli(*sets.evaluate(gen=listing)), "empty-list.txt")
    assert fake_backbone.calls == 0


def test_reference_folder_with_a_bad_image_is_counted_on_its_side(
    sets: Sets, fake_backbone: PixelBackbone, cli: Runner
) -> None:
    (sets.real / "ref-zero.png").write_bytes(b"")
    res = cli(*sets.evaluate())
    assert res.code == 0, res.describe()
    doc = res.json()
    assert doc["counts"]["reference_skipped"] == 1 and doc["counts"]["generated_skipped"] == 0
    assert any("ref-zero.png" in s["path"] for s in doc["skipped"])
