"""The training loop: ``Trainer`` and the per-epoch ``History``."""
from __future__ import annotations

import csv
import io as _io
import math
import os
import time
from typing import Callable, Mapping, Sequence

import numpy as np

from . import sparse as _sparse
from ._files import atomic_write_text
from ._validation import as_generator, check_array, check_labels, check_positive_int
from .callbacks import Callback, ProgressBar
from .config import TrainConfig
from .data.batching import batch_indices, take
from . import fast as _fast
from .fast import to_tier
from .losses import Loss, SoftmaxCrossEntropy
from .model import Sequential, mlp
from .constraints import MaxNorm
from .optim import Adam, OneCycleLR, Optimizer, ReduceLROnPlateau, Scheduler, WarmupCosineLR
from .threads import BlasThreads

__all__ = ["Trainer", "History", "TrainingDiverged", "build_model", "build_trainer"]

HISTORY_KEYS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; the model was reset to its last finite weights."""


class History:
    """Per-epoch records of training. ``history["val_accuracy"]`` is a list over epochs;
    ``history.records`` the list of dicts; ``to_csv(path)`` writes them atomically; ``plot()`` draws
    loss and accuracy, ``to_pandas()`` gives a DataFrame (in Jupyter it shows as a table)."""

    def __init__(self, records: Sequence[dict] | None = None) -> None:
        self.records: list[dict] = list(records or [])

    def append(self, record: dict) -> None:
        self.records.append(record)

    def __getitem__(self, key: str) -> list:
        if key not in HISTORY_KEYS:
            raise KeyError(f"unknown history key {key!r}; expected one of {', '.join(HISTORY_KEYS)}")
        return [r.get(key) for r in self.records]

    def __len__(self) -> int:
        return len(self.records)

    def __eq__(self, other) -> bool:  # seconds differ run to run; compare the numbers that must not
        if not isinstance(other, History):
            return NotImplemented
        strip = lambda rs: [{k: v for k, v in r.items() if k != "seconds"} for r in rs]
        return strip(self.records) == strip(other.records)

    def to_csv_string(self) -> str:
        buf = _io.StringIO()
        w = csv.DictWriter(buf, fieldnames=HISTORY_KEYS, lineterminator="\n")
        w.writeheader()
        for r in self.records:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in HISTORY_KEYS})
        return buf.getvalue()

    def to_csv(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_csv_string())

    @classmethod
    def from_csv(cls, path: str | os.PathLike) -> "History":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        conv = lambda k, v: None if v == "" else (int(v) if k == "epoch" else float(v))
        return cls([{k: conv(k, v) for k, v in row.items()} for row in rows])

    def __repr__(self) -> str:
        if not self.records:
            return "History(empty)"
        last = self.records[-1]
        return f"History(epochs={len(self)}, last={ {k: v for k, v in last.items() if v is not None} })"

    # ------------------------------------------------------------------ notebooks
    def plot(self, ax=None, title: str | None = None, log_loss: bool = True):
        """Loss (left axis, log scale) and accuracy (right axis, dashed), training and validation, per
        epoch on one Axes; returns that Axes (a new figure's if ``ax`` is None: show it with
        ``ax.figure``). See :func:`mlplab.plots.training_curves` for two panels."""
        from . import plots

        if ax is None:
            _, ax = plots.subplots(figsize=(7, 4))
        plots.training_curves(self, ax=ax, title=title, log_loss=log_loss)
        return ax

    def to_pandas(self):
        """The records as a ``pandas.DataFrame`` indexed by epoch (columns loss, accuracy, val_loss,
        val_accuracy, lr, seconds; None becomes NaN). Needs pandas (``pip install pandas``)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError("History.to_pandas() needs pandas, which is not installed: pip install pandas "
                              "(or 'mlplab[notebook]'); without it, History.records is a list of dicts and "
                              "to_csv(path) writes them") from exc
        frame = pd.DataFrame([{k: r.get(k) for k in HISTORY_KEYS} for r in self.records], columns=list(HISTORY_KEYS))
        frame = frame.set_index("epoch")
        return frame.astype({k: "float64" for k in HISTORY_KEYS if k != "epoch"})

    def _repr_html_(self) -> str:
        """An HTML table in Jupyter: the first and last epochs (all of them up to 10)."""
        import html

        if not self.records:
            return "<p><b>History</b>: no epochs yet</p>"
        keys = [k for k in HISTORY_KEYS if k != "seconds" and any(r.get(k) is not None for r in self.records)]
        rows = self.records if len(self) <= 10 else self.records[:5] + [None] + self.records[-5:]
        fmt = lambda k, v: "" if v is None else (str(v) if k == "epoch" else f"{v:.4g}")
        body = "".join(
            "<tr>" + "".join(f"<td>{'⋮' if r is None else fmt(k, r.get(k))}</td>" for k in keys) + "</tr>"
            for r in rows)
        seconds = sum(r.get("seconds") or 0.0 for r in self.records)
        return (f"<p><b>History</b>: {len(self)} epochs, {seconds:.1f} s</p><table><thead><tr>"
                + "".join(f"<th>{html.escape(k)}</th>" for k in keys) + f"</tr></thead><tbody>{body}</tbody></table>")


def _check_loss(loss):
    """``loss`` must be a loss object (``SoftmaxCrossEntropy()``): not its class, not an optimizer."""
    if isinstance(loss, type):
        raise TypeError(f"loss must be a loss object such as {loss.__name__}(), got the class {loss.__name__} "
                        "itself: add the parentheses")
    if isinstance(loss, Optimizer):
        raise TypeError(f"loss got an optimizer ({type(loss).__name__}); the order is Trainer(model, loss, "
                        "optimizer), or pass them by name: Trainer(model, loss=..., optimizer=...)")
    if not (callable(getattr(loss, "forward", None)) and callable(getattr(loss, "backward", None))):
        raise TypeError(f"loss must be a loss object with forward(scores, y) and backward() such as "
                        f"mlplab.losses.SoftmaxCrossEntropy(), got {type(loss).__name__}")
    return loss


def _check_optimizer(optimizer):
    """``optimizer`` must be an optimizer object built on the model's parameters: not its class, not a loss."""
    if isinstance(optimizer, type):
        raise TypeError(f"optimizer must be an optimizer object such as {optimizer.__name__}(model.parameters()), "
                        f"got the class {optimizer.__name__} itself")
    if isinstance(optimizer, Loss):
        raise TypeError(f"optimizer got a loss ({type(optimizer).__name__}); the order is Trainer(model, loss, "
                        "optimizer), or pass them by name: Trainer(model, loss=..., optimizer=...)")
    if not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"optimizer must be an optimizer object with step() such as "
                        f"mlplab.optim.Adam(model.parameters()), got {type(optimizer).__name__}")
    return optimizer


class Trainer:
    """Train a model with shuffled mini-batches.

    Each epoch draws a permutation from a ``Generator`` seeded with ``seed`` and visits every
    sample once in batches of ``batch_size`` (the last one may be short). For each batch::

        scores = model.forward(X_b, training=True)
        loss = loss_fn.forward(scores, y_b)
        model.backward(loss_fn.backward(), input_grad=False)   # ∂L/∂X_b is not needed
        optimizer.step()

    (For a plain MLP in the fast tier, with the compiled kernels of ``mlplab[fast]``, the first three
    lines are one call, :class:`mlplab.fast.TrainingStep`: the same numbers, bit for bit.)

    Then the epoch's record goes to ``history``: ``loss`` (mean training loss per sample over
    the batches), ``accuracy`` (fraction of training samples classified correctly as the batches
    went by, with dropout and batch statistics active), ``val_loss`` and ``val_accuracy`` (in
    evaluation mode, if validation data is given), ``lr`` and ``seconds``.

    ``threads``: BLAS threads for the matrix products of ``fit``, ``evaluate`` and ``predict``. None
    (the default) lets the engine choose per call: one thread where the products are too small to
    profit or other processes keep the cores busy, every free core where they are large; the
    user's ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS``/``MKL_NUM_THREADS`` are then left in charge.
    The BLAS's own setting is restored after each call (see :mod:`mlplab.threads`).

    ``augment``: a transform ``augment(X_b, rng) -> X_b`` applied to every training mini-batch (never to
    validation data), e.g. :class:`mlplab.data.augment.RandomAffine`. ``constraints``: callables applied
    to the model after every ``optimizer.step()``, e.g. :class:`mlplab.constraints.MaxNorm`. A scheduler
    with ``per_step = True`` (:class:`~mlplab.optim.WarmupCosineLR`, :class:`~mlplab.optim.OneCycleLR`)
    steps after every update instead of every epoch; its length is set when ``fit`` starts.

    If a batch loss becomes NaN or infinite, training stops with :class:`TrainingDiverged` and the
    model keeps the weights it had at the start of that epoch.

    ``progress=True`` adds a :class:`~mlplab.callbacks.ProgressBar`: tqdm's notebook bar in Jupyter, its
    text bar in a terminal, and one line per epoch where the output is not a terminal (a pipe, a log).

    The arrays of a training step (scores, gradients) live in buffers that the layers reuse from batch
    to batch (see :class:`mlplab.Sequential`); what the Trainer returns or records (the History,
    :meth:`evaluate`'s numbers, the model's weights) is never overwritten by a later step.
    """

    def __init__(self, model: Sequential, loss: Loss | None = None, optimizer: Optimizer | None = None,
                 batch_size: int = 32, epochs: int = 10, seed=0, shuffle: bool = True,
                 callbacks: Sequence[Callback] = (), scheduler: Scheduler | None = None,
                 progress: bool = False, threads: int | None = None, augment: Callable | None = None,
                 constraints: Sequence[Callable] = ()) -> None:
        if not isinstance(model, Sequential):
            raise TypeError(f"Trainer needs a Sequential model, got {type(model).__name__}")
        self.model = model
        self.loss = _check_loss(loss) if loss is not None else SoftmaxCrossEntropy()
        self.optimizer = _check_optimizer(optimizer) if optimizer is not None else Adam(model.parameters())
        self.batch_size = check_positive_int(batch_size, "batch_size")
        self.epochs = check_positive_int(epochs, "epochs")
        self.rng = as_generator(seed)
        self.shuffle = shuffle
        self.callbacks = list(callbacks) + ([ProgressBar()] if progress else [])
        self.scheduler = scheduler
        if augment is not None and not callable(augment):
            raise TypeError(f"augment must be a callable transform(X_batch, rng), got {type(augment).__name__}")
        self.augment = augment
        self.constraints = list(constraints)
        for c in self.constraints:
            if not callable(c):
                raise TypeError(f"constraints must be callables taking the model (e.g. MaxNorm(3.0)), got {c!r}")
        self.history = History()
        self.stop_training = False
        self.epoch = 0
        self.threads = threads
        self._blas = BlasThreads(model, threads)  # validates threads

    def __repr__(self) -> str:
        loss = f"{type(self.loss).__name__}({', '.join(f'{k}={v!r}' for k, v in self.loss.config().items())})"
        cbs = ", ".join(type(c).__name__ for c in self.callbacks)
        sched = f", scheduler={type(self.scheduler).__name__}" if self.scheduler is not None else ""
        return (f"Trainer(model={_describe(self.model)}, "
                f"loss={loss}, optimizer={self.optimizer!r}, batch_size={self.batch_size}, epochs={self.epochs}, "
                f"shuffle={self.shuffle}{sched}, callbacks=[{cbs}], epochs_done={len(self.history)})")

    @property
    def classification(self) -> bool:
        return isinstance(self.loss, SoftmaxCrossEntropy)

    def _check_xy(self, X, y, name="") -> tuple[np.ndarray, np.ndarray]:
        if _sparse.issparse(X):  # CSR; mini-batches are row subsets (mlplab.sparse)
            _sparse.check_model(self.model, f"X{name}")
            X = _sparse.check_sparse(X, f"X{name}", dtype=self.model.dtype, n_features=self.model.n_features_in)
        else:
            X = check_array(X, f"X{name}", dtype=self.model.dtype, n_features=self.model.n_features_in)
        if self.classification:
            y = check_labels(y, n_samples=X.shape[0], n_classes=self.model.n_outputs, name=f"y{name}")
            if y.ndim == 2:
                y = y.astype(self.model.dtype, copy=False)
        else:
            y = check_array(y, f"y{name}", dtype=self.model.dtype, ndim=None)
            if y.shape[0] != X.shape[0]:
                raise ValueError(f"X{name} and y{name} have different lengths: {X.shape[0]} and {y.shape[0]}")
        return X, y

    def evaluate(self, X, y, batch_size: int = 4096) -> tuple[float, float | None]:
        """Mean loss per sample and accuracy (None for regression) in evaluation mode."""
        batch_size = check_positive_int(batch_size, "batch_size")
        X, y = self._check_xy(X, y)
        total, correct = 0.0, 0
        per_sample = self.loss.reduction == "sum"
        with self._blas.scope(min(batch_size, X.shape[0])):
            for i in range(0, X.shape[0], batch_size):
                scores = self.model.forward(X[i:i + batch_size], training=False)
                yb = y[i:i + batch_size]
                l = self.loss.forward(scores, yb)
                total += l if per_sample else l * scores.shape[0]
                if self.classification:
                    correct += int(np.sum(np.argmax(scores, 1) == (yb if yb.ndim == 1 else np.argmax(yb, 1))))
        n = X.shape[0]
        return total / n, (correct / n if self.classification else None)

    def predict(self, X, batch_size: int = 4096) -> np.ndarray:
        """``model.predict(X)`` (class indices ``(N,)``; X checked there) with this Trainer's BLAS threads."""
        shape = getattr(X, "shape", None)
        rows = min(batch_size, shape[0]) if shape else batch_size
        with self._blas.scope(max(1, rows)):
            return self.model.predict(X, batch_size=batch_size)

    def fit(self, X, y, validation: tuple | None = None, sample_weight=None) -> History:
        """Train for ``epochs`` epochs (fewer if a callback stops it); returns the History, which
        also stays on ``self.history`` and grows if ``fit`` is called again.

        ``sample_weight (N,)``, if given, weights each sample's loss (see :mod:`mlplab.losses`).
        ``X`` may be a scipy.sparse matrix or array when the model's first layer is ``Dense``: it is
        never densified (:mod:`mlplab.sparse`).
        """
        X, y = self._check_xy(X, y)
        if sample_weight is not None:
            sample_weight = check_array(sample_weight, "sample_weight", dtype=self.model.dtype, ndim=1)
            if sample_weight.shape[0] != X.shape[0]:
                raise ValueError(f"sample_weight has {sample_weight.shape[0]} entries for {X.shape[0]} samples")
            if (sample_weight < 0).any():
                raise ValueError("sample_weight must be non-negative")
        if validation is not None:
            if len(validation) != 2:
                raise ValueError("validation must be a pair (X_val, y_val)")
            Xv, yv = self._check_xy(*validation, name="_val")
        self.model.fit_scalers(X)
        if self.scheduler is not None and self.scheduler.per_step and self.scheduler.total_steps is None:
            steps_per_epoch = -(-X.shape[0] // self.batch_size)
            self.scheduler.set_total_steps(self.epochs * steps_per_epoch, steps_per_epoch)
        # the loss and the optimizer run in the model's tier (a reference loss becomes fast with a fast
        # model; see mlplab.fast)
        tier = "reference" if self.model.tier == "reference" else "fast"
        to_tier(self.loss, tier)
        to_tier(self.optimizer, tier)
        self.stop_training = False
        for cb in self.callbacks:
            cb.on_train_begin(self)
        interrupted = False
        try:
            for _ in range(self.epochs):
                self.epoch += 1
                # NumPy's overflow warnings would only precede the clear TrainingDiverged error
                # BLAS threads are chosen per epoch, so a machine that becomes busy is noticed
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
                        self._blas.scope(min(self.batch_size, X.shape[0])):
                    record = self._run_epoch(X, y, sample_weight)
                if validation is not None:
                    record["val_loss"], record["val_accuracy"] = self.evaluate(Xv, yv)
                self.history.append(record)
                for cb in self.callbacks:
                    cb.on_epoch_end(self, record)
                if self.scheduler is not None and not self.scheduler.per_step:
                    if isinstance(self.scheduler, ReduceLROnPlateau):
                        self.scheduler.step(record["val_loss"] if record["val_loss"] is not None else record["loss"])
                    else:
                        self.scheduler.step()
                if self.stop_training:
                    break
        except KeyboardInterrupt:
            interrupted = True
            raise
        finally:
            for cb in self.callbacks:
                cb.on_train_end(self, interrupted)
        return self.history

    def _run_epoch(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> dict:
        start = time.perf_counter()
        model, loss_fn, opt = self.model, self.loss, self.optimizer
        snapshot = model.get_state()
        n = X.shape[0]
        total, correct, done = 0.0, 0, 0
        sum_reduction = loss_fn.reduction == "sum"
        per_step = self.scheduler is not None and self.scheduler.per_step
        # Integer labels: each batch's labels and predicted classes go into arrays that span the
        # epoch, compared once at its end (one NumPy call per batch for the training accuracy).
        count_at_end = self.classification and y.ndim == 1
        if count_at_end:
            labels, predicted = np.empty(n, y.dtype), np.empty(n, np.intp)
        dense = isinstance(X, np.ndarray)
        x_buffer = np.empty((min(self.batch_size, n),) + X.shape[1:], X.dtype) if self.shuffle and dense else None
        batch_hooks = [cb for cb in self.callbacks
                       if getattr(type(cb), "on_batch_begin", Callback.on_batch_begin) is not Callback.on_batch_begin]
        # a plain MLP in the fast tier with the compiled kernels: forward, loss and backward in one call per
        # batch (mlplab.fast.TrainingStep; the same numbers as the layers give, without their Python)
        step = (_fast.TrainingStep.build(model, loss_fn)
                if dense and count_at_end and sample_weight is None and not batch_hooks else None)
        for b, idx in enumerate(batch_indices(n, self.batch_size, self.rng, self.shuffle)):
            stop = min(idx.stop, n) if isinstance(idx, slice) else done + idx.shape[0]
            xb = take(X, idx, None if x_buffer is None else x_buffer[:stop - done])  # reused, see Sequential
            yb = take(y, idx, labels[done:stop]) if count_at_end else take(y, idx)
            wb = None if sample_weight is None else take(sample_weight, idx)
            if self.augment is not None:
                xb = self.augment(xb, self.rng)
            for cb in batch_hooks:
                cb.on_batch_begin(self, {"index": b, "size": stop - done, "sample_weight": wb})
            if step is not None:
                l = step(xb, yb, predicted[done:stop])
            else:
                scores = model.forward(xb, training=True)
                l = loss_fn.forward(scores, yb, wb)
            if not math.isfinite(l):
                model.set_state(snapshot)
                raise TrainingDiverged(
                    f"training diverged in epoch {self.epoch} (batch {b + 1}): the loss became {l}. "
                    f"The model keeps its weights from the end of epoch {self.epoch - 1}. "
                    f"Try a lower learning rate (it is {opt.lr:g}).")
            if step is None:
                model.backward(loss_fn.backward(), input_grad=False)  # ∂L/∂X_b is not needed
            opt.step()
            for constrain in self.constraints:
                constrain(model)
            if per_step:
                self.scheduler.step()
            total += l if sum_reduction else l * (stop - done)
            if count_at_end:
                if step is None:  # (the step wrote them)
                    np.argmax(scores, axis=1, out=predicted[done:stop])
            elif self.classification:  # one-hot or probability rows
                correct += int(np.count_nonzero(np.argmax(scores, axis=1) == np.argmax(yb, 1)))
            done = stop
        if count_at_end:
            correct = int(np.count_nonzero(predicted == labels))
        if not all(np.isfinite(p.data).all() for p in model.parameters()):
            model.set_state(snapshot)
            raise TrainingDiverged(
                f"training diverged in epoch {self.epoch}: the weights became NaN or infinite. "
                f"The model keeps its weights from the end of epoch {self.epoch - 1}. "
                f"Try a lower learning rate (it is {opt.lr:g}).")
        return {"epoch": self.epoch, "loss": total / n,
                "accuracy": correct / n if self.classification else None,
                "val_loss": None, "val_accuracy": None, "lr": opt.lr,
                "seconds": time.perf_counter() - start}


def _describe(model: Sequential) -> str:
    """``Sequential(64-80-70-10, 11,580 parameters)``: the widths of the Dense layers and the count."""
    from .layers import Dense

    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    widths = ([str(dense[0].in_features)] + [str(d.out_features) for d in dense]) if dense else []
    return f"Sequential({'-'.join(widths) or 'no Dense layers'}, {model.n_parameters():,} parameters)"


def build_model(config: TrainConfig, n_features: int, n_outputs: int, rng=None) -> Sequential:
    """The network a configuration describes: ``mlp(n_features, config.hidden, n_outputs, ...)`` with its
    activation, norm, dropout, init, scaler and dtype; initial weights from ``config.seed``, or from
    ``rng`` (a seed or Generator) when given. :func:`build_trainer` and the estimator build through it."""
    return mlp(n_features, config.hidden, n_outputs, activation=config.activation, norm=config.norm,
               dropout=config.dropout, init=config.init, scaler=config.scaler, dtype=config.dtype,
               seed=config.seed if rng is None else rng)


def build_trainer(config: "TrainConfig | Mapping", n_features: int, n_classes: int,
                  callbacks: Sequence[Callback] = (), progress: bool = False,
                  threads: int | None = None) -> tuple[Sequential, "Trainer"]:
    """The model and :class:`Trainer` that a training configuration describes: ``mlp(n_features,
    config.hidden, n_classes, ...)``, its optimizer (``make_optimizer``) and the loop, as every front
    end builds them (``mlplab train``, ``mlplab search``, the labs).

    ``config`` is a :class:`~mlplab.config.TrainConfig` or a mapping of its fields (checked through
    ``TrainConfig.from_dict``; missing fields take their defaults). The optimizer is
    ``trainer.optimizer``. ``threads`` goes to the Trainer (None: the engine chooses).
    """
    from .optim import make_optimizer

    if not isinstance(config, TrainConfig):
        config = TrainConfig.from_dict(config)
    model = build_model(config, n_features, n_classes)
    opt_kwargs = {"weight_decay": config.weight_decay} if config.weight_decay else {}
    optimizer = make_optimizer(config.optimizer, model.parameters(), lr=config.lr, **opt_kwargs)
    scheduler = None
    if config.schedule == "warmup_cosine":
        scheduler = WarmupCosineLR(optimizer, warmup_epochs=config.warmup_epochs)
    elif config.schedule == "one_cycle":
        scheduler = OneCycleLR(optimizer, max_lr=config.lr)
    augment = None
    if config.augment is not None:
        from .data.augment import RandomAffine
        from .data.registry import get_spec

        augment = RandomAffine(get_spec(config.dataset).image_shape, **config.augment)
    loss = SoftmaxCrossEntropy(label_smoothing=config.label_smoothing) if config.label_smoothing else None
    trainer = Trainer(model, loss, optimizer=optimizer, batch_size=config.batch_size, epochs=config.epochs,
                      seed=config.seed, callbacks=callbacks, progress=progress, scheduler=scheduler,
                      augment=augment, constraints=[MaxNorm(config.max_norm)] if config.max_norm else (),
                      threads=threads)
    return model, trainer
