"""Matplotlib figures. All functions return the Figure and, given ``path``, write it atomically."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # files only; no screen needed
import matplotlib.pyplot as plt  # noqa: E402

from ._files import atomic_savefig  # noqa: E402

__all__ = ["training_curves", "save", "OPTIMIZER_COLORS", "optimizer_color", "OPTIMIZER_LABELS",
           "optimizer_label", "NORM_COLORS", "norm_color", "smooth_curve"]

#: one colour per optimizer, the same in every figure of every lab
OPTIMIZER_COLORS = {
    "sgd": "tab:blue", "momentum": "tab:orange", "nesterov": "tab:brown", "adagrad": "tab:green",
    "rmsprop": "tab:purple", "adam": "tab:red", "adamw": "tab:pink", "sklearn": "tab:gray",
}


def optimizer_color(name: str) -> str:
    return OPTIMIZER_COLORS.get(name.lower(), "black")


def save(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    atomic_savefig(fig, path, dpi=dpi, bbox_inches="tight")


def training_curves(history, title: str = "Training", val_label: str = "validation",
                    path: str | os.PathLike | None = None):
    """Loss (left) and accuracy (right) per epoch, training and validation."""
    epochs = history["epoch"]
    fig, (ax_l, ax_a) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    ax_l.plot(epochs, history["loss"], label="training", color="tab:blue")
    if any(v is not None for v in history["val_loss"]):
        ax_l.plot(epochs, history["val_loss"], label=val_label, color="tab:orange")
    ax_l.set(xlabel="epoch", ylabel="cross-entropy loss (per sample)", title="Loss")
    ax_l.set_yscale("log")
    ax_l.legend()
    ax_l.grid(alpha=0.3)
    if any(v is not None for v in history["accuracy"]):
        ax_a.plot(epochs, history["accuracy"], label="training", color="tab:blue")
        if any(v is not None for v in history["val_accuracy"]):
            ax_a.plot(epochs, history["val_accuracy"], label=val_label, color="tab:orange")
        ax_a.set(xlabel="epoch", ylabel="accuracy (fraction correct)", title="Accuracy")
        ax_a.legend(loc="lower right")
        ax_a.grid(alpha=0.3)
    fig.suptitle(title)
    if path is not None:
        save(fig, path)
    return fig


#: display names of the optimizers, the same in every legend and table
OPTIMIZER_LABELS = {
    "sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "adagrad": "AdaGrad",
    "rmsprop": "RMSProp", "adam": "Adam", "adamw": "AdamW", "sklearn": "scikit-learn",
}


def optimizer_label(name: str) -> str:
    return OPTIMIZER_LABELS.get(name.lower(), name)


#: one colour per normalization ("none", "batchnorm", "layernorm"), the same in every lab
NORM_COLORS = {"none": "0.35", "batchnorm": "tab:blue", "layernorm": "tab:green"}


def norm_color(name: str | None) -> str:
    return NORM_COLORS.get(str(name or "none").lower(), "black")


def smooth_curve(values, window: int = 11, beta: float = 2.0):
    """Values smoothed by a normalized Kaiser window of ``window`` points (as in "Deep Learning from
    Scratch"), same length as the input; the ends are padded by reflection. NaN stays NaN nearby."""
    import numpy as np

    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"smooth_curve expects a 1-D sequence, got shape {x.shape}")
    window = int(window)
    if window < 2 or x.size < 3:
        return x.copy()
    window = min(window, x.size)
    window -= 1 - window % 2  # odd, so the window is centred on each point
    half = window // 2
    w = np.kaiser(window, beta)
    padded = np.concatenate([x[half:0:-1], x, x[-2:-half - 2:-1]])
    return np.convolve(padded, w / w.sum(), mode="valid")
