"""Lab 3, ``optimizer-race``: the optimizers side by side on MNIST, and on a two-dimensional bowl.

Part 1 ("Deep Learning from Scratch", ch. 6, ``optimizer_compare_mnist.py``): five networks
784-100-100-100-100-10 (ReLU, He initialisation) start from the same weights; at every one of 2000
iterations all of them are fed the *same* mini-batch of 128 images and each takes one step with its
own optimizer. The training losses, smoothed, go into one figure.

Part 2 (``optimizer_compare_naive.py``): the path of each optimizer on ``f(x, y) = x²/20 + y²`` from
``(-7, 2)`` over 30 steps, drawn over its contour lines. The point is an mlplab ``Parameter`` of two
elements whose ``.grad`` is set to the analytic gradient ``(x/10, 2y)``; the library's optimizers
update it exactly as they update a network's weights.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .. import losses, metrics, optim, plots
from ..data import minibatches
from ..model import mlp
from ..parameter import Parameter
from .base import LabContext
from .optimizers import OPTIMIZERS, _hyper

NAME = "optimizer-race"
DESCRIPTION = "Five optimizers fed the same MNIST mini-batches, and their paths on f(x, y) = x²/20 + y²"

HIDDEN = (100, 100, 100, 100)
BATCH_SIZE = 128
ITERATIONS = 2000
QUICK_ITERATIONS = 60
QUICK_N_TRAIN = 3000
SMOOTH_WINDOW = 31
#: the 2-D view: learning rates of the book's figures 6-3, 6-5, 6-6 and 6-8; RMSProp (not in the
#: book) with a rate chosen here so that its path is comparable in length
PATH_LR: dict[str, dict] = {
    "sgd": {"lr": 0.95},
    "momentum": {"lr": 0.1, "momentum": 0.9},
    "adagrad": {"lr": 1.5},
    "rmsprop": {"lr": 0.15, "rho": 0.99},
    "adam": {"lr": 0.3, "beta1": 0.9, "beta2": 0.999},
}
START = (-7.0, 2.0)
PATH_STEPS = 30


def bowl(x, y):
    """``f(x, y) = x²/20 + y²``."""
    return x ** 2 / 20.0 + y ** 2


def bowl_gradient(x, y):
    """``∇f = (x/10, 2y)``."""
    return np.array([x / 10.0, 2.0 * y])


def optimizer_path(name: str, steps: int = PATH_STEPS, start=START, **hyper) -> np.ndarray:
    """Points ``(steps + 1, 2)`` visited by optimizer ``name`` on :func:`bowl` from ``start``."""
    point = Parameter(np.array(start, dtype=np.float64), name="xy")
    opt = optim.OPTIMIZERS[name]([point], **(hyper or PATH_LR[name]))
    path = [point.data.copy()]
    for _ in range(steps):
        point.grad[...] = bowl_gradient(*point.data)
        opt.step()
        path.append(point.data.copy())
    return np.array(path)


def race(data, iterations: int, seed: int, echo=lambda m: None) -> dict:
    """Train one network per optimizer on the same mini-batches; returns per-iteration losses,
    seconds per optimizer, the models and the iteration at which any diverged."""
    names = list(OPTIMIZERS)
    models, opts = {}, {}
    for name in names:
        models[name] = mlp(data.n_features, HIDDEN, 10, activation="relu", seed=seed)  # He init, same weights
        opts[name] = optim.OPTIMIZERS[name](models[name].parameters(), **OPTIMIZERS[name])
    loss_fn = losses.SoftmaxCrossEntropy()
    curves = {n: np.full(iterations, np.nan) for n in names}
    seconds = dict.fromkeys(names, 0.0)
    diverged: dict[str, int | None] = dict.fromkeys(names)
    rng = np.random.default_rng(seed)
    it = 0
    with np.errstate(over="ignore", invalid="ignore"):
        while it < iterations:
            for xb, yb in minibatches(data.X_train, data.y_train, batch_size=BATCH_SIZE, rng=rng):
                for name in names:  # the same mini-batch for every optimizer
                    if diverged[name] is not None:
                        continue
                    start = time.perf_counter()
                    model = models[name]
                    loss = loss_fn.forward(model.forward(xb, training=True), yb)
                    model.backward(loss_fn.backward())
                    opts[name].step()
                    seconds[name] += time.perf_counter() - start
                    if not math.isfinite(loss):
                        diverged[name] = it + 1
                    curves[name][it] = loss
                it += 1
                if it % 500 == 0 or it == iterations:
                    echo(f"  iteration {it:5d}: " + "  ".join(
                        f"{plots.optimizer_label(n)} {curves[n][max(0, it - 100):it].mean():.4f}" for n in names))
                if it == iterations:
                    break
    return {"curves": curves, "seconds": seconds, "models": models, "diverged": diverged}


def run(ctx: LabContext) -> None:
    iterations = QUICK_ITERATIONS if ctx.quick else ITERATIONS
    data = ctx.load_data("mnist", n_train=QUICK_N_TRAIN if ctx.quick else None)
    ctx.echo(f"optimizer-race: 784-{'-'.join(map(str, HIDDEN))}-10 ReLU on {data.X_train.shape[0]} MNIST images, "
             f"batch {BATCH_SIZE}, {iterations} iterations, the same mini-batch for every optimizer")
    res = race(data, iterations, ctx.seed, echo=ctx.echo)
    tail = max(1, min(100, iterations // 5))
    rows = []
    for name in OPTIMIZERS:
        acc = metrics.accuracy(data.y_test, res["models"][name].predict(data.X_test))
        curve = res["curves"][name]
        rows.append([plots.optimizer_label(name), _hyper(OPTIMIZERS[name]), float(np.nanmean(curve[:tail])),
                     float(np.nanmean(curve[-tail:])), _first_below(curve, 0.3), acc,
                     f"{res['seconds'][name]:.1f}"])
        ctx.echo(f"  {plots.optimizer_label(name):<9} test accuracy {acc:.4f}")
    paths = {name: optimizer_path(name) for name in PATH_LR}
    path_rows = []
    for name, path in paths.items():
        x, y = path[-1]
        hits = np.flatnonzero(np.hypot(path[:, 0], path[:, 1]) < 0.5)
        path_rows.append([plots.optimizer_label(name), _hyper(PATH_LR[name]), f"({x:.3f}, {y:.3f})",
                          float(bowl(x, y)), int(hits[0]) if hits.size else "never"])

    _loss_figure(ctx, res["curves"], iterations, data.X_train.shape[0])
    _path_figure(ctx, paths)

    ranked = sorted(OPTIMIZERS, key=lambda n: rows[list(OPTIMIZERS).index(n)][3])
    r = ctx.report
    r.summary(
        f"Five copies of one 784-100-100-100-100-10 ReLU network, each fed exactly the same {iterations} "
        f"mini-batches of {BATCH_SIZE} MNIST images, differ only in how they step. By the mean loss of the last "
        f"{tail} iterations the order is {' < '.join(plots.optimizer_label(n) for n in ranked)}; plain SGD is "
        "clearly the slowest, as in the book. On the elongated bowl f(x, y) = x²/20 + y² SGD zigzags across "
        "the steep y direction while crawling along x, Momentum overshoots and swings back like a rolling "
        "ball, AdaGrad and RMSProp damp the steep direction at once and head straight for the minimum, and "
        "Adam rolls in along a smooth curve.")
    r.heading("MNIST race")
    r.table(["optimizer", "hyper-parameters", f"loss, first {tail} iterations", f"loss, last {tail} iterations",
             "first iteration with smoothed loss < 0.3", "test accuracy", "seconds"], rows, name="race",
            floatfmt=".4f")
    r.text(f"Loss: mean cross-entropy of the mini-batch (per image), averaged over the iterations named. Test "
           f"accuracy on the {data.X_test.shape[0]} MNIST test images after the last iteration "
           f"({iterations * BATCH_SIZE / data.X_train.shape[0]:.1f} epochs). Seconds: time spent in that "
           "optimizer's forward, backward and step.")
    r.heading("Paths on f(x, y) = x²/20 + y²")
    r.table(["optimizer", "hyper-parameters", f"point after {PATH_STEPS} steps", f"f after {PATH_STEPS} steps",
             "first step within 0.5 of the minimum"], path_rows, name="paths", floatfmt=".4g")
    r.heading("Figures")
    r.figure("race_loss.png", f"Training loss per iteration, smoothed with a {SMOOTH_WINDOW}-point Kaiser "
             "window (raw values faint behind), for each optimizer on the same mini-batches.")
    r.figure("race_paths.png", f"Paths of {PATH_STEPS} steps from {START} on f(x, y) = x²/20 + y² "
             "(minimum at the cross), and f along each path.")
    r.published(
        "Book figure 6-9 (same network, batch 128, 2000 iterations; SGD, Momentum, AdaGrad and Adam with "
        "lr 0.01, 0.01, 0.01 and 0.001) shows SGD well behind the other three, with AdaGrad slightly ahead. "
        "Ours agrees on SGD being far slowest; the order of the others is close and depends on the seed, "
        "the smoothing and the initial weights. Differences from the book's code: mini-batches are drawn as "
        "shuffled epochs (the book samples each batch with replacement), Adam puts ε = 1e-8 outside the root "
        "of the bias-corrected v̂ (the book folds the correction into the rate and uses 1e-7), RMSProp is "
        "added with lr 0.001, and the curves are drawn on a log scale so that the first iterations, "
        "above the book's 0-1 range, stay visible.")
    r.published(
        "Book figures 6-3, 6-5, 6-6 and 6-8 (the same learning rates, 30 steps from (-7, 2)): ours matches "
        "their shapes: SGD's zigzag, Momentum's rolling swing past the minimum, AdaGrad's quickly damped "
        "y-motion and Adam's rolling approach. RMSProp, not in the book, takes a first step of about 10·lr "
        "in each coordinate (its average of g² starts at (1 − ρ)g²) and then settles.")
    r.config = {
        "dataset": "MNIST, pixels divided by 255", "n_train": int(data.X_train.shape[0]),
        "n_test": int(data.X_test.shape[0]),
        "architecture": f"784-{'-'.join(map(str, HIDDEN))}-10, ReLU, He init, softmax output",
        "loss": "SoftmaxCrossEntropy(reduction='mean')", "batch_size": BATCH_SIZE, "iterations": iterations,
        "batches": "shuffled epochs from default_rng(seed); every optimizer gets the same batch each iteration",
        "optimizers": OPTIMIZERS, "smoothing": f"Kaiser window, {SMOOTH_WINDOW} points, beta 2",
        "bowl": {"f": "x²/20 + y²", "start": list(START), "steps": PATH_STEPS, "optimizers": PATH_LR},
    }


def _first_below(curve, level: float):
    smooth = plots.smooth_curve(curve, SMOOTH_WINDOW)
    idx = np.flatnonzero(smooth < level)
    return int(idx[0]) + 1 if idx.size else "never"


def _loss_figure(ctx: LabContext, curves, iterations: int, n_train: int) -> None:

    fig, ax = plots.subplots(figsize=(9, 5.2), constrained_layout=True)
    its = np.arange(1, iterations + 1)
    for name, curve in curves.items():
        color = plots.optimizer_color(name)
        ax.plot(its, curve, color=color, alpha=0.15, lw=0.8)
        ax.plot(its, plots.smooth_curve(curve, SMOOTH_WINDOW), color=color, lw=1.8,
                label=f"{plots.optimizer_label(name)} ({_hyper({'lr': OPTIMIZERS[name]['lr']})})")
    ax.set_yscale("log")
    smooth_min = min(np.nanmin(plots.smooth_curve(c, SMOOTH_WINDOW)) for c in curves.values())
    if np.isfinite(smooth_min):
        ax.set_ylim(bottom=smooth_min / 4)  # the raw curves' deepest dips say little
    ax.set(xlabel=f"iteration (mini-batch of {BATCH_SIZE}; {iterations * BATCH_SIZE / n_train:.1f} epochs in all)",
           ylabel="training loss (cross-entropy per image)",
           title="optimizer-race: 784-100-100-100-100-10 ReLU on MNIST, the same mini-batches for all")
    ax.grid(alpha=0.3)
    ax.legend(title="optimizer (smoothed)")
    plots.save(fig, ctx.path("race_loss.png"))


def _path_figure(ctx: LabContext, paths) -> None:

    fig, axes = plots.subplots(2, 3, figsize=(15, 6.6), constrained_layout=True)
    xs, ys = np.meshgrid(np.linspace(-10, 10, 401), np.linspace(-5, 5, 201))
    zs = bowl(xs, ys)
    levels = [0.25, 0.5, 1, 2, 3, 4, 5, 6]
    for ax, (name, path) in zip(axes.flat, paths.items()):
        ax.contour(xs, ys, zs, levels=levels, colors="0.6", linewidths=0.8)
        color = plots.optimizer_color(name)
        ax.plot(path[:, 0], path[:, 1], "o-", color=color, ms=3.5, lw=1.3)  # each dot is one step
        ax.plot(*START, "s", color="black", ms=6)
        ax.plot(0, 0, "+", color="black", ms=14, mew=2)
        ax.set_xlim(-10, 10)
        ax.set_ylim(-5, 5)
        ax.set_aspect("equal")
        ax.set(xlabel="x", ylabel="y",
               title=f"{plots.optimizer_label(name)} ({_hyper(PATH_LR[name])})")
        ax.grid(alpha=0.2)
    ax = axes.flat[-1]
    for name, path in paths.items():
        ax.plot(np.arange(path.shape[0]), bowl(path[:, 0], path[:, 1]), "o-", ms=2.5,
                color=plots.optimizer_color(name), label=plots.optimizer_label(name))
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="f(x, y) (log scale)", title="f along each path (minimum 0)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9)
    fig.suptitle(f"{PATH_STEPS} steps of each optimizer on f(x, y) = x²/20 + y² from {START} (square: start, "
                 "cross: minimum; contours at f = " + ", ".join(f"{v:g}" for v in levels) + ")")
    plots.save(fig, ctx.path("race_paths.png"))
