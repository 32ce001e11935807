"""Hyperparameter search (mlplab.search, mlplab search): spaces, samplers, pruning, storages, workers, CLI.

Needs Optuna (the ``search`` extra). Trials here are tiny networks trained for a few epochs on digits,
so that the whole file runs in well under a minute on two cores.
"""
from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import optuna  # the search extra is part of the test extra: a missing Optuna fails here, it is never skipped

from mlplab import cli  # noqa: E402
from mlplab import search  # noqa: E402
from mlplab.search import Categorical, Int, LogUniform, Uniform, load_space, run_search  # noqa: E402
from mlplab.config import TrainConfig  # noqa: E402
from mlplab.search import cli as search_cli  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TS = optuna.trial.TrialState

#: the accuracy the seeded random search on digits is documented (docs/search.md) to reach
STATED_VAL_ACCURACY = 0.95

SMALL = {"hidden": "32", "epochs": 4, "batch_size": 64, "dropout": 0.0}


pytestmark = pytest.mark.usefixtures("quiet_optuna")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------ spaces

def test_toml_space_equals_python_space_and_example_parses(tmp_path):
    toml = tmp_path / "space.toml"
    toml.write_text(textwrap.dedent("""
        lr = { type = "log_uniform", low = 1e-4, high = 1e-1 }
        dropout = { type = "uniform", low = 0.0, high = 0.5, step = 0.1 }
        units = { type = "int", low = 16, high = 128, log = true }
        n_layers = { type = "int", low = 1, high = 3 }
        norm = { type = "categorical", choices = ["none", "batchnorm"] }
        epochs = 7
    """))
    py = {"lr": LogUniform(1e-4, 1e-1), "dropout": Uniform(0.0, 0.5, step=0.1), "units": Int(16, 128, log=True),
          "n_layers": Int(1, 3), "norm": Categorical([None, "batchnorm"]), "epochs": 7}
    assert load_space(toml).to_dict() == load_space(py).to_dict()
    assert set(load_space(toml).params) == {"lr", "dropout", "units", "n_layers", "norm"}
    assert load_space(toml).fixed == {"epochs": 7}

    example = load_space(ROOT / "examples" / "space.toml")
    assert {"lr", "optimizer", "hidden", "dropout"} <= set(example.params)
    assert example.fixed["epochs"] >= 1


def test_space_to_config_builds_training_configurations():
    # a left-out parameter takes `mlplab train`'s value (TrainConfig's default)
    assert TrainConfig.from_dict(search.BASE_CONFIG) == TrainConfig()
    space = load_space({"n_layers": Int(1, 3), "units": Categorical([32, 64]), "weight_scale": LogUniform(1e-3, 1e-1),
                        "norm": Categorical(["none", "layernorm"]), "lr": 0.01})
    cfg = space.to_config({"n_layers": 3, "units": 64, "weight_scale": 0.02, "norm": "none"})
    assert set(cfg) | {"data_home"} == set(TrainConfig.field_names())
    assert cfg["hidden"] == "64,64,64" and cfg["init"] == 0.02 and cfg["norm"] is None and cfg["lr"] == 0.01
    assert TrainConfig.from_dict(cfg).hidden == (64, 64, 64)
    hidden = load_space({"hidden": Categorical([[128, 64], "256"]), "epochs": 3})
    assert hidden.params["hidden"].choices == ("128,64", "256")
    assert hidden.grid() == {"hidden": ["128,64", "256"]}


@pytest.mark.parametrize("space, message", [
    ({"learning_rate": LogUniform(1e-4, 1e-1)}, "unknown parameter 'learning_rate'.*did you mean 'lr'"),
    ({"seed": Int(0, 10)}, "unknown parameter 'seed'"),
    ({"lr": LogUniform(1e-1, 1e-4)}, "lr: empty range, low 0.1 > high 0.0001"),
    ({"dropout": Uniform(0.3, 0.3)}, "dropout: empty range, low == high"),
    ({"units": Int(64, 16), "n_layers": 2}, "units: empty range, low 64 > high 16"),
    ({"optimizer": Categorical([])}, "optimizer: categorical with no choices"),
    ({"lr": LogUniform(0.0, 1e-1)}, "needs low > 0"),
    ({"dropout": Uniform(0.0, 1.5)}, r"dropout must be a number in \[0, 1\)"),
    ({"optimizer": Categorical(["adam", "lbfgs"])}, "bad choice 'lbfgs'"),
    ({"batch_size": Uniform(16, 64)}, "batch_size takes int, categorical or a fixed value"),
    ({"hidden": Categorical(["64"]), "units": 32, "n_layers": 2}, "either hidden or n_layers"),
    ({"units": Int(16, 64)}, "n_layers and units go together"),
    ({"init": "he", "weight_scale": LogUniform(1e-3, 1e-1)}, "either init or weight_scale"),
    ({"lr": [0.1, 0.01]}, "to search over values write"),
    ({"lr": {"type": "normal", "low": 0, "high": 1}}, "unknown distribution type 'normal'"),
    ({"lr": {"type": "uniform", "low": 0.1}}, "missing high"),
    ({"epochs": 5}, "no searched parameter"),
])
def test_bad_spaces_are_refused_with_the_reason(space, message):
    with pytest.raises(ValueError, match=message):
        load_space(space)


def test_bad_space_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('lr = { type = "log_uniform", low = 1e-2, high = 1e-3 }\n')
    with pytest.raises(ValueError, match=r"bad\.toml: lr: empty range"):
        load_space(bad)
    with pytest.raises(FileNotFoundError, match="missing.toml"):
        load_space(tmp_path / "missing.toml")


def test_grid_needs_finite_values():
    with pytest.raises(ValueError, match="lr is a continuous log_uniform range"):
        run_search({"lr": LogUniform(1e-3, 1e-1), **SMALL}, sampler="grid")


# ------------------------------------------------------------------------------------ searches

def test_validation_part_comes_from_the_training_part_only():
    from mlplab import data

    X_tr, y_tr, X_val, y_val, n_classes = search.load_split("digits", val_size=0.2, seed=3)
    full = data.load("digits", seed=3)  # what `mlplab train --seed 3` trains and tests on
    assert len(X_tr) + len(X_val) == len(full.X_train) and n_classes == 10
    train_rows = {r.tobytes() for r in full.X_train}
    test_rows = {r.tobytes() for r in full.X_test}
    assert all(r.tobytes() in train_rows for r in X_val)
    assert sum(r.tobytes() in test_rows and r.tobytes() not in train_rows for r in np.concatenate([X_tr, X_val])) == 0


def test_seeded_random_search_on_digits_finds_a_good_configuration(tmp_path):
    space = {"lr": LogUniform(1e-3, 3e-2), "hidden": Categorical(["32", "64"]), "epochs": 8, "batch_size": 64,
             "dropout": 0.0}
    seen = []
    result = run_search(space, "digits", n_trials=6, sampler="random", seed=0, progress=seen.append)
    assert result.best_value >= STATED_VAL_ACCURACY, result.table_markdown()
    assert result.n_run == 6 and len(result.table) == 6
    assert [p.done for p in seen] == [1, 2, 3, 4, 5, 6] and seen[-1].best_value == result.best_value

    again = run_search(space, "digits", n_trials=3, sampler="random", seed=0)  # seeded: same trials
    first = {t.number: (t.params, t.value) for t in result.study.trials if t.state == TS.COMPLETE}
    for t in again.study.trials:
        if t.state == TS.COMPLETE and t.number in first:
            assert (t.params, t.value) == first[t.number]
    other = run_search(space, "digits", n_trials=3, sampler="random", seed=1)
    assert [t.params for t in other.study.trials] != [t.params for t in again.study.trials]

    # the best configuration is a file that `mlplab train --config` trains and tests
    paths = search.write_report(result.study, tmp_path / "report")
    cfg = json.loads(paths["best_config"].read_text())
    assert cfg == result.best_config and cfg["lr"] == result.study.best_params["lr"]
    rc = cli.main(["train", "--config", str(paths["best_config"]), "--out", str(tmp_path / "run"), "--no-compare",
                   "--no-progress"])
    assert rc == 0
    summary = json.loads((tmp_path / "run" / "results.json").read_text())["summary"]
    assert summary["mlplab"]["accuracy"] >= 0.93


def test_grid_search_runs_exactly_the_grid():
    lrs, hidden = [0.003, 0.01, 0.03], ["16", "32"]
    space = {"lr": Categorical(lrs), "hidden": Categorical(hidden), "epochs": 2, "batch_size": 64}
    result = run_search(space, sampler="grid", pruner="none", seed=5)
    got = sorted((t.params["lr"], t.params["hidden"]) for t in result.study.trials)
    assert got == sorted(itertools.product(lrs, hidden))
    assert result.n_run == 6 and all(t.state == TS.COMPLETE for t in result.study.trials)
    capped = run_search(space, sampler="grid", pruner="none", seed=5, n_trials=4)
    assert len({(t.params["lr"], t.params["hidden"]) for t in capped.study.trials}) == 4


def test_median_pruner_stops_a_bad_trial():
    space = {"lr": LogUniform(1e-8, 1e-1), "optimizer": Categorical(["adam", "sgd"]), "hidden": "32", "epochs": 6,
             "batch_size": 64}
    good = {"lr": 0.01, "optimizer": "adam"}
    bad = {"lr": 1e-8, "optimizer": "sgd"}  # learns nothing: stays at chance level
    kw = dict(n_trials=4, sampler="random", pruner_startup_trials=3, pruner_warmup_epochs=0, enqueue=[good] * 3 + [bad])
    result = run_search(space, **kw)
    states = [t.state for t in result.study.trials]
    assert states == [TS.COMPLETE] * 3 + [TS.PRUNED]
    pruned = result.study.trials[3]
    assert pruned.params == bad and pruned.user_attrs["epochs_run"] < 6
    assert result.table[3]["note"].startswith("pruned after epoch")
    assert result.best_config["optimizer"] == "adam"
    control = run_search(space, pruner="none", **{k: v for k, v in kw.items()})
    assert control.study.trials[3].state == TS.COMPLETE and control.study.trials[3].user_attrs["epochs_run"] == 6


def test_diverging_trial_is_scored_not_fatal():
    space = {"lr": Categorical([1e8]), "optimizer": "sgd", "hidden": "16", "epochs": 3, "activation": "identity",
             "dropout": 0.0}
    result = run_search(space, n_trials=1, sampler="random", pruner="none")
    t = result.study.trials[0]
    assert t.state == TS.COMPLETE and "diverged" in t.user_attrs["diverged"]
    assert 0.0 <= t.value <= 1.0


def test_a_trial_out_of_memory_fails_alone_without_traceback(monkeypatch, caplog):
    from mlplab.search import run as run_module

    real = run_module.build_trainer

    def build_or_run_out_of_memory(config, *args, **kwargs):
        if config["hidden"] == "48":
            raise MemoryError("Unable to allocate 37.3 GiB for an array with shape (100000, 100000)")
        return real(config, *args, **kwargs)

    monkeypatch.setattr(run_module, "build_trainer", build_or_run_out_of_memory)
    space = {"hidden": Categorical(["32", "48"]), "epochs": 2, "batch_size": 64}
    with caplog.at_level("WARNING", logger="optuna"):
        result = run_search(space, sampler="grid", pruner="none")
    states = {t.params["hidden"]: t.state for t in result.study.trials}
    assert states == {"32": TS.COMPLETE, "48": TS.FAIL}
    (row,) = [r for r in result.table if r["hidden"] == "48"]
    assert row["note"].startswith("out of memory (MemoryError: Unable to allocate 37.3 GiB")
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert failed and all(r.exc_info is None for r in failed)  # the reason, not a traceback


# ------------------------------------------------------------------------------------ storages

def test_unreachable_storage_is_named_without_password():
    port = _free_port()  # nothing listens there
    url = f"postgresql://mlplab:s3cr3t-pw@127.0.0.1:{port}/studies"
    with pytest.raises(ValueError) as info:
        run_search({"lr": LogUniform(1e-3, 1e-1), **SMALL}, storage=url, n_trials=1)
    msg = str(info.value)
    assert f"postgresql://mlplab:***@127.0.0.1:{port}/studies" in msg and "cannot reach storage" in msg
    assert "s3cr3t-pw" not in msg
    with pytest.raises(ValueError, match="not a database URL"):
        search.open_storage("no-such-scheme:/x")
    with pytest.raises(ValueError, match=r"cannot reach storage sqlite:////proc/no-such/dir/study\.db"):
        search.open_storage("sqlite:////proc/no-such/dir/study.db")


def test_existing_study_with_another_space_or_setup_is_refused(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = {"lr": LogUniform(1e-3, 1e-1), **SMALL}
    run_search(space, storage=url, study_name="s", n_trials=1, sampler="random")
    with pytest.raises(ValueError, match=r"study 's' in sqlite:///.*exists with a different search space \(lr: study"):
        run_search({**space, "lr": LogUniform(1e-4, 1e-1)}, storage=url, study_name="s", n_trials=1,
                   sampler="random")
    with pytest.raises(ValueError, match="exists with different settings: seed 0 in the study, 1 now"):
        run_search(space, storage=url, study_name="s", n_trials=1, sampler="random", seed=1)
    finite = {**SMALL, "lr": Categorical([0.003, 0.01])}
    run_search(finite, storage=url, study_name="g", n_trials=1, sampler="random")
    with pytest.raises(ValueError, match="sampler 'random' in the study, 'grid' now"):
        run_search(finite, storage=url, study_name="g", sampler="grid")
    resumed = run_search(space, storage=url, study_name="s", n_trials=1, sampler="tpe")  # random -> tpe is fine
    assert len(resumed.study.trials) == 2 and resumed.n_run == 1
    with pytest.raises(ValueError, match="no study 'nope'.*studies there: s"):
        search.load_search(url, "nope")


_KILL_WORKER = """
import optuna, sys
from mlplab.search import run_search, LogUniform, Categorical
optuna.logging.set_verbosity(optuna.logging.WARNING)
run_search({SPACE}, storage=sys.argv[1], study_name="resume", n_trials=20, sampler="random", seed=0,
           heartbeat=1, grace_period=2)
"""
_KILL_SPACE = '{"lr": LogUniform(1e-3, 1e-2), "hidden": Categorical(["32", "48"]), "epochs": 15, "batch_size": 64}'


def test_sqlite_study_resumes_after_its_worker_is_killed_mid_trial(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_WORKER.replace("{SPACE}", _KILL_SPACE), url],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    storage = optuna.storages.RDBStorage(url)
    deadline = time.monotonic() + 60
    try:
        while True:  # wait for two finished trials and a third one that has trained some of its 15 epochs
            assert proc.poll() is None, proc.stdout.read().decode()
            assert time.monotonic() < deadline, "the worker did not get going"
            names = optuna.get_all_study_names(storage)
            if names:
                trials = optuna.load_study(study_name="resume", storage=storage).get_trials()
                done = [t for t in trials if t.state == TS.COMPLETE]
                running = [t for t in trials if t.state == TS.RUNNING and 1 <= len(t.intermediate_values) <= 10]
                if len(done) >= 2 and running:
                    break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    before = {t.number: (t.state, t.params, t.value) for t in
              optuna.load_study(study_name="resume", storage=storage).get_trials()}
    finished = {n: v for n, v in before.items() if v[0] == TS.COMPLETE}
    killed = [n for n, v in before.items() if v[0] == TS.RUNNING]
    assert len(finished) >= 2 and len(killed) == 1
    # Wait until the killed trial's heartbeat is older than the 2 s grace period. SQLite stores the
    # heartbeat and the current time in whole seconds and Optuna wants the difference to be more than
    # 2 s, so only a wait of 3 s or more is sure to do it on every clock phase (2.5 s failed sometimes).
    time.sleep(3.5)

    space = eval(_KILL_SPACE, {"LogUniform": LogUniform, "Categorical": Categorical})
    result = run_search(space, storage=url, study_name="resume", n_trials=2, sampler="random", seed=0,
                        heartbeat=1, grace_period=2)
    after = {t.number: t for t in result.study.trials}
    for n, (state, params, value) in finished.items():  # every finished trial kept, unchanged
        assert after[n].state == TS.COMPLETE and after[n].params == params and after[n].value == value
    assert after[killed[0]].state == TS.FAIL
    rerun = [t for t in after.values() if t.system_attrs.get("failed_trial") == killed[0]]
    assert len(rerun) == 1 and rerun[0].state == TS.COMPLETE
    assert rerun[0].params == before[killed[0]][1]
    assert result.n_run == 2 and len(after) == len(before) + 2
    assert sum(t.state == TS.COMPLETE for t in after.values()) == len(finished) + 2
    assert any(r["note"] == f"rerun of trial {killed[0]} (its worker stopped)" for r in result.table)


def test_two_worker_processes_share_one_sqlite_study(tmp_path):
    url = f"sqlite:///{tmp_path / 'runs' / 'study.db'}"
    lrs, hidden = [0.003, 0.01, 0.03], ["16", "32"]
    space = {"lr": Categorical(lrs), "hidden": Categorical(hidden), "epochs": 3, "batch_size": 64}
    seen = []
    result = run_search(space, storage=url, study_name="two", sampler="grid", pruner="none", n_jobs=2,
                        progress=seen.append)
    trials = result.study.trials
    assert len(result.workers) == 2 and len({w["worker"] for w in result.workers}) == 2
    assert sum(w["trials"] for w in result.workers) == result.n_run == len(trials) == 6
    per_worker = {w["worker"]: sum(t.user_attrs["worker"] == w["worker"] for t in trials) for w in result.workers}
    assert per_worker == {w["worker"]: w["trials"] for w in result.workers}
    assert all(n > 0 for n in per_worker.values())
    assert sorted(t.number for t in trials) == list(range(6))
    assert sorted((t.params["lr"], t.params["hidden"]) for t in trials) == sorted(itertools.product(lrs, hidden))
    assert seen and seen[-1].done == 6
    again = run_search(space, storage=url, study_name="two", sampler="grid", pruner="none", n_jobs=2)
    assert again.n_run == 0 and len(again.study.trials) == 6  # the grid is done: nothing runs twice


def test_parallel_workers_without_storage_use_a_temporary_one():
    result = run_search({"lr": LogUniform(1e-3, 1e-1), **SMALL, "epochs": 2}, n_trials=2, n_jobs=2,
                        sampler="random")
    assert isinstance(result.study._storage, optuna.storages.InMemoryStorage)
    assert len(result.study.trials) == 2 and result.storage is None
    assert len({t.user_attrs["worker"] for t in result.study.trials}) == 2


# ------------------------------------------------------------------------------------ workers that stop

_WORKER_SPACE = ('lr = { type = "log_uniform", low = 1e-3, high = 1e-2 }\n'
                 'hidden = { type = "categorical", choices = ["32", "48"] }\nepochs = 12\nbatch_size = 64\n')


def _start_search(tmp_path: Path, url: str, trials: int, jobs: int, epochs: int = 12) -> subprocess.Popen:
    """`mlplab search` in a subprocess, started as a terminal starts a foreground command: with
    SIGINT's default action (a test runner may run with SIGINT ignored, which children inherit)."""
    space = tmp_path / "space.toml"
    space.write_text(_WORKER_SPACE.replace("epochs = 12", f"epochs = {epochs}"))
    cmd = [sys.executable, "-m", "mlplab.cli", "search", "--space", str(space), "--trials", str(trials), "--jobs",
           str(jobs), "--storage", url, "--study", "w", "--sampler", "random", "--pruner", "none", "--no-progress",
           "--no-report", "--heartbeat", "1"]
    return subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _running_trials(proc: subprocess.Popen, url: str, n_workers: int, epochs: int = 12) -> list:
    """Wait until ``n_workers`` workers each run a trial that has trained an epoch and has at least 5
    to go; those trials."""
    storage = optuna.storages.RDBStorage(url)
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the workers did not get going"
        try:
            trials = optuna.load_study(study_name="w", storage=storage).get_trials()
        except KeyError:  # the study is not created yet
            trials = []
        running = [t for t in trials if t.state == TS.RUNNING and 1 <= len(t.intermediate_values) <= epochs - 5
                   and "worker" in t.user_attrs]
        if len({t.user_attrs["worker"] for t in running}) >= n_workers:
            return running
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie waiting for its new parent to reap it counts as exited)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def test_a_killed_worker_fails_only_its_trial_and_the_others_go_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    proc = _start_search(tmp_path, url, trials=4, jobs=2)
    try:
        victim = _running_trials(proc, url, 1)[0]
        name = victim.user_attrs["worker"]
        os.kill(int(name.rsplit(":", 1)[1]), signal.SIGKILL)  # as the kernel's out-of-memory killer would
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    out, err = out.decode(), err.decode()
    assert proc.returncode == 0, out + err
    assert "Traceback" not in out + err and "BrokenProcessPool" not in out + err
    assert f"worker {name} killed by SIGKILL during trial {victim.number}: failed, its configuration queued" in out
    # the killed trial failed and its configuration ran again: 4 finished trials as asked, plus the failed one
    assert "5 trials in all, 5 run now by 2 workers" in out and "best: trial" in out
    trials = {t.number: t for t in optuna.load_study(study_name="w", storage=url).get_trials()}
    assert len(trials) == 5 and sum(t.state == TS.COMPLETE for t in trials.values()) == 4
    killed = trials[victim.number]
    assert killed.state == TS.FAIL and "killed by SIGKILL" in killed.user_attrs["lost"]
    rerun = [t for t in trials.values() if t.system_attrs.get("failed_trial") == victim.number]
    assert len(rerun) == 1 and rerun[0].state == TS.COMPLETE and rerun[0].params == killed.params
    assert rerun[0].user_attrs["worker"] != name
    assert [t.number for t in trials.values() if t.state != TS.COMPLETE] == [victim.number]
    # the other worker ran the rerun and every trial the killed one did not finish, whether the kill came
    # during the killed worker's first trial or its last
    survivor = [t for t in trials.values() if t.user_attrs["worker"] != name]
    by_victim = [t for t in trials.values() if t.user_attrs["worker"] == name]
    assert len({t.user_attrs["worker"] for t in survivor}) == 1
    assert len(survivor) == 5 - len(by_victim) and len(survivor) >= 3


def test_ctrl_c_stops_every_worker_in_one_line_and_resuming_reruns_their_trials(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    # trials of 60 epochs: both workers are inside one most of the time, so the test sees them there
    # before the search ends (with 12-epoch trials of a fraction of a second it sometimes did not)
    proc = _start_search(tmp_path, url, trials=20, jobs=2, epochs=60)
    try:
        running = _running_trials(proc, url, 2, epochs=60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    out, err = out.decode(), err.decode()
    assert proc.returncode == 130, out + err
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [f"mlplab: interrupted: finished trials are kept in {url} (study w); run the "
                                        "same command to resume, interrupted trials run again"]
    workers = {t.user_attrs["worker"] for t in running}
    assert len(workers) == 2 and all(_gone(int(w.rsplit(":", 1)[1])) for w in workers)
    trials = optuna.load_study(study_name="w", storage=url).get_trials()
    assert not [t for t in trials if t.state == TS.RUNNING]
    stopped = [t for t in trials if t.state == TS.FAIL]
    assert {t.number for t in running} <= {t.number for t in stopped}
    assert all(t.user_attrs.get("interrupted") for t in stopped), [(t.number, t.params, t.user_attrs) for t in stopped]
    queued = {t.system_attrs["failed_trial"]: t for t in trials if t.state == TS.WAITING}
    assert set(queued) == {t.number for t in stopped}
    assert all(queued[t.number].params == t.params for t in stopped)

    resumed = run_search(tmp_path / "space.toml", storage=url, study_name="w", n_trials=len(stopped),
                         sampler="random", pruner="none", heartbeat=1)
    again = {t.system_attrs.get("failed_trial"): t for t in resumed.study.trials if t.state == TS.COMPLETE}
    assert all(again[t.number].params == t.params for t in stopped), resumed.table_markdown()


def _die_at_first_ticket(job, next_ticket, stop) -> dict:
    """A worker body (run in a spawned process) that is killed as its first trial starts."""
    if next_ticket():
        os.kill(os.getpid(), signal.SIGKILL)
    return {"worker": "never", "trials": 0}


def test_trials_of_workers_that_all_died_are_counted_as_not_run():
    from mlplab.search import run as run_module

    study = optuna.create_study(direction="maximize")
    space = load_space({"lr": LogUniform(1e-3, 1e-1), **SMALL})
    job = run_module._Job(storage_url=None, study_name="x", space=space, setup={"sampler": "random"},
                          sampler="random", pruner="none", pruner_startup_trials=5, pruner_warmup_epochs=2, seed=0,
                          quota=0, timeout=None, worker_index=0, run_id="r", heartbeat=None, grace_period=None,
                          data_home=None, optuna_verbosity=optuna.logging.WARNING)
    workers, not_run = run_module._run_processes(job, 2, study, "r", total=5, progress=None,
                                                 target=_die_at_first_ticket)
    assert [w["status"] for w in workers] == ["killed by SIGKILL"] * 2
    assert not_run == 5 - 2  # one ticket each was granted; the rest had nobody to run them


_DIE_BEFORE_HEARTBEAT = """
import os, signal, sys
import optuna
from mlplab.search import load_space
from mlplab.search._optuna import make_sampler
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="hb", storage=sys.argv[1], sampler=make_sampler("random", 0))
drawn = study.ask()                      # trial 1: its worker draws the parameters, then dies
load_space(sys.argv[2]).suggest(drawn)
study.ask()                              # trial 2: its worker dies before drawing anything
os.kill(os.getpid(), signal.SIGKILL)     # before any heartbeat: Optuna records it in a thread of optimize()
"""


def test_a_trial_whose_worker_died_before_its_first_heartbeat_is_failed_and_rerun_on_resume(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    space = tmp_path / "space.toml"
    space.write_text(_WORKER_SPACE.replace("epochs = 12", "epochs = 3"))
    kw = dict(storage=url, study_name="hb", sampler="random", pruner="none", heartbeat=1, grace_period=2)
    run_search(space, n_trials=1, **kw)
    proc = subprocess.run([sys.executable, "-c", _DIE_BEFORE_HEARTBEAT, url, str(space)], capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    study = optuna.load_study(study_name="hb", storage=url)
    states = [t.state for t in study.get_trials()]
    assert states == [TS.COMPLETE, TS.RUNNING, TS.RUNNING]  # Optuna's fail_stale_trials never fails these
    assert study.trials[1].params and not study.trials[2].params
    assert search._optuna.fail_unstarted_trials(study, grace_period=2) == []  # younger than the grace period
    time.sleep(2.2)

    result = run_search(space, n_trials=2, **kw)
    trials = {t.number: t for t in result.study.trials}
    assert result.recovered == [1, 2] and result.n_run == 2
    for n in (1, 2):
        assert trials[n].state == TS.FAIL and "before its first heartbeat" in trials[n].user_attrs["lost"]
        rerun = [t for t in trials.values() if t.system_attrs.get("failed_trial") == n]
        assert len(rerun) == 1 and rerun[0].state == TS.COMPLETE
    # each rerun has the configuration of the trial it reruns: trial k of a seeded random search
    fresh = run_search(space, n_trials=3, sampler="random", pruner="none")
    for n in (1, 2):
        rerun = next(t for t in trials.values() if t.system_attrs.get("failed_trial") == n)
        assert rerun.params == fresh.study.trials[n].params
    assert trials[1].params == fresh.study.trials[1].params
    assert any(r["note"].startswith("its worker stopped before its first heartbeat") for r in result.table)


# ------------------------------------------------------------------------------------ without Optuna

def test_missing_optuna_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "optuna", None)  # `import optuna` now raises ImportError
    with pytest.raises(ImportError, match=r'pip install "mlplab\[search\]"'):
        search.require_optuna()
    with pytest.raises(ImportError, match=r"mlplab\[search\]"):
        run_search({"lr": LogUniform(1e-3, 1e-1), **SMALL})
    assert load_space({"lr": LogUniform(1e-3, 1e-1)}).params  # spaces need no Optuna
    assert cli.main(["search", "--space", str(ROOT / "examples" / "space.toml")]) == 1
    assert 'pip install "mlplab[search]"' in capsys.readouterr().err


# ------------------------------------------------------------------------------------ command line

def test_cli_search_then_report(tmp_path, capsys):
    space = tmp_path / "space.toml"
    space.write_text('lr = { type = "log_uniform", low = 1e-3, high = 3e-2 }\n'
                     'hidden = { type = "categorical", choices = ["16", "32"] }\nepochs = 3\nbatch_size = 64\n')
    url = f"sqlite:///{tmp_path / 'study.db'}"
    rc = cli.main(["search", "--space", str(space), "--trials", "3", "--storage", url, "--study", "cli", "--sampler",
                          "random", "--out", str(tmp_path / "out"), "--no-progress"])
    out = capsys.readouterr().out
    assert rc == 0 and "3 trials in all, 3 run now" in out and "best: trial" in out
    for name in ("results.csv", "history.png", "importance.png", "best_config.json", "report.md"):
        assert (tmp_path / "out" / name).stat().st_size > 0, name
    assert len((tmp_path / "out" / "results.csv").read_text().strip().splitlines()) == 1 + 3
    assert cli.read_config(tmp_path / "out" / "best_config.json")["dataset"] == "digits"

    rc = cli.main(["search", "--report", "--storage", url, "--study", "cli", "--out", str(tmp_path / "rep")])
    assert rc == 0 and (tmp_path / "rep" / "report.md").read_text().startswith("# Hyperparameter search: cli")
    assert json.loads((tmp_path / "rep" / "best_config.json").read_text()) == \
        json.loads((tmp_path / "out" / "best_config.json").read_text())

    assert cli.main(["search", "--report", "--storage", url, "--study", "other"]) == 2
    assert "no study 'other'" in capsys.readouterr().err
    assert cli.main(["search", "--trials", "2"]) == 2
    assert "--space" in capsys.readouterr().err


def test_search_parser_plugs_into_a_main_parser():
    import argparse

    parser = argparse.ArgumentParser(prog="mlplab")
    search_cli.add_search_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["search", "--dataset", "arem", "--space", "space.toml", "--trials", "50", "--storage",
                              "sqlite:///s.db", "--study", "NAME", "--jobs", "2"])
    assert (args.dataset, args.trials, args.jobs, args.study) == ("arem", 50, 2, "NAME")
    assert args.func is search_cli.cmd_search
