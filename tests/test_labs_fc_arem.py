"""Labs 6 and 7 (fc-net, arem) in --quick mode: files, figures, tables, and the CIFAR-10-absent message."""
from __future__ import annotations

import json
import math
import struct
import sys
from pathlib import Path

import pytest

from mlplab.labs import arem, fc_net, run_lab
from mlplab.search import LogUniform, SearchSpace, run_search
from shared_data import SHARED  # the real datasets: $MLPLAB_DATA, else ../shared/data next to the repository

HAS_AREM = (SHARED / "arem" / "walking" / "dataset1.csv").is_file()
HAS_MNIST = (SHARED / "mnist" / "train-images-idx3-ubyte.gz").is_file()

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG header (signature, then the IHDR chunk)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG file"
    assert head[12:16] == b"IHDR", f"{path.name}: first chunk is not IHDR"
    return struct.unpack(">II", head[16:24])


def check_figures(out: Path, names: list[str]) -> None:
    report = (out / "report.md").read_text()
    for name in names:
        path = out / name
        assert path.is_file(), f"{name} missing"
        w, h = png_size(path)
        assert 400 <= w <= 4000 and 250 <= h <= 3000, f"{name}: {w}x{h} px is not a sensible figure size"
        assert 10_000 < path.stat().st_size < 3_000_000, f"{name}: {path.stat().st_size} bytes"
        assert f"]({name})" in report, f"report.md does not show {name}"


def load_results(out: Path) -> dict:
    results = json.loads((out / "results.json").read_text())
    assert results["quick"] is True
    return results


def check_report_layout(out: Path) -> str:
    report = (out / "report.md").read_text()
    lines = [line for line in report.splitlines() if line.strip()]
    assert lines[0].startswith("# ")
    assert not lines[1].startswith(("#", "|", "!")), "the report must open with its summary"
    first_table = report.index("\n| ")
    first_figure = report.index("![")
    assert report.index(lines[1]) < first_table < first_figure
    for section in ("## Compared with the published figures", "## Configuration", "## Environment"):
        assert section in report
    assert "seed 0" in report
    return report


def check_search_path(report: str) -> None:
    """The report names the search that ran: mlplab.search's seeded random search, the only one."""
    assert "mlplab.search.run_search (Optuna, random sampler, seed 0, no pruning" in report
    assert "seeded random search of the lab" not in report


# --------------------------------------------------------------------------------------------- arem

@pytest.mark.skipif(not HAS_AREM, reason="shared AReM data not present")
def test_arem_quick(tmp_path):
    out = run_lab("arem", out=tmp_path / "arem", quick=True, data_home=SHARED)
    check_figures(out, ["stages_rows.png", "stages_recordings.png", "early_stopping.png", "confusion.png"])
    report = check_report_layout(out)
    assert "0.765" in report and "split by recordings" in report
    check_search_path(report)
    tables = load_results(out)["tables"]
    splits = list(arem.SPLITS)

    # every configuration of every stage, for both splits
    stages = tables["stages"][1:]
    expected = {(arem.SPLITS[s], what, arem.value_label(key, v)) for s in splits for key, what, values in arem.STAGES
                for v in values}
    assert {(r[0], r[1], r[2]) for r in stages} == expected
    assert len(stages) == len(expected) == 2 * 14
    for split in splits:
        kept = [r for r in stages if r[0] == arem.SPLITS[split] and r[-1] == "kept"]
        assert len(kept) == len(arem.STAGES), "one kept value per stage"

    lr_rows = tables["lr_search"][1:]
    assert len(lr_rows) == 2 * arem.QUICK.search_trials
    for r in lr_rows:
        assert 1e-5 <= float(r[2]) <= 1e-2

    final = tables["final"][1:]
    assert {r[0] for r in final} == {arem.SPLITS[s] for s in splits}
    for r in final:
        assert 0.0 <= r[7] <= 1.0 and 1 <= r[4] <= r[3]   # test accuracy; epoch kept <= epochs run

    per_class = tables["per_class"]
    assert [r[0] for r in per_class[1:]] == ["bending", "cycling", "lying", "sitting", "standing", "walking", "all"]
    assert len(tables["inference"]) == 1 + 2
    assert {r[0] for r in tables["data"][1:]} == {arem.SPLITS[s] for s in splits}


def test_arem_configurations_are_the_issues():
    stages = {key: values for key, _, values in arem.STAGES}
    assert stages["scaler"] == (None, "minmax", "standard")
    assert stages["hidden"] == ((30, 30), (50, 50), (50, 50, 50))
    assert stages["optimizer"] == ("momentum", "rmsprop", "adam")
    assert stages["activation"] == ("sigmoid", "relu", "leaky_relu")
    assert stages["dropout"][0] == 0.0 and len(stages["dropout"]) == 2
    assert arem.FULL.search_trials == 20 and arem.LR_SPACE["lr"] == LogUniform(1e-5, 1e-2)  # 10 ** U(-5, -2)
    published = arem.Config()
    assert (published.hidden, published.optimizer, published.activation, published.scaler) == \
        ((50, 50, 50), "adam", "sigmoid", "standard")
    assert abs(published.lr - 0.0017) < 1e-4


# ------------------------------------------------------------------------------------------- fc-net

FC_FIGURES = ["overfit.png", "weight_scale.png", "search.png", "best_model.png"]


def check_fc_tables(tables: dict, trials: int) -> None:
    assert len(tables["overfit"]) == 1 + len(fc_net.OVERFIT_CONFIGS)
    assert len(tables["weight_scale"]) == 1 + len(fc_net.WEIGHT_SCALES)
    grid = tables["weight_scale_grid"][1:]
    assert len(grid) == len(fc_net.DEPTHS) * len(fc_net.GRID_LRS) * len(fc_net.WEIGHT_SCALES)
    assert len({tuple(r[:3]) for r in grid}) == len(grid)
    assert len(tables["search"]) == 1 + trials
    assert sum(r[-1] == "best" for r in tables["search"][1:]) == 1
    (final,) = tables["final"][1:]
    train, val, test = final[4:7]
    assert all(0.0 <= v <= 1.0 for v in (train, val, test))


def test_fc_net_quick_without_cifar10_runs_on_digits_and_says_how_to_get_it(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    out = run_lab("fc-net", out=tmp_path / "fc", quick=True, data_home=empty)
    check_figures(out, FC_FIGURES)
    report = check_report_layout(out)
    assert "CIFAR-10 is not in the data folder" in report
    assert "`mlplab data fetch cifar10`" in report and "--dataset mnist" in report
    check_search_path(report)
    results = load_results(out)
    assert results["config"]["dataset"] == "digits"
    settings = fc_net.quick_settings("digits")
    check_fc_tables(results["tables"], settings.search_trials)
    # the lab's search is mlplab.search's seeded random search: the same trials, the same values
    library = run_search(fc_net.search_space(settings), "digits", n_trials=settings.search_trials, sampler="random",
                         pruner="none", seed=0, val_size=settings.val_size, n_train=settings.n_train)
    rows = results["tables"]["search"][1:]
    assert [(r[1], r[2], r[3], r[6]) for r in rows] == [
        (f"{t.params['lr']:.3g}", f"{t.params['weight_scale']:.3g}", t.params["batch_size"], t.value)
        for t in library.study.trials]
    # the sanity check: every network memorises the 50 samples (digits are easy, 40 epochs of Adam)
    assert all(r[4] == 1.0 for r in results["tables"]["overfit"][1:])
    assert (out / "model.npz").is_file()


def test_fc_net_full_without_cifar10_stops_with_the_message(tmp_path):
    empty = tmp_path / "no-data"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"mlplab data fetch cifar10.*--dataset mnist"):
        run_lab("fc-net", out=tmp_path / "fc-full", quick=False, data_home=empty)
    # asked for explicitly, even a quick run does not fall back
    with pytest.raises(FileNotFoundError, match="CIFAR-10 is not in the data folder"):
        run_lab("fc-net", out=tmp_path / "fc-q", quick=True, data_home=empty, options={"dataset": "cifar10"})


def test_fc_net_cli_message_without_cifar10(tmp_path, capsys):
    from mlplab.cli import main

    empty = tmp_path / "no-data"
    empty.mkdir()
    # a missing dataset is a runtime failure (exit 1)
    assert main(["lab", "fc-net", "--data-home", str(empty), "--out", str(tmp_path / "fc")]) == 1
    err = capsys.readouterr().err
    assert "CIFAR-10 is not in the data folder" in err and "mlplab data fetch cifar10" in err


def test_fc_net_unknown_dataset(tmp_path):
    with pytest.raises(ValueError, match="fc-net runs on"):
        run_lab("fc-net", out=tmp_path / "fc", quick=True, options={"dataset": "arem"})


@pytest.mark.skipif(not HAS_MNIST, reason="shared MNIST data not present")
def test_fc_net_quick_on_mnist(tmp_path):
    out = run_lab("fc-net", out=tmp_path / "fc-mnist", quick=True, data_home=SHARED, options={"dataset": "mnist"})
    check_figures(out, FC_FIGURES)
    results = load_results(out)
    assert results["config"]["dataset"] == "mnist"
    report = (out / "report.md").read_text()
    assert "--dataset mnist" in report  # the command line to rerun it
    check_search_path(report)
    check_fc_tables(results["tables"], fc_net.quick_settings("mnist").search_trials)


# ----------------------------------------------------------------------------------- the labs' searches

def test_the_labs_search_with_mlplab_search_and_keep_their_trial_counts():
    fc_space = fc_net.search_space(fc_net.FULL["cifar10"])
    assert isinstance(fc_space, SearchSpace)
    assert set(fc_space.params) == {"lr", "weight_scale", "batch_size", "dropout", "norm"}
    assert fc_space.fixed["hidden"] == "256,128" and fc_space.fixed["epochs"] == fc_net.FULL["cifar10"].search_epochs
    assert fc_net.FULL["cifar10"].search_trials == 20 and fc_net.quick_settings("digits").search_trials == 3
    arem_space = arem.search_space(arem.Config(), arem.FULL)
    assert arem_space.params == {"lr": LogUniform(1e-5, 1e-2)}
    assert arem_space.fixed["epochs"] == arem.FULL.stage_epochs and arem_space.fixed["batch_size"] == 100
    assert arem.QUICK.search_trials == 3


@pytest.mark.parametrize("lab", ["fc-net", "arem"])
def test_a_lab_without_optuna_says_how_to_install_it_before_training(tmp_path, monkeypatch, capsys, lab):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "mlplab\[search\]"'):
        run_lab(lab, out=tmp_path / lab, quick=True, data_home=tmp_path)
    assert not (tmp_path / lab).exists()  # refused before its folder was made
    from mlplab import cli

    assert cli.main(["lab", lab, "--quick", "--out", str(tmp_path / lab)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mlplab: error: hyperparameter search needs Optuna")
    assert not (tmp_path / lab).exists()


def test_trials_from_a_library_search_table():
    from mlplab.labs.base import trials_from_table

    table = [{"trial": 0, "state": "complete", "val_accuracy": 0.8, "epochs": 5, "seconds": 1.5, "lr": 1e-3,
              "norm": "none", "worker": "h:1", "note": ""},
             {"trial": 1, "state": "pruned", "val_accuracy": 0.3, "epochs": 2, "seconds": 0.5, "lr": 1e-4,
              "norm": "batchnorm", "worker": "h:1", "note": "pruned after epoch 2"}]
    trials = trials_from_table(table, ["lr", "norm"])
    assert [t["number"] for t in trials] == [0, 1]
    assert trials[0]["params"] == {"lr": 1e-3, "norm": "none"} and trials[0]["value"] == 0.8
    assert trials[1]["value"] == -math.inf and trials[1]["info"]["note"] == "pruned after epoch 2"

