"""BLAS threads chosen by the engine: one where the matrix products are too small to profit from
more, every free core where they are large, and always what the user asked for.

Why: NumPy's BLAS (OpenBLAS, MKL) starts with one thread per core. On the products of a small
network (digits: 64x64 by 64x80) a second thread costs more in hand-over than it saves; and on a
busy machine (a shared course server, a laptop running other jobs) a BLAS thread that waits for a
core another process holds loses whole scheduler slices: training the digits net took 37x longer
with two threads than with one while two other NumPy jobs ran (issue 14). So during mlplab's own
calls (:meth:`mlplab.Trainer.fit`, ``evaluate``, ``predict``) the engine sets the number of BLAS
threads, through threadpoolctl, and restores the previous setting afterwards:

1. ``threads=n`` given explicitly (Trainer, ``mlplab train --threads``) wins: ``n`` threads.
2. Otherwise, if the user set ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` or ``MKL_NUM_THREADS``,
   the BLAS is left exactly as it is (the library already follows the variable).
3. Otherwise the engine chooses: one thread if the mean product of a mini-batch has fewer than
   :data:`MIN_MACS_PER_THREAD` multiply-adds per thread, or if other processes keep the cores busy
   (counted from the kernel's run queue, :func:`other_runnable`); else one thread per free core. It
   never uses more threads than the BLAS allowed before the call (a ``threadpool_limits`` the user
   set around mlplab's call is a ceiling).

Everything happens inside a ``with`` block; nothing global is changed after it.
"""
from __future__ import annotations

import contextlib
import os
import time
from typing import Iterator

__all__ = ["ENV_VARS", "MIN_MACS_PER_THREAD", "BlasThreads", "available_cores", "env_threads",
           "batch_macs", "choose_threads", "other_runnable"]

#: environment variables by which a user sets the BLAS's threads (the engine then leaves it alone)
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: Multiply-adds each thread needs, on average over a mini-batch's products, to be worth starting:
#: ``n`` threads for ``n x`` this. Measured with ``python -m benchmarks.threads_crossover`` on an idle
#: moment of a shared 2-core AMD EPYC, OpenBLAS SkylakeX (docs/performance.md, "Threads"): two
#: threads gain nothing up to ~0.6 M per product (digits, batch 64: 0.23 M, 1.00x; MNIST
#: 784-100x4-10, batch 32: 0.57 M, 1.1x), are mixed around 0.9 M (0.7-1.2x) and win from ~1.4 M
#: (64-128-64-10, batch 256: 1.35x; MNIST, batch 128, 2.3 M: 1.3-1.4x; 784-512-512-10: 1.7x).
MIN_MACS_PER_THREAD = 600_000

#: how often (seconds of training) the engine looks at the load again
RECHECK_SECONDS = 1.0


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity; ``os.cpu_count()`` where unknown)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def env_threads() -> tuple[str, str] | None:
    """``(variable, value)`` of the first BLAS thread variable the user set, or None."""
    for var in ENV_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            return var, value
    return None


def _running_tasks(stat_dir: str) -> int:
    """Threads of one process in state R (running or runnable), from ``/proc/<pid>/task/*/stat``."""
    n = 0
    try:
        for tid in os.listdir(stat_dir):
            try:
                with open(f"{stat_dir}/{tid}/stat", "rb") as f:
                    text = f.read()
            except OSError:
                continue
            # "pid (comm) S ...": the state follows the last ')' (comm may contain spaces or ')')
            if text[text.rfind(b")") + 2:text.rfind(b")") + 3] == b"R":
                n += 1
    except OSError:
        return 0
    return n


def other_runnable() -> int | None:
    """Runnable threads of *other* processes right now: the kernel's run-queue count
    (``/proc/loadavg``, 4th field ``running/total``) minus this process's running threads.
    None where ``/proc`` is missing (not Linux): the engine then assumes an idle machine."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(0, running - max(1, _running_tasks("/proc/self/task")))


def batch_macs(model, rows: int) -> float:
    """Mean multiply-adds per matrix product of one training step on ``rows`` samples: per Dense
    layer ``x Wᵀ`` and ``dyᵀ x`` (``rows · in · out`` each), and ``dy W`` above the first one.
    0 for a model without Dense layers."""
    from .layers import Dense

    sizes = [layer.in_features * layer.out_features for layer in model.layers if isinstance(layer, Dense)]
    if not sizes:
        return 0.0
    macs = [rows * s for s in sizes] * 2 + [rows * s for s in sizes[1:]]
    return sum(macs) / len(macs)


def choose_threads(macs: float, cores: int, busy: int | None = 0, ceiling: int | None = None) -> int:
    """The engine's choice (rule 3 of the module docstring) for products of ``macs`` multiply-adds
    on ``cores`` cores while ``busy`` other threads want to run, never above ``ceiling``."""
    free = cores - (busy or 0)
    n = max(1, min(free, int(macs // MIN_MACS_PER_THREAD)))
    if ceiling is not None:
        n = min(n, max(1, ceiling))
    return n


class BlasThreads:
    """The thread policy of one Trainer (see the module docstring).

    ``with policy.scope(rows):`` runs its block with the BLAS threads chosen for mini-batches of
    ``rows`` samples of ``model`` and restores the previous setting on exit; nested scopes keep the
    outer one's ceiling. ``policy.last`` is the latest decision: ``(threads or None, reason)``.
    """

    def __init__(self, model, threads: int | None = None) -> None:
        if threads is not None:
            if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
                raise ValueError(f"threads must be a positive integer or None (the engine chooses), got {threads!r}")
        self.model = model
        self.threads = threads
        self.last: tuple[int | None, str] = (None, "not used yet")
        self._controller = None
        self._ceiling: int | None = None
        self._depth = 0
        self._checked_at = -float("inf")
        self._busy: int | None = 0

    def _blas(self):
        if self._controller is None:  # inspecting the loaded libraries takes ~2 ms: once per Trainer
            from threadpoolctl import ThreadpoolController

            self._controller = ThreadpoolController().select(user_api="blas")
        return self._controller

    def decide(self, rows: int) -> tuple[int | None, str]:
        """``(threads, reason)`` for mini-batches of ``rows`` samples; threads None = leave as is."""
        if self.threads is not None:
            return self.threads, f"threads={self.threads} given"
        env = env_threads()
        if env is not None:
            return None, f"{env[0]}={env[1]} set by the user"
        now = time.monotonic()
        if now - self._checked_at >= RECHECK_SECONDS:
            self._busy, self._checked_at = other_runnable(), now
        macs = batch_macs(self.model, rows)
        cores = available_cores()
        n = choose_threads(macs, cores, self._busy, self._ceiling)
        return n, (f"{macs / 1e6:.2f} M multiply-adds per product, {cores} cores, "
                   f"{self._busy if self._busy is not None else 'unknown'} other runnable, "
                   f"ceiling {self._ceiling}")

    @contextlib.contextmanager
    def scope(self, rows: int) -> Iterator[int | None]:
        blas = self._blas()
        if not blas.lib_controllers:  # no BLAS that threadpoolctl knows: nothing to set
            self.last = (None, "no BLAS library found by threadpoolctl")
            yield None
            return
        outer = self._depth == 0
        if outer:
            self._ceiling = max(lib.num_threads for lib in blas.lib_controllers)
        n, reason = self.decide(rows)
        self.last = (n, reason)
        self._depth += 1
        try:
            if n is None:
                yield None
            else:
                with blas.limit(limits=n):
                    yield n
        finally:
            self._depth -= 1
            if outer:
                self._ceiling = None

