"""Lab 5, ``overfitting``: a large network on 300 images, and two cures: weight decay and dropout.

"Deep Learning from Scratch", ch. 6, ``overfit_weight_decay.py`` and ``overfit_dropout.py``: 300
MNIST training images, a 784-100-100-100-100-100-100-10 ReLU network (He initialisation), SGD with
learning rate 0.01 on mini-batches of 100; training and test accuracy per epoch without
regularisation, with L2 weight decay λ = 0.1 (the loss gains ½λ‖W‖² over all weight matrices, so
every weight gradient gains λW), and with dropout of ratio 0.2 after every hidden ReLU.
"""
from __future__ import annotations

import math

import numpy as np

from .. import losses, optim, plots
from ..data import minibatches
from ..layers import Dense
from ..model import mlp
from .base import LabContext

NAME = "overfitting"
DESCRIPTION = "Overfitting 300 MNIST images with a 6-hidden-layer network; weight decay 0.1 and dropout 0.2"

HIDDEN = (100,) * 6
N_TRAIN = 300
BATCH_SIZE = 100
LR = 0.01
#: configuration -> (weight decay λ, dropout ratio, epochs); epochs as in the book's two scripts, the
#: plain network as long as the longest so that it serves as the reference for both
CONFIGS: dict[str, tuple[float, float, int]] = {
    "no regularisation": (0.0, 0.0, 301),
    "weight decay 0.1": (0.1, 0.0, 201),
    "dropout 0.2": (0.0, 0.2, 301),
}
FILES = {"no regularisation": "overfitting_none.png", "weight decay 0.1": "overfitting_weight_decay.png",
         "dropout 0.2": "overfitting_dropout.png"}
COLORS = {"no regularisation": "0.35", "weight decay 0.1": "tab:green", "dropout 0.2": "tab:purple"}
QUICK_EPOCHS = {"no regularisation": 6, "weight decay 0.1": 4, "dropout 0.2": 6}
QUICK_N_TEST = 2000


def accuracy(model, X, y) -> float:
    return float(np.mean(model.predict(X) == y))


def train(data, weight_decay: float, dropout: float, epochs: int, seed: int, X_test, y_test) -> dict:
    """Train one configuration by hand; accuracies (evaluation mode, whole sets) before training and
    after each epoch, the data loss and the L2 penalty ½λΣ‖W‖² per epoch."""
    model = mlp(data.n_features, HIDDEN, 10, activation="relu", init="he", dropout=dropout, seed=seed)
    loss_fn = losses.SoftmaxCrossEntropy()
    opt = optim.SGD(model.parameters(), lr=LR, weight_decay=weight_decay)  # adds λW to each weight gradient
    weights = [layer.weight.data for layer in model.layers if isinstance(layer, Dense)]
    rng = np.random.default_rng(seed)
    X, y = data.X_train, data.y_train
    train_acc, test_acc, loss_curve, penalty = [accuracy(model, X, y)], [accuracy(model, X_test, y_test)], [], []
    diverged = None
    for epoch in range(1, epochs + 1):
        total = 0.0
        for xb, yb in minibatches(X, y, batch_size=BATCH_SIZE, rng=rng):
            loss = loss_fn.forward(model.forward(xb, training=True), yb)
            model.backward(loss_fn.backward())
            opt.step()
            total += loss * xb.shape[0]
        if not math.isfinite(total):
            diverged = epoch
            break
        loss_curve.append(total / X.shape[0])
        penalty.append(0.5 * weight_decay * sum(float(np.sum(w.astype(np.float64) ** 2)) for w in weights))
        train_acc.append(accuracy(model, X, y))
        test_acc.append(accuracy(model, X_test, y_test))
    return {"train": np.array(train_acc), "test": np.array(test_acc), "loss": np.array(loss_curve),
            "penalty": np.array(penalty), "diverged": diverged}


def run(ctx: LabContext) -> None:
    data = ctx.load_data("mnist", n_train=N_TRAIN)
    X_test, y_test = data.X_test, data.y_test
    if ctx.quick:
        X_test, y_test = X_test[:QUICK_N_TEST], y_test[:QUICK_N_TEST]
    n, n_test = data.X_train.shape[0], X_test.shape[0]
    ctx.echo(f"overfitting: 784-{'-'.join(map(str, HIDDEN))}-10 ReLU on {n} MNIST images ({n_test} test), "
             f"SGD {LR}, batch {BATCH_SIZE}")
    results = {}
    for name, (wd, p, epochs) in CONFIGS.items():
        if ctx.quick:
            epochs = QUICK_EPOCHS[name]
        res = train(data, wd, p, epochs, ctx.seed, X_test, y_test)
        results[name] = res
        ctx.echo(f"  {name:<18} {epochs} epochs: training accuracy {res['train'][-1]:.4f}, test accuracy "
                 f"{res['test'][-1]:.4f}, gap {res['train'][-1] - res['test'][-1]:+.4f}")

    ref = results["no regularisation"]
    common = min(len(r["train"]) for r in results.values()) - 1  # the last epoch all three reached
    rows = []
    for name, res in results.items():
        wd, p, _ = CONFIGS[name]
        epochs = len(res["train"]) - 1
        full = np.flatnonzero(res["train"] >= 1.0)
        best = int(np.argmax(res["test"]))
        rows.append([name, f"λ = {wd:g}" if wd else "—", f"{p:g}" if p else "—", epochs, float(res["train"][-1]),
                     float(res["test"][-1]), float(res["train"][-1] - res["test"][-1]),
                     float(res["train"][common] - res["test"][common]),
                     int(full[0]) if full.size else "never", f"{res['test'][best]:.4f} (epoch {best})"])
    for name, res in results.items():
        _curves_figure(ctx, name, res, ref if name != "no regularisation" else None, n, n_test)
    _gap_figure(ctx, results, n, n_test)

    g = {name: res["train"][-1] - res["test"][-1] for name, res in results.items()}
    wd, do = results["weight decay 0.1"], results["dropout 0.2"]
    e_wd, e_do = len(wd["train"]) - 1, len(do["train"]) - 1
    full = np.flatnonzero(ref["train"] >= 1.0)
    better = [nm for nm, res in (("weight decay", wd), ("dropout", do))
              if res["test"][-1] > ref["test"][len(res["test"]) - 1] + 0.005]
    r = ctx.report
    r.summary(
        f"With only {n} training images a network with six hidden layers of 100 learns them by heart: without "
        f"regularisation training accuracy reaches {ref['train'][-1]:.3f}"
        + (f" (100% from epoch {int(full[0])})" if full.size else "")
        + f" while test accuracy levels off at {ref['test'][-1]:.3f}, a gap of {g['no regularisation']:.3f}. "
        f"Weight decay (λ = 0.1) holds training accuracy at {wd['train'][-1]:.3f} and the gap at "
        f"{g['weight decay 0.1']:.3f} after {e_wd} epochs; dropout (0.2) slows learning: its gap is "
        f"{do['train'][e_wd] - do['test'][e_wd]:.3f} at epoch {e_wd} and {g['dropout 0.2']:.3f} at epoch {e_do}, "
        "as training accuracy keeps rising. "
        + ("Both keep the network from memorising the training set, but neither raises test accuracy within "
           f"these epochs ({wd['test'][-1]:.3f} and {do['test'][-1]:.3f}, against {ref['test'][e_wd]:.3f} and "
           f"{ref['test'][min(e_do, len(ref['test']) - 1)]:.3f} without regularisation at the same epochs)."
           if not better else
           f"Test accuracy improves over the plain network at the same epoch with {' and '.join(better)}."))
    r.heading("Train-test gap")
    r.table(["configuration", "weight decay", "dropout", "epochs", "training accuracy", "test accuracy",
             "gap (train − test)", f"gap at epoch {common}", "first epoch at 100% training accuracy",
             "best test accuracy"], rows, name="results", floatfmt=".4f")
    r.text(f"Accuracies in evaluation mode (no dropout) over all {n} training and {n_test} test images, after the "
           f"last epoch; \"gap at epoch {common}\" compares the three at the same point. Best test accuracy is "
           "for information only (choosing it would use the test set).")
    r.heading("Figures")
    for name in results:
        r.figure(FILES[name], f"{name}: training (solid) and test (dashed) accuracy per epoch"
                 + ("; the unregularised network in grey for reference." if name != "no regularisation" else "."))
    r.figure("overfitting_gap.png", "Train − test accuracy gap per epoch for the three configurations.")
    r.published(
        "Book figures 6-20 (no regularisation), 6-21 (weight decay 0.1) and 6-23 (dropout) show the same "
        "pattern: training accuracy near 100% after about 100 epochs with a wide gap to test accuracy; with "
        "weight decay training accuracy stays below 100% and the gap is smaller; with dropout training and test "
        "accuracy rise more slowly and stay closer together. Ours agrees in each case. Differences from the "
        "book's code: the 300 images are a stratified random subset (the book takes the first 300), "
        "mini-batches are drawn as shuffled epochs of three batches (the book samples each batch with "
        "replacement), dropout is the inverted form (kept units scaled by 1/(1 − 0.2) in training; the book "
        "instead scales by 0.8 at test time: the same in expectation), and the first point of each curve is "
        "the accuracy before any training.")
    r.config = {
        "dataset": "MNIST, pixels divided by 255", "n_train": n, "n_test": n_test,
        "architecture": f"784-{'-'.join(map(str, HIDDEN))}-10, ReLU, He init (std sqrt(2/fan_in)), biases 0",
        "loss": "SoftmaxCrossEntropy(reduction='mean'); with weight decay + ½λ Σ‖W‖² over all Dense weights "
                "(biases not decayed)",
        "optimizer": f"SGD(lr={LR}, weight_decay=λ)", "batch_size": BATCH_SIZE,
        "configurations": {k: {"weight_decay": wd, "dropout": p, "epochs": len(results[k]["train"]) - 1}
                           for k, (wd, p, _) in CONFIGS.items()},
        "batches": "shuffled epochs from default_rng(seed); dropout masks from mlp(seed=seed)",
    }


def _curves_figure(ctx: LabContext, name: str, res, ref, n: int, n_test: int) -> None:

    fig, ax = plots.subplots(figsize=(8.5, 5), constrained_layout=True)
    if ref is not None:  # the unregularised run over the same epochs
        m = min(len(ref["train"]), len(res["train"]))
        ax.plot(np.arange(m), ref["train"][:m], color="0.65", lw=1.2, label="no regularisation, training")
        ax.plot(np.arange(m), ref["test"][:m], color="0.65", lw=1.2, ls="--", label="no regularisation, test")
    ep = np.arange(len(res["train"]))
    ax.plot(ep, res["train"], color="tab:blue", lw=1.8, label=f"{name}, training ({n} images)")
    ax.plot(ep, res["test"], color="tab:orange", lw=1.8, ls="--", label=f"{name}, test ({n_test} images)")
    ax.set(xlabel="epoch (3 mini-batches of 100)", ylabel="accuracy (fraction correct)", ylim=(0, 1.02),
           title=f"overfitting: {name}\n784-100x6-10 ReLU, {n} MNIST training images, SGD lr {LR}")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=9.5)
    plots.save(fig, ctx.path(FILES[name]))


def _gap_figure(ctx: LabContext, results, n: int, n_test: int) -> None:

    fig, ax = plots.subplots(figsize=(8.5, 4.6), constrained_layout=True)
    for name, res in results.items():
        ep = np.arange(len(res["train"]))
        ax.plot(ep, res["train"] - res["test"], color=COLORS[name], lw=1.6, label=name)
    ax.axhline(0, color="black", lw=0.8)
    ax.set(xlabel="epoch", ylabel="training − test accuracy",
           title=f"overfitting: train-test gap ({n} training, {n_test} test images)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    plots.save(fig, ctx.path("overfitting_gap.png"))
