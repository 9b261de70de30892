"""User texts from CSV, TSV and JSONL files (read_text_records, load_text_file).

Every file is written into ``tmp_path`` by the test; the features come from a deterministic
fake embedder (SHA-256 of the text -> 8 floats), so the real MiniLM model is never loaded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from labelwise.datasets import (
    TEXT_FILE_SUFFIXES,
    MiniLMEmbedder,
    TextFileFormatError,
    TextRecords,
    load_text_file,
    read_text_records,
)
from labelwise.errors import LabelwiseError, ShapeError, UnknownClassError


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return [b / 255.0 for b in digest[:8]]


class _HashEmbedder:
    """8-d float32 'embeddings' from the SHA-256 of each text; counts calls and texts."""

    def __init__(self) -> None:
        self.calls = 0
        self.seen: list[str] = []

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.seen.extend(texts)
        return np.array([_vector(t) for t in texts], dtype=np.float32)


def _expected(texts: Sequence[str]) -> np.ndarray:
    return np.array([_vector(t) for t in texts], dtype=np.float32)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep the default cache folder inside tmp_path (never ~/.cache)."""
    folder = tmp_path / "default-cache"
    monkeypatch.setenv("LABELWISE_CACHE", str(folder))
    return folder


def _write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def _jsonl(path: Path, rows: Sequence[Any]) -> Path:
    return _write(path, "".join(json.dumps(r) + "\n" for r in rows))


# ---------------------------------------------------------------- round trips


_CSV = (
    "id, text ,label\n"  # spaces around header names are ignored
    "q1,Who wrote Hamlet?,HUM\n"
    'q2,"Paris, France",LOC\n'
    "\n"
    'q3,"a text over\ntwo lines",\n'  # empty label: unlabeled
    'q4,"say ""hi""",HUM\n'
    ",,\n"  # a row of empty cells is skipped
    "q5,Where is Rome?,LOC\n"
    "q6,no label cell at all\n"  # missing trailing cell: unlabeled
)
_CSV_TEXTS = (
    "Who wrote Hamlet?",
    "Paris, France",
    "a text over\ntwo lines",
    'say "hi"',
    "Where is Rome?",
    "no label cell at all",
)


def test_csv_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path / "questions.csv", _CSV, bom=True)
    rec = read_text_records(path, id_field="id")
    assert isinstance(rec, TextRecords) and len(rec) == 6
    assert rec.texts == _CSV_TEXTS
    assert rec.labels == ("HUM", "LOC", None, "HUM", "LOC", None)
    assert rec.ids == ("q1", "q2", "q3", "q4", "q5", "q6")
    assert rec.lines == (2, 3, 5, 7, 9, 10)  # where each record starts

    fake = _HashEmbedder()
    d = load_text_file(path, id_field="id", embedder=fake, cache=tmp_path / "c")
    assert d.name == "questions" and d.classes == ("HUM", "LOC")
    assert d.X_train.dtype == np.float32 and d.X_train.shape == (6, 8)
    np.testing.assert_array_equal(d.X_train, _expected(_CSV_TEXTS))
    assert d.y_train.tolist() == [0, 1, -1, 0, 1, -1]
    assert d.keys == ("q1", "q2", "q3", "q4", "q5", "q6")
    assert d.X_test is None and d.y_test is None
    assert fake.calls == 1 and fake.seen == list(_CSV_TEXTS)
    for part in ("questions.csv", "CSV", "6 texts", "2 unlabeled", "2 classes", "no test set"):
        assert part in d.description
    assert "ids from 'id'" in d.description and "8-d embeddings by" in d.description


def test_csv_labels_stay_strings(tmp_path: Path) -> None:
    path = _write(tmp_path / "digits.csv", "text,label\nten,10\nnine,9\ntwo,2\n")
    assert read_text_records(path).labels == ("10", "9", "2")
    d = load_text_file(path, embedder=_HashEmbedder(), cache=tmp_path)
    assert d.classes == ("10", "2", "9")  # sorted as strings, no int guessing
    assert d.y_train.tolist() == [0, 2, 1]


def test_tsv_round_trip_without_label_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "pool.tsv", "title\tbody\nA\tfirst, with a comma\nB\tsecond\n")
    rec = read_text_records(path, text_field="body")
    assert rec.texts == ("first, with a comma", "second")
    assert rec.labels == (None, None) and rec.ids is None
    d = load_text_file(path, text_field="body", embedder=_HashEmbedder(), cache=tmp_path)
    assert d.classes == () and d.y_train.tolist() == [-1, -1]
    assert d.keys == ("0", "1")  # 0-based record numbers
    assert "TSV" in d.description and "2 unlabeled" in d.description
    np.testing.assert_array_equal(d.X_train, _expected(rec.texts))
    # classes for a wholly unlabeled pool, in the given order
    d2 = load_text_file(
        path, text_field="body", classes=["pos", "neg"], embedder=_HashEmbedder(), cache=tmp_path
    )
    assert d2.classes == ("pos", "neg") and d2.y_train.tolist() == [-1, -1]


def test_tsv_labels_and_ids(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.tsv", "key\ttext\tlabel\n7\tspam here\tspam\n8\tall fine\tham\n")
    rec = read_text_records(path, id_field="key")
    assert rec.ids == ("7", "8") and rec.labels == ("spam", "ham")
    d = load_text_file(path, id_field="key", embedder=_HashEmbedder(), cache=tmp_path)
    assert d.classes == ("ham", "spam") and d.y_train.tolist() == [1, 0] and d.keys == ("7", "8")


_JSON_ROWS: list[Any] = [
    {"uid": 10, "body": "first", "y": 2},
    {"uid": "b", "body": "second", "y": None},  # null: unlabeled
    {"uid": 12, "body": "third"},  # no label key: unlabeled
    {"uid": 13, "body": "fourth\u2028still fourth", "y": 0},  # U+2028 is not a line break
    {"uid": 14, "body": "fifth", "y": 2, "extra": [1, 2]},
]


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson", ".JSONL"])
def test_jsonl_round_trip(tmp_path: Path, suffix: str) -> None:
    lines = [json.dumps(r, ensure_ascii=False) for r in _JSON_ROWS]
    path = _write(
        tmp_path / f"data{suffix}", "\n".join(lines[:2]) + "\n\n  \n" + "\n".join(lines[2:])
    )
    rec = read_text_records(path, text_field="body", label_field="y", id_field="uid")
    assert rec.texts == ("first", "second", "third", "fourth\u2028still fourth", "fifth")
    assert rec.labels == (2, None, None, 0, 2)
    assert all(type(v) is int for v in rec.labels if v is not None)  # ints stay ints
    assert rec.ids == ("10", "b", "12", "13", "14") and rec.lines == (1, 2, 5, 6, 7)
    fake = _HashEmbedder()
    d = load_text_file(
        path, text_field="body", label_field="y", id_field="uid", embedder=fake, cache=tmp_path
    )
    assert d.classes == (0, 2) and d.y_train.tolist() == [1, -1, -1, 0, 1]
    assert d.keys == rec.ids and "JSONL" in d.description
    np.testing.assert_array_equal(d.X_train, _expected(rec.texts))
    assert TEXT_FILE_SUFFIXES[suffix.lower()] == "JSONL"


def test_jsonl_empty_string_label_is_unlabeled(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "e.jsonl", [{"text": "a", "label": ""}, {"text": "b", "label": "x"}])
    assert read_text_records(path).labels == (None, "x")


# ---------------------------------------------------------------- reading errors


def test_missing_file_and_unsupported_suffix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no file at .*nope\.csv"):
        read_text_records(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match=r"no file at .*nope\.jsonl"):
        load_text_file(tmp_path / "nope.jsonl", embedder=_HashEmbedder())
    xlsx = _write(tmp_path / "sheet.xlsx", "text\nhello\n")
    with pytest.raises(ValueError, match=r"\['.csv', '.jsonl', '.ndjson', '.tsv'\], got '.xlsx'"):
        read_text_records(xlsx)
    with pytest.raises(ValueError, match=r"load_arrays\(path\).*load_image_folder\(path\)"):
        load_text_file(xlsx, embedder=_HashEmbedder())
    with pytest.raises(ValueError, match="got 'no suffix'"):
        read_text_records(_write(tmp_path / "README", "text\nhi\n"))


@pytest.mark.parametrize(
    ("name", "content", "kw", "match"),
    [
        # text column / key absent: the available ones are listed
        (
            "a.csv",
            "sentence,label\nhi,x\n",
            {},
            (
                r"a\.csv' \(line 1, the header\) has no column 'text'; columns: "
                r"\['sentence', 'label'\]\. Pass text_field="
            ),
        ),
        ("b.csv", "text\tlabel\nhi\tx\n", {}, r"looks tab-separated; name the file \.tsv"),
        ("c.tsv", "text,label\nhi,x\n", {}, r"looks comma-separated; name the file \.csv"),
        (
            "d.jsonl",
            '{"text": "ok"}\n{"sentence": "hi", "label": 1}\n',
            {},
            r"d\.jsonl' line 2 has no key 'text'; available: \['sentence', 'label'\]",
        ),
        ("e.csv", "text,label\nhi,x\n", {"id_field": "id"}, r"header has no column 'id'"),
        (
            "f.jsonl",
            '{"text": "a", "id": 1}\n{"text": "b"}\n',
            {"id_field": "id"},
            "line 2 has no key 'id'",
        ),
        # empty or non-string texts, with the line
        ("g.csv", "text,label\nfine,x\n   ,y\n", {}, r"line 3: the text under 'text' is empty"),
        ("h.jsonl", '{"text": "a"}\n{"text": ""}\n', {}, r"line 2: the text under 'text' is empty"),
        (
            "i.jsonl",
            '{"text": "a"}\n\n{"text": 42}\n',
            {},
            r"line 3: the text under 'text' must be a string, got int 42",
        ),
        ("j.jsonl", '{"text": null}\n', {}, r"line 1: the text .* must be a string, got NoneType"),
        # invalid JSON / not an object
        (
            "k.jsonl",
            '{"text": "a"}\n{"text": "b",}\n',
            {},
            r"k\.jsonl' line 2 is not valid JSON \(.*column 14\)",
        ),
        (
            "l.jsonl",
            '{"text": "a"}\n["b", "x"]\n',
            {},
            r"line 2 holds a JSON list, expected an object",
        ),
        ("m.jsonl", '"just a string"\n', {}, r"line 1 holds a JSON str, expected an object"),
        # labels of other types
        ("n.jsonl", '{"text": "a", "label": 1.5}\n', {}, r"line 1: the label .* got float 1\.5"),
        ("o.jsonl", '{"text": "a", "label": true}\n', {}, r"line 1: the label .* got bool True"),
        # ids: duplicate, empty, wrong type
        (
            "p.csv",
            "id,text\nx,one\ny,two\nx,three\n",
            {"id_field": "id"},
            r"the id 'x' under 'id' is on line 2 and again on line 4; ids must be unique",
        ),
        (
            "q.jsonl",
            '{"id": 1, "text": "a"}\n{"id": "1", "text": "b"}\n',
            {"id_field": "id"},
            r"the id '1' .* line 1 and again on line 2",
        ),
        ("r.csv", "id,text\n,one\n", {"id_field": "id"}, r"line 2: the id under 'id' is empty"),
        (
            "s.jsonl",
            '{"id": [1], "text": "a"}\n',
            {"id_field": "id"},
            r"line 1: the id .* got list",
        ),
        # no records
        ("t.csv", "", {}, r"t\.csv' holds no records; expected a header row"),
        ("u.csv", "text,label\n\n", {}, r"u\.csv' holds no records"),
        ("v.jsonl", "\n  \n", {}, r"v\.jsonl' holds no records; expected one JSON object per line"),
        # other malformed files
        ("w.csv", 'text,label\n"a, b",x\na, b,x\n', {}, r"line 3 has 3 cells but the header has 2"),
        ("x.csv", "text,text\na,b\n", {}, r"names the column 'text' 2 times"),
    ],
)
def test_read_errors(
    tmp_path: Path, name: str, content: str, kw: dict[str, Any], match: str
) -> None:
    path = _write(tmp_path / name, content)
    with pytest.raises(TextFileFormatError, match=match) as info:
        read_text_records(path, **kw)
    assert isinstance(info.value, ValueError) and isinstance(info.value, LabelwiseError)
    # load_text_file fails the same way, before calling the embedder
    fake = _HashEmbedder()
    with pytest.raises(TextFileFormatError, match=match):
        load_text_file(path, embedder=fake, cache=tmp_path / "c", **kw)
    assert fake.calls == 0


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("text\nok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(TextFileFormatError, match=r"latin\.csv' line 3 is not valid UTF-8.*iconv"):
        read_text_records(path)


def test_csv_quoting_errors_name_the_record(tmp_path: Path) -> None:
    # An unterminated quote would otherwise swallow the rest of the file into one cell.
    path = _write(tmp_path / "q.csv", 'text,label\nok,x\n"never closed,y\nmore,x\n')
    with pytest.raises(
        TextFileFormatError, match=r"q\.csv' line 3: cannot parse the CSV record.*must end with"
    ):
        read_text_records(path)
    junk = _write(tmp_path / "j.tsv", 'text\tlabel\nok\tx\n\n"quoted" then more\ty\n')
    with pytest.raises(TextFileFormatError, match=r"j\.tsv' line 4: cannot parse the TSV"):
        read_text_records(junk)
    # quotes inside an unquoted cell are literal
    fine = _write(tmp_path / "f.csv", 'text\na 5" screen\n"said ""hi"""\n')
    assert read_text_records(fine).texts == ('a 5" screen', 'said "hi"')
    long = _write(tmp_path / "long.csv", "text\nshort\n" + "a" * 200_000 + "\n")
    with pytest.raises(TextFileFormatError, match=r"line 3: .*field limit.*use a JSONL file"):
        read_text_records(long)
    _jsonl(tmp_path / "long.jsonl", [{"text": "a" * 200_000}])
    assert len(read_text_records(tmp_path / "long.jsonl").texts[0]) == 200_000


# ---------------------------------------------------------------- labels and classes


def test_classes_order_and_unknown_labels(tmp_path: Path) -> None:
    path = _write(tmp_path / "s.csv", "text,label\na,neg\nb,pos\nc,\nd,neg\n")
    d = load_text_file(
        path, classes=["pos", "neg", "neutral"], embedder=_HashEmbedder(), cache=tmp_path
    )
    assert d.classes == ("pos", "neg", "neutral") and d.y_train.tolist() == [1, 0, -1, 1]
    fake = _HashEmbedder()
    with pytest.raises(UnknownClassError, match=r"s\.csv' line 3: the label 'pos' is not one of"):
        load_text_file(path, classes=["neg"], embedder=fake, cache=tmp_path)
    assert fake.calls == 0
    # CSV labels are strings: integer classes never match, and the message says why
    nums = _write(tmp_path / "n.csv", "text,label\na,0\nb,1\n")
    with pytest.raises(UnknownClassError, match=r"pass classes as strings \(e\.g\. \['0', '1'\]\)"):
        load_text_file(nums, classes=[0, 1], embedder=fake, cache=tmp_path)
    assert load_text_file(
        nums, classes=["1", "0"], embedder=fake, cache=tmp_path
    ).y_train.tolist() == [1, 0]
    ints = _jsonl(tmp_path / "i.jsonl", [{"text": "a", "label": 3}])
    with pytest.raises(UnknownClassError, match="integers but classes are strings"):
        load_text_file(ints, classes=["3"], embedder=fake, cache=tmp_path)
    with pytest.raises(ValueError, match="duplicate class values"):
        load_text_file(ints, classes=[3, 3], embedder=fake, cache=tmp_path)


def test_mixed_int_and_string_labels(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path / "mixed.jsonl",
        [{"text": "a", "label": "x"}, {"text": "b"}, {"text": "c", "label": 1}],
    )
    assert read_text_records(path).labels == ("x", None, 1)  # reading alone is fine
    fake = _HashEmbedder()
    with pytest.raises(
        TextFileFormatError,
        match=r"mixes integer labels \(first on line 3\) and string labels \(first on line 1\)",
    ):
        load_text_file(path, embedder=fake, cache=tmp_path)
    assert fake.calls == 0


# ---------------------------------------------------------------- test split


def _split_file(tmp_path: Path) -> Path:
    rows = (
        [{"text": f"cat {i}", "label": "cat", "id": f"c{i}"} for i in range(10)]
        + [{"text": f"dog {i}", "label": "dog", "id": f"d{i}"} for i in range(20)]
        + [{"text": f"unknown {i}", "id": f"u{i}"} for i in range(3)]
    )
    return _jsonl(tmp_path / "pets.jsonl", rows)


def test_stratified_split_sizes_and_keys(tmp_path: Path) -> None:
    path = _split_file(tmp_path)
    fake = _HashEmbedder()
    d = load_text_file(path, id_field="id", test_fraction=0.2, rng=1, embedder=fake, cache=tmp_path)
    assert d.classes == ("cat", "dog")
    assert d.y_test is not None and d.X_test is not None
    assert np.bincount(d.y_test).tolist() == [2, 4]  # 20% of 10 cats and of 20 dogs
    assert d.n_train == 27 and int((d.y_train == -1).sum()) == 3  # unlabeled stay in the pool
    assert d.keys is not None and len(d.keys) == 27
    assert {"u0", "u1", "u2"} <= set(d.keys)
    # keys, features and labels of the pool belong together
    rec = read_text_records(path, id_field="id")
    assert rec.ids is not None
    row_of = {k: i for i, k in enumerate(rec.ids)}
    pool_rows = [row_of[k] for k in d.keys]
    assert pool_rows == sorted(pool_rows)  # file order kept
    np.testing.assert_array_equal(d.X_train, _expected([rec.texts[i] for i in pool_rows]))
    assert [d.classes[c] if c >= 0 else None for c in d.y_train] == [
        rec.labels[i] for i in pool_rows
    ]
    # the test set is exactly the other labeled records
    test_rows = sorted(set(range(len(rec))) - set(pool_rows))
    assert len(test_rows) == 6
    np.testing.assert_array_equal(d.X_test, _expected([rec.texts[i] for i in test_rows]))
    assert [d.classes[c] for c in d.y_test] == [rec.labels[i] for i in test_rows]
    assert "stratified test split of 0.2" in d.description and "seed 1" in d.description
    assert "27 in the pool (3 unlabeled)" in d.description
    assert fake.calls == 1  # all texts embedded once
    # seeded: same split again, another seed another split
    again = load_text_file(
        path, id_field="id", test_fraction=0.2, rng=1, embedder=fake, cache=tmp_path
    )
    assert again.keys == d.keys
    other = load_text_file(
        path, id_field="id", test_fraction=0.2, rng=2, embedder=fake, cache=tmp_path
    )
    assert other.keys != d.keys and other.n_train == 27
    # without ids the keys are record numbers
    plain = load_text_file(path, test_fraction=0.2, rng=1, embedder=fake, cache=tmp_path)
    assert plain.keys == tuple(str(i) for i in pool_rows)


@pytest.mark.parametrize("bad", [0, 1, 1.5, -0.1, "0.2"])
def test_bad_test_fraction(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ValueError, match=r"test_fraction must be a number in \(0, 1\)"):
        load_text_file(
            _split_file(tmp_path), test_fraction=bad, embedder=_HashEmbedder(), cache=tmp_path
        )


def test_split_needs_labeled_texts(tmp_path: Path) -> None:
    unlabeled = _write(tmp_path / "u.csv", "text\na\nb\n")
    with pytest.raises(ValueError, match="needs labeled texts, but every text .* is unlabeled"):
        load_text_file(unlabeled, test_fraction=0.5, embedder=_HashEmbedder(), cache=tmp_path)
    tiny = _write(tmp_path / "tiny.csv", "text,label\na,x\nb,y\n")
    with pytest.raises(ValueError, match=r"rounds to 0 texts \(largest class: 1 texts\)"):
        load_text_file(tiny, test_fraction=0.2, embedder=_HashEmbedder(), cache=tmp_path)


# ---------------------------------------------------------------- embedder output


_ROWS = "text,label\nalpha,a\nbeta,b\ngamma,a\n"


@pytest.mark.parametrize(
    ("embedder", "exc", "match"),
    [
        (
            lambda ts: [[1, 2]] * len(ts),
            TypeError,
            (
                r"returned a builtins\.list \(as an array: a int64 array of shape \(3, 2\)\); "
                r"expected a float array of shape \[3, D\]"
            ),
        ),
        (
            lambda ts: None,
            TypeError,
            r"returned a builtins\.NoneType .*float array of shape \[3, D\]",
        ),
        (
            lambda ts: np.zeros((2, 4)),
            ShapeError,
            r"returned a float64 array of shape \(2, 4\) for 3 texts",
        ),
        (lambda ts: np.zeros(3), ShapeError, r"shape \(3,\) for 3 texts"),
        (lambda ts: np.zeros((3, 0)), ShapeError, r"shape \(3, 0\) for 3 texts.*D >= 1"),
        (
            lambda ts: [[0.0], [1.0, 2.0], [3.0]],
            TypeError,
            r"returned a builtins\.list, which is not an array",
        ),
        (
            lambda ts: np.array([[0.0, 1.0], [0.0, np.inf], [np.nan, np.nan]]),
            ValueError,
            r"returned 3 NaN or inf values, first in row 1 \(line 3 of .*bad\.csv'\)",
        ),
    ],
)
def test_embedder_output_is_validated(tmp_path: Path, embedder: Any, exc: type, match: str) -> None:
    path = _write(tmp_path / "bad.csv", _ROWS)
    with pytest.raises(exc, match=match):
        load_text_file(path, embedder=embedder, model_name="bad-embedder", cache=tmp_path / "c")
    assert not list((tmp_path / "c").rglob("*.npy"))  # nothing cached


def test_embedder_float_output_is_converted(tmp_path: Path) -> None:
    path = _write(tmp_path / "f.csv", _ROWS)
    d = load_text_file(
        path, embedder=lambda ts: np.ones((len(ts), 3), dtype=np.float64), cache=tmp_path
    )
    assert d.X_train.dtype == np.float32 and d.X_train.shape == (3, 3)


# ---------------------------------------------------------------- cache


def test_cache_is_used_on_the_second_call(tmp_path: Path) -> None:
    path = _write(tmp_path / "c.csv", _ROWS)
    cache = tmp_path / "cache"
    fake = _HashEmbedder()
    first = load_text_file(path, embedder=fake, model_name="hash-v1", cache=cache)
    assert fake.calls == 1
    files = list((cache / "embeddings").glob("*.npy"))
    assert len(files) == 1 and "hash-v1" in files[0].name
    second = load_text_file(path, embedder=fake, model_name="hash-v1", cache=cache)
    assert fake.calls == 1  # served from the cache
    np.testing.assert_array_equal(second.X_train, first.X_train)
    # another model_name is another key
    load_text_file(path, embedder=fake, model_name="hash-v2", cache=cache)
    assert fake.calls == 2 and len(list((cache / "embeddings").glob("*.npy"))) == 2
    # changed texts are another key too
    _write(path, _ROWS + "delta,b\n")
    assert load_text_file(path, embedder=fake, model_name="hash-v1", cache=cache).n_train == 4
    assert fake.calls == 3
    assert str(cache) in first.description


def test_unnamed_custom_embedder_is_never_cached(tmp_path: Path) -> None:
    """Without a model_name nothing identifies what a custom embedder computes: a changed
    embedder must not be served stale embeddings, so it is called on every load."""
    path = _write(tmp_path / "c.csv", _ROWS)
    cache = tmp_path / "cache"
    fake = _HashEmbedder()
    d = load_text_file(path, embedder=fake, cache=cache)
    load_text_file(path, embedder=fake, cache=cache)
    assert fake.calls == 2
    assert not list(cache.rglob("*.npy")) and "(not cached)" in d.description


def test_default_cache_folder(tmp_path: Path, _private_cache: Path) -> None:
    path = _write(tmp_path / "d.csv", _ROWS)
    fake = _HashEmbedder()
    load_text_file(path, embedder=fake, model_name="hash")
    load_text_file(path, embedder=fake, model_name="hash")
    assert fake.calls == 1
    assert len(list((_private_cache / "embeddings").glob("*.npy"))) == 1


def test_default_embedder_is_minilm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without an embedder, MiniLMEmbedder is called (here replaced: no model is loaded)."""
    fake = _HashEmbedder()

    def fake_call(self: MiniLMEmbedder, texts: Sequence[str]) -> np.ndarray:
        return fake(texts)

    monkeypatch.setattr(MiniLMEmbedder, "__call__", fake_call)
    path = _write(tmp_path / "m.csv", _ROWS)
    d = load_text_file(path, cache=tmp_path / "cache")
    assert fake.calls == 1 and d.X_train.shape == (3, 8)
    assert "8-d all-MiniLM-L6-v2 sentence embeddings" in d.description
    (cached,) = (tmp_path / "cache" / "embeddings").glob("*.npy")
    assert cached.name.startswith("sentence-transformers_all-MiniLM-L6-v2-")
    # an explicit MiniLMEmbedder shares the cache key
    load_text_file(path, embedder=MiniLMEmbedder(batch_size=2), cache=tmp_path / "cache")
    assert fake.calls == 1
