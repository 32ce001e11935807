"""Classification metrics."""
from __future__ import annotations

import numpy as np

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy", "classification_report"]


def _labels(y, name):
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot or probability rows
        y = np.argmax(y, axis=1)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D labels or 2-D one-hot rows, got shape {y.shape}")
    return y


def accuracy(y_true, y_pred) -> float:
    """Fraction of samples whose predicted class equals the true class."""
    y_true, y_pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {y_true.shape[0]} and {y_pred.shape[0]}")
    if y_true.size == 0:
        raise ValueError("accuracy of an empty set is undefined")
    return float(np.mean(y_true == y_pred))


def confusion_matrix(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of samples of true class ``i`` predicted as ``j``; shape ``(K, K)``."""
    y_true = _labels(y_true, "y_true").astype(np.int64)
    y_pred = _labels(y_pred, "y_pred").astype(np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {y_true.shape[0]} and {y_pred.shape[0]}")
    k = n_classes if n_classes is not None else int(max(y_true.max(initial=-1), y_pred.max(initial=-1))) + 1
    return np.bincount(y_true * k + y_pred, minlength=k * k).reshape(k, k)


def per_class_accuracy(y_true, y_pred, n_classes: int | None = None) -> np.ndarray:
    """Recall of each class: correct predictions of class ``i`` / samples of class ``i`` (NaN if none)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.diag(cm) / cm.sum(axis=1)


def classification_report(y_true, y_pred, class_names=None) -> str:
    """A Markdown table of per-class precision, recall (= per-class accuracy) and support."""
    cm = confusion_matrix(y_true, y_pred, None if class_names is None else len(class_names))
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    lines = ["| class | precision | recall | support |", "|---|---:|---:|---:|"]
    for i in range(k):
        tp = cm[i, i]
        prec = tp / cm[:, i].sum() if cm[:, i].sum() else float("nan")
        rec = tp / cm[i].sum() if cm[i].sum() else float("nan")
        lines.append(f"| {names[i]} | {prec:.3f} | {rec:.3f} | {cm[i].sum()} |")
    lines.append(f"| **all** | | **{np.trace(cm) / cm.sum():.3f}** (accuracy) | {cm.sum()} |")
    return "\n".join(lines)
