"""Where do two BLAS threads start to pay? The products of one training step, 1 thread against all.

    python -m benchmarks.threads_crossover [--busy N] [--repeats 7]

For each network and batch size below it times the matrix products of one mini-batch (per layer
``x Wᵀ``, ``dyᵀ x`` and, above the first layer, ``dy W``; float32, NumPy's BLAS), alternately with one
thread and with every core (threadpoolctl), and prints the median of each, their ratio and the mean
multiply-adds per product. The ratio above which mlplab.threads uses every core comes from this table
(docs/performance.md). Run it once quiet and once with ``--busy N`` to see how load moves the
crossover.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

#: (label, layer widths, batch sizes)
NETS = [
    ("digits 64-80-70-10", [64, 80, 70, 10], [64, 256, 1438]),
    ("64-128-64-10 (mlplab train)", [64, 128, 64, 10], [32, 256]),
    ("MNIST 784-100x4-10", [784, 100, 100, 100, 100, 10], [32, 128, 512]),
    ("MNIST 784-256-128-10 (README)", [784, 256, 128, 10], [32, 128, 512]),
    ("784-512-512-10", [784, 512, 512, 10], [64, 128, 256]),
    ("3072-1000-1000-10", [3072, 1000, 1000, 10], [64, 256]),
]


def step_products(sizes, rows, dtype=np.float32, seed=0):
    """A function running the products of one mini-batch, and the mean multiply-adds per product."""
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((b, a)).astype(dtype) for a, b in zip(sizes[:-1], sizes[1:])]
    G = [np.empty_like(w) for w in W]
    xs = [rng.standard_normal((rows, s)).astype(dtype) for s in sizes]
    ds = [rng.standard_normal((rows, s)).astype(dtype) for s in sizes]

    def run():
        for i, w in enumerate(W):
            np.matmul(xs[i], w.T, out=xs[i + 1])
        for i in range(len(W) - 1, -1, -1):
            np.matmul(ds[i + 1].T, xs[i], out=G[i])
            if i > 0:
                np.matmul(ds[i + 1], W[i], out=ds[i])

    macs = [rows * w.size for w in W] * 2 + [rows * w.size for w in W[1:]]
    return run, float(np.mean(macs))


def measure(sizes, rows, cores, repeats, controller, min_seconds=0.05):
    run, macs = step_products(sizes, rows)
    run()
    t0 = time.perf_counter()
    run()
    loops = max(1, int(min_seconds / max(time.perf_counter() - t0, 1e-6)))
    times = {1: [], cores: []}
    for r in range(repeats):
        for n in ((1, cores) if r % 2 == 0 else (cores, 1)):
            with controller.limit(limits=n, user_api="blas"):
                t0 = time.perf_counter()
                for _ in range(loops):
                    run()
                times[n].append((time.perf_counter() - t0) / loops)
    return macs, statistics.median(times[1]), statistics.median(times[cores])


def main(argv=None) -> None:
    from threadpoolctl import ThreadpoolController

    from mlplab.envinfo import environment_markdown
    from mlplab.threads import available_cores

    from .busy import busy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--busy", type=int, default=0, help="CPU-bound background processes during the run")
    ap.add_argument("--repeats", type=int, default=7)
    a = ap.parse_args(argv)
    cores = available_cores()
    controller = ThreadpoolController()
    print(environment_markdown())
    print(f"- load average {os.getloadavg()}, --busy {a.busy}, {cores} cores\n")
    print(f"| network | batch | mean MACs per product | 1 thread ms | {cores} threads ms | 1 / {cores} |")
    print("|---|---:|---:|---:|---:|---:|")
    with busy(a.busy):
        for label, sizes, batches in NETS:
            for rows in batches:
                macs, t1, tn = measure(sizes, rows, cores, a.repeats, controller)
                print(f"| {label} | {rows} | {macs:,.0f} | {t1 * 1e3:.3f} | {tn * 1e3:.3f} | {t1 / tn:.2f} |",
                      flush=True)


if __name__ == "__main__":
    main()
