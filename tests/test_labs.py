"""The course labs dnn, optimizers, optimizer-race, batchnorm and overfitting in --quick mode.

Each lab must write report.md, results.json and the PNG figures its report shows; every figure must
be a valid PNG of a readable size, and the report's tables must have a row for every configuration
the lab defines. MNIST comes from shared/data beside the repository (as in CI).
"""
from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from mlplab.labs import available_labs, get_lab, run_lab
from mlplab.plots import optimizer_label, smooth_curve
from shared_data import SHARED as SHARED_DATA

MNIST_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "t10k-labels-idx1-ubyte.gz")
HAVE_MNIST = all((SHARED_DATA / "mnist" / f).is_file() for f in MNIST_FILES)
LABS = ("dnn", "optimizers", "optimizer-race", "batchnorm", "overfitting")
NEEDS_MNIST = {"optimizer-race", "batchnorm", "overfitting"}


@pytest.fixture(autouse=True)
def one_blas_thread():
    """Tests run in parallel workers on few cores: one BLAS thread each (small matrices gain nothing from
    more, and oversubscribed OpenBLAS threads slow them down many times)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; fails if the file is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG file"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, f"{path.name}: first chunk is not IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", f"{path.name} does not end with IEND (truncated?)"
    return width, height


def table_rows(report: str, first_cells: list[str]) -> None:
    """Every name in ``first_cells`` starts a row of a Markdown table in ``report``."""
    starts = {line.split("|")[1].strip() for line in report.splitlines() if line.startswith("| ")}
    missing = [c for c in first_cells if c not in starts]
    assert not missing, f"report.md has no table row for {missing}"


def expected_rows(name: str) -> dict[str, list[str]]:
    """Table name in results.json -> the first cells of the rows the lab defines."""
    module = get_lab(name)
    if name == "dnn":
        q = module.QUICK_EPOCHS
        return {"results": ["mlplab (this lab, loop written out)", "scikit-learn MLPClassifier"],
                "loss_log": [str(e) for e in range(0, q + 1, module.QUICK_LOG_EVERY)]}
    if name == "optimizers":
        return {"results": [optimizer_label(o) for o in module.OPTIMIZERS]
                + [f"scikit-learn ({s})" for s in module.SKLEARN]}
    if name == "optimizer-race":
        from mlplab.labs.optimizers import OPTIMIZERS

        return {"race": [optimizer_label(o) for o in OPTIMIZERS], "paths": [optimizer_label(o) for o in module.PATH_LR]}
    if name == "batchnorm":
        return {"final_accuracy": [f"{s:.3g}" for s in module.WEIGHT_SCALES],
                "summary": [module.variant_label(*v) for v in module.VARIANTS]}
    if name == "overfitting":
        return {"results": list(module.CONFIGS)}
    raise AssertionError(name)


@pytest.mark.parametrize("name", LABS)
def test_quick_lab_writes_report_figures_and_tables(name, tmp_path):
    if name in NEEDS_MNIST and not HAVE_MNIST:
        pytest.skip(f"MNIST files not found in {SHARED_DATA / 'mnist'}")
    messages = []
    out = run_lab(name, out=tmp_path / name, quick=True, seed=0, data_home=SHARED_DATA, echo=messages.append)
    assert messages, "the lab should report progress through echo"
    report = (out / "report.md").read_text(encoding="utf-8")
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert results["lab"] == name and results["quick"] is True

    # the report: summary, tables, figures, published comparison, configuration, environment
    assert report.startswith("# ") and "**Quick mode**" in report
    for section in ("## Figures", "## Compared with the published figures", "## Configuration", "## Environment"):
        assert section in report, section
    assert "seed 0" in report and "NumPy" in report and "BLAS" in report

    # every figure shown exists and is a readable PNG
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report)
    assert figures, "the report shows no figure"
    assert sorted(figures) == sorted(p.name for p in out.glob("*.png")), "figures on disk and in the report differ"
    for fig in figures:
        w, h = png_size(out / fig)
        assert 400 <= w <= 4000 and 300 <= h <= 4000, f"{fig} is {w}x{h} px"

    # a row for every configuration the lab defines, in results.json and in report.md
    for table, first_cells in expected_rows(name).items():
        rows = results["tables"][table][1:]
        assert [str(r[0]) for r in rows] == first_cells, table
        table_rows(report, first_cells)
        for row in rows:  # no empty or NaN cells
            assert all(c is not None and c == c and c != "" for c in row), row


def test_lab_list_shows_these_labs(capsys):
    from mlplab.cli import main

    assert main(["lab", "list"]) == 0
    out = capsys.readouterr().out
    labs = available_labs()
    for name in LABS:
        assert name in labs and len(labs[name]) < 120
        assert re.search(rf"^{re.escape(name)}\s+{re.escape(labs[name])}$", out, re.M)


def test_bowl_paths_follow_the_update_rules():
    """SGD on f = x²/20 + y² shrinks each coordinate geometrically: x by (1 - η/10), y by (1 - 2η);
    Momentum's first step equals SGD's; every path starts at (-7, 2)."""
    race = get_lab("optimizer-race")
    eta = race.PATH_LR["sgd"]["lr"]
    path = race.optimizer_path("sgd")
    k = np.arange(path.shape[0])
    np.testing.assert_allclose(path[:, 0], -7.0 * (1 - eta / 10) ** k, rtol=1e-12)
    np.testing.assert_allclose(path[:, 1], 2.0 * (1 - 2 * eta) ** k, rtol=1e-12, atol=1e-15)
    mom = race.optimizer_path("momentum", steps=1, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(mom[1], [-7 + 0.1 * 0.7, 2 - 0.1 * 4])
    for name in race.PATH_LR:
        p = race.optimizer_path(name)
        assert p.shape == (race.PATH_STEPS + 1, 2) and tuple(p[0]) == race.START
        assert race.bowl(*p[-1]) < race.bowl(*p[0]) / 10, name


def test_smooth_curve_keeps_length_and_constants():
    for n in (1, 2, 3, 10, 11, 100):
        x = np.linspace(0, 1, n)
        assert smooth_curve(x).shape == (n,)
    np.testing.assert_allclose(smooth_curve(np.full(50, 3.0)), 3.0)
    noisy = np.sin(np.linspace(0, 6, 400)) + np.random.default_rng(0).normal(0, 0.3, 400)
    assert np.std(np.diff(smooth_curve(noisy, 31))) < np.std(np.diff(noisy)) / 5


def test_batchnorm_runs_share_initial_weights_across_normalizations():
    """At a given scale the with/without-norm runs start from the same Dense weights (a fair comparison)."""
    import mlplab as ml
    from mlplab.layers import Dense

    bn = get_lab("batchnorm")
    w = [[l.weight.data for l in ml.mlp(784, bn.HIDDEN, 10, norm=norm, init=0.01, seed=0).layers
          if isinstance(l, Dense)] for norm in (None, "batchnorm", "layernorm")]
    for a, b, c in zip(*w):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
