"""Exercises: students write the layers, losses and optimizers; mlplab checks them and names their
mistakes.

>>> import mlplab.exercises as ex
>>> result = ex.check_layer(MyDense(5, 3), like="Dense")   # doctest: +SKIP
>>> result.passed, result.mistakes                          # doctest: +SKIP
(False, {'dW_transposed'})
>>> print(result)                                           # doctest: +SKIP
Dense check of MyDense: FAILED, 1 problem
  ERROR   dW: transposed weight gradient. dW must have the layout of W: ... [seen for batch of 1, ...]

* :func:`check_layer` compares a student's layer or loss with mlplab's reference of the same kind,
* :func:`check_function` a stable ``sigmoid``/``softmax`` function,
* :func:`check_optimizer` an optimizer's updates, step by step,
* :func:`as_layer` puts a student's layer written in the book's style into :class:`mlplab.Sequential`.

Every check returns a :class:`CheckResult`: ``passed``, ``findings`` (one per problem, in plain
words), ``mistakes`` (codes from :data:`MISTAKES`); it prints as text and shows as a table in a
notebook. How student classes expose their parameters: :mod:`mlplab.exercises.adapters`.
The exercise notebooks and the teacher's ``mlplab exercises solutions DIR``: ``docs/exercises.md``.
"""
from __future__ import annotations

from .adapters import StudentLayer, as_layer
from .catalog import MISTAKES, Mistake
from .layer_checks import (
    check_activation,
    check_batchnorm,
    check_dense,
    check_dropout,
    check_layernorm,
)
from .loss_checks import check_function, check_loss
from .optimizer_checks import OPTIMIZER_HYPER, check_optimizer
from .report import CheckResult, Finding

__all__ = [
    "LAYER_KINDS",
    "MISTAKES",
    "OPTIMIZER_HYPER",
    "CheckResult",
    "Finding",
    "Mistake",
    "StudentLayer",
    "as_layer",
    "check_function",
    "check_layer",
    "check_optimizer",
]

#: what ``like=`` accepts in :func:`check_layer`, and the other spellings understood for each
LAYER_KINDS = {
    "Dense": ("dense", "affine", "linear", "fullyconnected"),
    "ReLU": ("relu",),
    "Sigmoid": ("sigmoid", "logistic"),
    "Tanh": ("tanh",),
    "LeakyReLU": ("leakyrelu",),
    "BatchNorm": ("batchnorm", "batchnormalization", "batchnorm1d"),
    "LayerNorm": ("layernorm", "layernormalization"),
    "Dropout": ("dropout",),
    "SoftmaxCrossEntropy": ("softmaxcrossentropy", "softmaxwithloss", "crossentropy", "softmaxloss"),
    "MeanSquaredError": ("meansquarederror", "mse", "mseloss"),
}


def _kind(like: str) -> str:
    key = str(like).lower().replace("_", "").replace("-", "").replace(" ", "")
    for name, spellings in LAYER_KINDS.items():
        if key in spellings:
            return name
    raise ValueError(f"check_layer does not know like={like!r}; expected one of {', '.join(LAYER_KINDS)}")


def check_layer(student, like: str = "Dense", seed: int = 0) -> CheckResult:
    """Check a student's layer (or loss) against mlplab's reference ``like``.

    ``student`` is an instance, in mlplab's style or the book's (see
    :mod:`mlplab.exercises.adapters`); a loss may also be a CS231n-style function
    ``f(scores, y) -> (loss, dscores)``. The reference is built with the student's settings (sizes,
    ``momentum``, ``eps``, ``p``, ``slope``); seeded values are copied into the student's
    parameters for the check and the student's own values put back afterwards.
    """
    kind = _kind(like)
    if isinstance(student, type):
        raise TypeError(f"pass an instance of {student.__name__}, e.g. {student.__name__}(...), not the class")
    if kind in ("SoftmaxCrossEntropy", "MeanSquaredError"):
        result = check_loss(student, kind, seed)
    elif not (callable(getattr(student, "forward", None)) and callable(getattr(student, "backward", None))):
        raise TypeError(f"{type(student).__name__} has no forward and backward methods; a layer needs both")
    elif kind == "Dense":
        result = check_dense(student, seed)
    elif kind in ("ReLU", "Sigmoid", "Tanh", "LeakyReLU"):
        result = check_activation(student, kind, seed)
    elif kind == "BatchNorm":
        result = check_batchnorm(student, seed)
    elif kind == "LayerNorm":
        result = check_layernorm(student, seed)
    else:
        result = check_dropout(student, seed)
    errors = result.errors()
    if any(f.what.startswith("forward") for f in errors) and any(not f.what.startswith("forward") for f in errors):
        result.note("order", "fix the forward pass first: the backward results are compared with the reference's, "
                    "and a backward that follows a wrong forward differs too")
    return result
