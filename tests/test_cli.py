import json
import subprocess
import sys

import numpy as np
import pytest

import mlplab as ml
from mlplab.cli import main


def test_default_train_reaches_097_on_digits(tmp_path, capsys):
    """The README's main job: `mlplab train` with its defaults (the figure itself lives in the README)."""
    assert main(["train", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "scikit-learn MLPClassifier" in out and "mlplab 64-128-64-10" in out
    run = tmp_path / "run"
    for name in ("model.npz", "config.json", "history.csv", "curves.png", "report.md", "results.json"):
        assert (run / name).stat().st_size > 0, name
    results = json.loads((run / "results.json").read_text())
    assert results["summary"]["mlplab"]["accuracy"] >= 0.97
    assert 0 < results["summary"]["sklearn"]["accuracy"] <= 1
    assert (run / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = (run / "report.md").read_text()
    assert "| scikit-learn MLPClassifier |" in report and "BLAS" in report
    history = ml.History.from_csv(run / "history.csv")
    assert len(history) == 50
    model = ml.io.load(run / "model.npz")
    data = ml.data.load("digits", seed=0)
    acc = ml.metrics.accuracy(data.y_test, model.predict(data.X_test))
    assert acc == pytest.approx(results["summary"]["mlplab"]["accuracy"])


def test_train_options_and_config_file(tmp_path, capsys):
    cfg = tmp_path / "cfg.toml"
    cfg.write_text('hidden = "20"\nactivation = "sigmoid"\noptimizer = "momentum"\nlr = 0.1\nepochs = 3\n'
                   'norm = "layernorm"\n')
    rc = main(["train", "--config", str(cfg), "--epochs", "2", "--dtype", "float64", "--no-compare",
               "--no-progress", "--out", str(tmp_path / "r")])
    assert rc == 0
    conf = json.loads((tmp_path / "r" / "config.json").read_text())
    assert conf["epochs"] == 2 and conf["hidden"] == [20] and conf["optimizer"] == "momentum"
    assert conf["norm"] == "layernorm" and conf["dtype"] == "float64"
    assert ml.io.load(tmp_path / "r" / "model.npz").dtype == np.float64
    # the written config is accepted back
    assert main(["train", "--config", str(tmp_path / "r" / "config.json"), "--no-compare", "--no-progress",
                 "--out", str(tmp_path / "r2")]) == 0


def test_bad_config_and_options(tmp_path, capsys):
    cfg = tmp_path / "c.json"
    cfg.write_text('{"hiden": "3"}')
    assert main(["train", "--config", str(cfg)]) == 2
    assert "unknown keys in config file" in (err := capsys.readouterr().err) and "'hiden' (did you mean 'hidden'?)" in err
    assert main(["train", "--optimizer", "adamax"]) == 2
    assert "optimizer must be one of 'sgd'" in capsys.readouterr().err
    assert main(["train", "--hidden", "10,x", "--no-progress"]) == 2
    assert "comma-separated integers" in capsys.readouterr().err
    assert main(["train", "--batch-size", "0", "--no-compare", "--no-progress", "--out", str(tmp_path / "b")]) == 2
    assert "batch_size must be an integer >= 1, got '0'" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_predict_command(tmp_path, capsys):
    main(["train", "--epochs", "3", "--no-compare", "--no-progress", "--out", str(tmp_path / "r")])
    capsys.readouterr()
    assert main(["predict", str(tmp_path / "r" / "model.npz"), "--index", "17", "--index", "3"]) == 0
    out = capsys.readouterr().out
    assert "test sample 17: predicted" in out and "test sample 3" in out
    assert main(["predict", str(tmp_path / "r" / "model.npz")]) == 0
    assert "359 test samples, accuracy" in capsys.readouterr().out
    assert main(["predict", str(tmp_path / "r" / "model.npz"), "--index", "5000"]) == 2
    assert "out of range" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert main(["predict", str(tmp_path / "junk.npz")]) == 1
    assert "cannot use model file" in capsys.readouterr().err


def test_help_explains_every_option():
    out = subprocess.run([sys.executable, "-m", "mlplab.cli", "train", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for opt in ("--dataset", "--hidden", "--activation", "--norm", "--dropout", "--optimizer", "--lr",
                "--weight-decay", "--batch-size", "--epochs", "--seed", "--dtype", "--out"):
        assert opt in out
    top = subprocess.run([sys.executable, "-m", "mlplab.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "train" in top and "predict" in top


def test_split_option_only_for_arem(tmp_path, capsys):
    assert main(["train", "--split", "recordings", "--no-progress", "--out", str(tmp_path / "s")]) == 2
    assert "split applies to the arem dataset only" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_n_train_subset(tmp_path):
    assert main(["train", "--n-train", "300", "--epochs", "2", "--no-compare", "--no-progress",
                 "--out", str(tmp_path / "n")]) == 0
    results = json.loads((tmp_path / "n" / "results.json").read_text())
    assert results["data"]["n_train"] == 300
