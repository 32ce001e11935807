"""The fused kernels (mlplab._kernels): their first-run compile time, and what a training epoch
composed of them costs beside the Trainer and the matrix-multiply limit, side by side in one run.

    python -m benchmarks.kernels [--workloads W1,W2,W3] [--repeats 5] [--threads 1] [--busy N]
                                 [--data-home DIR] [--quick]

Compile time: a fresh Python process imports mlplab._kernels and calls every kernel once for float32
and float64, first with an empty Numba cache (``NUMBA_CACHE_DIR`` a new folder: what the first run
on a machine pays), then again with the cache it wrote (every later run).

Epoch time, interleaved repetitions, medians: ``trainer`` is ``mlplab.Trainer.fit`` as users run it
(the fast tier, with the compiled kernels where Numba is installed); ``trainer numpy`` the same with
``MLPLAB_NUMBA=0`` (the fast tier's NumPy code, what runs without Numba); ``fused numba`` / ``fused
numpy`` is :class:`mlplab._kernels.FusedMLP` (the kernels composed into a bare loop, without the
Trainer's and the layers' Python) with the compiled kernels / their NumPy versions, same network,
data, order and optimizer; ``limit`` is the bare matrix products (benchmarks.contenders.run_limit).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

_COMPILE_PROBE = """
import json, time
t0 = time.perf_counter()
import numpy as np
from mlplab import _kernels as K
k = K.get()
t1 = time.perf_counter()
K.call_each(k)
t2 = time.perf_counter()
print(json.dumps({"compiled": k.compiled, "import_s": t1 - t0, "first_calls_s": t2 - t1}))
"""


def compile_time() -> dict:
    """Seconds to import and first-call every kernel: with an empty cache, then with the cache."""
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        for label in ("cold cache", "warm cache"):
            t0 = time.perf_counter()
            p = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, capture_output=True, text=True,
                               check=True)
            r = json.loads(p.stdout.strip().splitlines()[-1])
            r["process_s"] = time.perf_counter() - t0
            out[label] = r
    return out


@contextlib.contextmanager
def _env(name: str, value: str):
    """``os.environ[name] = value`` inside the block, the previous value (or none) restored after it."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            del os.environ[name]
        else:
            os.environ[name] = before


def _time(fn) -> tuple[float, float]:
    """Wall and CPU seconds of ``fn()``."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t0, time.process_time() - c0


def epoch_times(wname: str, repeats: int, quick: bool, data_home: str | None, threads: int) -> dict:
    import mlplab as ml
    from mlplab import _kernels as K

    from .contenders import run_limit
    from .workloads import make

    w = make(wname, quick=quick, data_home=data_home)
    X, y = w.X_train, w.y_train
    kernels = {"fused numba": K.get(), "fused numpy": K.numpy_kernels()} if K.numba_available() \
        else {"fused numpy": K.numpy_kernels()}

    def model():
        return ml.mlp(w.sizes[0], w.hidden, w.sizes[-1], activation=w.activation, seed=0)

    def trainer(numba: bool):
        def run():
            m = model()
            opt = ml.optim.make_optimizer(w.optimizer, m.parameters(), lr=w.lr)
            t = ml.Trainer(m, optimizer=opt, batch_size=w.batch_size, epochs=w.epochs, seed=0, threads=threads)
            with _env("MLPLAB_NUMBA", "1" if numba else "0"):
                s = _time(lambda: t.fit(X, y))
            return s, ml.metrics.accuracy(w.y_test, m.predict(w.X_test))
        return run

    def fused(k):
        def run():
            m = model()
            f = K.FusedMLP(m, w.optimizer, lr=w.lr)
            rng = np.random.default_rng(0)
            s = _time(lambda: [f.train_epoch(X, y, w.batch_size, rng, k) for _ in range(w.epochs)])
            return s, ml.metrics.accuracy(w.y_test, m.predict(w.X_test))
        return run

    runners = {"trainer": trainer(True), "trainer numpy": trainer(False), **{name: fused(k) for name, k in kernels.items()},
               "limit": lambda: ((lambda r: (r["seconds"], r["cpu_seconds"]))(run_limit(w, "float32")), None)}
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=threads, user_api="blas"):
        for r in runners.values():  # warm-up: imports, compilation, allocator
            r()
        times = {name: [] for name in runners}
        cpu = {name: [] for name in runners}
        acc = {}
        names = list(runners)
        for rep in range(repeats):
            k = rep % len(names)
            for name in names[k:] + names[:k]:
                (s, c), a = runners[name]()
                times[name].append(s / w.epochs)
                cpu[name].append(c / w.epochs)
                acc[name] = a
    return {"workload": w.describe(), "epoch_seconds": {n: statistics.median(t) for n, t in times.items()},
            "cpu_epoch_seconds": {n: statistics.median(t) for n, t in cpu.items()},
            "range": {n: (min(t), max(t)) for n, t in times.items()}, "accuracy": acc}


def main(argv=None) -> None:
    from mlplab.envinfo import environment_markdown

    from .busy import busy

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workloads", default="W1,W2,W3")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--busy", type=int, default=0)
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    a = ap.parse_args(argv)
    import sklearn.neural_network  # noqa: F401  (every BLAS loaded before threadpoolctl pins them)

    print(environment_markdown())
    print(f"- BLAS threads {a.threads}; --busy {a.busy}; load average at start {os.getloadavg()}")
    report = {"compile": compile_time()}
    for label, r in report["compile"].items():
        print(f"- compile, {label}: process {r['process_s']:.2f} s (import mlplab._kernels + numba "
              f"{r['import_s']:.2f} s, first call of every kernel, float32 and float64: {r['first_calls_s']:.2f} s)")
    print("\n| workload | clock | trainer s/epoch | trainer numpy | fused numba | fused numpy | limit | "
          "trainer / limit | trainer numpy / limit | fused numba / limit | trainer numpy / trainer |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    with busy(a.busy):
        for wname in a.workloads.split(","):
            r = epoch_times(wname.strip(), a.repeats, a.quick, a.data_home, a.threads)
            report[wname] = r
            for clock, e in (("wall", r["epoch_seconds"]), ("CPU", r["cpu_epoch_seconds"])):
                nb, lim = e.get("fused numba"), e["limit"]
                tn = e["trainer numpy"]
                cells = [f"{e['trainer']:.4f}", f"{tn:.4f}", "" if nb is None else f"{nb:.4f}",
                         f"{e['fused numpy']:.4f}", f"{lim:.4f}", f"{e['trainer'] / lim:.2f}x", f"{tn / lim:.2f}x",
                         "" if nb is None else f"{nb / lim:.2f}x", f"{tn / e['trainer']:.2f}x"]
                print(f"| {wname} | {clock} | " + " | ".join(cells) + " |", flush=True)
    print(f"- load average at end {os.getloadavg()}")
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=1, default=float)


if __name__ == "__main__":
    main()
