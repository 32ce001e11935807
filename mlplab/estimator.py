"""scikit-learn compatible ``MLPClassifier`` and ``MLPRegressor`` on top of mlplab's own engine.

The estimators keep scikit-learn's constructor parameters, fitted attributes and methods, so they
drop into ``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone`` in place of
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor``. Underneath, every fit builds an
:func:`mlplab.mlp` model, an :mod:`mlplab.optim` optimizer and an :class:`mlplab.Trainer`; the
scikit-learn semantics (tolerance-based stopping, ``early_stopping``, the ``"invscaling"`` and
``"adaptive"`` learning rates, ``ConvergenceWarning``) live in one :class:`mlplab.callbacks.Callback`
that the Trainer runs after every epoch.

What the estimators add to scikit-learn's: ``normalization`` (batch or layer norm), ``dropout``,
``weight_init``, ``dtype``, the solvers ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop`` and
``adamw``, the activation ``leaky_relu``, engine ``callbacks``, a progress bar (``verbose``), and the
trained engine model ``model_`` with its per-epoch ``history_``.

Training objective, as scikit-learn's (``B`` a mini-batch, ``w`` sample weights, 1 when not given,
``W`` the weight matrices, not the biases)::

    L_B = Σ_{n∈B} w_n ℓ(s_n, y_n) / Σ_{n∈B} w_n  +  α ‖W‖² / (2 Σ_{n∈B} w_n)

with ``ℓ`` the softmax cross-entropy (multiclass), the sigmoid cross-entropy summed over the outputs
(binary: one output; multilabel: one per label), or half the squared error (regression). The
penalty's gradient ``α W / Σ_B w`` reaches the optimizer as its ``weight_decay λ = α / Σ_B w``, set
for every batch. docs/estimator.md has the details and the differences from scikit-learn.
"""
from __future__ import annotations

import logging
import math
import numbers
import warnings
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (_check_sample_weight, check_array, check_is_fitted, column_or_1d,
                                      validate_data)

from . import functional as F
from .callbacks import Callback, ProgressBar
from .data import stratified_split
from .fast import SoftmaxCrossEntropy  # the fast tier's (mlplab.fast), like the estimator's models
from .layers import Dense
from .losses import BinaryCrossEntropy, Loss, MeanSquaredError
from .model import Sequential, mlp
from .optim import SGD, AdaGrad, Adam, AdamW, Momentum, Nesterov, Optimizer, RMSProp
from .parameter import Parameter
from .train import History, Trainer, TrainingDiverged

__all__ = ["MLPClassifier", "MLPRegressor"]

log = logging.getLogger(__name__)

#: solvers whose step size follows ``learning_rate`` ("constant", "invscaling", "adaptive"), like
#: scikit-learn's "sgd"; the adaptive-gradient solvers ignore it, like scikit-learn's "adam".
SGD_FAMILY = ("sgd", "momentum", "nesterov")
SOLVERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")
ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu")
_DTYPES = {"float32": np.dtype(np.float32), "float64": np.dtype(np.float64)}


# ---------------------------------------------------------------------------- losses with the L2 term

class _L2Penalty:
    """Mixin for an engine loss: scikit-learn's per-batch L2 term.

    For a batch with sample-weight sum ``S`` (the batch size when unweighted)::

        value += α ‖W‖² / (2 S)          (W: every Parameter with ``decay=True``, i.e. Dense weights)
        optimizer.weight_decay = α / S    (the optimizer then adds α W / S to the gradient of W;
                                           AdamW decays W by η α / S instead, decoupled)

    :meth:`attach` must be called before training. A batch whose weights are all zero adds nothing.
    """

    alpha: float = 0.0
    _decayed: list[Parameter] = []
    _optimizer: Optimizer | None = None

    def attach(self, alpha: float, decayed: Sequence[Parameter], optimizer: Optimizer) -> None:
        self.alpha, self._decayed, self._optimizer = float(alpha), list(decayed), optimizer

    def penalty(self, n: int, sample_weight: np.ndarray | None) -> float:
        """``α ‖W‖² / (2 S)`` for this batch; sets the optimizer's ``weight_decay`` to ``α / S``."""
        if self.alpha <= 0 or self._optimizer is None:
            return 0.0
        s = float(n) if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64))
        if s <= 0:
            self._optimizer.weight_decay = 0.0
            return 0.0
        self._optimizer.weight_decay = self.alpha / s
        sq = sum(float(np.dot(p.data.ravel(), p.data.ravel())) for p in self._decayed)
        return 0.5 * self.alpha * sq / s

    def forward(self, scores, y, sample_weight=None):
        return super().forward(scores, y, sample_weight) + self.penalty(scores.shape[0], sample_weight)


class _LogLoss(_L2Penalty, SoftmaxCrossEntropy):
    """Softmax cross-entropy ``-Σ_j t_j log softmax(s)_j``, weighted mean over the batch, + L2 term."""


class _BinaryLogLoss(_L2Penalty, BinaryCrossEntropy):
    """Sigmoid cross-entropy summed over the outputs, weighted mean over the batch, + L2 term."""


class _SquaredLoss(_L2Penalty, MeanSquaredError):
    """scikit-learn's squared loss from the engine's ``MeanSquaredError`` (``C`` outputs)::

        value = ½ (1/C) Σ_j Σ_n w_n (s_nj - y_nj)² / Σ_n w_n   (+ L2 term)
        ∂/∂s_nj = w_n (s_nj - y_nj) / Σ_n w_n

    that is the engine's value halved and its gradient ``2 w (s - y) / (C Σ w)`` times ``C / 2``.
    Both are scikit-learn's; for ``C > 1`` its gradient is that of ``C`` times its reported value,
    and we keep that so ``tol`` means the same number.
    """

    def forward(self, scores, y, sample_weight=None):
        self._n_out = scores.shape[1] if scores.ndim == 2 else 1
        value = 0.5 * MeanSquaredError.forward(self, scores, y, sample_weight)
        return value + self.penalty(scores.shape[0], sample_weight)

    def backward(self):
        g = MeanSquaredError.backward(self)
        g *= g.dtype.type(0.5 * self._n_out)
        return g


# ---------------------------------------------------------------------------- the sklearn schedule

class _SklearnSchedule(Callback):
    """scikit-learn's per-iteration bookkeeping, run by the Trainer after every epoch.

    Per epoch: ``n_iter_ += 1``, ``t_ += n_samples``, ``loss_curve_`` gets the epoch's mean loss
    (penalty included); with early stopping the validation score is appended to
    ``validation_scores_`` and the best weights are kept. An epoch counts as "no improvement" when
    ``loss > best_loss_ - tol`` (or ``score < best_validation_score_ + tol``); after more than
    ``n_iter_no_change`` of them in a row, training stops, or, for an SGD-family solver with
    ``learning_rate="adaptive"``, the learning rate is divided by 5 (stopping once it is ≤ 1e-6).
    ``learning_rate="invscaling"`` sets ``η = learning_rate_init / (t_ + 1) ** power_t`` after each
    epoch.
    """

    def __init__(self, est: "_BaseMLP", n_samples: int, validation: tuple | None) -> None:
        self.est, self.n_samples, self.validation = est, n_samples, validation
        self.converged = False

    def on_epoch_end(self, trainer: Trainer, logs: dict) -> None:
        est = self.est
        est.n_iter_ += 1
        est.t_ += self.n_samples
        est.loss_ = float(logs["loss"])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            log.info("Iteration %d, loss = %.8f", est.n_iter_, est.loss_)
        if self.validation is not None:
            score = est._validation_score(*self.validation)
            est.validation_scores_.append(score)
            if est.verbose:
                log.info("Validation score: %f", score)
            if score < est.best_validation_score_ + est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            if score > est.best_validation_score_:
                est.best_validation_score_ = score
                est._best_state = trainer.model.get_state()
        else:
            if est.loss_ > est.best_loss_ - est.tol:
                est._no_improvement_count += 1
            else:
                est._no_improvement_count = 0
            est.best_loss_ = min(est.best_loss_, est.loss_)

        schedule = est.solver in SGD_FAMILY
        if schedule and est.learning_rate == "invscaling":
            trainer.optimizer.lr = float(est.learning_rate_init) / (est.t_ + 1) ** est.power_t

        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.validation is not None else "Training loss"
            msg = (f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} "
                   "consecutive epochs.")
            if schedule and est.learning_rate == "adaptive" and trainer.optimizer.lr > 1e-6:
                trainer.optimizer.lr /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    log.info("%s Setting learning rate to %f", msg, trainer.optimizer.lr)
            else:
                if est.verbose:
                    log.info("%s Stopping.", msg)
                self.converged = True
                trainer.stop_training = True


# ---------------------------------------------------------------------------- shared base

def _generator(random_state) -> np.random.Generator:
    """A numpy ``Generator`` from scikit-learn's ``random_state`` (None, int, RandomState) or a Generator.

    None draws fresh entropy; an int seeds it; a ``RandomState`` gives a seed drawn from it (so,
    as in scikit-learn, successive fits with the same instance differ); a ``Generator`` gives a
    child spawned from it.
    """
    if random_state is None or isinstance(random_state, numbers.Integral):
        return np.random.default_rng(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(int(random_state.randint(np.iinfo(np.int32).max)))
    if isinstance(random_state, np.random.Generator):
        return random_state.spawn(1)[0]
    raise ValueError(f"random_state must be None, an int, a RandomState or a Generator, got {random_state!r}")


class _BaseMLP(BaseEstimator):
    """Shared fit / partial_fit / bookkeeping of :class:`MLPClassifier` and :class:`MLPRegressor`."""

    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "solver": [StrOptions(set(SOLVERS))],
        "alpha": [Interval(numbers.Real, 0, None, closed="left")],
        "batch_size": [StrOptions({"auto"}), Interval(numbers.Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "learning_rate_init": [Interval(numbers.Real, 0, None, closed="neither")],
        "power_t": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 1, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state", np.random.Generator],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "momentum": [Interval(numbers.Real, 0, 1, closed="left")],
        "nesterovs_momentum": ["boolean"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_1": [Interval(numbers.Real, 0, 1, closed="left")],
        "beta_2": [Interval(numbers.Real, 0, 1, closed="left")],
        "epsilon": [Interval(numbers.Real, 0, None, closed="neither")],
        "n_iter_no_change": [Interval(numbers.Integral, 1, None, closed="left"), Options(numbers.Real, {np.inf})],
        "normalization": [None, StrOptions({"batchnorm", "layernorm"})],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_init": [StrOptions({"auto", "he", "xavier", "xavier_uniform"}),
                        Interval(numbers.Real, 0, None, closed="left")],
        "dtype": [StrOptions({"auto", "float32", "float64"})],
        "callbacks": [None, list, tuple],
    }

    def __init__(self, hidden_layer_sizes, activation, *, solver, alpha, batch_size, learning_rate,
                 learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
                 momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
                 epsilon, n_iter_no_change, normalization, dropout, weight_init, dtype, callbacks) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.normalization = normalization
        self.dropout = dropout
        self.weight_init = weight_init
        self.dtype = dtype
        self.callbacks = callbacks

    # ------------------------------------------------------------------ subclass hooks
    def _validate_targets(self, X, y, *, incremental: bool, first_pass: bool):
        """Return ``(y_engine, y_score)``: targets in the engine's form and in the score's form."""
        raise NotImplementedError

    def _make_loss(self) -> Loss:
        raise NotImplementedError

    def _validation_score(self, X, y, sample_weight) -> float:
        raise NotImplementedError

    def _stratify(self) -> bool:
        return False

    # ------------------------------------------------------------------ fitted views of the engine model
    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def _dense(self) -> list[Dense]:
        if not hasattr(self, "model_"):
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet")
        return [layer for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices in scikit-learn's layout: ``coefs_[i]`` has shape ``(fan_in, fan_out)``.

        These are transposed *views* of the engine's ``Dense.weight (fan_out, fan_in)``: writing into
        them changes the model. Assigning a list copies the arrays in (shapes must match).
        """
        return [d.weight.data.T for d in self._dense()]

    @coefs_.setter
    def coefs_(self, values: Sequence[np.ndarray]) -> None:
        dense = self._dense()
        values = list(values)
        if len(values) != len(dense):
            raise ValueError(f"coefs_ needs {len(dense)} arrays, got {len(values)}")
        for d, v in zip(dense, values):
            v = np.asarray(v)
            if v.shape != (d.in_features, d.out_features):
                raise ValueError(f"coefs_ array has shape {v.shape}, expected {(d.in_features, d.out_features)}")
            d.weight.data[...] = v.T

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors ``intercepts_[i]`` of shape ``(fan_out,)`` (the engine's arrays, not copies)."""
        return [d.bias.data for d in self._dense()]

    @intercepts_.setter
    def intercepts_(self, values: Sequence[np.ndarray]) -> None:
        dense = self._dense()
        values = list(values)
        if len(values) != len(dense):
            raise ValueError(f"intercepts_ needs {len(dense)} arrays, got {len(values)}")
        for d, v in zip(dense, values):
            v = np.asarray(v)
            if v.shape != (d.out_features,):
                raise ValueError(f"intercepts_ array has shape {v.shape}, expected {(d.out_features,)}")
            d.bias.data[...] = v

    # ------------------------------------------------------------------ building blocks
    def _hidden(self) -> list[int]:
        h = self.hidden_layer_sizes
        h = [h] if not hasattr(h, "__iter__") else list(h)
        if any(not isinstance(v, numbers.Integral) or isinstance(v, bool) for v in h):
            raise ValueError(f"hidden_layer_sizes must hold integers, got {h}.")
        if any(v <= 0 for v in h):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {h}.")
        return [int(v) for v in h]

    def _architecture(self, n_features: int, n_outputs: int, dtype: np.dtype) -> tuple:
        return (n_features, tuple(self._hidden()), n_outputs, self.activation, self.normalization,
                float(self.dropout), dtype.name)

    def _build_model(self, n_features: int, n_outputs: int, dtype: np.dtype, rng: np.random.Generator) -> Sequential:
        """``mlp(n_features, hidden, n_outputs)`` with the estimator's activation, norm, dropout, init."""
        init = self.weight_init
        model = mlp(n_features, self._hidden(), n_outputs, activation=self.activation, norm=self.normalization,
                    dropout=float(self.dropout), init="xavier_uniform" if init == "auto" else init,
                    dtype=dtype, seed=rng)
        if init == "auto":
            # scikit-learn's rule (Glorot et al.): weights and biases ~ U(-b, b),
            # b = √(6 / (fan_in + fan_out)), or √(2 / (fan_in + fan_out)) for the logistic activation
            factor = 2.0 if self.activation == "logistic" else 6.0
            for d in (layer for layer in model.layers if isinstance(layer, Dense)):
                b = math.sqrt(factor / (d.in_features + d.out_features))
                d.weight.data[...] = rng.uniform(-b, b, size=d.weight.data.shape)
                d.bias.data[...] = rng.uniform(-b, b, size=d.bias.data.shape)
        return model

    def _make_optimizer(self, params: list[Parameter]) -> Optimizer:
        """The engine optimizer named by ``solver``; ``weight_decay`` is set per batch by the loss."""
        lr = float(self.learning_rate_init)
        s = self.solver
        if s == "sgd":
            if self.momentum > 0:
                cls = Nesterov if self.nesterovs_momentum else Momentum
                return cls(params, lr=lr, momentum=float(self.momentum))
            return SGD(params, lr=lr)
        if s == "momentum":
            return Momentum(params, lr=lr, momentum=float(self.momentum))
        if s == "nesterov":
            return Nesterov(params, lr=lr, momentum=float(self.momentum))
        if s == "adagrad":
            return AdaGrad(params, lr=lr, eps=float(self.epsilon))
        if s == "rmsprop":
            return RMSProp(params, lr=lr, rho=float(self.beta_2), eps=float(self.epsilon))
        cls = AdamW if s == "adamw" else Adam
        return cls(params, lr=lr, beta1=float(self.beta_1), beta2=float(self.beta_2), eps=float(self.epsilon),
                   weight_decay=0.0)

    def _initialize(self, n_features: int, n_outputs: int, dtype: np.dtype, rng: np.random.Generator) -> None:
        """Fresh model and the scikit-learn bookkeeping attributes (first fit, or fit without warm_start)."""
        self.model_ = self._build_model(n_features, n_outputs, dtype, rng)
        self._arch = self._architecture(n_features, n_outputs, dtype)
        self.history_ = History()
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = n_outputs
        self.n_layers_ = len(self._hidden()) + 2
        self.loss_curve_ = []
        self._no_improvement_count = 0
        self.validation_scores_ = self.best_validation_score_ = self.best_loss_ = None
        self._best_state = None
        for name in ("_optimizer", "_loss"):
            self.__dict__.pop(name, None)

    def _prepare_stopping(self) -> None:
        """The attributes the stopping rule tracks, for this call's ``early_stopping`` (also when a
        warm start switches it on or off)."""
        if self.early_stopping:
            if self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
                self._no_improvement_count = 0
            self._best_state = self.model_.get_state()   # kept if no epoch improves on the best score
        elif self.best_loss_ is None:
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None
            self._no_improvement_count = 0

    def _model_dtype(self, X: np.ndarray) -> np.dtype:
        return X.dtype if self.dtype == "auto" else _DTYPES[self.dtype]

    def _split(self, n: int, y_score, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(train, validation)`` for early stopping: ``ceil(validation_fraction · n)`` samples
        held out, stratified for single-label classification."""
        n_val = int(math.ceil(self.validation_fraction * n))
        if n_val < 2 or n - n_val < 1:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                             f"your dataset (validation_fraction={self.validation_fraction} of {n} samples "
                             f"gives {n_val} validation samples; at least 2 are needed, and 1 to train on).")
        if self._stratify():
            try:
                return stratified_split(y_score, n_val, rng)
            except ValueError:
                pass  # classes too small to stratify: fall back to a plain random split
        order = rng.permutation(n)
        return order[n_val:], order[:n_val]

    # ------------------------------------------------------------------ fitting
    def _fit(self, X, y, sample_weight=None, incremental: bool = False):
        self._validate_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        first_pass = not hasattr(self, "model_") or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, reset=first_pass, multi_output=True, dtype=(np.float64, np.float32),
                             y_numeric=not isinstance(self, ClassifierMixin))
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            if not np.any(sample_weight > 0):
                raise ValueError("Sample weights must contain at least one non-zero number.")
        y_engine, y_score = self._validate_targets(X, y, incremental=incremental, first_pass=first_pass)
        n_outputs = self._n_engine_outputs()
        rng_init, rng_shuffle, rng_split = _generator(self.random_state).spawn(3)

        if first_pass:
            self._initialize(X.shape[1], n_outputs, self._model_dtype(X), rng_init)
        elif self._architecture(X.shape[1], n_outputs, self.model_.dtype) != self._arch:
            raise ValueError(
                f"warm_start/partial_fit cannot change the network: it was built as {self._arch} "
                f"(n_features, hidden_layer_sizes, n_outputs, activation, normalization, dropout, dtype), "
                f"the parameters now ask for {self._architecture(X.shape[1], n_outputs, self.model_.dtype)}. "
                "Fit with warm_start=False to build a new one.")
        model = self.model_
        self._prepare_stopping()
        X = X.astype(model.dtype, copy=False)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(model.dtype, copy=False)

        validation = None
        if self.early_stopping:
            train, val = self._split(X.shape[0], y_score, rng_split)
            w_val = None if sample_weight is None else sample_weight[val]
            validation = (X[val], _take(y_score, val), w_val)
            X, y_engine = X[train], _take(y_engine, train)
            sample_weight = None if sample_weight is None else sample_weight[train]

        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              UserWarning)
            batch_size = int(np.clip(self.batch_size, 1, n))

        if not incremental or not hasattr(self, "_optimizer"):
            self._optimizer = self._make_optimizer(model.parameters())
            self._loss = self._make_loss()
            self._loss.attach(self.alpha, [p for p in model.parameters() if p.decay], self._optimizer)

        schedule = _SklearnSchedule(self, n, validation)
        callbacks = [schedule, *(self.callbacks or ())]
        if self.verbose:
            callbacks.append(ProgressBar(desc=type(self).__name__))
        trainer = Trainer(model, self._loss, self._optimizer, batch_size=batch_size,
                          epochs=1 if incremental else int(self.max_iter), seed=rng_shuffle,
                          shuffle=bool(self.shuffle), callbacks=callbacks)
        trainer.history = self.history_   # one History across fit / partial_fit calls
        trainer.epoch = len(self.history_)
        self.n_iter_ = 0
        try:
            # overflow on the way to divergence is reported once, as the ValueError below
            with np.errstate(over="ignore", invalid="ignore"):
                trainer.fit(X, y_engine, sample_weight=sample_weight)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        except TrainingDiverged as exc:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             f"values and need to be preprocessed. ({exc})") from exc
        if not incremental and not schedule.converged and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning)
        if self.early_stopping:
            model.set_state(self._best_state)
            self._best_state = None
        return self

    def _n_engine_outputs(self) -> int:
        raise NotImplementedError

    def _scores(self, X) -> np.ndarray:
        """Engine scores ``(N, n_outputs_)`` for validated ``X``, in the model's dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        return self.model_.decision_function(X.astype(self.model_.dtype, copy=False))

    def __getstate__(self) -> dict:
        # The engine's layers cache their last input for backward; after predicting on a large X that
        # is up to 4096 rows per layer. One evaluation-mode forward pass on a single row (which changes
        # no parameter or statistic) shrinks those caches before pickling.
        if hasattr(self, "model_"):
            self.model_.forward(np.zeros((1, self.n_features_in_), dtype=self.model_.dtype), training=False)
        return super().__getstate__()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


def _take(a, idx: np.ndarray):
    return a[idx]


_COMMON_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Width of each hidden layer; ``()`` gives a linear model.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu'}, default='relu'
        Hidden activation (``leaky_relu``: slope 0.01 for negative inputs).
    solver : {'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'}, default='adam'
        Engine optimizer. ``'sgd'`` is scikit-learn's: plain SGD when ``momentum=0``, else momentum
        (Nesterov when ``nesterovs_momentum``). ``'rmsprop'`` uses ``beta_2`` as its decay ``ρ``;
        ``'adagrad'``/``'rmsprop'``/``'adam'``/``'adamw'`` use ``epsilon``.
    alpha : float, default=1e-4
        L2 strength: each batch adds ``α ‖W‖² / (2 Σ_batch w)`` to the loss (scikit-learn's term);
        the optimizer sees it as ``weight_decay = α / Σ_batch w`` (decoupled for ``'adamw'``).
    batch_size : int or 'auto', default='auto'
        ``'auto'`` is ``min(200, n_samples)``; larger values are clipped with a warning.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Step-size schedule of the SGD-family solvers (``sgd``, ``momentum``, ``nesterov``), as in
        scikit-learn: ``invscaling`` is ``η = learning_rate_init / (t_ + 1) ** power_t`` after each
        epoch; ``adaptive`` divides ``η`` by 5 when ``n_iter_no_change`` epochs fail to improve by
        ``tol``. The other solvers ignore it.
    learning_rate_init : float, default=1e-3
    power_t : float, default=0.5
    max_iter : int, default=200
        Epochs (scikit-learn's "iterations").
    shuffle : bool, default=True
    random_state : None, int, RandomState or numpy Generator, default=None
        Seeds a numpy ``Generator`` from which the initial weights, dropout masks, shuffling and the
        early-stopping split all derive.
    tol : float, default=1e-4
    verbose : bool or int, default=False
        Progress bar (tqdm, stderr) and one ``logging`` INFO line per epoch from ``mlplab.estimator``.
    warm_start : bool, default=False
    momentum : float in [0, 1), default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for single-label classification),
        stop when its score does not improve by ``tol`` for ``n_iter_no_change`` epochs, and keep the
        best weights.
    validation_fraction : float, default=0.1
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int or inf, default=10
    normalization : {None, 'batchnorm', 'layernorm'}, default=None
        Normalization after each hidden Dense layer (mlplab's ``mlp(norm=...)``).
    dropout : float in [0, 1), default=0.0
        Drop probability after each hidden activation.
    weight_init : {'auto', 'he', 'xavier', 'xavier_uniform'} or float, default='auto'
        ``'auto'`` is scikit-learn's rule: weights and biases ``~ U(-b, b)``,
        ``b = √(6 / (fan_in + fan_out))`` (``√(2 / …)`` for logistic). The names are mlplab's rules
        (biases 0); a float is the standard deviation of normal weights.
    dtype : {'auto', 'float32', 'float64'}, default='auto'
        Weight and computation dtype. ``'auto'``: float32 when ``X`` is float32, else float64 (as
        scikit-learn). ``'float32'`` is about twice as fast on float64 data.
    callbacks : list of mlplab.callbacks.Callback, default=None
        Extra engine callbacks (e.g. ``ModelCheckpoint``, ``LogEvery``), run after the estimator's
        own bookkeeping each epoch; ``logs`` has no ``val_*`` entries.
"""

_COMMON_ATTRS = """
    Attributes
    ----------
    loss_ : float
        Mean training loss of the last epoch, L2 term included.
    loss_curve_ : list of float
        ``loss_`` per epoch.
    validation_scores_ : list of float or None
        Score on the held-out set per epoch (``early_stopping`` only).
    best_validation_score_ : float or None
    best_loss_ : float or None
        Lowest ``loss_`` so far (None with ``early_stopping``).
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``).
    t_ : int
        Training samples seen by the optimizer over all calls.
    coefs_ : list of ndarray, shape (fan_in, fan_out)
        Weights, scikit-learn's layout (views of the engine's ``(fan_out, fan_in)`` arrays).
    intercepts_ : list of ndarray, shape (fan_out,)
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.
    n_layers_ : int
        ``len(hidden_layer_sizes) + 2``.
    n_outputs_ : int
    out_activation_ : str
    model_ : mlplab.Sequential
        The trained engine model (save it with ``mlplab.io.save``).
    history_ : mlplab.History
        The engine's per-epoch records over all calls (loss, training accuracy, lr, seconds).
"""


# ---------------------------------------------------------------------------- classifier

class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """Multi-layer perceptron classifier, scikit-learn compatible, trained by mlplab's engine.

    Multiclass targets train a softmax output (``out_activation_ = 'softmax'``) with cross-entropy;
    binary targets one logistic output, multilabel indicator targets one logistic output per label
    (``out_activation_ = 'logistic'``), both with the sigmoid cross-entropy. Labels may be any
    hashable values (strings included); ``classes_`` holds them sorted.
    """ + _COMMON_DOC + _COMMON_ATTRS + """    classes_ : ndarray of shape (n_classes,)

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mlplab.estimator import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier((64,), max_iter=30, random_state=0).fit(X / 16, y)
    >>> clf.predict_proba(X[:2] / 16).shape
    (2, 10)
    """

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1,
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, normalization=None,
                 dropout=0.0, weight_init="auto", dtype="auto", callbacks=None) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, normalization=normalization,
            dropout=dropout, weight_init=weight_init, dtype=dtype, callbacks=callbacks)

    # ------------------------------------------------------------------ targets
    def _validate_targets(self, X, y, *, incremental, first_pass):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if first_pass and not incremental:
            self._label_binarizer = LabelBinarizer().fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the "
                                     f"previous call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        lb = self._label_binarizer
        self.out_activation_ = "softmax" if lb.y_type_ == "multiclass" else "logistic"
        Y = lb.transform(y)
        if lb.y_type_ == "multiclass":
            return np.argmax(Y, axis=1), y                    # integer class indices for the softmax loss
        if lb.y_type_.startswith("multilabel"):
            Y = np.asarray(Y)
            return Y, Y                                        # (N, K) indicator
        return Y[:, 0], y                                      # binary: (N,) in {0, 1}

    def _n_engine_outputs(self) -> int:
        lb = self._label_binarizer
        return len(lb.classes_) if lb.y_type_ in ("multiclass",) or lb.y_type_.startswith("multilabel") else 1

    def _make_loss(self) -> Loss:
        return _LogLoss() if self._label_binarizer.y_type_ == "multiclass" else _BinaryLogLoss()

    def _stratify(self) -> bool:
        return not self._label_binarizer.y_type_.startswith("multilabel")

    def _labels_from_scores(self, scores: np.ndarray) -> np.ndarray:
        lb = self._label_binarizer
        if lb.y_type_ == "multiclass":
            return self.classes_[np.argmax(scores, axis=1)]
        if lb.y_type_.startswith("multilabel"):
            return (scores > 0).astype(int)
        if len(self.classes_) == 1:
            return np.repeat(self.classes_, scores.shape[0])
        return self.classes_[(scores[:, 0] > 0).astype(int)]

    def _validation_score(self, X, y, sample_weight) -> float:
        scores = self.model_.decision_function(X)
        if not np.isfinite(scores).all():
            return float("nan")
        return float(accuracy_score(y, self._labels_from_scores(scores), sample_weight=sample_weight))

    # ------------------------------------------------------------------ public API
    def fit(self, X, y, sample_weight=None) -> "MLPClassifier":
        """Train on ``X (n_samples, n_features)`` and labels ``y (n_samples,)`` or a multilabel
        indicator ``(n_samples, n_labels)``; ``sample_weight (n_samples,)`` weights each sample's loss.
        Runs up to ``max_iter`` epochs; returns ``self``."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None, classes=None) -> "MLPClassifier":
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever appear) is required on the first call, except for
        multilabel indicator targets; ``y`` need not contain all of them.
        """
        if not hasattr(self, "classes_"):
            if classes is None and not type_of_target(y).startswith("multilabel"):
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if classes is None else classes)
            self.classes_ = self._label_binarizer.classes_
        elif classes is not None and not np.array_equal(self.classes_, unique_labels(classes)):
            raise ValueError(f"`classes={classes!r}` is not the same as on last call to partial_fit, "
                             f"was: {self.classes_!r}")
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predicted labels ``(n_samples,)``, or an indicator ``(n_samples, n_labels)`` for multilabel."""
        return self._labels_from_scores(self._scores(X))

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, n_classes)`` in the model's dtype, ordered as ``classes_``.

        Multiclass: ``softmax(s)``; binary: ``[1 - σ(s), σ(s)]``; multilabel: ``σ(s)`` per label
        (rows need not sum to 1); a single class seen in training: a column of ones.
        """
        scores = self._scores(X)
        if self.out_activation_ == "softmax":
            return F.softmax(scores)
        p = F.sigmoid(scores)
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return p
        if len(self.classes_) == 1:
            return np.ones_like(p)
        return np.hstack([1 - p, p])

    def predict_log_proba(self, X) -> np.ndarray:
        """``log predict_proba(X)``, computed stably: ``log_softmax(s)``, or ``log σ(±s) = -softplus(∓s)``."""
        scores = self._scores(X)
        if self.out_activation_ == "softmax":
            return F.log_softmax(scores)
        if len(self.classes_) == 1 and not self._label_binarizer.y_type_.startswith("multilabel"):
            return np.zeros_like(scores)
        log_p = -np.logaddexp(0, -scores)        # log σ(s)
        if self._label_binarizer.y_type_.startswith("multilabel"):
            return log_p
        return np.hstack([-np.logaddexp(0, scores), log_p])   # log(1 - σ(s)) = log σ(-s)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ---------------------------------------------------------------------------- regressor

class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """Multi-layer perceptron regressor, scikit-learn compatible, trained by mlplab's engine.

    The output layer is linear (``out_activation_ = 'identity'``) and the loss is scikit-learn's
    squared error ``½ mean_j mean_n (s_nj - y_nj)²`` (gradient ``(s - y) / N``), plus the L2 term.
    ``y`` may be ``(n_samples,)`` or ``(n_samples, n_targets)``.
    """ + _COMMON_DOC.replace("    Parameters\n    ----------\n", "    Parameters\n    ----------\n"
                              "    loss : {'squared_error'}, default='squared_error'\n"
                              "        Only the squared error (scikit-learn's 'poisson' is not offered).\n") \
        + _COMMON_ATTRS

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints, "loss": [StrOptions({"squared_error"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 normalization=None, dropout=0.0, weight_init="auto", dtype="auto", callbacks=None) -> None:
        self.loss = loss
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, normalization=normalization,
            dropout=dropout, weight_init=weight_init, dtype=dtype, callbacks=callbacks)

    def _validate_targets(self, X, y, *, incremental, first_pass):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not np.issubdtype(y.dtype, np.floating):
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")  # e.g. strings: sklearn's message
        if first_pass:
            self.out_activation_ = "identity"
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if not first_pass and n_out != self.n_outputs_:
            raise ValueError(f"y has {n_out} targets, but {type(self).__name__} was fitted with {self.n_outputs_}.")
        self._n_out = n_out
        return y, y

    def _n_engine_outputs(self) -> int:
        return self._n_out

    def _make_loss(self) -> Loss:
        return _SquaredLoss()

    def _validation_score(self, X, y, sample_weight) -> float:
        pred = self.model_.decision_function(X)
        if not np.isfinite(pred).all():
            return float("nan")
        return float(r2_score(y, pred[:, 0] if pred.shape[1] == 1 else pred, sample_weight=sample_weight))

    def fit(self, X, y, sample_weight=None) -> "MLPRegressor":
        """Train on ``X (n_samples, n_features)`` and targets ``y (n_samples,)`` or
        ``(n_samples, n_targets)``; ``sample_weight (n_samples,)`` weights each sample's loss."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def partial_fit(self, X, y, sample_weight=None) -> "MLPRegressor":
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n_samples,)`` (one target) or ``(n_samples, n_targets)``, in the model's dtype."""
        pred = self._scores(X)
        return pred[:, 0] if pred.shape[1] == 1 else pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
