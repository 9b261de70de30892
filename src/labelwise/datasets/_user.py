"""Loaders for the user's own data: ``.npy`` / ``.npz`` arrays and folders of images."""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from labelwise._validation import RNGLike, check_rng
from labelwise.datasets._types import ClassValue, Dataset
from labelwise.errors import MissingExtraError, ShapeError, UnknownClassError

__all__ = ["IMAGE_EXTENSIONS", "load_arrays", "load_image_folder"]

PathLike = str | os.PathLike[str]

#: File extensions (lower case) that :func:`load_image_folder` reads; others are skipped.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm"}
)


# ----------------------------------------------------------------------------- arrays


def _features(X: Any, name: str, source: str) -> np.ndarray:
    X = np.asarray(X)
    if X.dtype.kind not in "fiub":
        raise TypeError(f"{name} in {source} must be numeric, got dtype {X.dtype}")
    if X.ndim == 3:  # [N, H, W] greyscale images
        X = X[:, None, :, :]
    if X.ndim not in (2, 4) or X.shape[0] == 0:
        raise ShapeError(
            f"{name} in {source} must be [N, D] vectors, [N, H, W] or [N, C, H, W] images "
            f"with N >= 1, got shape {X.shape}"
        )
    out = X.astype(np.float32) / np.float32(255.0) if X.dtype == np.uint8 else X.astype(np.float32)
    if not np.isfinite(out).all():
        raise ValueError(f"{name} in {source} contains NaN or inf")
    return out


def _class_values(values: Sequence[Any], name: str) -> tuple[ClassValue, ...]:
    out: list[ClassValue] = []
    for v in values:
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, (numbers.Integral, np.integer)) and not isinstance(v, (bool, np.bool_)):
            out.append(int(v))
        else:
            raise TypeError(f"{name} must hold ints or strings, got {v!r}")
    if len({type(c) for c in out}) > 1:
        raise TypeError(f"{name} mixes ints and strings")
    if len(set(out)) != len(out):
        raise ValueError(f"{name} has duplicate class values")
    return tuple(out)


def _label_values(y: Any, name: str, source: str, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ShapeError(f"{name} in {source} must have shape ({n},), got {y.shape}")
    if y.dtype.kind not in "iuU":
        raise TypeError(
            f"{name} in {source} must hold integer or string class values, got dtype {y.dtype}"
        )
    return y


def _unlabeled_marker(y: np.ndarray) -> Any:
    return "" if y.dtype.kind == "U" else -1


def _encode(
    y: np.ndarray, classes: tuple[ClassValue, ...], name: str, source: str, *, allow_unlabeled: bool
) -> np.ndarray:
    pos = {c: i for i, c in enumerate(classes)}
    marker = _unlabeled_marker(y)
    out = np.empty(y.shape[0], dtype=np.int64)
    for i, v in enumerate(y.tolist()):
        p = pos.get(v)
        if p is None:
            if allow_unlabeled and v == marker:
                p = -1
            else:
                what = "a class" if v != marker else "labeled (test items must be)"
                raise UnknownClassError(
                    f"{name}[{i}] = {v!r} in {source} is not {what}; classes are "
                    f"{list(classes)[:20]!r}"
                )
        out[i] = p
    return out


def _stratified_split(
    y: np.ndarray, test_fraction: float, rng: RNGLike
) -> tuple[np.ndarray, np.ndarray]:
    gen = check_rng(rng)
    test: list[np.ndarray] = []
    for c in np.unique(y[y >= 0]):
        members = np.flatnonzero(y == c)
        k = round(test_fraction * members.size)
        test.append(gen.permutation(members)[:k])
    test_idx = np.sort(np.concatenate(test)) if test else np.zeros(0, dtype=np.int64)
    mask = np.ones(y.size, dtype=bool)
    mask[test_idx] = False
    return np.flatnonzero(mask), test_idx


def _check_array_file(p: Path, suffix: str, source: str) -> None:
    """Raise a clear ValueError when ``p`` is empty or not a NumPy .npy / .npz file (numpy
    itself reports those as EOFError or as "pickled data", which misleads)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(6)
    except OSError:
        return  # numpy's own error (missing file, permissions) is clear
    magic = b"\x93NUMPY" if suffix == ".npy" else b"PK"
    if not head.startswith(magic):
        kind = "empty" if not head else f"not a {suffix} file"
        writer = "numpy.save" if suffix == ".npy" else "numpy.savez"
        raise ValueError(f"{source} is {kind}; write it with {writer}")


def load_arrays(
    path: PathLike,
    *,
    classes: Sequence[ClassValue] | None = None,
    test_fraction: float | None = None,
    rng: RNGLike = 0,
    name: str | None = None,
) -> Dataset:
    """Load a dataset from a ``.npy`` or ``.npz`` file.

    Files are read with ``allow_pickle=False``, so they cannot execute code.

    * ``.npy``: features only, an unlabeled pool (every ``y_train`` is ``-1``, no test set).
    * ``.npz``: features under ``X_train`` (or ``X``), optional labels under ``y_train``
      (or ``y``), an optional test set ``X_test`` + ``y_test``, an optional ``classes``
      array and optional near-duplicate ``groups`` (one integer per training item; see
      :attr:`Dataset.groups`).

    Features ``[N, D]``, ``[N, H, W]`` (given a channel axis) or ``[N, C, H, W]`` become
    float32; ``uint8`` arrays are treated as 8-bit images and scaled by 1/255.

    Labels hold class *values* (ints or strings). Unlabeled training items are marked
    ``-1`` (integer labels) or ``""`` (string labels), unless that value is one of the
    given classes. The class list is the ``classes`` argument, else the file's ``classes``
    array, else the sorted distinct labeled values.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.npy`` or ``.npz`` file.
    classes : sequence of int or str, optional
        The ordered class values (required to label a wholly unlabeled pool later).
    test_fraction : float in (0, 1), optional
        Hold out this fraction of each class's labeled items as the test set (stratified,
        seeded by ``rng``). Only when the file has no test set.
    rng : int, numpy Generator or None, default 0
        Seed of the test split.
    name : str, optional
        Dataset name; default the file's stem.

    Returns
    -------
    Dataset

    Raises
    ------
    FileNotFoundError, ValueError, ShapeError, UnknownClassError
        Missing file, unsupported suffix or missing keys; bad shapes; labels outside the
        class list.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no file at {str(p)!r}")
    source = repr(str(p))
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise ValueError(
            f"load_arrays reads .npy or .npz files, got {str(p)!r}; for images use "
            "load_image_folder(path)"
        )
    if test_fraction is not None and not (
        isinstance(test_fraction, numbers.Real) and 0 < float(test_fraction) < 1
    ):
        raise ValueError(f"test_fraction must be a number in (0, 1) or None, got {test_fraction!r}")
    cls_arg = None if classes is None else _class_values(list(classes), "classes")

    X_test = y_test_raw = None
    groups: np.ndarray | None = None
    _check_array_file(p, suffix, source)
    if suffix == ".npy":
        X = _features(np.load(p, allow_pickle=False), "the array", source)
        y_raw: np.ndarray | None = None
        file_classes = None
    else:
        with np.load(p, allow_pickle=False) as npz:
            files = set(npz.files)
            xk = "X_train" if "X_train" in files else "X" if "X" in files else None
            if xk is None:
                raise ValueError(
                    f"{source} has arrays {sorted(files)}, expected features under 'X_train' "
                    "(or 'X'), with optional 'y_train' (or 'y'), 'X_test', 'y_test', 'classes'"
                )
            X = _features(npz[xk], xk, source)
            yk = "y_train" if "y_train" in files else "y" if "y" in files else None
            y_raw = None if yk is None else _label_values(npz[yk], yk, source, X.shape[0])
            if ("X_test" in files) != ("y_test" in files):
                raise ValueError(f"{source} must hold both X_test and y_test, or neither")
            if "X_test" in files:
                X_test = _features(npz["X_test"], "X_test", source)
                y_test_raw = _label_values(npz["y_test"], "y_test", source, X_test.shape[0])
            if "groups" in files:
                groups = np.asarray(npz["groups"])
                if (
                    groups.shape != (X.shape[0],)
                    or not np.issubdtype(groups.dtype, np.integer)
                ):
                    raise ValueError(
                        f"'groups' in {source} must be one integer per training item "
                        f"({X.shape[0]}), got {groups.dtype}{list(groups.shape)}"
                    )
                groups = groups.astype(np.int64)
            file_classes = (
                _class_values(npz["classes"].tolist(), f"'classes' in {source}")
                if "classes" in files
                else None
            )

    cls: tuple[ClassValue, ...]
    if cls_arg is not None:
        cls = cls_arg
    elif file_classes is not None:
        cls = file_classes
    else:
        seen: list[np.ndarray] = []
        for arr in (y_raw, y_test_raw):
            if arr is not None:
                seen.append(arr[arr != _unlabeled_marker(arr)])
        cls = _class_values(np.unique(np.concatenate(seen)).tolist(), "labels") if seen else ()

    y = (
        np.full(X.shape[0], -1, dtype=np.int64)
        if y_raw is None
        else _encode(y_raw, cls, "y_train", source, allow_unlabeled=True)
    )
    y_test = (
        None
        if y_test_raw is None
        else _encode(y_test_raw, cls, "y_test", source, allow_unlabeled=False)
    )
    split = "the file's own test set" if X_test is not None else "no test set"
    if test_fraction is not None:
        if X_test is not None:
            raise ValueError(f"{source} already has X_test/y_test; drop test_fraction")
        train_idx, test_idx = _stratified_split(y, float(test_fraction), rng)
        X_test, y_test = X[test_idx], y[test_idx]
        X, y = X[train_idx], y[train_idx]
        groups = None if groups is None else groups[train_idx]
        seed = rng if isinstance(rng, (int, np.integer)) else "a caller-supplied generator"
        split = (
            f"a stratified test split of {test_fraction:g} of each class's labeled items "
            f"(numpy default_rng, seed {seed})"
        )
    n_unl = int((y < 0).sum())
    return Dataset(
        name=name if name is not None else p.stem,
        X_train=np.ascontiguousarray(X),
        y_train=y,
        X_test=X_test,
        y_test=y_test,
        classes=cls,
        description=(
            f"Arrays from {str(p)!r}: {X.shape[0]} pool items ({n_unl} unlabeled), "
            f"{len(cls)} classes; {split}."
        ),
        groups=groups,
    )


# ----------------------------------------------------------------------------- images


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        (
            f
            for f in folder.rglob("*")
            if f.is_file()
            and f.suffix.lower() in IMAGE_EXTENSIONS
            and all(_visible(part) for part in f.relative_to(folder).parents if part != Path("."))
            and _visible(f)
        ),
        key=lambda f: f.relative_to(folder).as_posix(),
    )


def _check_image_size(image_size: Any) -> tuple[int, int] | None:
    if image_size is None:
        return None
    size = (image_size, image_size) if isinstance(image_size, numbers.Integral) else image_size
    try:
        h, w = size
    except (TypeError, ValueError):
        raise TypeError(
            f"image_size must be an int or (height, width), got {image_size!r}"
        ) from None
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in (h, w)):
        raise TypeError(f"image_size must hold integers, got {image_size!r}")
    if int(h) < 1 or int(w) < 1:
        raise ValueError(f"image_size must hold positive integers, got {image_size!r}")
    return int(h), int(w)


def load_image_folder(
    path: PathLike,
    *,
    image_size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
    name: str | None = None,
) -> Dataset:
    """Load a folder of images with Pillow.

    Layout: one sub-folder per class (class names = the sorted sub-folder names; images
    may sit in nested folders below them), and/or images directly in ``path``, which are
    unlabeled (``y = -1``). A folder of images only is thus an unlabeled pool. Hidden
    files and folders (name starting with ``.``) and files without an image extension
    (:data:`IMAGE_EXTENSIONS`) are skipped. There is no test set.

    Parameters
    ----------
    path : str or os.PathLike
        The folder.
    image_size : int or (height, width), optional
        Resize every image to this size (bilinear). Without it all images must already
        share one size.
    grayscale : bool, default False
        Convert to one channel (``"L"``); otherwise to RGB (alpha is dropped).
    name : str, optional
        Dataset name; default the folder's name.

    Returns
    -------
    Dataset
        ``X_train`` float32 ``[N, C, H, W]`` in [0, 1], items sorted by relative path;
        ``keys`` holds each image's path relative to ``path`` (with ``/``).

    Raises
    ------
    MissingExtraError
        Pillow is not installed (``pip install labelwise[data]``).
    ValueError
        No images at all, an empty class folder, an unreadable image (named), or images
        of different sizes without ``image_size``.
    """
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:
        raise MissingExtraError(
            "load_image_folder needs Pillow; install it with: pip install labelwise[data]"
        ) from exc
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"{str(root)!r} is not a folder")
    size = _check_image_size(image_size)

    class_dirs = sorted(
        (d for d in root.iterdir() if d.is_dir() and _visible(d)), key=lambda d: d.name
    )
    files: list[Path] = []
    labels: list[int] = []
    loose = sorted(
        (
            f
            for f in root.iterdir()
            if f.is_file() and _visible(f) and f.suffix.lower() in IMAGE_EXTENSIONS
        ),
        key=lambda f: f.name,
    )
    classes: list[str] = []
    for d in class_dirs:
        imgs = _image_files(d)
        if not imgs:
            raise ValueError(
                f"class folder {str(d)!r} holds no images (extensions "
                f"{sorted(IMAGE_EXTENSIONS)}); add images or remove the folder"
            )
        labels.extend([len(classes)] * len(imgs))
        classes.append(d.name)
        files.extend(imgs)
    files.extend(loose)
    labels.extend([-1] * len(loose))
    if not files:
        raise ValueError(
            f"{str(root)!r} holds no images: expected one sub-folder of images per class, "
            f"or image files (extensions {sorted(IMAGE_EXTENSIONS)})"
        )

    mode = "L" if grayscale else "RGB"
    channels = 1 if grayscale else 3
    X: np.ndarray | None = None
    first: Path | None = None
    for i, f in enumerate(files):
        try:
            with Image.open(f) as opened:
                im = opened.convert(mode)
                if size is not None and (im.height, im.width) != size:
                    im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                arr = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise ValueError(f"cannot read image {str(f)!r}: {exc}") from exc
        if X is None:
            first = f
            X = np.empty((len(files), channels, arr.shape[0], arr.shape[1]), dtype=np.float32)
        elif arr.shape[:2] != X.shape[2:]:
            raise ValueError(
                f"images differ in size: {str(first)!r} is {X.shape[3]}x{X.shape[2]} but "
                f"{str(f)!r} is {arr.shape[1]}x{arr.shape[0]} (width x height); pass "
                "image_size=(height, width) to resize them all"
            )
        X[i] = (arr.reshape(arr.shape[0], arr.shape[1], -1).transpose(2, 0, 1)) / np.float32(255.0)
    assert X is not None
    y = np.asarray(labels, dtype=np.int64)
    keys = tuple(f.relative_to(root).as_posix() for f in files)
    resized = f"resized to {size[0]}x{size[1]} (height x width)" if size else "at their own size"
    return Dataset(
        name=name if name is not None else root.name,
        X_train=X,
        y_train=y,
        X_test=None,
        y_test=None,
        classes=tuple(classes),
        description=(
            f"Images from the folder {str(root)!r}: {len(files)} images "
            f"({int((y < 0).sum())} unlabeled), {len(classes)} classes from sub-folder names, "
            f"{'greyscale' if grayscale else 'RGB'}, {resized}, scaled to [0, 1]; no test set."
        ),
        keys=keys,
    )
