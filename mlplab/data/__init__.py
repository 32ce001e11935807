"""Datasets, file formats, the local data cache, mini-batches and splits.

``load(name, ...)`` returns a :class:`Dataset` for ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10``
and ``arem``; ``fetch(name)`` downloads and verifies a dataset's files; ``list_datasets()`` reports
what is on disk; ``make_moons`` and ``make_spiral`` generate 2-D toy data. See docs/datasets.md.
"""
from .batching import minibatches, stratified_split
from .cache import (ChecksumError, DatasetStatus, DownloadError, fetch, get_data_home, list_datasets,
                    status)
from .datasets import (DATASETS, Dataset, load, load_arem, load_cifar10, load_digits, load_fashion_mnist,
                       load_mnist)
from .toy import make_moons, make_spiral

__all__ = ["Dataset", "load", "DATASETS", "minibatches", "stratified_split", "load_digits", "load_mnist",
           "load_fashion_mnist", "load_cifar10", "load_arem", "fetch", "status", "list_datasets",
           "get_data_home", "ChecksumError", "DownloadError", "DatasetStatus", "make_moons", "make_spiral"]
