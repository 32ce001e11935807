"""Peak memory of one training run, measured in a fresh Python process per measurement.

Method: the child process imports the contender's library, builds the workload's data (and the
float64 copy when needed), and reads its resident set size (``VmRSS``). It then resets the kernel's
peak-RSS counter (writing ``5`` to ``/proc/self/clear_refs``), trains one epoch, and reads the peak
(``VmHWM``) right after the training call. ``peak_mb`` is that peak minus the baseline: the memory the
training itself needs on top of the interpreter, the libraries and the data already in memory
(parameters, optimizer state, activations, gradients, copies of the data, allocator slack). mlplab's
compiled kernels (where Numba is installed) are loaded before the baseline, as PyTorch is imported
before it; what loading them added is reported as ``kernels_mb``.
RSS counts every allocation (NumPy, BLAS buffers, PyTorch's allocator), unlike ``tracemalloc``, which
sees only what reports to Python's tracer. Linux only; elsewhere the result is ``None``.

Run as ``python -m benchmarks.memory W3 mlplab float32 [--quick] [--data-home D] [--threads N|default]``;
prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import sys


def _status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def measure(workload: str, contender: str, dtype: str, quick: bool, data_home: str | None,
            threads: str = "1") -> dict:
    n = None if threads == "default" else int(threads)
    if contender == "torch":
        import torch

        if n is not None:
            torch.set_num_threads(n)
    elif contender == "sklearn":
        import sklearn.neural_network  # noqa: F401
    import mlplab  # noqa: F401  (the workloads load data through it)
    kernels_mb = None
    if contender == "mlplab":
        # the compiled kernels (Numba, LLVM and the cached machine code) are a library like PyTorch:
        # loaded before the baseline, their own size reported as kernels_mb
        from mlplab._kernels import call_each
        from mlplab.fast import kernels

        before = _status_kb("VmRSS")
        k = kernels()
        if k is not None and before is not None:
            call_each(k, [dtype])  # Numba loads each kernel's machine code at its first call
            kernels_mb = (_status_kb("VmRSS") - before) / 1024
    from threadpoolctl import threadpool_limits

    if n is not None:
        threadpool_limits(n)  # after the imports: it pins the BLAS libraries already loaded

    from . import contenders
    from .workloads import make

    w = make(workload, quick=quick, data_home=data_home)
    w.epochs = 1
    X = w.X_train if dtype == "float32" else w.X_train.astype(dtype)
    data_mb = (w.X_train.nbytes + (X.nbytes if X is not w.X_train else 0) + w.y_train.nbytes) / 2**20
    import gc

    gc.collect()
    baseline_kb = _status_kb("VmRSS")
    ok = _reset_peak()
    peak = {}
    contenders.AFTER_TRAINING = lambda: peak.setdefault("kb", _status_kb("VmHWM"))
    if contender == "mlplab":
        contenders.run_mlplab(w, X, dtype, threads=n)
    else:
        contenders.RUNNERS[contender](w, X, dtype)
    if not ok or baseline_kb is None or "kb" not in peak or peak["kb"] is None:
        return {"peak_mb": None, "note": "peak RSS not measurable here (needs Linux /proc)"}
    return {"peak_mb": (peak["kb"] - baseline_kb) / 1024, "baseline_mb": baseline_kb / 1024,
            "peak_total_mb": peak["kb"] / 1024, "data_mb": data_mb, "kernels_mb": kernels_mb}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workload")
    ap.add_argument("contender", choices=["mlplab", "sklearn", "torch"])
    ap.add_argument("dtype", choices=["float32", "float64"])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--data-home", default=None)
    ap.add_argument("--threads", default="1", help="a number, or 'default' (nothing pinned)")
    a = ap.parse_args(argv)
    print(json.dumps(measure(a.workload, a.contender, a.dtype, a.quick, a.data_home, a.threads)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
