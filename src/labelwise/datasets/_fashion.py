"""Fashion-MNIST from the IDX files of the Debian/Ubuntu package ``dataset-fashion-mnist``.

Xiao, Rasul & Vollgraf 2017 (arXiv 1708.07747): 70,000 28x28 greyscale images of Zalando
articles in 10 classes, with the official split of 60,000 training (pool) and 10,000 test
images (6,000 / 1,000 per class). Nothing is downloaded: the files come from the operating
system's package (``apt-get install dataset-fashion-mnist`` puts them in
``/usr/share/datasets/fashion-mnist/``) or from a folder you name.

The IDX format (LeCun et al., the MNIST page): a big-endian header ``0x00 0x00 TYPE NDIM``,
``NDIM`` big-endian uint32 dimension sizes, then the values in C order. The reader below
checks each part and names the file in every error.
"""

from __future__ import annotations

import gzip
import math
import os
from pathlib import Path

import numpy as np

from labelwise.datasets._types import Dataset
from labelwise.errors import LabelwiseError

__all__ = [
    "DEFAULT_FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR_ENV",
    "FASHION_MNIST_FILES",
    "DatasetFilesNotFoundError",
    "IDXFormatError",
    "fashion_mnist_dir",
    "load_fashion_mnist",
    "read_idx",
]

#: Where the Debian/Ubuntu package ``dataset-fashion-mnist`` installs the files.
DEFAULT_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")

#: Environment variable naming another folder that holds the four files.
FASHION_MNIST_DIR_ENV = "LABELWISE_FASHION_MNIST_DIR"

#: The four files (gzip-compressed; an uncompressed file without ``.gz`` is read as well).
FASHION_MNIST_FILES: dict[str, str] = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}

#: Class names in label order 0..9 (from the dataset's README).
FASHION_MNIST_CLASSES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)

INSTALL_HINT = "apt-get install dataset-fashion-mnist"


class DatasetFilesNotFoundError(LabelwiseError, FileNotFoundError):
    """The files of a dataset that labelwise reads from disk are not where expected.

    The message says how to install them and where they were looked for.
    """

    def __str__(self) -> str:  # OSError would format (errno, strerror)
        return str(self.args[0]) if self.args else ""


class IDXFormatError(LabelwiseError, ValueError):
    """A file is not a well-formed IDX file (bad magic number, header or size)."""


# IDX type byte -> big-endian numpy dtype.
_IDX_TYPES: dict[int, str] = {
    0x08: ">u1",
    0x09: ">i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError) as exc:  # BadGzipFile is an OSError; truncation is EOFError
        raise IDXFormatError(f"{str(path)!r} is a damaged gzip file: {exc}") from exc


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not) into a numpy array.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip compression is recognised by its magic bytes, not by the name.

    Returns
    -------
    ndarray
        Shaped by the header's dimensions, in the header's type converted to native byte
        order (``uint8`` for the MNIST-family files).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    IDXFormatError
        Damaged gzip data, a magic number that does not start with two zero bytes, an
        unknown type byte, zero dimensions, or a data size that differs from the product
        of the dimensions (the message gives both sizes and the file).
    """
    p = Path(path)
    data = _read_bytes(p)
    if len(data) < 4:
        raise IDXFormatError(
            f"{str(p)!r} is not an IDX file: {len(data)} bytes, shorter than the 4-byte "
            "magic number"
        )
    zero, dtype_code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise IDXFormatError(
            f"{str(p)!r} is not an IDX file: its magic number {data[:4].hex()} does not start "
            "with two zero bytes (expected e.g. 00000803 for images, 00000801 for labels)"
        )
    if dtype_code not in _IDX_TYPES:
        raise IDXFormatError(
            f"{str(p)!r}: unknown IDX type byte 0x{dtype_code:02x}; expected one of "
            + ", ".join(f"0x{c:02x}" for c in _IDX_TYPES)
        )
    if ndim == 0:
        raise IDXFormatError(f"{str(p)!r}: the IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(
            f"{str(p)!r}: truncated IDX header: {ndim} dimensions need {header} header bytes, "
            f"the file has {len(data)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_TYPES[dtype_code])
    expected = math.prod(shape) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        raise IDXFormatError(
            f"{str(p)!r}: the header declares shape {shape} of {dtype.itemsize}-byte values "
            f"= {expected} data bytes, but the file holds {actual}"
            + (" (truncated?)" if actual < expected else " (trailing bytes)")
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def fashion_mnist_dir(directory: str | os.PathLike[str] | None = None) -> Path:
    """The folder the Fashion-MNIST files are read from.

    ``directory`` if given, else the environment variable ``LABELWISE_FASHION_MNIST_DIR``
    if set and not empty, else :data:`DEFAULT_FASHION_MNIST_DIR` (the Debian package's).
    """
    if directory is not None:
        return Path(directory)
    env = os.environ.get(FASHION_MNIST_DIR_ENV, "")
    return Path(env) if env else DEFAULT_FASHION_MNIST_DIR


def _locate(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / name.removesuffix(".gz")):
        if candidate.is_file():
            return candidate
    return None


def _missing_message(folder: Path, missing: list[str], source: str) -> str:
    return (
        f"Fashion-MNIST files not found: {', '.join(missing)} missing from {str(folder)!r} "
        f"({source}); install with `{INSTALL_HINT}` (Debian/Ubuntu), which puts the four "
        f"files {', '.join(FASHION_MNIST_FILES.values())} in {str(DEFAULT_FASHION_MNIST_DIR)!r}; "
        f"or point the environment variable {FASHION_MNIST_DIR_ENV} (or the directory "
        "argument) at a folder holding them (gzip-compressed or not)."
    )


def _split(
    folder: Path, images_key: str, labels_key: str, paths: dict[str, Path]
) -> tuple[np.ndarray, np.ndarray]:
    img_path, lab_path = paths[images_key], paths[labels_key]
    images, labels = read_idx(img_path), read_idx(lab_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IDXFormatError(
            f"{str(img_path)!r} must hold uint8 images [N, 28, 28], got {images.dtype} "
            f"{list(images.shape)}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IDXFormatError(
            f"{str(lab_path)!r} must hold uint8 labels [N], got {labels.dtype} "
            f"{list(labels.shape)}"
        )
    if labels.shape[0] != images.shape[0]:
        raise IDXFormatError(
            f"{str(lab_path)!r} holds {labels.shape[0]} labels but {str(img_path)!r} holds "
            f"{images.shape[0]} images; they must match"
        )
    bad = labels >= len(FASHION_MNIST_CLASSES)
    if bad.any():
        raise IDXFormatError(
            f"{str(lab_path)!r}: label {int(labels[bad][0])} at position "
            f"{int(np.flatnonzero(bad)[0])} is outside 0..{len(FASHION_MNIST_CLASSES) - 1}"
        )
    X = (images.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)
    return X, labels.astype(np.int64)


def load_fashion_mnist(
    directory: str | os.PathLike[str] | None = None, *, flatten: bool = False
) -> Dataset:
    """Load Fashion-MNIST with its official 60,000 / 10,000 split.

    Parameters
    ----------
    directory : str or os.PathLike, optional
        Folder holding ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
        ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (each may also be
        uncompressed, without ``.gz``). Default: see :func:`fashion_mnist_dir`.
    flatten : bool, default False
        Items as 784-feature vectors ``[N, 784]`` (name ``"fashion-mnist-flat"``).

    Returns
    -------
    Dataset
        ``X_train`` float32 ``[N, 1, 28, 28]`` in [0, 1] (grey level / 255) in the files'
        order, ``y_train`` int64, the same for the test set; ``classes`` the 10 names of
        :data:`FASHION_MNIST_CLASSES`.

    Raises
    ------
    DatasetFilesNotFoundError
        A file is missing; the message says ``apt-get install dataset-fashion-mnist``
        and where the files were expected.
    IDXFormatError
        A file is damaged or not the expected images / labels (the message names it).
    """
    folder = fashion_mnist_dir(directory)
    if directory is not None:
        source = "the directory argument"
    elif os.environ.get(FASHION_MNIST_DIR_ENV, ""):
        source = f"from the environment variable {FASHION_MNIST_DIR_ENV}"
    else:
        source = "the default location of the Debian package"
    paths: dict[str, Path] = {}
    missing: list[str] = []
    for key, name in FASHION_MNIST_FILES.items():
        found = _locate(folder, name)
        if found is None:
            missing.append(name)
        else:
            paths[key] = found
    if missing:
        raise DatasetFilesNotFoundError(_missing_message(folder, missing, source))
    X_train, y_train = _split(folder, "train_images", "train_labels", paths)
    X_test, y_test = _split(folder, "test_images", "test_labels", paths)
    data = Dataset(
        name="fashion-mnist",
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=FASHION_MNIST_CLASSES,
        description=(
            "Fashion-MNIST (Xiao, Rasul & Vollgraf 2017): 28x28 greyscale images of Zalando "
            "articles in 10 classes (" + ", ".join(FASHION_MNIST_CLASSES) + "), grey levels "
            f"0-255 scaled to [0, 1], shaped [N, 1, 28, 28], read from the IDX files in "
            f"{str(folder)!r} (Debian package dataset-fashion-mnist). The official split: "
            f"{X_train.shape[0]:,} training images form the pool (in the file's order), "
            f"{X_test.shape[0]:,} test images the test set."
        ),
    )
    return data.flatten() if flatten else data
