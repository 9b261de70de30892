"""Datasets: bundled offline datasets with fixed test splits, and loaders for user data.

Every loader returns a :class:`Dataset` whose ``X`` arrays are float32 (images
``[N, C, H, W]``, vectors ``[N, D]``) and whose ``y`` arrays hold int64 class positions
(``-1`` = unlabeled).
"""

from labelwise.datasets._bundled import SPLIT_SEED, available_datasets, load_dataset, split_keys
from labelwise.datasets._types import Dataset, UnknownDatasetError
from labelwise.datasets._user import IMAGE_EXTENSIONS, load_arrays, load_image_folder

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLIT_SEED",
    "Dataset",
    "UnknownDatasetError",
    "available_datasets",
    "load_arrays",
    "load_dataset",
    "load_image_folder",
    "split_keys",
]
