"""The teacher's side of the exercise notebooks: solutions, and mistakes to inject.

Each module here (``dense.py``, ``adam.py``...) is the complete source of one student cell, with
the part the student writes between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The student
notebooks in ``notebooks/exercises/`` hold the same cell with that part replaced by
``# YOUR CODE HERE`` and ``raise NotImplementedError`` (:func:`student_source`); ``mlplab exercises
solutions DIR`` writes copies with the solutions filled in (:func:`solution_source`), and with
``--mistake NAME`` one classic mistake injected (:data:`INJECTIONS`), to show what the checks say.
Cells are found by their id: ``exercise-NAME`` for the cell to complete, ``check-NAME`` for its check.
"""
from __future__ import annotations

import re
from importlib import resources
from typing import NamedTuple

__all__ = [
    "EXERCISES",
    "INJECTIONS",
    "NOTEBOOKS",
    "Exercise",
    "Injection",
    "check_source",
    "injected_source",
    "solution_source",
    "student_source",
]


class Exercise(NamedTuple):
    notebook: str   # file stem in notebooks/exercises/
    check: str      # the expression of the check cell


EXERCISES: dict[str, Exercise] = {
    "sigmoid": Exercise("01-functions-and-dense", 'ex.check_function(sigmoid, like="sigmoid")'),
    "softmax": Exercise("01-functions-and-dense", 'ex.check_function(softmax, like="softmax")'),
    "dense": Exercise("01-functions-and-dense", 'ex.check_layer(Dense(5, 3, rng=0), like="Dense")'),
    "relu": Exercise("02-activations-and-loss", 'ex.check_layer(ReLU(), like="ReLU")'),
    "sigmoid_layer": Exercise("02-activations-and-loss", 'ex.check_layer(Sigmoid(), like="Sigmoid")'),
    "softmax_cross_entropy": Exercise("02-activations-and-loss",
                                      'ex.check_layer(SoftmaxCrossEntropy(), like="SoftmaxCrossEntropy")'),
    "mse": Exercise("02-activations-and-loss", 'ex.check_layer(MeanSquaredError(), like="MeanSquaredError")'),
    "sgd": Exercise("03-optimizers", 'ex.check_optimizer(SGD(lr=0.01), like="SGD")'),
    "momentum": Exercise("03-optimizers", 'ex.check_optimizer(Momentum(lr=0.01, momentum=0.9), like="Momentum")'),
    "adagrad": Exercise("03-optimizers", 'ex.check_optimizer(AdaGrad(lr=0.01), like="AdaGrad")'),
    "rmsprop": Exercise("03-optimizers", 'ex.check_optimizer(RMSProp(lr=0.001, rho=0.99), like="RMSProp")'),
    "adam": Exercise("03-optimizers", 'ex.check_optimizer(Adam(lr=0.001), like="Adam")'),
    "batchnorm": Exercise("04-batchnorm-and-dropout", 'ex.check_layer(BatchNorm(6), like="BatchNorm")'),
    "dropout": Exercise("04-batchnorm-and-dropout", 'ex.check_layer(Dropout(p=0.3, rng=0), like="Dropout")'),
}

NOTEBOOKS = sorted({e.notebook for e in EXERCISES.values()})


class Injection(NamedTuple):
    """A classic mistake written into a solution: ``(old, new)`` text replacements in its source;
    the check of that exercise must name ``mistake``."""

    exercise: str
    mistake: str
    replace: tuple[tuple[str, str], ...]


def _inj(exercise: str, mistake: str, *pairs: tuple[str, str]) -> Injection:
    return Injection(exercise, mistake, tuple(pairs))


INJECTIONS: dict[str, Injection] = {f"{i.exercise}:{i.mistake}": i for i in [
    _inj("sigmoid", "sigmoid_overflow",
         ("e = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))",
          "return 1 / (1 + np.exp(-x))")),
    _inj("sigmoid", "sigmoid_nan",
         ("e = np.exp(-np.abs(x))\n    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))",
          "return np.exp(x) / (1 + np.exp(x))")),
    _inj("softmax", "softmax_no_max", ("np.exp(x - np.max(x, axis=-1, keepdims=True))", "np.exp(x)")),
    _inj("softmax", "softmax_global_max", ("np.exp(x - np.max(x, axis=-1, keepdims=True))", "np.exp(x - np.max(x))")),
    _inj("softmax", "softmax_wrong_axis", ("axis=-1", "axis=0"), ("axis=-1", "axis=0")),
    _inj("dense", "dW_transposed", ("self.weight.grad = dy.T @ self.x", "self.weight.grad = self.x.T @ dy")),
    _inj("dense", "db_not_summed", ("self.bias.grad = dy.sum(axis=0)", "self.bias.grad = dy")),
    _inj("dense", "forward_no_bias", ("return x @ self.weight.data.T + self.bias.data", "return x @ self.weight.data.T")),
    _inj("relu", "relu_mask_after",
         ("self.mask = x <= 0\n        out = x.copy()\n        out[self.mask] = 0",
          "out = x\n        out[x < 0] = 0\n        self.mask = x < 0")),
    _inj("relu", "relu_mask_from_gradient", ("dx[self.mask] = 0", "dx[dy <= 0] = 0")),
    _inj("sigmoid_layer", "sigmoid_grad_missing_factor", ("return dy * self.y * (1 - self.y)", "return dy * self.y")),
    _inj("softmax_cross_entropy", "loss_grad_missing_mean", ("return grad / n", "return grad")),
    _inj("softmax_cross_entropy", "softmax_no_max",
         ("shifted = scores - np.max(scores, axis=1, keepdims=True)", "shifted = scores")),
    _inj("softmax_cross_entropy", "ce_grad_no_target", ("        grad[np.arange(n), self.y] -= 1\n", "")),
    _inj("mse", "loss_grad_missing_mean", ("return 2 * self.diff / self.diff.size", "return 2 * self.diff")),
    _inj("mse", "mse_missing_factor_2", ("return 2 * self.diff / self.diff.size", "return self.diff / self.diff.size")),
    _inj("mse", "mse_mean_over_batch_only",
         ("return 2 * self.diff / self.diff.size", "return 2 * self.diff / self.diff.shape[0]")),
    _inj("sgd", "sign_flipped", ("params[key] -= self.lr * grads[key]", "params[key] += self.lr * grads[key]")),
    _inj("momentum", "momentum_sign_flipped", ("self.momentum * self.v[key] - self.lr * grads[key]",
                                               "self.momentum * self.v[key] + self.lr * grads[key]")),
    _inj("momentum", "momentum_no_state", ("if self.v is None:", "if True:")),
    _inj("adagrad", "eps_inside_sqrt", ("(np.sqrt(self.h[key]) + self.eps)", "np.sqrt(self.h[key] + self.eps)")),
    _inj("rmsprop", "eps_inside_sqrt", ("(np.sqrt(self.h[key]) + self.eps)", "np.sqrt(self.h[key] + self.eps)")),
    _inj("rmsprop", "rmsprop_rho_swapped", ("self.rho * self.h[key] + (1 - self.rho) * grads[key] ** 2",
                                            "(1 - self.rho) * self.h[key] + self.rho * grads[key] ** 2")),
    _inj("adam", "adam_no_bias_correction",
         ("self.m[key] / (1 - self.beta1 ** self.t)", "self.m[key]"),
         ("self.v[key] / (1 - self.beta2 ** self.t)", "self.v[key]")),
    _inj("adam", "adam_eps_inside_sqrt", ("(np.sqrt(v_hat) + self.eps)", "np.sqrt(v_hat + self.eps)")),
    _inj("adam", "adam_eps_uncorrected",
         ("params[key] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)",
          ("lr_t = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)\n"
          "            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + self.eps)"))),
    _inj("adam", "adam_t_per_parameter",
         ("self.t += 1\n        for key in params:\n", "for key in params:\n            self.t += 1\n")),
    _inj("batchnorm", "bn_unbiased_in_normalization",
         ("var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)"), ("m * var * n / max(n - 1, 1)", "m * var")),
    _inj("batchnorm", "bn_biased_running_var", ("m * var * n / max(n - 1, 1)", "m * var")),
    _inj("batchnorm", "bn_backward_constant_stats", ("if not self.training:", "if True:")),
    _inj("dropout", "dropout_not_rescaled",
         ("(self.rng.random(x.shape) >= self.p) / (1 - self.p)", "(self.rng.random(x.shape) >= self.p)")),
    _inj("dropout", "dropout_keep_drop_swapped", ("self.rng.random(x.shape) >= self.p", "self.rng.random(x.shape) < self.p")),
]}

_BLOCK = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION\n", re.DOTALL | re.MULTILINE)
_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION\n", re.MULTILINE)


def _raw(name: str) -> str:
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; expected one of {', '.join(EXERCISES)}")
    return resources.files(__name__).joinpath(f"{name}.py").read_text(encoding="utf-8")


def solution_source(name: str) -> str:
    """The filled-in cell of exercise ``name`` (the solution markers removed)."""
    return _MARKERS.sub("", _raw(name)).rstrip("\n")


def student_source(name: str) -> str:
    """The cell as the student gets it: every solution block replaced by ``# YOUR CODE HERE`` and
    ``raise NotImplementedError``."""
    return _BLOCK.sub(lambda m: f"{m.group(1)}# YOUR CODE HERE\n{m.group(1)}raise NotImplementedError\n",
                      _raw(name)).rstrip("\n")


def injected_source(key: str) -> str:
    """The solution of an exercise with the classic mistake ``key`` (``"exercise:mistake"``) written in."""
    if key not in INJECTIONS:
        raise ValueError(f"unknown mistake {key!r}; expected one of {', '.join(INJECTIONS)}")
    inj = INJECTIONS[key]
    src = solution_source(inj.exercise)
    for old, new in inj.replace:
        if old not in src:
            raise RuntimeError(f"mistake {key}: {old!r} is not in the solution of {inj.exercise}")
        src = src.replace(old, new, 1)
    return src


def check_source(name: str) -> str:
    """The check cell of exercise ``name``: runs the check and shows its result."""
    return f"{name}_check = {EXERCISES[name].check}\n{name}_check"
