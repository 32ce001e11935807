"""The ``Dataset`` type and the loaders: ``load(name, ...)`` for digits, MNIST, Fashion-MNIST, CIFAR-10 and AReM.

Every loader takes the same options (see :func:`load`) and returns one :class:`Dataset`. Files come
from the data folder (``data_home`` / ``$MLPLAB_DATA`` / the user cache), are downloaded when missing
and allowed, and are verified before use (see :mod:`mlplab.data.cache`).

Steps, in this order: read the original train and test parts (or split them: digits, AReM) ->
carve a stratified validation part out of the training part (``val_size``) -> keep a stratified
subset of what remains for training (``n_train``) -> scale (statistics from the final training
part only) -> cast to ``dtype`` -> flatten or keep the image shape.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from os import PathLike
from typing import Callable, Union

import numpy as np

from .._validation import as_generator, check_positive_int, check_split_size, resolve_dtype
from .batching import stratified_split
from .cache import ensure_files, expected_digests, read_verified
from .formats import IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parse_cifar10_bin, parse_idx
from .registry import DatasetSpec, get_spec

__all__ = ["Dataset", "load", "DATASETS", "SCALINGS", "load_digits", "load_mnist", "load_fashion_mnist",
           "load_cifar10", "load_arem"]

log = logging.getLogger(__name__)

Seed = Union[int, np.random.Generator, None]
Scale = Union[str, bool, None]

#: Values of the ``scale`` option (besides ``"auto"``): raw values, divided by the format's maximum, standardized.
SCALINGS = (None, "unit", "standard")


@dataclass
class Dataset:
    """Train and test arrays with their description.

    ``X_*`` are ``(N, D)`` (or ``(N, *image_shape)`` when not flattened), ``y_*`` are ``(N,)``
    int64 class indices into ``class_names``. ``X_val``/``y_val`` are set when a validation part
    was requested. ``image_shape`` is the shape of one image (``(28, 28)``, ``(3, 32, 32)``, ...)
    whether or not ``X`` is flattened; None for tabular data. ``extra`` holds what the loader did
    (scaling statistics, files read, split details, ...).
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    feature_names: list[str] | None = None
    image_shape: tuple[int, ...] | None = None
    description: str = ""
    source: str = ""
    citation: str = ""
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(np.prod(self.X_train.shape[1:]))

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        val = f", val={self.X_val.shape[0]}" if self.X_val is not None else ""
        return (f"Dataset({self.name!r}, train={self.X_train.shape}, test={self.X_test.shape}{val}, "
                f"classes={self.n_classes})")

    def _repr_html_(self) -> str:
        """A short table for Jupyter: parts, shapes, classes and the description."""
        import html

        parts = [("train", self.X_train, self.y_train), ("validation", self.X_val, self.y_val),
                 ("test", self.X_test, self.y_test)]
        rows = "".join(f"<tr><td>{p}</td><td>{X.shape[0]:,}</td><td>{tuple(X.shape[1:])}</td><td>{X.dtype}</td></tr>"
                       for p, X, _ in parts if X is not None)
        names = ", ".join(map(str, self.class_names[:12])) + (", …" if self.n_classes > 12 else "")
        desc = f"<p>{html.escape(self.description)}</p>" if self.description else ""
        return (f"<p><b>Dataset {html.escape(self.name)}</b>: {self.n_classes} classes ({html.escape(names)})"
                + (f", images {self.image_shape}" if self.image_shape else "") + "</p>"
                + "<table><thead><tr><th>part</th><th>samples</th><th>sample shape</th><th>dtype</th></tr></thead>"
                + f"<tbody>{rows}</tbody></table>{desc}")


# ------------------------------------------------------------------------------------ common steps

def _resolve_scale(scale, default: str | None) -> str | None:
    if scale is True or scale == "auto":
        return default if scale == "auto" else "unit"
    if scale is False or scale is None or scale == "none":
        return None
    if scale in ("255", 255, "max"):  # accepted spellings of "unit"
        return "unit"
    if scale in ("unit", "standard"):
        return scale
    raise ValueError(f"unknown scale {scale!r}; expected None (raw values), 'unit' (divide by the maximum value: "
                     "255 for images, 16 for digits), 'standard' (per-feature standardization fitted on the "
                     "training part) or 'auto'")


def _check_sizes(test_size=None, val_size=None, n_train=None) -> None:
    """Refuse bad split sizes before any file is read or downloaded (``1.0`` is a fraction, never "one
    sample"; see :func:`mlplab._validation.check_split_size`)."""
    if test_size is not None:
        check_split_size(test_size, "test_size")
    if val_size is not None:
        check_split_size(val_size, "val_size")
    if n_train is not None:
        check_positive_int(n_train, "n_train")


def _sub_rngs(seed) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the validation split and the training subset."""
    if isinstance(seed, np.random.Generator):
        return seed, seed
    a, b = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(a), np.random.default_rng(b)


def _finish(spec: DatasetSpec, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, *,
            max_value: float | None, scale, default_scale: str | None, flatten: bool, val_size, n_train,
            seed, dtype, feature_names: list[str] | None = None, image_shape: tuple[int, ...] | None = None,
            groups_train: np.ndarray | None = None, groups_test: np.ndarray | None = None,
            val_by_groups: bool = False, extra: dict | None = None, description: str | None = None) -> Dataset:
    """Validation part, training subset, scaling, dtype and shape; see the module docstring."""
    dt = resolve_dtype(dtype)
    scale = _resolve_scale(scale, default_scale)
    if scale == "unit" and max_value is None:
        raise ValueError(f"scale='unit' needs a known maximum value; {spec.name} has none (use 'standard' or None)")
    extra = dict(extra or {})
    rng_val, rng_sub = _sub_rngs(seed)
    X_val = y_val = groups_val = None
    if val_size is not None:
        val_size = check_split_size(val_size, "val_size", n=y_train.shape[0])
        if val_by_groups:
            from .arem import split_recordings

            tr, va = split_recordings(groups_train, val_size, rng_val)
        else:
            tr, va = stratified_split(y_train, val_size, rng=rng_val)
            tr, va = np.sort(tr), np.sort(va)
        X_val, y_val = X_train[va], y_train[va]
        X_train, y_train = X_train[tr], y_train[tr]
        if groups_train is not None:
            groups_train, groups_val = groups_train[tr], groups_train[va]
    if n_train is not None:
        n_train = check_positive_int(n_train, "n_train")
        n = y_train.shape[0]
        if n_train > n:
            raise ValueError(f"n_train={n_train} is more than the {n} training samples of {spec.name}"
                             f"{' left after the validation split' if val_size is not None else ''}")
        if n_train < n:
            _, keep = stratified_split(y_train, n_train, rng=rng_sub)
            keep = np.sort(keep)
            X_train, y_train = X_train[keep], y_train[keep]
            if groups_train is not None:
                groups_train = groups_train[keep]
    parts = [X_train, X_test] + ([X_val] if X_val is not None else [])
    if scale == "standard":
        flat = X_train.reshape(X_train.shape[0], -1)
        mean = flat.mean(axis=0, dtype=np.float64)
        std = flat.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0  # constant features (e.g. MNIST border pixels) are only centred
        shape = X_train.shape[1:]
        mean_, std_ = mean.reshape(shape).astype(dt), std.reshape(shape).astype(dt)
        parts = [np.subtract(p, mean_, dtype=dt) for p in parts]
        for p in parts:
            p /= std_
        extra.update(scaler_mean=mean.astype(dt), scaler_std=std.astype(dt))
    else:
        parts = [p.astype(dt) for p in parts]
        if scale == "unit":
            for p in parts:
                p /= dt.type(max_value)
    if flatten or image_shape is None:
        parts = [p.reshape(p.shape[0], -1) for p in parts]
    else:
        parts = [p.reshape((p.shape[0],) + tuple(image_shape)) for p in parts]
    X_train, X_test = parts[0], parts[1]
    if X_val is not None:
        X_val = parts[2]
    extra.update(scale=scale, seed=seed if not isinstance(seed, np.random.Generator) else "Generator",
                 val_size=val_size, n_train=n_train)
    if groups_train is not None:
        extra.update(groups_train=groups_train, groups_test=groups_test, groups_val=groups_val)
    desc = description or spec.description
    desc += {None: " Raw values.", "unit": f" Divided by {max_value or 0:g} into [0, 1].",
             "standard": " Standardized per feature with the mean and std of the training part."}[scale]
    return Dataset(
        name=spec.name, X_train=X_train, y_train=y_train.astype(np.int64), X_test=X_test,
        y_test=y_test.astype(np.int64), class_names=list(spec.class_names), feature_names=feature_names,
        image_shape=image_shape, description=desc, source=spec.source, citation=spec.citation,
        X_val=X_val, y_val=None if y_val is None else y_val.astype(np.int64), extra=extra,
    )


def _pixel_names(image_shape: tuple[int, ...]) -> list[str]:
    if len(image_shape) == 2:
        return [f"pixel_{r}_{c}" for r in range(image_shape[0]) for c in range(image_shape[1])]
    ch = "rgb" if image_shape[0] == 3 else [str(i) for i in range(image_shape[0])]
    return [f"{ch[k]}_{r}_{c}" for k in range(image_shape[0]) for r in range(image_shape[1])
            for c in range(image_shape[2])]


# ------------------------------------------------------------------------------------------ loaders

def load_digits(test_size: float | int = 0.2, seed: Seed = 0, dtype: str | np.dtype = "float32",
                scale: Scale = "auto", flatten: bool = True, val_size: float | int | None = None,
                n_train: int | None = None, data_home: str | PathLike | None = None, download: bool = True,
                base_url: str | None = None, progress: bool = True) -> Dataset:
    """The 8x8 digits bundled with scikit-learn (1797 images, values 0..16), with a seeded stratified
    train/test split (``test_size``). ``scale="auto"`` (or True) divides by 16; ``data_home``,
    ``download``, ``base_url`` and ``progress`` are accepted for a uniform call and ignored.
    Shapes: ``X (N, 64)`` or ``(N, 8, 8)``, ``y (N,)``."""
    from sklearn.datasets import load_digits as _sk_load_digits

    _check_sizes(test_size, val_size, n_train)
    spec = get_spec("digits")
    raw = _sk_load_digits()
    X = raw.data
    y = raw.target.astype(np.int64)
    tr, te = stratified_split(y, check_split_size(test_size, "test_size", n=y.shape[0]), rng=seed)
    return _finish(spec, X[tr], y[tr], X[te], y[te], max_value=16.0, scale=scale, default_scale="unit",
                   flatten=flatten, val_size=val_size, n_train=n_train, seed=seed, dtype=dtype,
                   feature_names=_pixel_names((8, 8)), image_shape=(8, 8),
                   extra={"test_size": test_size})


def _load_idx_dataset(name: str, data_home, download, base_url, progress, **options) -> Dataset:
    _check_sizes(val_size=options.get("val_size"), n_train=options.get("n_train"))
    spec = get_spec(name)
    home = ensure_files(name, data_home, download, base_url, progress)
    arrays = {}
    for f in spec.files:
        part = f.path.rsplit("/", 1)[1].split("-")[0]  # "train" or "t10k"
        kind = "images" if "images" in f.path else "labels"
        data = read_verified(home / f.path, f.sha256, hint=_hint(name))
        magic = IDX_IMAGES_MAGIC if kind == "images" else IDX_LABELS_MAGIC
        arrays[part, kind] = parse_idx(data, str(home / f.path), expected_magic=magic)
    for part in ("train", "t10k"):
        if arrays[part, "images"].shape[0] != arrays[part, "labels"].shape[0]:
            raise ValueError(f"{name} {part}: {arrays[part, 'images'].shape[0]} images but "
                             f"{arrays[part, 'labels'].shape[0]} labels")
    image_shape = tuple(arrays["train", "images"].shape[1:])
    return _finish(spec, arrays["train", "images"], arrays["train", "labels"], arrays["t10k", "images"],
                   arrays["t10k", "labels"], max_value=255.0, default_scale="unit",
                   feature_names=_pixel_names(image_shape), image_shape=image_shape,
                   extra={"data_home": str(home), "files": [f.path for f in spec.files]}, **options)


def _hint(name: str) -> str:
    return (f"Delete the file and run `mlplab data fetch {name} --force` (or delete it and call "
            f"mlplab.data.load({name!r}, download=True)), or replace it with a good copy.")


def load_mnist(data_home: str | PathLike | None = None, download: bool = True, base_url: str | None = None,
               progress: bool = True, flatten: bool = True, scale: Scale = "auto",
               val_size: float | int | None = None, n_train: int | None = None, seed: Seed = 0,
               dtype: str | np.dtype = "float32") -> Dataset:
    """MNIST from its four IDX ``.gz`` files: 60000 training and 10000 test images of 28x28.

    Shapes: ``X (N, 784)`` or ``(N, 28, 28)`` with ``flatten=False``; ``y (N,)`` in 0..9.
    ``scale="auto"`` = ``"unit"`` (divide by 255). Options as in :func:`load`.
    """
    return _load_idx_dataset("mnist", data_home, download, base_url, progress, flatten=flatten, scale=scale,
                             val_size=val_size, n_train=n_train, seed=seed, dtype=dtype)


def load_fashion_mnist(data_home: str | PathLike | None = None, download: bool = True,
                       base_url: str | None = None, progress: bool = True, flatten: bool = True,
                       scale: Scale = "auto", val_size: float | int | None = None, n_train: int | None = None,
                       seed: Seed = 0, dtype: str | np.dtype = "float32") -> Dataset:
    """Fashion-MNIST from its four IDX ``.gz`` files: 60000 training and 10000 test images of 28x28,
    10 classes (T-shirt/top ... Ankle boot). Shapes as :func:`load_mnist`. Options as in :func:`load`."""
    return _load_idx_dataset("fashion-mnist", data_home, download, base_url, progress, flatten=flatten,
                             scale=scale, val_size=val_size, n_train=n_train, seed=seed, dtype=dtype)


def load_cifar10(data_home: str | PathLike | None = None, download: bool = True, base_url: str | None = None,
                 progress: bool = True, flatten: bool = True, scale: Scale = "auto",
                 val_size: float | int | None = None, n_train: int | None = None, seed: Seed = 0,
                 dtype: str | np.dtype = "float32") -> Dataset:
    """CIFAR-10 from the binary version (``cifar-10-batches-bin/data_batch_1..5.bin``, ``test_batch.bin``).

    Images keep the stored channel-first layout: ``image_shape = (3, 32, 32)`` (R, G, B planes of
    32x32 in row-major order), so ``X`` is ``(N, 3072)`` flattened in that order or
    ``(N, 3, 32, 32)`` with ``flatten=False``; for plotting use ``X.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)``.
    ``y (N,)`` in 0..9. ``scale="auto"`` = ``"unit"`` (divide by 255). Options as in :func:`load`.
    """
    _check_sizes(val_size=val_size, n_train=n_train)
    spec = get_spec("cifar10")
    home = ensure_files("cifar10", data_home, download, base_url, progress)
    digests = expected_digests("cifar10", home)
    parts: dict[str, list] = {"train": [], "test": []}
    for f in spec.files:
        if not f.path.endswith(".bin"):
            continue
        data = read_verified(home / f.path, digests[f.path], hint=_hint("cifar10"))
        images, labels = parse_cifar10_bin(data, str(home / f.path))
        parts["test" if "test_batch" in f.path else "train"].append((images, labels))
    X_train = np.concatenate([p[0] for p in parts["train"]])
    y_train = np.concatenate([p[1] for p in parts["train"]])
    X_test, y_test = parts["test"][0]
    return _finish(spec, X_train, y_train, X_test, y_test, max_value=255.0, scale=scale, default_scale="unit",
                   flatten=flatten, val_size=val_size, n_train=n_train, seed=seed, dtype=dtype,
                   feature_names=_pixel_names((3, 32, 32)), image_shape=(3, 32, 32),
                   extra={"data_home": str(home), "files": [f.path for f in spec.files if f.path.endswith(".bin")]})


def load_arem(split: str = "rows", test_size: float | int = 0.2, drop_duplicates: bool = True,
              data_home: str | PathLike | None = None, download: bool = True, base_url: str | None = None,
              progress: bool = True, flatten: bool = True, scale: Scale = "auto",
              val_size: float | int | None = None, n_train: int | None = None, seed: Seed = 0,
              dtype: str | np.dtype = "float32") -> Dataset:
    """UCI AReM: one row per time step, 6 features (avg and var of rss12, rss13, rss23), 6 classes.

    ``split="rows"``: a seeded stratified random split of all rows (``test_size`` a fraction or a
    count) -- rows of one recording then fall on both sides, so the test score is optimistic.
    ``split="recordings"``: whole recordings go to one side (``test_size`` a fraction of the
    recordings of each activity folder, at least one), which measures generalisation to new
    recordings; a validation part (``val_size``, a fraction) is then also made of whole recordings.
    ``drop_duplicates`` (default True) skips the 6 byte-identical copies among the 88 files (see
    :mod:`mlplab.data.arem`). ``scale="auto"`` = ``"standard"``. Shapes: ``X (N, 6)``, ``y (N,)``;
    ``extra["groups_train"]`` etc. give each row's recording (``"cycling/dataset3"``).
    """
    from .arem import FEATURES, arem_arrays, split_recordings

    spec = get_spec("arem")
    if split not in ("rows", "recordings"):
        raise ValueError(f"unknown split {split!r} for arem; expected 'rows' or 'recordings'")
    _check_sizes(test_size, val_size, n_train)
    home = ensure_files("arem", data_home, download, base_url, progress)
    X, y, groups, info = arem_arrays(home, drop_duplicates=drop_duplicates)
    if split == "rows":
        tr, te = stratified_split(y, check_split_size(test_size, "test_size", n=y.shape[0]), rng=seed)
        tr, te = np.sort(tr), np.sort(te)
    else:
        tr, te = split_recordings(groups, check_split_size(test_size, "test_size"), as_generator(seed))
    extra = {"data_home": str(home), "split": split, "test_size": test_size, "drop_duplicates": drop_duplicates,
             "test_recordings": list(dict.fromkeys(groups[te].tolist())) if split == "recordings" else None,
             **info}
    description = (spec.description + f" Split by {split}"
                   + (" (rows of one recording fall on both sides)" if split == "rows" else
                      " (whole recordings on each side)")
                   + f"; {info['n_recordings']} recordings" + (" after dropping exact duplicates." if drop_duplicates
                                                               else ", duplicates kept."))
    return _finish(spec, X[tr], y[tr], X[te], y[te], max_value=None, scale=scale, default_scale="standard",
                   flatten=flatten, val_size=val_size, n_train=n_train, seed=seed, dtype=dtype,
                   feature_names=list(FEATURES), image_shape=None, groups_train=groups[tr], groups_test=groups[te],
                   val_by_groups=(split == "recordings"), extra=extra, description=description)


#: Loader of each dataset; ``DATASETS[name](**options)`` is ``load(name, **options)``.
DATASETS: dict[str, Callable[..., Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "cifar10": load_cifar10,
    "arem": load_arem,
}


def load(name: str, **options) -> Dataset:
    """Load a dataset by name: ``digits``, ``mnist``, ``fashion-mnist``, ``cifar10`` or ``arem``.

    Options (keywords; all datasets accept the common ones):

    * ``data_home`` (path or None): data folder; default ``$MLPLAB_DATA`` or the user cache
      (``~/.cache/mlplab`` on Linux). ``download`` (default True): fetch missing files.
      ``base_url``: download from ``<base_url>/<folder>/<file>`` instead of the official location
      (also ``$MLPLAB_DATA_URL``). ``progress`` (default True): progress bar while downloading.
    * ``flatten`` (default True): ``X`` is ``(N, D)``; False keeps ``(N, *image_shape)``.
    * ``scale``: ``None`` raw values (as floats); ``"unit"`` divide by the format's maximum (255 for
      images, 16 for digits; ``"255"`` is accepted too) into [0, 1]; ``"standard"`` subtract the
      per-feature mean and divide by the std, both fitted on the final training part only
      (constant features get std 1; the statistics are in ``extra["scaler_mean"/"scaler_std"]``);
      ``"auto"`` (default) is ``"unit"`` for images and ``"standard"`` for AReM.
    * ``val_size`` (fraction or count, default None): a seeded stratified validation part taken out
      of the training part (``X_val``, ``y_val``).
    * ``n_train`` (int, default None): keep a seeded stratified subset of this many training samples
      (taken after the validation part).
    * ``seed`` (int, default 0): seeds every random step. ``dtype``: ``"float32"`` (default) or ``"float64"``.
    * digits and arem only: ``test_size`` (default 0.2) for their seeded split. arem only: ``split``
      (``"rows"`` or ``"recordings"``) and ``drop_duplicates`` (default True). MNIST, Fashion-MNIST and
      CIFAR-10 have an official test set; ``test_size`` or ``split`` other than None raise ``ValueError``.

    Example: ``load("digits", test_size=0.2, seed=0)``; ``load("mnist", val_size=5000, n_train=10000)``.
    """
    key = str(name).lower()
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(DATASETS)}")
    for opt in ("test_size", "split", "drop_duplicates"):
        if opt in options and options[opt] is None:
            del options[opt]  # None means "the dataset's default"
        elif opt in options and key != "arem" and not (opt == "test_size" and key == "digits"):
            if opt == "test_size":
                raise ValueError(f"{key} has an official test set; use val_size for a validation part "
                                 f"(test_size={options[opt]!r} given)")
            raise ValueError(f"{opt} is an option of arem only, not of {key} ({opt}={options[opt]!r} given)")
    return DATASETS[key](**options)
