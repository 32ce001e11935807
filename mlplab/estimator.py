"""scikit-learn compatible ``MLPClassifier`` and ``MLPRegressor`` on top of mlplab's own engine.

The estimators keep scikit-learn's constructor parameters, fitted attributes and methods, so they
drop into ``Pipeline``, ``GridSearchCV``, ``cross_val_score`` and ``clone`` in place of
``sklearn.neural_network.MLPClassifier`` / ``MLPRegressor`` (scikit-learn's own
``test_mlp.py`` runs against them: tests/test_sklearn_mlp_suite.py). Underneath, every fit builds
an :func:`mlplab.mlp` model and trains it in one of two ways:

* a stochastic solver (``"sgd"``, ``"adam"`` and mlplab's others): an optimizer from
  :func:`mlplab.optim.make_optimizer` and an :class:`mlplab.Trainer`; scikit-learn's per-iteration
  rules (tolerance-based stopping, ``early_stopping``, the ``"invscaling"`` and ``"adaptive"``
  learning rates, the L2 term per mini-batch) live in one :class:`mlplab.callbacks.Callback`;
* ``"lbfgs"``: :func:`scipy.optimize.minimize` (L-BFGS-B) over the flat vector of every parameter,
  the engine computing the full-batch objective and its gradient.

What the estimators add to scikit-learn's: ``normalization`` (batch or layer norm), ``dropout``,
``weight_init``, ``dtype``, the solvers ``momentum``, ``nesterov``, ``adagrad``, ``rmsprop`` and
``adamw``, the activation ``leaky_relu``, engine ``callbacks``, and the trained engine model
``model_`` with its per-epoch ``history_``.

Training objective, as scikit-learn's (``B`` a mini-batch, or the whole data set for lbfgs; ``w``
sample weights, 1 when not given; ``W`` the weight matrices, not the biases)::

    L_B = Σ_{n∈B} w_n ℓ(s_n, y_n) / Σ_{n∈B} w_n  +  α ‖W‖² / (2 Σ_{n∈B} w_n)

with ``ℓ`` the softmax cross-entropy (multiclass), the sigmoid cross-entropy summed over the outputs
(binary: one output; multilabel: one per label), half the squared error (regression), or half the
Poisson deviance with an exponential output (``loss="poisson"``). docs/estimator.md has the details
and the differences from scikit-learn.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Sequence

import numpy as np
from scipy.optimize import minimize
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import (_check_sample_weight, check_array, check_is_fitted, column_or_1d,
                                      validate_data)

from . import functional as F
from . import sparse as _sparse
from ._validation import FLOAT_DTYPES
from .callbacks import Callback
from .config import TrainConfig
from .data import stratified_split
from .init import INIT_NAMES
from .layers import BatchNorm, Dense
from .losses import BinaryCrossEntropy, Loss, MeanSquaredError, PoissonDeviance, SoftmaxCrossEntropy
from .model import ACTIVATIONS, Sequential
from .optim import OPTIMIZERS, Optimizer, make_optimizer
from .train import History, Trainer, TrainingDiverged, build_model

__all__ = ["MLPClassifier", "MLPRegressor"]

#: the stochastic solvers are the engine's optimizers (mlplab.optim.OPTIMIZERS); "lbfgs" is scipy's
STOCHASTIC_SOLVERS = tuple(OPTIMIZERS)
SOLVERS = ("lbfgs", *STOCHASTIC_SOLVERS)
#: solvers whose step size follows ``learning_rate`` ("constant", "invscaling", "adaptive"), like
#: scikit-learn's "sgd"; the adaptive-gradient solvers ignore it, like scikit-learn's "adam".
SGD_FAMILY = ("sgd", "momentum", "nesterov")

#: keyword of the engine optimizer ← estimator parameter, per engine optimizer (scikit-learn's
#: names on the right). "sgd" becomes "momentum" or "nesterov" when ``momentum > 0`` (below).
OPTIMIZER_ARGUMENTS: dict[str, dict[str, str]] = {
    "sgd": {},
    "momentum": {"momentum": "momentum"},
    "nesterov": {"momentum": "momentum"},
    "adagrad": {"eps": "epsilon"},
    "rmsprop": {"rho": "beta_2", "eps": "epsilon"},
    "adam": {"beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"},
    "adamw": {"beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"},
}


# ---------------------------------------------------------------------------- losses

class _SquaredLoss(MeanSquaredError):
    """scikit-learn's squared loss from the engine's ``MeanSquaredError`` (``C`` outputs)::

        value = ½ (1/C) Σ_j Σ_n w_n (s_nj - y_nj)² / Σ_n w_n
        ∂/∂s_nj = w_n (s_nj - y_nj) / Σ_n w_n

    that is the engine's value halved and its gradient ``2 w (s - y) / (C Σ w)`` times ``C / 2``.
    Both are scikit-learn's; for ``C > 1`` its gradient is that of ``C`` times its reported value,
    and we keep that so ``tol`` means the same number.
    """

    def forward(self, scores, y, sample_weight=None):
        self._n_out = scores.shape[1] if scores.ndim == 2 else 1
        return 0.5 * super().forward(scores, y, sample_weight)

    def backward(self):
        g = super().backward()
        g *= g.dtype.type(0.5 * self._n_out)
        return g


def _l2_scale(alpha: float, n: int, sample_weight: np.ndarray | None) -> float:
    """``α / S`` with ``S`` the batch's sample-weight sum (its size when unweighted); 0 if ``S = 0``."""
    s = float(n) if sample_weight is None else float(np.sum(sample_weight, dtype=np.float64))
    return alpha / s if s > 0 else 0.0


def _squared_norm(params) -> float:
    """``Σ ‖W‖²`` over the given weight Parameters."""
    return sum(float(np.dot(p.data.ravel(), p.data.ravel())) for p in params)


# ---------------------------------------------------------------------------- the sklearn schedule

class _SklearnSchedule(Callback):
    """scikit-learn's per-batch and per-iteration rules, run by the Trainer.

    Before each mini-batch (``S`` its sample-weight sum): the optimizer's ``weight_decay`` is set to
    ``α / S``, so the optimizer adds ``α W / S`` to the gradient of ``W`` (AdamW decays ``W`` by
    ``η α / S`` instead, decoupled), and the batch's L2 term ``α ‖W‖² / (2 S)`` is added to the
    epoch's loss (weighted by the batch size, as the Trainer weights the data term). After each
    epoch the estimator's :meth:`_BaseMLP._end_iteration` records it and decides whether to stop
    or to change the learning rate.
    """

    def __init__(self, est: "_BaseMLP", n_samples: int, validation: tuple | None) -> None:
        self.est, self.n_samples, self.validation = est, n_samples, validation
        self.converged = False
        self._penalty_total = 0.0

    def on_batch_begin(self, trainer: Trainer, batch: dict) -> None:
        alpha = float(self.est.alpha)
        if alpha <= 0:
            trainer.optimizer.weight_decay = 0.0
            return
        decay = _l2_scale(alpha, batch["size"], batch["sample_weight"])
        trainer.optimizer.weight_decay = decay
        self._penalty_total += 0.5 * decay * _squared_norm(self.est._decayed) * batch["size"]

    def on_epoch_end(self, trainer: Trainer, logs: dict) -> None:
        loss = float(logs["loss"]) + self._penalty_total / self.n_samples
        self._penalty_total = 0.0
        if self.est._end_iteration(trainer, loss, self.validation):
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


def _flat(arrays) -> np.ndarray:
    """The arrays raveled and concatenated, as float64 (L-BFGS-B's working precision)."""
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


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
        "max_fun": [Interval(numbers.Integral, 1, None, closed="left")],
        "normalization": [None, StrOptions({"batchnorm", "layernorm"})],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
        "weight_init": [StrOptions({"auto", *INIT_NAMES}),
                        Interval(numbers.Real, 0, None, closed="left")],
        "dtype": [StrOptions({"auto", *FLOAT_DTYPES})],
        "callbacks": [None, list, tuple],
    }

    def __init__(self, hidden_layer_sizes, activation, *, solver, alpha, batch_size, learning_rate,
                 learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start,
                 momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2,
                 epsilon, n_iter_no_change, max_fun, normalization, dropout, weight_init, dtype,
                 callbacks) -> None:
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
        self.max_fun = max_fun
        self.normalization = normalization
        self.dropout = dropout
        self.weight_init = weight_init
        self.dtype = dtype
        self.callbacks = callbacks

    # ------------------------------------------------------------------ subclass hooks
    def _validate_targets(self, y, *, incremental: bool):
        """Return ``(y_engine, y_score)``: targets in the engine's form and in the score's form."""
        raise NotImplementedError

    def _n_engine_outputs(self) -> int:
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
        return [layer for layer in self.model_.layers if isinstance(layer, Dense)]

    @property
    def coefs_(self) -> list[np.ndarray]:
        """Weight matrices in scikit-learn's layout: ``coefs_[i]`` has shape ``(fan_in, fan_out)``.

        These are transposed *views* of the engine's ``Dense.weight (fan_out, fan_in)``: writing into
        them changes the model. Assigning a list copies the arrays in (shapes must match). Before
        the first fit, an assigned list is kept as it is and becomes the starting weights of a
        ``partial_fit`` or ``warm_start`` fit (with ``intercepts_``), as in scikit-learn.
        """
        if not hasattr(self, "model_"):
            return self._initial_weights("coefs_")
        return [d.weight.data.T for d in self._dense()]

    @coefs_.setter
    def coefs_(self, values: Sequence[np.ndarray]) -> None:
        if not hasattr(self, "model_"):
            self.__dict__["_init_coefs"] = values if isinstance(values, list) else list(values)
            return
        for d, v in zip(self._dense(), self._checked(values, "coefs_", lambda d: (d.in_features, d.out_features))):
            d.weight.data[...] = v.T

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Bias vectors ``intercepts_[i]`` of shape ``(fan_out,)`` (the engine's arrays, not copies)."""
        if not hasattr(self, "model_"):
            return self._initial_weights("intercepts_")
        return [d.bias.data for d in self._dense()]

    @intercepts_.setter
    def intercepts_(self, values: Sequence[np.ndarray]) -> None:
        if not hasattr(self, "model_"):
            self.__dict__["_init_intercepts"] = values if isinstance(values, list) else list(values)
            return
        for d, v in zip(self._dense(), self._checked(values, "intercepts_", lambda d: (d.out_features,))):
            d.bias.data[...] = v

    def _initial_weights(self, name: str) -> list:
        key = "_init_coefs" if name == "coefs_" else "_init_intercepts"
        if key not in self.__dict__:
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet ({name})")
        return self.__dict__[key]

    def _checked(self, values, name: str, shape) -> list[np.ndarray]:
        dense = self._dense()
        values = [np.asarray(v) for v in values]
        if len(values) != len(dense):
            raise ValueError(f"{name} needs {len(dense)} arrays, got {len(values)}")
        for d, v in zip(dense, values):
            if v.shape != shape(d):
                raise ValueError(f"{name} array has shape {v.shape}, expected {shape(d)}")
        return values

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
        """``mlp(n_features, hidden, n_outputs)`` with the estimator's activation, norm, dropout, init,
        through a :class:`~mlplab.config.TrainConfig` and :func:`~mlplab.train.build_model`."""
        init = self.weight_init
        # the network part of a training configuration, built as every front end builds it
        config = TrainConfig(hidden=self._hidden(), activation=self.activation, norm=self.normalization,
                             dropout=float(self.dropout), init="xavier_uniform" if init == "auto" else init,
                             scaler=None, dtype=np.dtype(dtype).name)
        model = build_model(config, n_features, n_outputs, rng=rng)
        if init == "auto":
            # scikit-learn's rule (Glorot et al.): weights and biases ~ U(-b, b),
            # b = √(6 / (fan_in + fan_out)), or √(2 / (fan_in + fan_out)) for the logistic activation
            factor = 2.0 if ACTIVATIONS[self.activation] is ACTIVATIONS["logistic"] else 6.0
            for d in (layer for layer in model.layers if isinstance(layer, Dense)):
                b = math.sqrt(factor / (d.in_features + d.out_features))
                d.weight.data[...] = rng.uniform(-b, b, size=d.weight.data.shape)
                d.bias.data[...] = rng.uniform(-b, b, size=d.bias.data.shape)
        return model

    def _make_optimizer(self, params) -> Optimizer:
        """The engine optimizer named by ``solver`` (``weight_decay`` is set per batch by the schedule)."""
        name = self.solver
        if name == "sgd" and self.momentum > 0:  # scikit-learn's "sgd" with momentum
            name = "nesterov" if self.nesterovs_momentum else "momentum"
        kwargs = {key: float(getattr(self, param)) for key, param in OPTIMIZER_ARGUMENTS[name].items()}
        if name == "adamw":
            kwargs["weight_decay"] = 0.0
        return make_optimizer(name, params, lr=float(self.learning_rate_init), **kwargs)

    def _model_dtype(self, X) -> np.dtype:
        return X.dtype if self.dtype == "auto" else np.dtype(FLOAT_DTYPES[self.dtype])

    def _split(self, n: int, y_score, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Indices ``(train, validation)`` for early stopping: ``ceil(validation_fraction · n)`` samples
        held out, stratified for single-label classification."""
        if self._stratify():
            self._check_stratifiable(y_score)
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

    def _check_stratifiable(self, y) -> None:
        """Raise scikit-learn's error where its stratified split would (classifier only)."""

    # ------------------------------------------------------------------ fitted state: every write is here
    def _initialize(self, n_features: int, n_outputs: int, dtype: np.dtype, rng: np.random.Generator,
                    continuing: bool) -> None:
        """A fresh model and scikit-learn's bookkeeping attributes (first fit, or fit without
        warm_start). Weights assigned to ``coefs_``/``intercepts_`` before the first fit are used
        when this call continues a model (``partial_fit`` or ``warm_start``), as in scikit-learn."""
        self.model_ = self._build_model(n_features, n_outputs, dtype, rng)
        coefs, intercepts = self.__dict__.pop("_init_coefs", None), self.__dict__.pop("_init_intercepts", None)
        if coefs is not None and intercepts is not None and continuing:
            self.coefs_, self.intercepts_ = coefs, intercepts
        self._arch = self._architecture(n_features, n_outputs, dtype)
        self._decayed = [p for p in self.model_.parameters() if p.decay]
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
        self.n_iter_ = 0
        if self.early_stopping and self.solver != "lbfgs":
            if self.validation_scores_ is None:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
                self._no_improvement_count = 0
            self._best_state = self.model_.get_state()   # kept if no epoch improves on the best score
        elif self.best_loss_ is None:
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = np.inf, None, None
            self._no_improvement_count = 0

    def _end_iteration(self, trainer: Trainer, loss: float, validation: tuple | None) -> bool:
        """scikit-learn's bookkeeping after one epoch of a stochastic solver; returns whether to stop.

        ``n_iter_ += 1``, ``t_ += n_samples``, ``loss_curve_`` gets the epoch's mean loss (L2 term
        included); with early stopping the validation score is appended to ``validation_scores_``
        and the best weights are kept. An epoch counts as "no improvement" when
        ``loss > best_loss_ - tol`` (or ``score < best_validation_score_ + tol``); after more than
        ``n_iter_no_change`` of them in a row, training stops, or, for an SGD-family solver with
        ``learning_rate="adaptive"``, the learning rate is divided by 5 (stopping once it is ≤ 1e-6).
        ``learning_rate="invscaling"`` sets ``η = learning_rate_init / (t_ + 1) ** power_t``.
        """
        self.n_iter_ += 1
        self.t_ += self._n_train
        self.loss_ = loss
        self.loss_curve_.append(loss)
        self._say(f"Iteration {self.n_iter_}, loss = {loss:.8f}")
        if validation is not None:
            score = self._validation_score(*validation)
            self.validation_scores_.append(score)
            self._say(f"Validation score: {score:f}")
            if score < self.best_validation_score_ + self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_state = trainer.model.get_state()
        else:
            if loss > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            self.best_loss_ = min(self.best_loss_, loss)

        optimizer = trainer.optimizer
        schedule = self.solver in SGD_FAMILY
        if schedule and self.learning_rate == "invscaling":
            optimizer.lr = float(self.learning_rate_init) / (self.t_ + 1) ** self.power_t
        if self._no_improvement_count <= self.n_iter_no_change:
            return False
        what = "Validation score" if validation is not None else "Training loss"
        msg = f"{what} did not improve more than tol={self.tol:f} for {self.n_iter_no_change} consecutive epochs."
        if schedule and self.learning_rate == "adaptive":
            if optimizer.lr <= 1e-6:
                self._say(msg + " Learning rate too small. Stopping.")
                return True
            optimizer.lr /= 5.0
            self._no_improvement_count = 0
            self._say(msg + f" Setting learning rate to {optimizer.lr:f}")
            return False
        self._say(msg + " Stopping.")
        return True

    def _end_diverged(self, exc: TrainingDiverged) -> None:
        """A stochastic fit whose loss became non-finite: with early stopping, scikit-learn's outcome
        (the iteration's validation score recorded as NaN, training over, best weights kept, see
        :meth:`_fit`); without it, scikit-learn's error."""
        if not self.early_stopping:
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             f"values and need to be preprocessed. ({exc})") from exc
        self.n_iter_ += 1
        self.t_ += self._n_train
        self.loss_ = float("nan")
        self.loss_curve_.append(self.loss_)
        self.validation_scores_.append(float("nan"))
        self._say(f"Iteration {self.n_iter_}, loss = nan")
        self._say("Validation score: nan")
        best = int(np.nanargmax(self.validation_scores_)) + 1 if np.isfinite(self.validation_scores_).any() else 0
        warnings.warn(f"Training diverged in iteration {self.n_iter_} (the loss became non-finite): stopped, "
                      f"keeping the weights of iteration {best}, the best validation score. "
                      "Lower learning_rate_init or scale the input.", ConvergenceWarning)

    def _end_lbfgs(self, result, losses: list[float]) -> None:
        """The attributes of an L-BFGS fit (``result``: scipy's ``OptimizeResult``, None when
        interrupted; ``losses``: the objective after each iteration)."""
        self.n_iter_ = len(losses) if result is None else min(int(result.nit), int(self.max_iter))
        if result is not None:
            self.loss_ = float(result.fun)
        else:
            self.loss_ = losses[-1] if losses else float("nan")
        self.loss_curve_.extend(losses)
        self.best_loss_ = min([self.loss_, *losses])
        self.validation_scores_ = self.best_validation_score_ = None
        if result is not None and result.status != 0:
            msg = (f"lbfgs failed to converge after {self.n_iter_} iteration(s) (status={result.status}):\n"
                   f"{result.message}\n")
            if self.n_iter_ == self.max_iter:
                msg += ("\nIncrease the number of iterations to improve the convergence "
                        f"(max_iter={self.max_iter}).")
            msg += ("\nYou might also want to scale the data as shown in:\n"
                    "    https://scikit-learn.org/stable/modules/preprocessing.html")
            warnings.warn(msg, ConvergenceWarning, stacklevel=3)

    def _say(self, line: str) -> None:
        """One of scikit-learn's progress lines, on standard output, when ``verbose``."""
        if self.verbose:
            print(line, flush=True)

    # ------------------------------------------------------------------ fitting
    def _check_solver(self) -> bool:
        if self.solver not in STOCHASTIC_SOLVERS:
            raise AttributeError(f"partial_fit is only available for stochastic optimizers. "
                                 f"{self.solver} is not stochastic.")
        return True

    def _fit(self, X, y, sample_weight=None, incremental: bool = False):
        self._validate_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        if self.solver == "lbfgs" and self.dropout > 0:
            raise ValueError(f"solver='lbfgs' minimises a fixed function and cannot train with dropout "
                             f"(dropout={self.dropout}); use a stochastic solver such as 'adam', or dropout=0.")
        has_weights = hasattr(self, "model_") or "_init_coefs" in self.__dict__
        first_pass = not has_weights or (not self.warm_start and not incremental)
        X, y = validate_data(self, X, y, reset=first_pass, accept_sparse=["csr", "csc"], multi_output=True,
                             dtype=(np.float64, np.float32), y_numeric=not isinstance(self, ClassifierMixin))
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=X.dtype, ensure_non_negative=True)
            if not np.any(sample_weight > 0):
                raise ValueError("Sample weights must contain at least one non-zero number.")
        y_engine, y_score = self._validate_targets(y, incremental=incremental)
        n_outputs = self._n_engine_outputs()
        rng_init, rng_shuffle, rng_split = _generator(self.random_state).spawn(3)

        if first_pass or not hasattr(self, "model_"):
            self._initialize(X.shape[1], n_outputs, self._model_dtype(X), rng_init, continuing=not first_pass)
        elif self._architecture(X.shape[1], n_outputs, self.model_.dtype) != self._arch:
            raise ValueError(
                f"warm_start/partial_fit cannot change the network: it was built as {self._arch} "
                f"(n_features, hidden_layer_sizes, n_outputs, activation, normalization, dropout, dtype), "
                f"the parameters now ask for {self._architecture(X.shape[1], n_outputs, self.model_.dtype)}. "
                "Fit with warm_start=False to build a new one.")
        model = self.model_
        self._prepare_stopping()
        X = X.astype(model.dtype, copy=False)
        if _sparse.issparse(X):
            X = X.tocsr()                 # mini-batches are row subsets (see mlplab.sparse)
        if sample_weight is not None:
            sample_weight = sample_weight.astype(model.dtype, copy=False)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, y_engine, sample_weight)
        else:
            self._fit_stochastic(X, y_engine, y_score, sample_weight, incremental, rng_shuffle, rng_split)
        return self

    def _fit_stochastic(self, X, y_engine, y_score, sample_weight, incremental, rng_shuffle, rng_split) -> None:
        model = self.model_
        validation = None
        if self.early_stopping:
            train, val = self._split(X.shape[0], y_score, rng_split)
            w_val = None if sample_weight is None else sample_weight[val]
            validation = (X[val], y_score[val], w_val)
            X, y_engine = X[train], y_engine[train]
            sample_weight = None if sample_weight is None else sample_weight[train]

        n = self._n_train = X.shape[0]
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

        schedule = _SklearnSchedule(self, n, validation)
        trainer = Trainer(model, self._loss, self._optimizer, batch_size=batch_size,
                          epochs=1 if incremental else int(self.max_iter), seed=rng_shuffle,
                          shuffle=bool(self.shuffle), callbacks=[schedule, *(self.callbacks or ())])
        trainer.history = self.history_   # one History across fit / partial_fit calls
        trainer.epoch = len(self.history_)
        diverged = False
        try:
            # overflow on the way to divergence is reported once, below
            with np.errstate(over="ignore", invalid="ignore"):
                trainer.fit(X, y_engine, sample_weight=sample_weight)
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        except TrainingDiverged as exc:
            self._end_diverged(exc)
            diverged = True
        if not incremental and not diverged and not schedule.converged and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the "
                          "optimization hasn't converged yet.", ConvergenceWarning)
        if self.early_stopping:
            model.set_state(self._best_state)
            self._best_state = None

    def _lbfgs_objective(self, X, y, sample_weight, loss_fn: Loss | None = None):
        """``f(θ) -> (value, gradient)`` over the flat parameter vector ``θ`` (float64), for L-BFGS-B.

        ``θ`` is every Parameter of the model raveled in ``model.parameters()`` order. One call
        writes ``θ`` into the model, runs the full-batch forward and backward pass and returns::

            value = loss(model(X), y; w)  +  α ‖W‖² / (2 S)         (S = Σ w, or N)
            ∂/∂W  = (back-propagated gradient) + α W / S             (weights; biases and norms: no L2)
        """
        model, loss_fn = self.model_, loss_fn or self._make_loss()
        params = model.parameters()
        scale = _l2_scale(float(self.alpha), X.shape[0], sample_weight)
        bounds = np.cumsum([0] + [p.data.size for p in params])

        def f(theta: np.ndarray) -> tuple[float, np.ndarray]:
            for p, a, b in zip(params, bounds[:-1], bounds[1:]):
                p.data[...] = theta[a:b].reshape(p.data.shape)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                value = loss_fn.forward(model.forward(X, training=True), y, sample_weight)
                model.backward(loss_fn.backward(), input_grad=False)
            value += 0.5 * scale * _squared_norm(self._decayed)
            grad = _flat(p.grad + scale * p.data if p.decay else p.grad for p in params)
            return float(value), grad

        return f

    def _fit_lbfgs(self, X, y_engine, sample_weight) -> None:
        """scikit-learn's lbfgs solver: L-BFGS-B on the full-batch objective, at most ``max_iter``
        iterations and ``max_fun`` function evaluations, stopping when the largest gradient entry
        is ≤ ``tol`` (scipy's ``gtol``). BatchNorm layers normalise with the statistics of the whole
        data set, and keep them as their running statistics for prediction."""
        model = self.model_
        self._n_train = X.shape[0]
        self.__dict__.pop("_optimizer", None)   # no partial_fit after lbfgs; the loss is not kept either
        f = self._lbfgs_objective(X, y_engine, sample_weight)
        losses: list[float] = []
        theta = {"x": _flat(p.data for p in model.parameters())}

        def after_iteration(intermediate_result):
            losses.append(float(intermediate_result.fun))
            theta["x"] = intermediate_result.x
            self._say(f"Iteration {len(losses)}, loss = {losses[-1]:.8f}")

        try:
            result = minimize(f, theta["x"], method="L-BFGS-B", jac=True, callback=after_iteration,
                              options={"maxfun": int(self.max_fun), "maxiter": int(self.max_iter),
                                       "gtol": float(self.tol)})
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
            f(theta["x"])  # the weights of the last completed iteration
            self._end_lbfgs(None, losses)
            return
        value, _ = f(result.x)   # leaves the model at the solution (the last evaluation may be elsewhere)
        norms = [layer for layer in model.layers if isinstance(layer, BatchNorm)]
        if norms:               # running statistics := the statistics of the whole data set
            momenta = [layer.momentum for layer in norms]
            for layer in norms:
                layer.momentum = 1.0
            model.forward(X, training=True)
            for layer, m in zip(norms, momenta):
                layer.momentum = m
        if not all(np.isfinite(p.data).all() for p in model.parameters()) or not np.isfinite(value):
            raise ValueError("Solver produced non-finite parameter weights. The input data may contain large "
                             "values and need to be preprocessed.")
        self._end_lbfgs(result, losses)

    def _scores(self, X) -> np.ndarray:
        """Engine scores ``(N, n_outputs_)`` for validated ``X``, in the model's dtype."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, accept_sparse=["csr", "csc"], dtype=(np.float64, np.float32))
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
        tags.input_tags.sparse = True
        return tags


_COMMON_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Width of each hidden layer; ``()`` gives a linear model.
    activation : {'identity', 'logistic', 'tanh', 'relu', 'leaky_relu'}, default='relu'
        Hidden activation (``leaky_relu``: slope 0.01 for negative inputs; ``sigmoid`` is accepted
        as another name of ``logistic``): the engine's table ``mlplab.model.ACTIVATIONS``.
    solver : {'lbfgs', 'sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam', 'adamw'}, default='adam'
        ``'lbfgs'``: scipy's L-BFGS-B on the full-batch objective (small data sets; no
        ``partial_fit``, no dropout; ``max_iter`` iterations, ``max_fun`` function evaluations,
        ``tol`` on the largest gradient entry). The others are engine optimizers on mini-batches.
        ``'sgd'`` is scikit-learn's: plain SGD when ``momentum=0``, else momentum (Nesterov when
        ``nesterovs_momentum``). ``'rmsprop'`` uses ``beta_2`` as its decay ``ρ``;
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
        Epochs (scikit-learn's "iterations"); for ``'lbfgs'``, L-BFGS iterations.
    shuffle : bool, default=True
    random_state : None, int, RandomState or numpy Generator, default=None
        Seeds a numpy ``Generator`` from which the initial weights, dropout masks, shuffling and the
        early-stopping split all derive.
    tol : float, default=1e-4
        Improvement per epoch below which an epoch counts as "no improvement"; for ``'lbfgs'``,
        scipy's ``gtol``.
    verbose : bool or int, default=False
        Print scikit-learn's progress lines on standard output: ``Iteration N, loss = …`` per
        epoch (per L-BFGS iteration for ``'lbfgs'``), ``Validation score: …`` with
        ``early_stopping``, and the reason training stopped.
    warm_start : bool, default=False
    momentum : float in [0, 1), default=0.9
    nesterovs_momentum : bool, default=True
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data (stratified for single-label classification),
        stop when its score does not improve by ``tol`` for ``n_iter_no_change`` epochs, and keep the
        best weights. If the loss diverges, the epoch's score is recorded as NaN, training stops
        and the best weights are kept (with a ``ConvergenceWarning``). Ignored by ``'lbfgs'``.
    validation_fraction : float, default=0.1
    beta_1, beta_2 : float in [0, 1), default=0.9, 0.999
    epsilon : float, default=1e-8
    n_iter_no_change : int or inf, default=10
    max_fun : int, default=15000
        ``'lbfgs'`` only: at most this many evaluations of the objective.
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
        Mean training loss of the last epoch, L2 term included (for ``'lbfgs'``, the final objective).
    loss_curve_ : list of float
        ``loss_`` per epoch; for ``'lbfgs'``, the objective after each L-BFGS iteration
        (scikit-learn leaves it unset for ``'lbfgs'``).
    validation_scores_ : list of float or None
        Score on the held-out set per epoch (``early_stopping`` only; ``nan`` for an epoch that diverged).
    best_validation_score_ : float or None
    best_loss_ : float or None
        Lowest ``loss_`` so far (None with ``early_stopping``).
    n_iter_ : int
        Epochs run by the last ``fit`` (1 after ``partial_fit``); L-BFGS iterations for ``'lbfgs'``.
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
        ``'softmax'``, ``'logistic'``, ``'identity'`` or ``'exp'`` (``loss='poisson'``).
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
    hashable values (strings included); ``classes_`` holds them sorted. ``X`` may be a dense array
    or a scipy.sparse CSR/CSC matrix or array.
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
                 beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000,
                 normalization=None, dropout=0.0, weight_init="auto", dtype="auto", callbacks=None) -> None:
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            normalization=normalization, dropout=dropout, weight_init=weight_init, dtype=dtype,
            callbacks=callbacks)

    # ------------------------------------------------------------------ targets
    def _multilabel(self) -> bool:
        return self._label_binarizer.y_type_.startswith("multilabel")

    def _validate_targets(self, y, *, incremental):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
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
        if self._multilabel():
            Y = np.asarray(Y)
            return Y, Y                                        # (N, K) indicator
        return Y[:, 0], y                                      # binary: (N,) in {0, 1}

    def _n_engine_outputs(self) -> int:
        lb = self._label_binarizer
        return len(lb.classes_) if lb.y_type_ == "multiclass" or self._multilabel() else 1

    def _make_loss(self) -> Loss:
        return SoftmaxCrossEntropy() if self._label_binarizer.y_type_ == "multiclass" else BinaryCrossEntropy()

    def _stratify(self) -> bool:
        return not self._multilabel()

    def _check_stratifiable(self, y) -> None:
        # scikit-learn stratifies binary targets on the label-binarized column, whose values it
        # prints as 'True'/'False'; a class with one member is an error there, and so here.
        if self._label_binarizer.y_type_ != "binary" or len(self.classes_) != 2:
            return
        keys = np.where(np.asarray(y) == self.classes_[1], "True", "False")
        names, counts = np.unique(keys, return_counts=True)
        if counts.min() < 2:
            few = names[counts < 2].tolist()
            labels = [self.classes_[1] if k == "True" else self.classes_[0] for k in few]
            raise ValueError("The least populated classes in y have only 1 member, which is too few. The minimum "
                             "number of groups for any class cannot be less than 2. Classes with too few members "
                             f"are: {few} (label {', '.join(map(repr, labels))}: early_stopping holds out a "
                             "stratified validation set; turn it off or add samples of that class)")

    def _labels_from_scores(self, scores: np.ndarray) -> np.ndarray:
        lb = self._label_binarizer
        if lb.y_type_ == "multiclass":
            return self.classes_[np.argmax(scores, axis=1)]
        if self._multilabel():
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
        """Train on ``X (n_samples, n_features)`` (dense, or scipy.sparse CSR/CSC) and labels
        ``y (n_samples,)`` or a multilabel indicator ``(n_samples, n_labels)``;
        ``sample_weight (n_samples,)`` weights each sample's loss. Returns ``self``."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None) -> "MLPClassifier":
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state.

        ``classes`` (every label that will ever appear) is required on the first call, except for
        multilabel indicator targets, where it is the column indices ``0 … n_labels - 1``; ``y``
        need not contain all of them. Not available with ``solver='lbfgs'``.
        """
        multilabel = type_of_target(y).startswith("multilabel")
        if not hasattr(self, "classes_"):
            if classes is None and not multilabel:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            lb = LabelBinarizer().fit(y if multilabel else classes)
            if multilabel and classes is not None and not np.array_equal(lb.classes_, unique_labels(classes)):
                raise ValueError(f"For multilabel y, classes must be the column indices {lb.classes_.tolist()} "
                                 f"of y; got classes={classes!r}.")
            self._label_binarizer, self.classes_ = lb, lb.classes_
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
        if self._multilabel():
            return p
        if len(self.classes_) == 1:
            return np.ones_like(p)
        return np.hstack([1 - p, p])

    def predict_log_proba(self, X) -> np.ndarray:
        """``log predict_proba(X)``, as scikit-learn computes it (``-inf`` where a probability
        underflows to 0), so that it ranks classes exactly as ``predict_proba`` does."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


# ---------------------------------------------------------------------------- regressor

class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """Multi-layer perceptron regressor, scikit-learn compatible, trained by mlplab's engine.

    ``loss="squared_error"``: a linear output (``out_activation_ = 'identity'``) and scikit-learn's
    squared error ``½ mean_j mean_n (s_nj - y_nj)²`` (gradient ``(s - y) / N``). ``loss="poisson"``:
    an exponential output (``out_activation_ = 'exp'``, predictions ``exp(s)``) and half the Poisson
    deviance, for counts and rates ``y ≥ 0``. Both plus the L2 term. ``y`` may be ``(n_samples,)`` or
    ``(n_samples, n_targets)``; ``X`` dense, or a scipy.sparse CSR/CSC matrix or array.
    """ + _COMMON_DOC.replace("    Parameters\n    ----------\n", "    Parameters\n    ----------\n"
                              "    loss : {'squared_error', 'poisson'}, default='squared_error'\n"
                              "        Half the squared error, or half the Poisson deviance with a log link.\n") \
        + _COMMON_ATTRS

    _parameter_constraints: dict = {**_BaseMLP._parameter_constraints,
                                    "loss": [StrOptions({"squared_error", "poisson"})]}

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001,
                 power_t=0.5, max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False,
                 warm_start=False, momentum=0.9, nesterovs_momentum=True, early_stopping=False,
                 validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8, n_iter_no_change=10,
                 max_fun=15000, normalization=None, dropout=0.0, weight_init="auto", dtype="auto",
                 callbacks=None) -> None:
        self.loss = loss
        super().__init__(
            hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
            learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
            max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
            warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
            early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
            beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
            normalization=normalization, dropout=dropout, weight_init=weight_init, dtype=dtype,
            callbacks=callbacks)

    def _validate_targets(self, y, *, incremental):
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not np.issubdtype(y.dtype, np.floating):
            y = check_array(y, ensure_2d=False, dtype=np.float64, input_name="y")  # e.g. strings: sklearn's message
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError("Some value(s) of y are negative which is not allowed for Poisson regression "
                             "(loss='poisson' models counts and rates y >= 0).")
        self.out_activation_ = "exp" if self.loss == "poisson" else "identity"
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if hasattr(self, "model_") and (self.warm_start or incremental) and n_out != self.n_outputs_:
            raise ValueError(f"y has {n_out} targets, but {type(self).__name__} was fitted with {self.n_outputs_}.")
        self._n_out = n_out
        return y, y

    def _n_engine_outputs(self) -> int:
        return self._n_out

    def _make_loss(self) -> Loss:
        return PoissonDeviance() if self.loss == "poisson" else _SquaredLoss()

    def _from_scores(self, scores: np.ndarray) -> np.ndarray:
        pred = np.exp(scores) if self.out_activation_ == "exp" else scores
        return pred[:, 0] if pred.shape[1] == 1 else pred

    def _validation_score(self, X, y, sample_weight) -> float:
        with np.errstate(over="ignore"):
            pred = self._from_scores(self.model_.decision_function(X))
        if not np.isfinite(pred).all():
            return float("nan")
        return float(r2_score(y, pred, sample_weight=sample_weight))

    def fit(self, X, y, sample_weight=None) -> "MLPRegressor":
        """Train on ``X (n_samples, n_features)`` (dense, or scipy.sparse CSR/CSC) and targets
        ``y (n_samples,)`` or ``(n_samples, n_targets)``; ``sample_weight (n_samples,)`` weights each
        sample's loss."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None) -> "MLPRegressor":
        """One epoch over ``(X, y)``, continuing from the current weights and optimizer state
        (not available with ``solver='lbfgs'``)."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n_samples,)`` (one target) or ``(n_samples, n_targets)``, in the model's dtype:
        the scores, or ``exp(scores)`` for ``loss='poisson'``."""
        return self._from_scores(self._scores(X))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# ---------------------------------------------------------------------------- ONNX (mlplab.onnx)

def _onnx_shape_calculator(self):
    """skl2onnx's hook: ``skl2onnx.to_onnx(est_or_pipeline, X[:1])`` finds the converter through it."""
    from .onnx import skl2onnx_shape_calculator
    return skl2onnx_shape_calculator


def _onnx_converter(self):
    """skl2onnx's hook, see :func:`mlplab.onnx.skl2onnx_converter`."""
    from .onnx import skl2onnx_converter
    return skl2onnx_converter


_BaseMLP.onnx_shape_calculator = _onnx_shape_calculator
_BaseMLP.onnx_converter = _onnx_converter
