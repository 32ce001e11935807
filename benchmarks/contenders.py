"""What is timed: one training run of a workload by each contender, and the matrix-multiply limit.

Every runner trains from scratch for ``workload.epochs`` epochs with the workload's network,
optimizer, learning rate and batch size, and returns the wall time of the training call (the data
is already in the contender's dtype, so no conversion is timed), the process CPU time, and the test
accuracy afterwards (not timed). Epoch time = training time / epochs.

* mlplab: ``Trainer.fit`` (input checks, shuffling, forward, loss, backward, step, and the per-epoch
  loss and training accuracy the History records; for the README command also the test-set
  evaluation after every epoch). ``threads``: the Trainer's argument (None: the engine chooses).
* scikit-learn: ``MLPClassifier.fit`` with ``max_iter=epochs``, ``tol=0`` and ``n_iter_no_change``
  above ``epochs``, so it runs exactly that many epochs; ``alpha=0`` (no L2 term, as the others),
  plain SGD (``momentum=0``) or Adam. It computes the loss every iteration, as mlplab does.
* PyTorch: the usual eager loop over a ``torch.randperm`` order with ``cross_entropy``,
  ``zero_grad(set_to_none=True)``, ``backward``, ``step`` and ``loss.item()`` accumulated per batch,
  ``torch.optim.SGD``/``Adam`` with their defaults otherwise; float32.
* limit: exactly the matrix products of one epoch (per batch: ``x Wᵀ`` for every layer, ``dyᵀ x``
  for every layer, ``dy W`` for every layer but the first), on preallocated arrays of the workload's
  shapes and dtype, through NumPy's BLAS, plus the forward products over the test set after every
  epoch where the workload evaluates (blocks of 4096 rows, as ``Trainer.evaluate``). No framework can
  train that network with that BLAS faster.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from .workloads import Workload


#: Called right after each timed training call when set (the memory probe reads the peak there).
AFTER_TRAINING = None


def _timed(fn) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if AFTER_TRAINING is not None:
        AFTER_TRAINING()
    return wall, cpu


def run_mlplab(w: Workload, X: np.ndarray, dtype: str, seed: int = 0, threads: int | None = None) -> dict:
    import mlplab as ml

    model = ml.mlp(w.sizes[0], w.hidden, w.sizes[-1], activation=w.activation, dropout=w.dropout,
                   scaler=w.scaler, dtype=dtype, seed=seed)
    opt = (ml.optim.SGD(model.parameters(), lr=w.lr) if w.optimizer == "sgd"
           else ml.optim.Adam(model.parameters(), lr=w.lr))
    trainer = ml.Trainer(model, ml.losses.SoftmaxCrossEntropy(), opt, batch_size=w.batch_size,
                         epochs=w.epochs, seed=seed, threads=threads)
    X_test = w.X_test.astype(dtype, copy=False)
    validation = (X_test, w.y_test) if w.evaluate else None
    wall, cpu = _timed(lambda: trainer.fit(X, w.y_train, validation=validation))
    acc = ml.metrics.accuracy(w.y_test, model.predict(X_test))
    return {"seconds": wall, "cpu_seconds": cpu, "accuracy": float(acc),
            "epoch_seconds_history": [float(s) for s in trainer.history["seconds"]],
            "engine_threads": trainer._blas.last[0], "engine_reason": trainer._blas.last[1]}


def sklearn_classifier(w: Workload, seed: int = 0):
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        hidden_layer_sizes=tuple(w.hidden), activation="logistic" if w.activation == "sigmoid" else "relu",
        solver=w.optimizer, alpha=0.0, batch_size=w.batch_size, learning_rate="constant",
        learning_rate_init=w.lr, max_iter=w.epochs, shuffle=True, random_state=seed, tol=0.0,
        n_iter_no_change=w.epochs + 1, momentum=0.0, nesterovs_momentum=False, early_stopping=False)


def run_sklearn(w: Workload, X: np.ndarray, dtype: str, seed: int = 0) -> dict:
    from sklearn.exceptions import ConvergenceWarning

    clf = sklearn_classifier(w, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        wall, cpu = _timed(lambda: clf.fit(X, w.y_train))
    if clf.n_iter_ != w.epochs:
        raise RuntimeError(f"scikit-learn ran {clf.n_iter_} epochs instead of {w.epochs}")
    acc = float(np.mean(clf.predict(w.X_test.astype(dtype, copy=False)) == w.y_test))
    return {"seconds": wall, "cpu_seconds": cpu, "accuracy": acc, "coef_dtype": str(clf.coefs_[0].dtype)}


def torch_model(w: Workload):
    import torch

    layers = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(w.sizes) - 2:
            layers.append(torch.nn.Sigmoid() if w.activation == "sigmoid" else torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def run_torch(w: Workload, X: np.ndarray, dtype: str = "float32", seed: int = 0) -> dict:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    model = torch_model(w).to(getattr(torch, dtype))
    opt = (torch.optim.SGD(model.parameters(), lr=w.lr) if w.optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=w.lr))
    Xt, yt = torch.from_numpy(X), torch.from_numpy(w.y_train)
    gen = torch.Generator().manual_seed(seed)
    n, bs = X.shape[0], w.batch_size

    def train():
        for _ in range(w.epochs):
            total = 0.0
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                loss = F.cross_entropy(model(Xt[idx]), yt[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += loss.item() * idx.shape[0]

    wall, cpu = _timed(train)
    with torch.no_grad():
        pred = model(torch.from_numpy(w.X_test.astype(dtype, copy=False))).argmax(1).numpy()
    return {"seconds": wall, "cpu_seconds": cpu, "accuracy": float(np.mean(pred == w.y_test))}


def matmul_plan(w: Workload) -> list[tuple[str, tuple[int, int, int]]]:
    """The products of one mini-batch of ``n`` rows as (kind, (m, k, n)) with FLOPs 2 m k n."""
    plan = []
    for i, (d_in, d_out) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        plan.append(("forward", (-1, d_in, d_out)))
        plan.append(("weight grad", (d_out, -1, d_in)))
        if i > 0:
            plan.append(("input grad", (-1, d_out, d_in)))
    return plan


def epoch_flops(w: Workload) -> float:
    """FLOPs of the matrix products of one epoch (2 per multiply-add), test-set evaluation included."""
    forward = sum(2 * a * b for a, b in zip(w.sizes[:-1], w.sizes[1:]))
    per_row = forward * 2 + sum(2 * a * b for a, b in zip(w.sizes[1:-1], w.sizes[2:]))
    return float(per_row * w.X_train.shape[0] + (forward * w.X_test.shape[0] if w.evaluate else 0))


def run_limit(w: Workload, dtype: str, seed: int = 0) -> dict:
    """Time the matrix products of ``w.epochs`` epochs (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n = w.X_train.shape[0]
    rows = [w.batch_size] * (n // w.batch_size) + ([n % w.batch_size] if n % w.batch_size else [])
    weights = [rng.standard_normal((b, a)).astype(dtype) for a, b in zip(w.sizes[:-1], w.sizes[1:])]
    grads = [np.empty_like(W) for W in weights]
    n_test = w.X_test.shape[0] if w.evaluate else 0
    eval_rows = [min(4096, n_test - i) for i in range(0, n_test, 4096)]
    arrays = {}
    for r in set(rows) | set(eval_rows):  # activations x_i (r, sizes[i]) and gradients dy_i of the same shapes
        arrays[r] = ([rng.standard_normal((r, s)).astype(dtype) for s in w.sizes],
                     [rng.standard_normal((r, s)).astype(dtype) for s in w.sizes])

    def products():
        for _ in range(w.epochs):
            for r in rows:
                xs, ds = arrays[r]
                for i, W in enumerate(weights):
                    np.matmul(xs[i], W.T, out=xs[i + 1])          # forward: x Wᵀ
                for i in range(len(weights) - 1, -1, -1):
                    np.matmul(ds[i + 1].T, xs[i], out=grads[i])   # weight gradient: dyᵀ x
                    if i > 0:
                        np.matmul(ds[i + 1], weights[i], out=ds[i])  # input gradient: dy W
            for r in eval_rows:
                xs = arrays[r][0]
                for i, W in enumerate(weights):
                    np.matmul(xs[i], W.T, out=xs[i + 1])

    products_per_epoch = len(rows) * (2 * len(weights) + len(weights) - 1) + len(eval_rows) * len(weights)
    wall, cpu = _timed(products)
    return {"seconds": wall, "cpu_seconds": cpu, "accuracy": None, "products_per_epoch": products_per_epoch}


RUNNERS = {"mlplab": run_mlplab, "sklearn": run_sklearn, "torch": run_torch}
