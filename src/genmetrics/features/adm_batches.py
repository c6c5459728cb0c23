"""Reader for the ADM evaluator's reference batches (Dhariwal & Nichol 2021,
``guided-diffusion/evaluations``), e.g. ``VIRTUAL_imagenet256_labeled.npz``.

Such a file holds ``mu``/``sigma`` (Inception pool3 statistics), ``mu_s``/``sigma_s`` (the sFID
statistics of the first 7 channels of ``mixed_6/conv``, 2023-d, flattened NHWC — our
``inception`` ``spatial`` output) and ``arr_0``, the reference images (N x H x W x 3 uint8)
from which the evaluator computes the pool3 activations for precision/recall.

The evaluator feeds the images at their stored size to the TF 2015-12-05 graph, which resizes
them with TF1 ``resize_bilinear`` to 299: our ``tf1`` protocol. :func:`read_adm_batches`
returns the statistics as a :class:`~genmetrics.features.reference.ReferenceStats` whose
manifest says so (backbone ``inception``, outputs ``pool3`` and ``spatial``, protocol ``tf1``,
no weights sha256: the TF graph's weights are the ones ours are converted from), so FID and
sFID compare against the published ImageNet numbers and a run with another protocol is refused
by :func:`~genmetrics.features.reference.check_reference`. :func:`iter_adm_images` streams
``arr_0`` in chunks (it is gigabytes), and :func:`adm_items` lists its images as image items
that each read one image when extraction asks for it, so precision/recall/density/coverage (and
any other per-image metric) against an ADM batch never hold the whole array.

Each item reads its image as an uncompressed binary PPM (``P6``: a short header and the raw
RGB bytes, decoded bit-exactly), not as an array: the images then go through the decode policy
like files of a folder — the pixel limits checked from the header, at most
``KEEP_BLOB_BYTES`` of encoded bytes kept per image between hashing and decoding, and the
pixels decoded only inside the decode budget — so a batch of large images costs what a folder
of the same images costs (handing out arrays kept every image of a chunk decoded in memory).
"""

from __future__ import annotations

import os
import struct
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from genmetrics.errors import ImageDecodeError, UserError
from genmetrics.features.npz import open_npz
from genmetrics.features.reference import ReferenceStats, stored_space
from genmetrics.sources.decode import check_dimensions
from genmetrics.sources.items import ImageItem, ItemList

ADM_FORMAT = "adm-reference-batch"
ADM_PROTOCOL = "tf1"
SPATIAL_DIM = 2023
ADM_SPACES = (("inception", "pool3"), ("inception", "spatial"))
"""The feature spaces whose statistics an ADM reference batch holds."""
_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
"""A zip local file header (30 bytes; the name and extra field lengths are the last two)."""


def is_adm_batches(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an ``.npz`` with the ADM keys (``mu``, ``sigma``, ``mu_s``, ``sigma_s``)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = {n.removesuffix(".npy") for n in z.namelist()}
    except (OSError, zipfile.BadZipFile):
        return False
    return {"mu", "sigma", "mu_s", "sigma_s"} <= names


def _array_header(z: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype, bool, int]:
    """(shape, dtype, fortran_order, header bytes) of a stored ``.npy`` without reading it."""
    with z.open(name + ".npy") as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        return shape, dtype, fortran, f.tell()


def adm_image_info(path: str | os.PathLike) -> tuple[int, tuple[int, ...]] | None:
    """(number of images, shape of one) of ``arr_0``, or ``None`` when the file has none."""
    with zipfile.ZipFile(path) as z:
        if "arr_0.npy" not in z.namelist():
            return None
        shape, dtype, _, _ = _array_header(z, "arr_0")
    if len(shape) != 4 or shape[3] != 3 or dtype != np.uint8:
        raise UserError(f"{path}: 'arr_0' must be N x H x W x 3 uint8 images, got {dtype} {shape}")
    return int(shape[0]), tuple(int(s) for s in shape[1:])


def iter_adm_images(path: str | os.PathLike, chunk: int = 256) -> Iterator[np.ndarray]:
    """The reference images of ``arr_0`` in chunks of at most ``chunk`` (C x H x W x 3 uint8),
    read as a stream (never the whole array at once)."""
    info = adm_image_info(path)
    if info is None:
        raise UserError(f"{path}: this ADM reference batch has no images ('arr_0')")
    count, shape = info
    per = int(np.prod(shape))
    with zipfile.ZipFile(path) as z:
        _, _, fortran, offset = _array_header(z, "arr_0")
        if fortran:
            raise UserError(f"{path}: 'arr_0' is stored in Fortran order; re-save it in C order")
        with z.open("arr_0.npy") as f:
            f.read(offset)
            for start in range(0, count, chunk):
                n = min(chunk, count - start)
                buf = f.read(n * per)
                if len(buf) != n * per:
                    raise UserError(f"{path}: 'arr_0' is truncated at image {start}")
                yield np.frombuffer(buf, dtype=np.uint8).reshape(n, *shape)


def _manifest(output: str, dim: int, n: int | None, path: Path) -> dict[str, Any]:
    return {
        "format": ADM_FORMAT,
        "backbone": "inception",
        "output": output,
        "feature_space": f"inception:{output}",
        "protocol": ADM_PROTOCOL,
        "preprocess": "TF1 resize_bilinear to 299 inside the TF 2015-12-05 graph",
        "dim": dim,
        "n": n,
        "source": f"ADM evaluator reference batch {path.name}",
    }


def read_adm_batches(path: str | os.PathLike) -> ReferenceStats:
    """Inception pool3 (``mu``/``sigma``) and sFID spatial (``mu_s``/``sigma_s``) statistics of
    an ADM reference batch as one two-space :class:`ReferenceStats`: shapes checked from the
    headers now, each space's matrices read and validated when a run uses it."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    if not is_adm_batches(path):
        raise UserError(f"{path}: not an ADM reference batch (it needs mu, sigma, mu_s, sigma_s)")
    info = adm_image_info(path)
    n = info[0] if info is not None and info[0] >= 2 else None
    # headers only: the matrices are read and validated when a run uses their space
    with open_npz(path) as archive:
        pool3 = stored_space(archive, "mu", "sigma", n, _manifest("pool3", 2048, n, path))
        spatial = stored_space(archive, "mu_s", "sigma_s", n,
                               _manifest("spatial", SPATIAL_DIM, n, path))
    if pool3.dim != 2048 or spatial.dim != SPATIAL_DIM:
        raise UserError(
            f"{path}: expected 2048-d pool3 and {SPATIAL_DIM}-d spatial statistics, got "
            f"{pool3.dim} and {spatial.dim}"
        )
    return ReferenceStats(path, pool3.manifest,
                          {("inception", "pool3"): pool3, ("inception", "spatial"): spatial})


class _ArrayFile:
    """Random access to the images of ``arr_0``: ``np.savez`` stores members uncompressed, so
    image ``i`` lies at a fixed offset in the ``.npz`` itself; a compressed member
    (``np.savez_compressed``) is decompressed once into an anonymous temporary file. Picklable
    (a Ray worker opens the file again), thread-safe (decode threads share it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with zipfile.ZipFile(path) as z:
            info = z.getinfo("arr_0.npy")
            shape, _, fortran, header = _array_header(z, "arr_0")
            if fortran:
                raise UserError(f"{path}: 'arr_0' is stored in Fortran order; re-save it in C order")
            self.stored = info.compress_type == zipfile.ZIP_STORED
            self.member_offset = info.header_offset
        self.header = header
        self.shape = tuple(int(s) for s in shape[1:])
        self.image_bytes = int(np.prod(self.shape))
        self._file = None
        self._base = 0
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_file", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _file=None, _lock=threading.Lock())

    def _open(self) -> None:
        if self.stored:
            f = open(self.path, "rb")  # noqa: SIM115 - kept open while the items live
            f.seek(self.member_offset)
            fields = _LOCAL_HEADER.unpack(f.read(_LOCAL_HEADER.size))
            if fields[0] != b"PK\x03\x04":
                f.close()
                raise OSError(f"{self.path}: bad zip local header for 'arr_0'")
            self._base = self.member_offset + _LOCAL_HEADER.size + fields[-2] + fields[-1] + self.header
        else:
            f = tempfile.TemporaryFile()  # noqa: SIM115
            with zipfile.ZipFile(self.path) as z, z.open("arr_0.npy") as src:
                while block := src.read(1 << 24):
                    f.write(block)
            self._base = self.header
        self._file = f

    def read_raw(self, index: int) -> bytes:
        """The H*W*3 bytes of image ``index``, read from disk."""
        with self._lock:
            if self._file is None:
                self._open()
            assert self._file is not None
            self._file.seek(self._base + index * self.image_bytes)
            buf = self._file.read(self.image_bytes)
        if len(buf) != self.image_bytes:
            raise OSError(f"'arr_0' is truncated at image {index}")
        return buf

    def read(self, index: int) -> np.ndarray:
        """Image ``index`` (H x W x 3 uint8), read from disk."""
        return np.frombuffer(self.read_raw(index), dtype=np.uint8).reshape(self.shape)

    def read_ppm(self, index: int) -> bytes:
        """Image ``index`` as a binary PPM file (see the module docstring)."""
        height, width = self.shape[:2]
        return f"P6\n{width} {height}\n255\n".encode("ascii") + self.read_raw(index)


class _AdmImage:
    """``ImageItem.read`` of one image of an ADM batch (a picklable callable): PPM bytes."""

    def __init__(self, array: _ArrayFile, index: int) -> None:
        self.array, self.index = array, index

    def __call__(self) -> bytes:
        return self.array.read_ppm(self.index)


def adm_items(path: str | os.PathLike) -> ItemList:
    """The reference images (``arr_0``) of an ADM batch as image items ``arr_0/00000`` ...,
    each reading its own image from disk when extraction asks for it: memory stays bounded by
    the extraction's batches, never the N x H x W x 3 array."""
    path = Path(path)
    info = adm_image_info(path)
    if info is None:
        raise UserError(
            f"{path}: this ADM reference batch has no images ('arr_0'); per-image metrics "
            "(precision, recall, density, coverage, kid...) need them: use the batch file with "
            "its images, or pass a folder of the reference images as --reference"
        )
    count, shape = info
    try:
        check_dimensions(shape[1], shape[0], f"{path}!arr_0")
    except ImageDecodeError as exc:
        raise UserError(f"{exc}; its images cannot be used") from None
    array = _ArrayFile(path)
    width = max(5, len(str(count)))
    return ItemList([
        ImageItem(f"arr_0/{i:0{width}d}", f"{path}!arr_0[{i}]", _AdmImage(array, i))
        for i in range(count)
    ])
