"""Datasets, file formats, the local data cache, mini-batches and splits.

``load(name, ...)`` returns a :class:`Dataset` for ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``
and ``arem``; ``fetch(name)`` downloads and verifies a dataset's files; ``list_datasets()`` reports
what is on disk. See docs/datasets.md.
"""
from .batching import minibatches, stratified_split
from .cache import (ChecksumError, DatasetStatus, DownloadError, fetch, get_data_home, list_datasets,
                    status)
from .datasets import (DATASETS, Dataset, load, load_arem, load_cifar10, load_digits, load_fashion_mnist,
                       load_mnist)

__all__ = ["Dataset", "load", "DATASETS", "minibatches", "stratified_split", "load_digits", "load_mnist",
           "load_fashion_mnist", "load_cifar10", "load_arem", "fetch", "status", "list_datasets",
           "get_data_home", "ChecksumError", "DownloadError", "DatasetStatus"]
