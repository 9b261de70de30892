"""Datasets: bundled offline datasets with fixed test splits, and loaders for user data.

Every loader returns a :class:`Dataset` whose ``X`` arrays are float32 (images
``[N, C, H, W]``, vectors ``[N, D]``) and whose ``y`` arrays hold int64 class positions
(``-1`` = unlabeled).
"""

from labelwise.datasets._bundled import SPLIT_SEED, available_datasets, load_dataset, split_keys
from labelwise.datasets._fashion import (
    FASHION_MNIST_CLASSES,
    DatasetFilesNotFoundError,
    IDXFormatError,
    load_fashion_mnist,
    read_idx,
)
from labelwise.datasets._text import (
    TREC_COARSE_CLASSES,
    MiniLMEmbedder,
    TrecTexts,
    embed_texts,
    load_trec_minilm,
    load_trec_texts,
    parse_trec,
)
from labelwise.datasets._text_files import (
    TEXT_FILE_SUFFIXES,
    TextFileFormatError,
    TextRecords,
    load_text_file,
    read_text_records,
)
from labelwise.datasets._types import Dataset, UnknownDatasetError
from labelwise.datasets._user import IMAGE_EXTENSIONS, load_arrays, load_image_folder

__all__ = [
    "FASHION_MNIST_CLASSES",
    "IMAGE_EXTENSIONS",
    "SPLIT_SEED",
    "TEXT_FILE_SUFFIXES",
    "TREC_COARSE_CLASSES",
    "Dataset",
    "DatasetFilesNotFoundError",
    "IDXFormatError",
    "MiniLMEmbedder",
    "TextFileFormatError",
    "TextRecords",
    "TrecTexts",
    "UnknownDatasetError",
    "available_datasets",
    "embed_texts",
    "load_arrays",
    "load_dataset",
    "load_fashion_mnist",
    "load_image_folder",
    "load_text_file",
    "load_trec_minilm",
    "load_trec_texts",
    "parse_trec",
    "read_idx",
    "read_text_records",
    "split_keys",
]
