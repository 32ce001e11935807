"""BLAS threads chosen by the engine (mlplab.threads): the choice for small and large nets, the
user's settings winning, and the global setting restored after every call."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import mlplab as ml
from mlplab import threads as T


def blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


@pytest.fixture
def no_env(monkeypatch):
    for var in T.ENV_VARS:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def idle(monkeypatch):
    """Pretend no other process wants a core, and that there are 4 of them."""
    monkeypatch.setattr(T, "other_runnable", lambda: 0)
    monkeypatch.setattr(T, "available_cores", lambda: 4)


def small_and_large():
    small = ml.mlp(64, [80, 70], 10, activation="sigmoid", seed=0)        # digits
    large = ml.mlp(784, [512, 512], 10, seed=0)                             # 0.4 M weights per layer
    return small, large


def test_batch_macs_counts_the_products_of_a_step():
    model = ml.mlp(5, [4], 3, seed=0)  # W: (4, 5) and (3, 4)
    # forward and weight gradient for both layers, input gradient for the second only
    assert T.batch_macs(model, 10) == pytest.approx(10 * (20 + 12 + 20 + 12 + 12) / 5)


def test_choice_by_size_load_and_ceiling():
    m = T.MIN_MACS_PER_THREAD
    assert T.choose_threads(0.5 * m, cores=2) == 1            # too small to profit
    assert T.choose_threads(2.5 * m, cores=2) == 2            # large: every core
    assert T.choose_threads(100 * m, cores=8) == 8
    assert T.choose_threads(3.5 * m, cores=8) == 3            # no more threads than the work feeds
    assert T.choose_threads(100 * m, cores=2, busy=1) == 1    # the other core is taken
    assert T.choose_threads(100 * m, cores=8, busy=3) == 5
    assert T.choose_threads(100 * m, cores=2, busy=9) == 1
    assert T.choose_threads(100 * m, cores=8, ceiling=2) == 2  # a limit set around the call


def test_small_net_one_thread_large_net_all_cores(no_env, idle):
    small, large = small_and_large()
    assert T.BlasThreads(small).decide(64)[0] == 1
    assert T.BlasThreads(small).decide(32)[0] == 1
    assert T.BlasThreads(large).decide(128)[0] == 4


def test_busy_machine_gets_one_thread(no_env, monkeypatch):
    monkeypatch.setattr(T, "available_cores", lambda: 2)
    monkeypatch.setattr(T, "other_runnable", lambda: 2)  # e.g. `benchmarks.run --busy 2`
    assert T.BlasThreads(small_and_large()[1]).decide(128)[0] == 1


def test_other_runnable_reads_the_run_queue():
    n = T.other_runnable()
    assert n is None or n >= 0  # None off Linux
    if n is not None:
        assert T._running_tasks("/proc/self/task") >= 1  # this thread is running


@pytest.mark.parametrize("var", T.ENV_VARS)
def test_environment_variable_wins(no_env, idle, monkeypatch, var):
    monkeypatch.setenv(var, "3")
    n, reason = T.BlasThreads(small_and_large()[1]).decide(256)
    assert n is None and var in reason  # BLAS left as the variable set it


def test_explicit_threads_win_over_everything(no_env, idle, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    small, large = small_and_large()
    assert T.BlasThreads(small, threads=2).decide(64)[0] == 2
    assert T.BlasThreads(large, threads=1).decide(4096)[0] == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_threads_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        ml.Trainer(ml.mlp(4, [3], 2, seed=0), threads=bad)


def test_scope_sets_and_restores(no_env, idle):
    small, large = small_and_large()
    before = blas_threads()
    with threadpool_limits(limits=3, user_api="blas"):
        outer = blas_threads()
        with T.BlasThreads(large).scope(256) as n:
            assert n == 3 and set(blas_threads()) == {3}  # the limit around the call is a ceiling
        with T.BlasThreads(small).scope(64) as n:
            assert n == 1 and set(blas_threads()) == {1}
        with T.BlasThreads(small, threads=2).scope(64) as n:
            assert n == 2 and set(blas_threads()) == {2}
        assert blas_threads() == outer
    assert blas_threads() == before


def _trainer(model, threads=None, epochs=2):
    return ml.Trainer(model, batch_size=64, epochs=epochs, seed=0, threads=threads)


def test_fit_evaluate_predict_restore_the_global_setting(no_env, idle, monkeypatch):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((200, 64)).astype(np.float32), rng.integers(0, 10, 200)
    small = small_and_large()[0]
    seen = []
    real_scope = T.BlasThreads.scope

    def spy(self, rows):
        cm = real_scope(self, rows)

        class Wrap:
            def __enter__(s):
                n = cm.__enter__()
                seen.append((n, sorted(set(blas_threads()))))
                return n

            def __exit__(s, *exc):
                return cm.__exit__(*exc)
        return Wrap()

    monkeypatch.setattr(T.BlasThreads, "scope", spy)
    with threadpool_limits(limits=2, user_api="blas"):
        before = threadpool_info()
        trainer = _trainer(small)
        trainer.fit(X, y, validation=(X, y))
        trainer.evaluate(X, y)
        trainer.predict(X)
        assert threadpool_info() == before
        explicit = _trainer(small, threads=2)
        explicit.fit(X, y)
        assert threadpool_info() == before
    # fit: 2 epochs + 2 validations, evaluate, predict, all 1 thread; then 2 epochs at threads=2
    assert seen[:6] == [(1, [1])] * 6 and seen[6:] == [(2, [2])] * 2


def test_fit_restores_after_an_error(no_env, idle):
    before = threadpool_info()
    trainer = ml.Trainer(ml.mlp(4, [3], 2, seed=0), batch_size=2, epochs=1, threads=1)

    class Boom(ml.callbacks.Callback):
        def on_epoch_end(self, trainer, record):
            raise RuntimeError("boom")

    trainer.callbacks.append(Boom())
    with pytest.raises(RuntimeError, match="boom"):
        trainer.fit(np.zeros((4, 4), np.float32), np.array([0, 1, 0, 1]))
    assert threadpool_info() == before


def test_threads_do_not_change_the_numbers(no_env):
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((300, 64)).astype(np.float64), rng.integers(0, 10, 300)
    runs = []
    for threads in (1, 2):
        model = ml.mlp(64, [80, 70], 10, activation="sigmoid", seed=0, dtype="float64")
        runs.append(_trainer(model, threads=threads, epochs=2).fit(X, y).records)
    for a, b in zip(*runs):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-10)


def test_cli_threads_flag_reaches_the_trainer(tmp_path):
    """`mlplab train --threads 1` trains with one BLAS thread (checked inside the run)."""
    code = textwrap.dedent(f"""
        import mlplab.threads as T
        from threadpoolctl import threadpool_info
        from mlplab.cli import main
        seen = []
        real = T.BlasThreads.scope
        def scope(self, rows):
            seen.append(self.threads)
            return real(self, rows)
        T.BlasThreads.scope = scope
        rc = main(["train", "--epochs", "1", "--hidden", "8", "--no-compare", "--no-progress",
                   "--threads", "1", "--out", {str(tmp_path / "run")!r}])
        assert rc == 0 and seen and set(seen) == {{1}}, (rc, seen)
        print("ok")
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and "ok" in p.stdout, p.stdout[-2000:] + p.stderr[-2000:]
    bad = subprocess.run([sys.executable, "-m", "mlplab.cli", "train", "--threads", "0", "--epochs", "1",
                          "--no-compare", "--no-progress", "--out", str(tmp_path / "bad")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "threads must be a positive integer" in bad.stderr
