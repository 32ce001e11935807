"""Background load for ``--busy N``: N CPU-bound processes that the benchmark starts and stops.

Each process runs single-threaded NumPy matrix products (``OPENBLAS_NUM_THREADS=1`` and friends in
its environment), like another user's NumPy job on a shared machine, and keeps one core busy. The
processes are bounded three ways, so none outlives the measurement: the benchmark terminates them
when it is done (``with busy(n):``), each exits by itself after ``max_seconds``, and each exits as
soon as its parent process is gone (it polls ``os.getppid()``).
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from typing import Iterator

#: the background job: products of 256x256 float64 matrices until the deadline or the parent is gone
_JOB = """
import os, sys, time
import numpy as np
parent, deadline = int(sys.argv[1]), time.monotonic() + float(sys.argv[2])
a = np.random.default_rng(os.getpid()).standard_normal((256, 256))
b = a.copy()
while time.monotonic() < deadline and os.getppid() == parent:
    for _ in range(20):
        np.matmul(a, a, out=b)
        a, b = b / 100.0, a
"""

_ONE_THREAD = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


@contextlib.contextmanager
def busy(n: int, max_seconds: float = 3600.0) -> Iterator[list[subprocess.Popen]]:
    """Run ``n`` CPU-bound background processes for the duration of the ``with`` block."""
    procs: list[subprocess.Popen] = []
    env = {**os.environ, **_ONE_THREAD}
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", _JOB, str(os.getpid()), str(max_seconds)],
                                          env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
