"""Where a training epoch's time goes, and what fitting the input scaler costs: the profiles that
docs/performance.md quotes for the targets it misses.

    python -m benchmarks.epoch_profile W3 [--data-home DIR] [--top 12] [--quick]
    python -m benchmarks.epoch_profile --scaler [--data-home DIR] [--quick]

A workload: one epoch of ``mlplab.Trainer.fit`` as ``benchmarks.run`` trains it (1 BLAS thread, after
a warm-up epoch that loads the compiled kernels), under cProfile; prints the functions with the most
time of their own and their share of the epoch. The products run inside the functions that call them
(NumPy's ``matmul`` does not show as a function of its own).

``--scaler``: ``Standardize.fit`` on the MNIST training images in both tiers (the reference's
``X.std(axis=0, dtype=float64)`` and the fast tier's sums over blocks of rows): seconds and the peak
memory that tracemalloc sees.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import tracemalloc

import numpy as np


def profile_epoch(name: str, data_home: str | None, top: int, quick: bool) -> None:
    import mlplab as ml
    from threadpoolctl import threadpool_limits

    from .workloads import make

    w = make(name, quick=quick, data_home=data_home)
    model = ml.mlp(w.sizes[0], w.hidden, w.sizes[-1], activation=w.activation, dropout=w.dropout,
                   scaler=w.scaler, seed=0)
    opt = ml.optim.make_optimizer(w.optimizer, model.parameters(), lr=w.lr)
    trainer = ml.Trainer(model, ml.losses.SoftmaxCrossEntropy(), opt, batch_size=w.batch_size, epochs=1,
                         seed=0, threads=1)
    with threadpool_limits(1, user_api="blas"):
        trainer.fit(w.X_train, w.y_train)  # warm-up
        prof = cProfile.Profile()
        prof.runcall(trainer.fit, w.X_train, w.y_train)
    stats = pstats.Stats(prof)
    total = stats.total_tt
    print(f"{w.describe()}\none epoch under cProfile: {total:.3f} s")
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
    print("| function | calls | own seconds | share |\n|---|---:|---:|---:|")
    for (file, line, func), (_, calls, own, _, _) in rows:
        where = f"{file.rsplit('/', 1)[-1]}:{line}({func})" if line else func
        print(f"| `{where}` | {calls} | {own:.3f} | {own / total:.1%} |")


def profile_scaler(data_home: str | None, quick: bool) -> None:
    import mlplab as ml
    from mlplab import layers as L

    X = (np.random.default_rng(0).random((6000, 784), dtype=np.float32) if quick
         else ml.data.load("mnist", data_home=data_home).X_train)
    print(f"Standardize.fit on X {X.shape} {X.dtype}")
    for tier in ("reference", "fast"):
        layer = ml.fast.to_tier(L.Standardize(), tier)
        tracemalloc.start()
        t0 = time.perf_counter()
        layer.fit(X)
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"- {tier}: {seconds:.2f} s, peak {peak:.0f} MB (tracemalloc)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload", nargs="?", help="W1, W2, W3, W4 or M")
    ap.add_argument("--scaler", action="store_true", help="time Standardize.fit in both tiers instead")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--quick", action="store_true", help="tiny data (CI)")
    a = ap.parse_args(argv)
    if a.scaler:
        profile_scaler(a.data_home, a.quick)
    elif a.workload:
        profile_epoch(a.workload, a.data_home, a.top, a.quick)
    else:
        ap.error("give a workload (W1, W2, W3, W4, M) or --scaler")


if __name__ == "__main__":
    main()
