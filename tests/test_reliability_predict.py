"""Issue 10 §4: `mlplab predict` scores a model on the test part it was made for, or refuses."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import mlplab as ml
from mlplab.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path | None:
    for candidate in (os.environ.get("MLPLAB_DATA"), "/work/shared/data", ROOT.parent / "shared" / "data"):
        if candidate and (Path(candidate) / "README.md").exists():
            return Path(candidate)
    return None


DATA = _shared_data()


def _train(tmp_path, name, *args):
    assert main(["train", "--no-progress", "--no-compare", "--epochs", "2", "--hidden", "16", "--out",
                 str(tmp_path / name), *args]) == 0
    return tmp_path / name


def _accuracy_line(capsys) -> str:
    out = capsys.readouterr().out.strip().splitlines()
    return out[-1]


def test_the_model_file_records_its_data_and_predict_uses_it(tmp_path, capsys):
    run = _train(tmp_path, "r", "--seed", "3")
    meta = ml.io.read_metadata(run / "model.npz")["metadata"]
    assert meta["data"]["dataset"] == "digits" and meta["data"]["seed"] == 3
    assert meta["data"]["test_size"] == 0.2 and meta["class_names"] == [str(i) for i in range(10)]
    capsys.readouterr()
    assert main(["predict", str(run / "model.npz")]) == 0
    line = _accuracy_line(capsys)
    acc = json.loads((run / "results.json").read_text())["summary"]["mlplab"]["accuracy"]
    assert line.startswith(f"359 test samples, accuracy {acc:.4f} (digits test part, seed 3")
    assert main(["predict", str(run / "model.npz"), "--seed", "0"]) == 0  # another split, on request
    assert "seed 0" in _accuracy_line(capsys)


def test_a_model_without_a_recorded_dataset_needs_dataset(tmp_path, capsys):
    data = ml.data.load("digits", seed=0)
    model = ml.mlp(64, [8], 10, seed=0)
    ml.Trainer(model, epochs=1).fit(data.X_train, data.y_train)
    ml.io.save(model, tmp_path / "plain.npz")
    assert main(["predict", str(tmp_path / "plain.npz")]) == 2
    assert "does not record the dataset" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "plain.npz"), "--dataset", "digits"]) == 0
    assert "359 test samples" in _accuracy_line(capsys)


@pytest.mark.parametrize("n_in, n_out, metadata, message", [
    (64, 3, {}, "predicts 3 classes, but digits has 10"),
    (10, 10, {}, "takes 10 features, but digits has 64"),
    (64, 10, {"class_names": list(ml.data.registry.FASHION_MNIST_CLASSES), "data": {"dataset": "fashion-mnist"}},
     "was trained on the classes T-shirt/top, Trouser"),
])
def test_a_dataset_that_does_not_fit_the_model_is_refused(tmp_path, capsys, n_in, n_out, metadata, message):
    ml.io.save(ml.mlp(n_in, [4], n_out, seed=0), tmp_path / "m.npz", metadata=metadata)
    assert main(["predict", str(tmp_path / "m.npz"), "--dataset", "digits"]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("mlplab: error: ") and len(err.strip().splitlines()) == 1


def test_unreadable_models_and_bad_options(tmp_path, capsys):
    assert main(["predict", str(tmp_path)]) == 1  # a folder
    assert "cannot use model file" in capsys.readouterr().err
    assert main(["predict", str(tmp_path / "missing.npz")]) == 1
    assert "cannot use model file" in capsys.readouterr().err
    run = _train(tmp_path, "r")
    assert main(["predict", str(run / "model.npz"), "--split", "recordings"]) == 2
    assert "--split applies to the arem dataset only" in capsys.readouterr().err


needs = lambda *names: pytest.mark.skipif(DATA is None or not all((DATA / n).is_dir() for n in names),
                                          reason=f"shared {', '.join(names)} data not present ($MLPLAB_DATA)")


@needs("mnist", "fashion-mnist")
def test_an_mnist_model_is_not_scored_on_fashion_mnist(tmp_path, capsys):
    run = _train(tmp_path, "m", "--dataset", "mnist", "--n-train", "300", "--data-home", str(DATA))
    capsys.readouterr()
    assert main(["predict", str(run / "model.npz"), "--data-home", str(DATA)]) == 0
    acc = json.loads((run / "results.json").read_text())["summary"]["mlplab"]["accuracy"]
    assert _accuracy_line(capsys).startswith(f"10000 test samples, accuracy {acc:.4f} (mnist test part")
    assert main(["predict", str(run / "model.npz"), "--dataset", "fashion-mnist", "--data-home", str(DATA)]) == 1
    err = capsys.readouterr().err
    assert "trained on the classes 0, 1, 2, 3, ..." in err and "fashion-mnist has the classes T-shirt/top" in err


@needs("arem")
def test_an_arem_recordings_model_is_scored_on_its_own_split(tmp_path, capsys):
    run = _train(tmp_path, "a", "--dataset", "arem", "--split", "recordings", "--data-home", str(DATA))
    meta = ml.io.read_metadata(run / "model.npz")["metadata"]["data"]
    assert meta["split"] == "recordings"
    capsys.readouterr()
    assert main(["predict", str(run / "model.npz"), "--data-home", str(DATA)]) == 0
    results = json.loads((run / "results.json").read_text())
    line = _accuracy_line(capsys)
    n_test, acc = results["data"]["n_test"], results["summary"]["mlplab"]["accuracy"]
    assert line.startswith(f"{n_test} test samples, accuracy {acc:.4f} (arem test part") and "split recordings" in line
    assert main(["predict", str(run / "model.npz"), "--split", "rows", "--data-home", str(DATA)]) == 0
    assert "split rows" in _accuracy_line(capsys)  # the other split, only when asked for
