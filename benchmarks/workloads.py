"""The four workloads of issue 6 and their data.

W1  digits 64-80-70-10, sigmoid, SGD lr 0.01, batch 64
W2  the same with Adam lr 1e-3
W3  MNIST (the real files) 784-100-100-100-100-10, ReLU, Adam lr 1e-3, batch 128
W4  synthetic data of the CIFAR-10 shape, 3072-1000-1000-10, ReLU, Adam lr 1e-3, batch 256
M   the README's MNIST command, ``mlplab train --dataset mnist --hidden 256,128 --epochs 20
    --batch-size 128``: 784-256-128-10 ReLU with ``mlplab train``'s defaults (dropout 0.2, standard
    scaling, Adam lr 1e-3, float32, seed 0), evaluated on the 10000 test images after every epoch
    as the command does; mlplab and the matrix-multiply limit only (the peers have no dropout)

``--quick`` keeps the networks, optimizers and batch sizes but trains on a few hundred samples for
one or two epochs, so the whole suite runs in seconds (CI). It never needs a data file: without the
MNIST files, quick mode trains W3 on random data of the MNIST shape and says so.
"""
from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Workload:
    name: str
    title: str
    sizes: list[int]            # layer widths, input first
    activation: str             # "sigmoid" or "relu"
    optimizer: str              # "sgd" or "adam"
    lr: float
    batch_size: int
    epochs: int                 # per timed run
    X_train: np.ndarray | None = None   # float32; float64 copies are made when needed
    y_train: np.ndarray | None = None
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    data_note: str = ""
    extra: dict = field(default_factory=dict)
    dropout: float = 0.0
    scaler: str | None = None
    evaluate: bool = False      # evaluate on the test set after every epoch (timed), as `mlplab train`
    contenders: tuple = ("mlplab", "sklearn", "torch", "limit")

    @property
    def hidden(self) -> list[int]:
        return self.sizes[1:-1]

    @property
    def n_batches(self) -> int:
        return -(-self.X_train.shape[0] // self.batch_size)

    def describe(self) -> str:
        net = "-".join(str(s) for s in self.sizes)
        extras = (f"dropout {self.dropout:g}, " if self.dropout else "") + (f"{self.scaler} scaling, " if self.scaler else "")
        return (f"{self.title}: {net} {self.activation}, {extras}"
                f"{self.optimizer.upper() if self.optimizer == 'sgd' else 'Adam'} "
                f"lr {self.lr:g}, batch {self.batch_size}, {self.X_train.shape[0]} training / "
                f"{self.X_test.shape[0]} test samples, {self.epochs} epochs per run"
                + (", test-set evaluation after every epoch (timed)" if self.evaluate else ""))


SPECS = {
    "W1": dict(title="W1 digits", sizes=[64, 80, 70, 10], activation="sigmoid", optimizer="sgd", lr=0.01,
               batch_size=64, epochs=100, quick_epochs=2),
    "W2": dict(title="W2 digits", sizes=[64, 80, 70, 10], activation="sigmoid", optimizer="adam", lr=1e-3,
               batch_size=64, epochs=100, quick_epochs=2),
    "W3": dict(title="W3 MNIST", sizes=[784, 100, 100, 100, 100, 10], activation="relu", optimizer="adam",
               lr=1e-3, batch_size=128, epochs=3, quick_epochs=1),
    "W4": dict(title="W4 CIFAR-10 shape (synthetic)", sizes=[3072, 1000, 1000, 10], activation="relu",
               optimizer="adam", lr=1e-3, batch_size=256, epochs=2, quick_epochs=1),
    # 5 of the command's 20 epochs per run: the time per epoch does not change from epoch to epoch
    "M": dict(title="M README MNIST command", sizes=[784, 256, 128, 10], activation="relu", optimizer="adam",
              lr=1e-3, batch_size=128, epochs=5, quick_epochs=1, dropout=0.2, scaler="standard", evaluate=True,
              contenders=("mlplab", "limit")),
}

#: Samples of the synthetic W4 data (the real CIFAR-10 has 50000; 10000 keep a full run of the suite
#: within minutes on 2 cores, and the time per epoch scales linearly with the number of batches).
W4_TRAIN, W4_TEST = 10000, 2000
QUICK_TRAIN, QUICK_TEST = 256, 128


def _read_idx(path: str) -> np.ndarray:
    """A gzipped IDX file (MNIST's format): magic, dimensions (big-endian uint32), then uint8 data."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _mnist(data_home: str | None):
    """MNIST through ``mlplab.data.load`` (no download); falls back to reading the IDX files itself."""
    import mlplab as ml

    try:
        d = ml.data.load("mnist", data_home=data_home, download=False, progress=False)
        return d.X_train, d.y_train, d.X_test, d.y_test, "MNIST via mlplab.data.load (pixels / 255)"
    except Exception as exc:  # loader missing or files elsewhere: read the IDX files directly
        home = data_home or os.environ.get("MLPLAB_DATA") or ""
        folder = os.path.join(home, "mnist")
        names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
        paths = [os.path.join(folder, n) for n in names]
        if not all(os.path.exists(p) for p in paths):
            raise FileNotFoundError(f"MNIST not found (mlplab.data.load said: {exc}); pass --data-home, the "
                                    f"folder that holds mnist/{names[0]}") from exc
        Xtr, ytr, Xte, yte = (_read_idx(p) for p in paths)
        scale = np.float32(1 / 255)
        return (Xtr.reshape(len(Xtr), -1).astype(np.float32) * scale, ytr.astype(np.int64),
                Xte.reshape(len(Xte), -1).astype(np.float32) * scale, yte.astype(np.int64),
                "MNIST read from the IDX files by the benchmark (pixels / 255)")


def _synthetic(n_train: int, n_test: int, d: int, classes: int, seed: int, spread: float):
    """Gaussian classes: ``x = μ_y + noise`` with class means ``μ_c ~ N(0, spread²)`` per feature."""
    rng = np.random.default_rng(seed)
    means = (spread * rng.standard_normal((classes, d))).astype(np.float32)

    def part(n):
        y = rng.integers(0, classes, n)
        X = rng.standard_normal((n, d), dtype=np.float32)
        X += means[y]
        return X, y.astype(np.int64)

    (Xtr, ytr), (Xte, yte) = part(n_train), part(n_test)
    return Xtr, ytr, Xte, yte


def make(name: str, quick: bool = False, data_home: str | None = None) -> Workload:
    spec = dict(SPECS[name])
    quick_epochs = spec.pop("quick_epochs")
    w = Workload(name=name, **spec)
    if quick:
        w.epochs = quick_epochs
    if name in ("W1", "W2"):
        import mlplab as ml

        d = ml.data.load("digits", test_size=0.2, seed=0)
        w.X_train, w.y_train, w.X_test, w.y_test = d.X_train, d.y_train, d.X_test, d.y_test
        w.data_note = "scikit-learn's 8x8 digits via mlplab.data.load (pixels / 16), split seed 0"
    elif name in ("W3", "M"):
        try:
            w.X_train, w.y_train, w.X_test, w.y_test, w.data_note = _mnist(data_home)
        except FileNotFoundError:
            if not quick:
                raise
            w.X_train, w.y_train, w.X_test, w.y_test = _synthetic(QUICK_TRAIN, QUICK_TEST, 784, 10, 3, 0.3)
            w.data_note = "MNIST files not found: random data of the MNIST shape (quick mode only)"
    else:
        n_train, n_test = (QUICK_TRAIN, QUICK_TEST) if quick else (W4_TRAIN, W4_TEST)
        w.X_train, w.y_train, w.X_test, w.y_test = _synthetic(n_train, n_test, 3072, 10, 4, 0.05)
        w.data_note = (f"synthetic: 10 Gaussian classes in 3072 dimensions (class means N(0, 0.05²) per "
                       f"feature, unit noise), {n_train} training / {n_test} test samples, seed 4")
    if quick and w.X_train.shape[0] > QUICK_TRAIN:  # a stratified-enough prefix of the (shuffled) data
        w.X_train, w.y_train = w.X_train[:QUICK_TRAIN], w.y_train[:QUICK_TRAIN]
        w.X_test, w.y_test = w.X_test[:QUICK_TEST], w.y_test[:QUICK_TEST]
        w.data_note += f"; quick mode: first {QUICK_TRAIN} training / {QUICK_TEST} test samples"
    w.X_train = np.ascontiguousarray(w.X_train, dtype=np.float32)
    w.X_test = np.ascontiguousarray(w.X_test, dtype=np.float32)
    return w
