"""Matplotlib figures of training runs, data and networks.

Every function builds its own :class:`Figure` (a ``matplotlib.figure.Figure``) and returns it; none
touches pyplot's global state or the backend, so importing mlplab or drawing a figure never changes
``matplotlib.get_backend()``. In Jupyter a returned figure shows inline (it renders itself as PNG);
elsewhere ``plots.save(fig, "curves.png")`` or ``fig.savefig(...)`` writes it through the figure's own
canvas. Given ``ax=``, a function draws into that Axes (of any figure, pyplot's too) and returns its
figure; given ``path=``, it also writes the figure atomically.

Figures: :func:`training_curves`, :func:`confusion_matrix`, :func:`sample_images`,
:func:`first_layer_weights`, :func:`activation_histograms`, :func:`decision_boundary`.
"""
from __future__ import annotations

import io as _io
import math
import os
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure as _MplFigure

from ._files import atomic_savefig

__all__ = ["Figure", "subplots", "save", "training_curves", "confusion_matrix", "sample_images",
           "first_layer_weights", "activation_histograms", "decision_boundary", "OPTIMIZER_COLORS",
           "optimizer_color", "OPTIMIZER_LABELS", "optimizer_label", "NORM_COLORS", "norm_color", "smooth_curve"]

#: resolution of the PNG a figure shows in Jupyter (small files, sharp enough on screen)
INLINE_DPI = 80


class Figure(_MplFigure):
    """A ``matplotlib.figure.Figure`` that shows itself inline in Jupyter (``_repr_png_``) without
    pyplot: IPython registers its own figure formatter only once pyplot is imported, and library code
    must not import pyplot. Saving works as for any Figure (``fig.savefig`` picks the canvas for the
    file format)."""

    def _repr_png_(self) -> bytes:
        buf = _io.BytesIO()
        self.savefig(buf, format="png", dpi=INLINE_DPI, bbox_inches="tight")
        return buf.getvalue()


def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, sharex=False, sharey=False, squeeze: bool = True,
             constrained_layout: bool = True, gridspec_kw: dict | None = None, subplot_kw: dict | None = None):
    """``(fig, axes)`` like ``pyplot.subplots``, but a free-standing :class:`Figure` that pyplot does not
    know about (nothing to close, no global state)."""
    fig = Figure(figsize=figsize, layout="constrained" if constrained_layout else None)
    axes = fig.subplots(nrows, ncols, sharex=sharex, sharey=sharey, squeeze=squeeze, gridspec_kw=gridspec_kw,
                        subplot_kw=subplot_kw)
    return fig, axes


def save(fig, path: str | os.PathLike, dpi: int = 120) -> None:
    """Write ``fig`` to ``path`` atomically (format from the suffix)."""
    atomic_savefig(fig, path, dpi=dpi, bbox_inches="tight")


def _axes(ax, figsize):
    """``(figure, ax)``: a new figure with one Axes, or the figure of the given Axes."""
    if ax is None:
        fig, ax = subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _finish(fig, path):
    if path is not None:
        save(fig, path)
    return fig


#: one colour per optimizer, the same in every figure of every lab
OPTIMIZER_COLORS = {
    "sgd": "tab:blue", "momentum": "tab:orange", "nesterov": "tab:brown", "adagrad": "tab:green",
    "rmsprop": "tab:purple", "adam": "tab:red", "adamw": "tab:pink", "sklearn": "tab:gray",
}


def optimizer_color(name: str) -> str:
    return OPTIMIZER_COLORS.get(name.lower(), "black")


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


# ----------------------------------------------------------------------------------- training curves

def _series(history, key: str) -> list:
    values = history[key]
    return [np.nan if v is None else v for v in values]


def _has(history, key: str) -> bool:
    try:
        return any(v is not None for v in history[key])
    except KeyError:
        return False


def training_curves(history, title: str | None = "Training", val_label: str = "validation",
                    path: str | os.PathLike | None = None, ax=None, log_loss: bool = True):
    """Loss and accuracy per epoch, training and validation, from a :class:`mlplab.History` (or any
    mapping of lists with the keys ``epoch, loss, accuracy, val_loss, val_accuracy``).

    ``ax=None``: two panels, loss (left, log scale) and accuracy (right). ``ax=`` one Axes: the loss
    on it and the accuracy on a second y axis (``ax.twinx()``, right); ``ax=(ax_loss, ax_acc)``: one
    each. Returns the Figure.
    """
    if len(history["epoch"]) == 0:
        raise ValueError("the history is empty: train for at least one epoch before plotting it")
    twin = False
    if ax is None:
        fig, (ax_l, ax_a) = subplots(1, 2, figsize=(10, 4))
    elif isinstance(ax, (list, tuple, np.ndarray)):
        if len(ax) != 2:
            raise ValueError(f"ax must be one Axes or a pair (loss, accuracy), got {len(ax)} Axes")
        ax_l, ax_a = ax
        fig = ax_l.figure
    else:
        fig, ax_l = ax.figure, ax
        ax_a = ax.twinx() if _has(history, "accuracy") else None
        twin = True
    epochs = history["epoch"]
    lines = ax_l.plot(epochs, _series(history, "loss"), label="training loss" if twin else "training",
                      color="tab:blue")
    if _has(history, "val_loss"):
        lines += ax_l.plot(epochs, _series(history, "val_loss"), label=f"{val_label} loss" if twin else val_label,
                           color="tab:orange")
    ax_l.set(xlabel="epoch", ylabel="loss (per sample)")
    if log_loss:
        ax_l.set_yscale("log")
    ax_l.grid(alpha=0.3)
    if not twin:
        ax_l.set_title("Loss")
        ax_l.legend()
    if ax_a is not None and _has(history, "accuracy"):
        style = {"ls": "--"} if twin else {}
        lines += ax_a.plot(epochs, _series(history, "accuracy"), label="training accuracy" if twin else "training",
                           color="tab:blue", **style)
        if _has(history, "val_accuracy"):
            lines += ax_a.plot(epochs, _series(history, "val_accuracy"), color="tab:orange",
                               label=f"{val_label} accuracy" if twin else val_label, **style)
        ax_a.set(ylabel="accuracy (fraction correct)")
        if not twin:
            ax_a.set(xlabel="epoch", title="Accuracy")
            ax_a.legend(loc="lower right")
            ax_a.grid(alpha=0.3)
    if twin:
        ax_l.legend(lines, [ln.get_label() for ln in lines], loc="center right", fontsize="small")
        if title:
            ax_l.set_title(title)
    elif title:
        fig.suptitle(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------- classification

def confusion_matrix(y_true, y_pred, class_names: Sequence[str] | None = None, normalize: bool = False,
                     title: str | None = "Confusion matrix", ax=None, path: str | os.PathLike | None = None):
    """The confusion matrix ``C[i, j]`` = samples of true class ``i`` predicted as ``j`` as a heat map
    with the counts written in the cells; ``normalize=True`` shows each row as fractions of its class
    (the recall of class ``i`` on the diagonal). Returns the Figure."""
    from . import metrics

    k = len(class_names) if class_names is not None else None
    cm = metrics.confusion_matrix(y_true, y_pred, n_classes=k)
    k = cm.shape[0]
    names = list(class_names) if class_names is not None else [str(i) for i in range(k)]
    values = cm.astype(np.float64)
    if normalize:
        values = values / np.maximum(values.sum(axis=1, keepdims=True), 1)
    fig, ax = _axes(ax, (0.5 * k + 2.5, 0.45 * k + 2))
    im = ax.imshow(values, cmap="Blues", vmin=0)
    fig.colorbar(im, ax=ax, shrink=0.8, label="fraction of the true class" if normalize else "samples")
    if k <= 20:
        top = values.max() if values.size else 0
        for i in range(k):
            for j in range(k):
                text = f"{values[i, j]:.2f}" if normalize else str(cm[i, j])
                ax.text(j, i, text, ha="center", va="center", fontsize=8 if k > 10 else 9,
                        color="white" if values[i, j] > 0.6 * top else "black")
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                  if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(k), names)
    ax.set(xlabel="predicted class", ylabel="true class")
    if title:
        ax.set_title(f"{title} (accuracy {np.trace(cm) / max(cm.sum(), 1):.3f})")
    return _finish(fig, path)


def _image_shape(n_values: int, image_shape) -> tuple[int, ...]:
    if image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
        if int(np.prod(shape)) != n_values:
            raise ValueError(f"image_shape {shape} holds {int(np.prod(shape))} values, but each sample has {n_values}")
        return shape
    side = math.isqrt(n_values)
    if side * side != n_values:
        raise ValueError(f"cannot tell the image shape of samples with {n_values} values; pass image_shape=(h, w)")
    return (side, side)


def _as_hwc(img: np.ndarray) -> np.ndarray:
    """An image of shape (h, w) or channels-first (c, h, w) as (h, w) or (h, w, c) for imshow."""
    if img.ndim == 3 and img.shape[0] in (1, 3) and img.shape[-1] not in (1, 3):
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    return img


def _montage(tiles: Sequence[np.ndarray], ncols: int, gap: int, fill: float) -> tuple[np.ndarray, int, int]:
    """Tiles of one shape laid out in rows of ``ncols`` with ``gap`` pixels between them."""
    h, w = tiles[0].shape[:2]
    nrows = math.ceil(len(tiles) / ncols)
    out = np.full((nrows * (h + gap) - gap, ncols * (w + gap) - gap) + tiles[0].shape[2:], fill, np.float64)
    for i, t in enumerate(tiles):
        r, c = divmod(i, ncols)
        out[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = t
    return out, h, w


def sample_images(X, y=None, predicted=None, class_names: Sequence[str] | None = None, n: int = 16,
                  ncols: int = 8, image_shape=None, seed=None, indices=None, title: str | None = None, ax=None,
                  path: str | os.PathLike | None = None):
    """A grid of ``n`` images from ``X`` (``(N, D)`` rows or ``(N, h, w[, c])``), each titled with its
    true label ``y`` and, if given, the ``predicted`` one (wrong predictions in red, "pred/true").

    The images are the first ``n``, the given ``indices``, or ``n`` drawn at random with ``seed``
    (``numpy.random.default_rng(seed)``). Returns the Figure."""
    X = np.asarray(X)
    if X.ndim < 2 or X.shape[0] == 0:
        raise ValueError(f"X must hold at least one sample in rows, got shape {X.shape}")
    if indices is None:
        n = min(int(n), X.shape[0])
        indices = (np.sort(np.random.default_rng(seed).choice(X.shape[0], n, replace=False)) if seed is not None
                   else np.arange(n))
    indices = np.asarray(indices, dtype=np.intp)
    for name, arr in (("y", y), ("predicted", predicted)):
        if arr is not None and len(arr) != X.shape[0]:
            raise ValueError(f"{name} has {len(arr)} entries for {X.shape[0]} samples")
    shape = _image_shape(int(np.prod(X.shape[1:])), image_shape) if X.ndim == 2 else X.shape[1:]
    tiles = [_as_hwc(np.asarray(X[i], dtype=np.float64).reshape(shape)) for i in indices]
    lo, hi = min(t.min() for t in tiles), max(t.max() for t in tiles)
    tiles = [(t - lo) / (hi - lo) if hi > lo else t * 0 for t in tiles]  # one grey scale for all
    ncols = max(1, min(int(ncols), len(tiles)))
    name = (lambda c: str(class_names[int(c)])) if class_names is not None else (lambda c: str(int(c)))
    gap = max(2, tiles[0].shape[0] // 3 + 1)
    background = 0.0 if tiles[0].ndim == 2 else 1.0  # white: 0 in the grey scale (dark ink on white), 1 in RGB
    grid, h, w = _montage(tiles, ncols, gap, fill=background)
    nrows = math.ceil(len(tiles) / ncols)
    fig, ax = _axes(ax, (1.1 * ncols + 0.4, 1.25 * nrows + 0.4 + (0.3 if title else 0)))
    # a top margin of one gap so that the first row's labels fit inside the Axes
    ax.imshow(np.concatenate([np.full((gap,) + grid.shape[1:], background), grid]),
              cmap="gray_r" if grid.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
    for k, i in enumerate(indices):
        r, c = divmod(k, ncols)
        label, color = "", "black"
        if predicted is not None:
            label = name(predicted[i])
            if y is not None:
                wrong = int(predicted[i]) != int(y[i])
                label = f"{label}/{name(y[i])}" if wrong else label
                color = "tab:red" if wrong else "tab:green"
        elif y is not None:
            label = name(y[i])
        ax.text(c * (w + gap) + w / 2, r * (h + gap) + gap - 0.8, label, ha="center", va="bottom", color=color,
                fontsize=8, clip_on=True)
    ax.set_axis_off()
    if title is None and predicted is not None and y is not None:
        title = "predicted (green if right; red: predicted/true)"
    if title:
        ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def first_layer_weights(model, image_shape=None, n: int | None = None, ncols: int = 10,
                        title: str | None = "First-layer weights", ax=None, path: str | os.PathLike | None = None):
    """The weights into each unit of the model's first ``Dense`` layer (a row of its ``(out, in)``
    weight matrix) drawn as an image of the input's shape: red where a bright pixel raises the unit,
    blue where it lowers it, each unit on its own symmetric scale. Returns the Figure."""
    from .layers import Dense

    dense = next((layer for layer in model.layers if isinstance(layer, Dense)), None)
    if dense is None:
        raise ValueError("the model has no Dense layer to draw")
    W = np.asarray(dense.weight.data, dtype=np.float64)
    n = W.shape[0] if n is None else min(int(n), W.shape[0])
    shape = _image_shape(W.shape[1], image_shape)
    tiles = []
    for row in W[:n]:
        scale = np.abs(row).max()
        tiles.append(_as_hwc(row.reshape(shape)) / (scale if scale > 0 else 1.0))
    if tiles[0].ndim == 3:  # colour inputs: map [-1, 1] to [0, 1] per channel
        tiles = [(t + 1) / 2 for t in tiles]
    ncols = max(1, min(int(ncols), n))
    grid, _, _ = _montage(tiles, ncols, gap=max(1, tiles[0].shape[0] // 8), fill=np.nan)
    nrows = math.ceil(n / ncols)
    fig, ax = _axes(ax, (0.9 * ncols + 0.4, 0.9 * nrows + 0.5))
    if grid.ndim == 2:
        ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.nan_to_num(grid, nan=1.0), interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(f"{title}: {n} of {W.shape[0]} units, {'x'.join(map(str, shape))} inputs", fontsize=10)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------- activations

def _activation_outputs(model, X) -> list[tuple[str, np.ndarray]]:
    """Outputs of every activation layer for the batch ``X`` in evaluation mode; the layers' cached
    arrays (what ``backward`` needs) are left as they were."""
    from .layers import Identity, LeakyReLU, ReLU, Sigmoid, Tanh

    kinds = (Sigmoid, Tanh, ReLU, LeakyReLU)
    x = np.asarray(X, dtype=model.dtype)
    outs, count = [], 0
    saved = [{k: v for k, v in vars(layer).items() if k.startswith("_")} for layer in model.layers]
    try:
        for layer in model.layers:
            x = layer.forward(x, training=False)
            if isinstance(layer, kinds) and not isinstance(layer, Identity):
                count += 1
                outs.append((f"layer {count} ({type(layer).__name__})", np.array(x, dtype=np.float64)))
    finally:
        for layer, cache in zip(model.layers, saved):
            vars(layer).update(cache)
    return outs


def activation_histograms(model, X, bins: int = 30, title: str | None = "Activations per hidden layer",
                          ax=None, path: str | os.PathLike | None = None):
    """Histograms of the outputs of every activation layer (sigmoid, tanh, ReLU) for the batch ``X``:
    the weight-scale lesson. With too large initial weights sigmoid units saturate at 0 and 1; with
    too small ones they all sit near 0.5 (sigmoid) or die at 0 (ReLU) deeper in the net.

    ``ax=None``: one panel per layer, side by side; ``ax=`` a sequence of one Axes per layer, or a
    single Axes on which the layers' histograms overlap (step outlines). Returns the Figure."""
    outs = _activation_outputs(model, X)
    if not outs:
        raise ValueError("the model has no activation layers (Sigmoid, Tanh, ReLU, LeakyReLU) to draw")
    lo = min(float(a.min()) for _, a in outs)
    hi = max(float(a.max()) for _, a in outs)
    edges = np.linspace(lo, hi if hi > lo else lo + 1, bins + 1)
    if ax is None:
        fig, axes = subplots(1, len(outs), figsize=(2.3 * len(outs) + 0.6, 2.6), sharey=True, squeeze=False)
        axes = list(axes[0])
    elif isinstance(ax, (list, tuple, np.ndarray)):
        axes = list(np.ravel(ax))
        if len(axes) != len(outs):
            raise ValueError(f"the model has {len(outs)} activation layers; got {len(axes)} Axes")
        fig = axes[0].figure
    else:
        fig, axes = ax.figure, None
    for i, (name, a) in enumerate(outs):
        if axes is None:
            ax.hist(a.ravel(), bins=edges, histtype="step", lw=1.5, label=name)
            continue
        axes[i].hist(a.ravel(), bins=edges, color="tab:blue")
        axes[i].set_title(name, fontsize=9)
        axes[i].set_xlabel("activation")
    if axes is None:
        ax.set(xlabel="activation", ylabel="count")
        ax.legend(fontsize="small")
        if title:
            ax.set_title(title)
    else:
        axes[0].set_ylabel(f"count ({outs[0][1].shape[0]} samples)")
        if title:
            fig.suptitle(title)
    return _finish(fig, path)


# ----------------------------------------------------------------------------------- toy data

def decision_boundary(model, X, y, resolution: int = 200, margin: float = 0.5, title: str | None = None,
                      class_names: Sequence[str] | None = None, ax=None, path: str | os.PathLike | None = None):
    """The classes a model predicts over the plane of a 2-D dataset (filled regions) with the samples
    ``X (N, 2)``, ``y (N,)`` on top, e.g. for :func:`mlplab.data.make_moons` or ``make_spiral``."""
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"decision_boundary draws 2-D data: X must have shape (N, 2), got {X.shape}")
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape ({X.shape[0]},), got {y.shape}")
    (x0, y0), (x1, y1) = X.min(axis=0) - margin, X.max(axis=0) + margin
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    pred = model.predict(grid).reshape(gx.shape)
    k = int(max(pred.max(), y.max())) + 1
    fig, ax = _axes(ax, (5, 4.4))
    ax.contourf(gx, gy, pred, levels=np.arange(k + 1) - 0.5, colors=[f"C{c % 10}" for c in range(k)], alpha=0.25)
    ax.contour(gx, gy, pred, levels=np.arange(k) + 0.5, colors="0.3", linewidths=0.8)
    for c in range(k):
        m = y == c
        if m.any():
            ax.scatter(X[m, 0], X[m, 1], s=12, color=f"C{c % 10}", edgecolors="white", linewidths=0.4,
                       label=str(class_names[c]) if class_names is not None else f"class {c}")
    acc = float(np.mean(model.predict(X) == y))
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="$x_1$", ylabel="$x_2$",
           title=title if title is not None else f"Decision regions (accuracy on these points {acc:.3f})")
    ax.legend(loc="best", fontsize="small")
    return _finish(fig, path)


def smooth_curve(values, window: int = 11, beta: float = 2.0):
    """Values smoothed by a normalized Kaiser window of ``window`` points (as in "Deep Learning from
    Scratch"), same length as the input; the ends are padded by reflection. NaN stays NaN nearby."""
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
