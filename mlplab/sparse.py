"""Sparse input: scipy.sparse CSR/CSC matrices and arrays as ``X``, never densified.

Only the first layer of a model sees the data, and only a ``Dense`` layer can take it sparse: it
multiplies the sparse matrix directly, and everything after it is dense::

    y  = x Wᵀ + b          x sparse (N, D), W (M, D)  →  y dense (N, M)
    dW = (xᵀ dy)ᵀ          xᵀ sparse (D, N) times dy dense (N, M)  →  (D, M), transposed to (M, D)

(``dx`` is never needed for a first layer). The Trainer draws its mini-batches as row subsets of a
CSR matrix (``X[idx]``), so the memory is that of the sparse data plus one dense batch of
activations. scipy is imported by whoever made the sparse matrix; this module does not import it.
"""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["issparse", "check_sparse", "check_model", "dense_forward", "dense_weight_grad"]


def issparse(x) -> bool:
    """Whether ``x`` is a scipy.sparse matrix or array. No such object can exist before
    ``scipy.sparse`` is imported, so the engine needs not import scipy to ask."""
    if isinstance(x, np.ndarray):   # the common case, answered first (Dense.forward asks every batch)
        return False
    sp = sys.modules.get("scipy.sparse")
    return sp is not None and sp.issparse(x)


def check_sparse(X, name: str = "X", dtype=None, n_features: int | None = None):
    """``X`` as a checked CSR matrix of ``dtype`` (any scipy.sparse format accepted): the engine's one
    input check, :func:`mlplab._validation.check_array` with ``accept_sparse=True`` (rank, emptiness,
    real dtype, NaN/inf among the stored values, feature count)."""
    from ._validation import check_array

    return check_array(X, name, dtype=dtype, n_features=n_features, accept_sparse=True)


def check_model(model, name: str = "X") -> None:
    """Raise unless the first layer of ``model`` is a ``Dense`` layer, the only layer that takes sparse input."""
    first = model.layers[0]
    if type(first).__name__ != "Dense" and not any(t.__name__ == "Dense" for t in type(first).__mro__):
        raise ValueError(f"sparse {name} needs a model whose first layer is Dense, got {type(first).__name__} "
                         f"(a scaler would densify it); convert with {name}.toarray() or build the model "
                         "without a scaler layer")


def dense_forward(x, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``y = x Wᵀ + b`` for sparse ``x (N, D)``, ``weight (M, D)``, ``bias (M,)``; ``y`` dense ``(N, M)``."""
    y = np.asarray(x @ weight.T)
    y += bias
    return y


def dense_weight_grad(x, dy: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``dW = (xᵀ dy)ᵀ`` for sparse ``x (N, D)`` and ``dy (N, M)``, written into ``out (M, D)``."""
    out[...] = np.asarray(x.T @ dy).T
    return out
