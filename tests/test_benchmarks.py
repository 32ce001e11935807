"""The benchmark suite (benchmarks/, docs/performance.md) runs end to end in --quick mode, so it never
rots. Nothing here asserts a time: CI machines differ, and a shared one is noisy."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, proc.stdout


def test_quick_run_writes_every_figure(quick_run):
    out, stdout = quick_run
    report = json.loads((out / "results.json").read_text())
    assert set(report["workloads"]) == {"W1", "W2", "W3", "W4", "M"}
    env = report["environment"]
    assert env["threads"] == ["1"] and env["busy"] == 0 and env["blas"], env
    assert all({"library", "kernel", "threads"} <= set(b) for b in env["blas"])
    for name, w in report["workloads"].items():
        res = w["results"]
        expected = {"mlplab float32 1", "mlplab float64 1", "limit float32 1", "limit float64 1"}
        if name != "M":  # the README command: mlplab and its limit only
            expected |= {"sklearn float32 1", "sklearn float64 1"}
        assert expected <= set(res), (name, sorted(res))
        for key, r in res.items():
            assert r["epoch_seconds"] > 0 and len(r["runs"]) == 1, (name, key)
            if not key.startswith("limit"):
                assert 0.0 <= r["accuracy"] <= 1.0
        assert res["mlplab float32 1"]["mlplab_over_limit"] > 0
        assert res["mlplab float32 1"]["runs"][0]["engine_threads"] == 1  # Trainer(threads=1)
        if name != "M":
            assert res["sklearn float32 1"]["peer_over_mlplab"] > 0
            assert res["sklearn float32 1"]["runs"][0]["coef_dtype"] == "float32"  # scikit-learn kept float32
        assert "mlplab float32 1" in w["memory"]
    assert report["workloads"]["M"]["description"].startswith("M README MNIST command: 784-256-128-10 relu, dropout")
    names = [t["target"] for t in report["targets"]]
    assert any(n.startswith("W3 mlplab f32 / limit <= 1.3") for n in names)
    assert any(n.startswith("M (README MNIST command) mlplab / best limit <= 1.5") for n in names)
    assert any("accuracy f32 within 0.5 pp" in n for n in names)


def test_quick_run_writes_the_markdown_table(quick_run):
    out, stdout = quick_run
    md = (out / "results.md").read_text()
    assert "| workload | contender | dtype | threads | s/epoch (median) |" in md
    assert "| target | measured | met |" in md
    assert "BLAS:" in md and "Thread settings: 1 " in md and "Background load: 0" in md
    assert md.strip() in stdout


def test_default_threads_and_busy_mode(tmp_path):
    """`--threads 1,default --busy 1`: both settings side by side, under one background process."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick", "--workloads", "W1", "--threads",
                           "1,2,default", "--busy", "1", "--contenders", "mlplab,limit", "--no-memory",
                           "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "results.json").read_text())
    assert report["environment"]["threads"] == ["1", "2", "default"] and report["environment"]["busy"] == 1
    res = report["workloads"]["W1"]["results"]
    assert set(res) == {"mlplab float32 1", "mlplab float64 1", "limit float32 1", "limit float64 1",
                        "mlplab float32 2", "limit float32 2", "mlplab float32 default", "limit float32 default"}
    assert res["mlplab float32 2"]["runs"][0]["engine_threads"] == 2
    # default: the engine chose (one thread for the digits net, whatever the load)
    assert res["mlplab float32 default"]["runs"][0]["engine_threads"] == 1
    targets = {t["target"]: t for t in report["targets"]}
    assert "W1 mlplab default threads / best of 1 and 2 <= 1.2 (--busy 1)" in targets
    md = (tmp_path / "results.md").read_text()
    assert "| W1 | mlplab | 32 | default (engine: 1) |" in md and "Background load: 1 " in md


def test_busy_processes_are_cpu_bound_and_stopped():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.busy import busy
    finally:
        sys.path.remove(str(ROOT))
    import time

    with busy(2) as procs:
        assert len(procs) == 2
        time.sleep(1.0)
        assert all(p.poll() is None for p in procs)  # still working
        cpu = [_cpu_seconds(p.pid) for p in procs]
        time.sleep(0.5)
        assert all(_cpu_seconds(p.pid) > c for p, c in zip(procs, cpu))  # using the CPU
    assert all(p.poll() is not None for p in procs)  # stopped by the benchmark
    with busy(1, max_seconds=0.1) as procs:  # bounded by itself, too
        procs[0].wait(timeout=30)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_help_lists_the_targets():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "--quick" in proc.stdout and "W3" in proc.stdout


def test_matmul_limit_counts_exactly_the_products_of_an_epoch():
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks.contenders import epoch_flops, matmul_plan
        from benchmarks.workloads import Workload
    finally:
        sys.path.remove(str(ROOT))
    import numpy as np

    w = Workload("t", "t", [5, 4, 3], "relu", "adam", 1e-3, 2, 1, X_train=np.zeros((6, 5), np.float32))
    # forward x Wᵀ for both layers, dyᵀ x for both, dy W for the second only
    assert [k for k, _ in matmul_plan(w)] == ["forward", "weight grad", "forward", "weight grad", "input grad"]
    assert epoch_flops(w) == 6 * 2 * (5 * 4 + 4 * 3 + 5 * 4 + 4 * 3 + 4 * 3)


def test_kernels_benchmark_runs_the_trainer_compiled_and_without_numba(tmp_path):
    """`python -m benchmarks.kernels --quick`: compile times (cold and warm cache) and one epoch of the
    Trainer compiled, the Trainer with MLPLAB_NUMBA=0, the kernels composed and the limit, side by side."""
    out = tmp_path / "kernels.json"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.kernels", "--quick", "--workloads", "W1", "--repeats", "1",
                           "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["compile"]) == {"cold cache", "warm cache"}
    assert set(report["W1"]["epoch_seconds"]) >= {"trainer", "trainer numpy", "fused numpy", "limit"}
    # the same network, data and order: every contender reaches the same test accuracy
    acc = report["W1"]["accuracy"]
    assert acc["trainer"] == pytest.approx(acc["trainer numpy"], abs=0.01)
    assert "| W1 | wall |" in proc.stdout


@pytest.mark.parametrize("args", [["W1", "--quick"], ["--scaler", "--quick"]], ids=["epoch", "scaler"])
def test_epoch_profile_runs(args):
    """`python -m benchmarks.epoch_profile`: the profiles docs/performance.md quotes."""
    proc = subprocess.run([sys.executable, "-m", "benchmarks.epoch_profile", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if args[0] == "W1":
        assert "| function | calls | own seconds | share |" in proc.stdout and "_run_epoch" in proc.stdout
    else:
        assert "- reference:" in proc.stdout and "- fast:" in proc.stdout
