"""The benchmark suite (benchmarks/, docs/performance.md) runs end to end in --quick mode, so it never
rots. Nothing here asserts a time: CI machines differ, and a shared one is noisy."""
from __future__ import annotations

import json
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
    assert set(report["workloads"]) == {"W1", "W2", "W3", "W4"}
    env = report["environment"]
    assert env["threads"] == 1 and env["blas"], env
    assert all({"library", "kernel", "threads"} <= set(b) for b in env["blas"])
    for name, w in report["workloads"].items():
        res = w["results"]
        expected = {"mlplab float32", "mlplab float64", "sklearn float32", "sklearn float64",
                    "limit float32", "limit float64"}
        assert expected <= set(res), (name, sorted(res))
        for key, r in res.items():
            assert r["epoch_seconds"] > 0 and len(r["runs"]) == 1, (name, key)
            if not key.startswith("limit"):
                assert 0.0 <= r["accuracy"] <= 1.0
        assert res["mlplab float32"]["mlplab_over_limit"] > 0
        assert res["sklearn float32"]["peer_over_mlplab"] > 0
        assert res["sklearn float32"]["runs"][0]["coef_dtype"] == "float32"  # scikit-learn kept float32
        assert "mlplab float32" in w["memory"]
    names = [t["target"] for t in report["targets"]]
    assert any(n.startswith("W3 mlplab f32 / limit") for n in names)
    assert any("accuracy f32 within 0.5 pp" in n for n in names)


def test_quick_run_writes_the_markdown_table(quick_run):
    out, stdout = quick_run
    md = (out / "results.md").read_text()
    assert "| workload | contender | dtype | s/epoch (median) |" in md
    assert "| target | measured | met |" in md
    assert "BLAS:" in md and "Threads: 1" in md
    assert md.strip() in stdout


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
