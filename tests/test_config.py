"""TrainConfig: the one source of defaults, parsing and validation of a training configuration."""
import dataclasses
import json
import os
import re
import subprocess
import sys
import time

import pytest

import mlplab as ml
from mlplab._files import atomic_write_text, clean_stale_temporaries
from mlplab.config import (
    CONSTRAINTS,
    ConfigError,
    TrainConfig,
    estimate_training_memory,
    parse_hidden,
)
from mlplab.train import build_trainer


@pytest.mark.parametrize("field, value, message", [
    ("hidden", [2.5], "hidden must be a list of integers >= 1"),
    ("hidden", ",,,", "hidden must be comma-separated integers"),
    ("hidden", "128,,64", "hidden must be comma-separated integers"),
    ("hidden", "10,x", "hidden must be comma-separated integers"),
    ("hidden", [0], "hidden must be a list of integers >= 1"),
    ("hidden", [True], "hidden must be a list of integers >= 1"),
    ("hidden", 2.0, "hidden must be a list of integers >= 1"),
    ("activation", "swish", "activation must be one of 'sigmoid'"),
    ("norm", "groupnorm", "norm must be None or one of 'batchnorm', 'layernorm'"),
    ("dropout", 1.0, "dropout must be a number in [0, 1)"),
    ("dropout", -0.1, "dropout must be a number in [0, 1)"),
    ("init", "glorot", "init must be None or one of 'he'"),
    ("init", 0.0, "or a number in (0, inf)"),
    ("scaler", "robust", "scaler must be None or one of 'standard', 'minmax'"),
    ("optimizer", "adamax", "optimizer must be one of 'sgd'"),
    ("lr", 0, "lr must be a number in (0, inf)"),
    ("lr", float("inf"), "lr must be a number in (0, inf)"),
    ("lr", "0.1", "lr must be a number in (0, inf), got '0.1'"),
    ("weight_decay", -1e-4, "weight_decay must be a number in [0, inf)"),
    ("batch_size", 0, "batch_size must be an integer >= 1"),
    ("batch_size", 2.5, "batch_size must be an integer >= 1"),
    ("epochs", 3.0, "epochs must be an integer >= 1, got 3.0"),
    ("seed", True, "seed must be an integer >= 0"),
    ("seed", -1, "seed must be an integer >= 0"),
    ("dtype", "float16", "dtype must be one of 'float32', 'float64'"),
    ("dataset", "imagenet", "dataset must be one of 'digits'"),
    ("n_train", 0, "n_train must be None or an integer >= 1"),
    ("split", "random", "split must be None or one of 'rows', 'recordings'"),
])
def test_bad_values_are_refused_not_coerced(field, value, message):
    with pytest.raises(ConfigError) as info:
        TrainConfig.from_dict({field: value})
    assert message in str(info.value) and repr(value) in str(info.value)


def test_every_field_has_a_constraint_default_and_help():
    assert set(CONSTRAINTS) == set(TrainConfig.field_names())
    for name in TrainConfig.field_names():
        assert TrainConfig.field_help(name)
    d = TrainConfig()  # the defaults satisfy their own constraints (checked on construction)
    assert d.hidden == (128, 64) and d.optimizer == "adam" and d.lr == 1e-3 and d.scaler == "standard"


def test_accepted_spellings_become_one_canonical_form():
    c = TrainConfig.from_dict({"hidden": "20, 10", "norm": "none", "scaler": "None", "init": "0.01",
                               "activation": "ReLU", "batch-size": 16, "data_home": "/x"})
    assert c.hidden == (20, 10) and c.norm is None and c.scaler is None and c.init == 0.01
    assert c.activation == "relu" and c.batch_size == 16 and c.data_home == "/x"
    assert TrainConfig(hidden=[5]).hidden == (5,) and TrainConfig(init="default").init is None
    assert parse_hidden(7) == (7,) and TrainConfig(hidden=[]).hidden == ()  # no hidden layer: softmax regression
    assert TrainConfig(dataset="arem", split="recordings").split == "recordings"
    assert TrainConfig.from_dict({"dataset": "arem", "split": "none"}).split is None


def test_dict_round_trip_and_replace():
    c = TrainConfig(hidden=(7, 5), lr=0.05, norm="layernorm", init=0.02, epochs=3)
    d = c.to_dict()
    assert json.loads(json.dumps(d)) == d and d["hidden"] == [7, 5]
    assert TrainConfig.from_dict(d) == c
    with pytest.raises(ConfigError, match="epochs must be"):
        dataclasses.replace(c, epochs=0)
    assert c.replace(epochs=9).epochs == 9


def test_unknown_keys_name_the_close_match():
    with pytest.raises(ConfigError, match=r"'learning_rate'.*known keys: dataset"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match=r"'hiden' \(did you mean 'hidden'\?\)"):
        TrainConfig.from_dict({"hiden": "3"})


def test_from_file(tmp_path):
    (tmp_path / "c.toml").write_text('hidden = [20]\nlr = 0.1\noptimizer = "momentum"\n')
    assert TrainConfig.from_file(tmp_path / "c.toml") == TrainConfig(hidden=(20,), lr=0.1, optimizer="momentum")
    (tmp_path / "c.json").write_text('{"hidden": "20", "epochs": 3}')
    assert TrainConfig.from_file(tmp_path / "c.json").epochs == 3
    cases = {"list.json": ("[1, 2]", "must be a table of options"),
             "str.json": ('"x"', "must be a table of options"),
             "bad.toml": ("lr = = 1", "cannot parse config file"),
             "bad.json": ("{", "cannot parse config file"),
             "bin.json": (b"\xff\xfe", "cannot read config file")}
    for name, (text, message) in cases.items():
        p = tmp_path / name
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
        with pytest.raises(ConfigError, match=message):
            TrainConfig.from_file(p)
    with pytest.raises(ConfigError, match="is a folder"):
        TrainConfig.from_file(tmp_path)
    with pytest.raises(ConfigError, match="not found"):
        TrainConfig.from_file(tmp_path / "nope.toml")


def test_build_trainer_builds_what_the_config_says():
    c = TrainConfig(hidden=(12,), activation="tanh", norm="batchnorm", dropout=0.1, init=0.05, scaler="minmax",
                    optimizer="momentum", lr=0.02, weight_decay=1e-3, batch_size=8, epochs=2, seed=3, dtype="float64")
    model, trainer = build_trainer(c, 6, 4)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds == ["MinMaxScale", "Dense", "BatchNorm", "Tanh", "Dropout", "Dense"]
    assert model.dtype == "float64" and model.layers[1].weight.data.shape == (12, 6)
    opt = trainer.optimizer
    assert type(opt).__name__ == "Momentum" and opt.lr == 0.02 and opt.weight_decay == 1e-3
    assert trainer.batch_size == 8 and trainer.epochs == 2
    # the same weights from the same config, whether given as a TrainConfig or as a dict
    model2, _ = build_trainer(c.to_dict(), 6, 4)
    assert all((a == b).all() for a, b in zip(model.get_state(), model2.get_state()))
    with pytest.raises(ConfigError, match="dropout"):
        build_trainer({"dropout": 2}, 6, 4)


def test_memory_estimate_is_exact_in_parameters():
    n, nbytes = estimate_training_memory(TrainConfig(hidden=(100000, 100000)), 64, 10)
    assert n == 64 * 100000 + 100000 + 100000 * 100000 + 100000 + 100000 * 10 + 10
    assert nbytes > 6 * 4 * n  # weights, gradients, Adam's two moments, two kept copies
    assert ml.mlp(64, [32], 10).n_parameters() == estimate_training_memory(TrainConfig(hidden=(32,)), 64, 10)[0]


def test_train_help_shows_trainconfig_defaults():
    out = subprocess.run([sys.executable, "-m", "mlplab", "train", "--help"], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": "200"}).stdout
    d = TrainConfig()
    for flag, value in [("--hidden", "128,64"), ("--lr", d.lr), ("--epochs", d.epochs), ("--dropout", d.dropout),
                        ("--batch-size", d.batch_size), ("--optimizer", d.optimizer), ("--scaler", d.scaler)]:
        shown = re.search(rf"\s{flag} \S+ .*?\(default: ([^)]*)\)", " ".join(out.split()))
        assert shown and shown.group(1) == str(value), (flag, shown and shown.group(0))


def test_stale_temporaries_are_removed_by_the_next_write(tmp_path):
    target = tmp_path / "m.json"
    dead = tmp_path / ".m.json.999999999.abc.tmp"        # no such process
    mine = tmp_path / f".m.json.{os.getpid()}.abc.tmp"   # this process may be writing it
    alive = tmp_path / ".m.json.1.abc.tmp"              # pid 1 is alive
    old = tmp_path / ".m.json.abcdef.tmp"               # no pid (older mlplab): removed when old
    other = tmp_path / ".n.json.999999999.abc.tmp"      # another target's
    for p in (dead, mine, alive, old, other):
        p.write_text("partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    atomic_write_text(target, "{}")
    assert target.read_text() == "{}"
    assert not dead.exists() and not old.exists()
    assert mine.exists() and alive.exists() and other.exists()
    assert clean_stale_temporaries(target) == []
