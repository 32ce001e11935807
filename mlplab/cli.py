"""The ``mlplab`` command (also ``python -m mlplab``).

Exit codes: 0 done; 1 something failed while running (a dataset could not be downloaded or fails
its checksum, training diverged, a later step failed, a model file is unreadable or does not fit
the data, not enough memory, a disk error); 2 what the command was given is wrong (an option, a
config or search-space file, a study name, an existing --out folder; bad values in the data);
130 interrupted (Ctrl-C). Every expected failure is one line ``mlplab: error: <what happened and what to
do>`` on stderr; ``--debug`` adds the traceback. Only a bug in mlplab shows a traceback by itself.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

from .config import ConfigError, TrainConfig, estimate_training_memory, format_bytes

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "CommandError",
    "UsageError",
    "build_parser",
    "main",
    "read_config",
    "run_parsed",
    "sklearn_baseline",
    "train_run",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

#: files of a training run folder
RUN_FILES = ("model.npz", "config.json", "history.csv", "results.json", "curves.png", "report.md")


class UsageError(ValueError):
    """The command line is wrong; nothing was done (exit status 2)."""


class CommandError(Exception):
    """An expected failure while running (exit status 1); the message says what to do."""


class Interrupted(Exception):
    """Ctrl-C, after what could be kept was kept (exit status 130); the message says where it is."""


# ------------------------------------------------------------------------------------ argparse glue

class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``mlplab: error: <message> (see 'mlplab train --help')``."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"mlplab: error: {message} (see '{self.prog} --help')\n")


class _Given(argparse.Action):
    """Store the value and remember that the user gave this option (a config file must not be
    overridden by defaults, only by options given on the command line)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "given_options", None) or ())
        given.add(self.dest)
        namespace.given_options = given


def _field_type(name: str):
    def parse(text: str):
        try:
            return TrainConfig.parse_text(name, text)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = name
    return parse


def _threads(text: str) -> int:
    """``--threads``: a positive integer (the BLAS threads of training, see mlplab.threads)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"threads must be a positive integer, got {text!r}")
    return n


def _default_text(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return "none" if v is None else str(v)


def _add_config_option(p: argparse.ArgumentParser, name: str) -> None:
    """``--<name>`` for a TrainConfig field: its default, help, allowed values and parser come from TrainConfig."""
    default = TrainConfig.defaults()[name]
    options = TrainConfig.options_of(name)
    optional = None in TrainConfig.constraints()[name]
    metavar = "{" + ",".join((*options, "none") if optional else options) + "}" if options else None
    if name == "init":
        metavar = "{" + ",".join(options) + ",none,NUMBER}"
    kw = {"type": Path} if name == "data_home" else {"type": _field_type(name)}
    help_text = TrainConfig.field_help(name)
    if not options and name not in ("hidden", "init", "data_home", "n_train"):
        help_text += f"; {TrainConfig.allowed(name)}"
    # argparse passes a text default through ``type``; None defaults stay None
    p.add_argument(f"--{name.replace('_', '-')}", dest=name, action=_Given,
                   default=None if default is None else _default_text(default),
                   metavar=metavar, help=help_text, **kw)


def _add_train_parser(sub) -> None:
    d = TrainConfig()
    p = sub.add_parser(
        "train", help="train an MLP on a dataset and compare it with scikit-learn",
        description="Train an MLP, print its test accuracy next to scikit-learn's MLPClassifier trained on the "
                    "same split with the same hidden sizes, and write a run folder (model.npz, config.json, "
                    "history.csv, results.json, curves.png, report.md). With no options: "
                    f"{d.dataset}, {d.architecture(64, 10)} {d.activation}, dropout {d.dropout:g}, {d.scaler} "
                    f"scaling, {d.optimizer} {d.lr:g}, batch {d.batch_size}, {d.epochs} epochs. Ctrl-C, a "
                    "divergence or a failing later step keep the trained model in the run folder "
                    "(results.json says 'completed', 'interrupted' or 'diverged').",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--recipe", metavar="NAME", help="start from a shipped recipe: the best configuration found "
                   "for a dataset (see --list-recipes and docs/recipes.md); --config and options given on the "
                   "command line change it")
    p.add_argument("--list-recipes", action="store_true", help="list the recipes with their measured accuracy "
                   "and time, and exit")
    p.add_argument("--config", type=Path, help="JSON or TOML file of options (keys as below, with underscores, "
                   "e.g. a run folder's config.json); options given on the command line win")
    for name in TrainConfig.field_names():
        _add_config_option(p, name)
    p.add_argument("--out", type=Path, help="run folder (default: runs/<dataset>-<time>); must not hold another "
                   "run unless --overwrite")
    p.add_argument("--overwrite", action="store_true", help="replace the run in an existing --out folder")
    p.add_argument("--no-compare", action="store_true", help="skip the scikit-learn baseline")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=_threads, help="BLAS threads for training (default: chosen by the engine per "
                   "network size and machine load, or OMP_NUM_THREADS/OPENBLAS_NUM_THREADS if set)")
    p.set_defaults(func=_cmd_train)


def read_config(path: str | os.PathLike) -> dict:
    """The complete, checked training configuration a JSON or TOML file describes (defaults filled
    in), as a dict; :class:`~mlplab.config.ConfigError` says what is wrong with it."""
    return TrainConfig.from_file(path).to_dict()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """Defaults, then ``--recipe``, then ``--config``, then the options given on the command line."""
    config = TrainConfig()
    if getattr(args, "recipe", None) is not None:
        from .recipes import load_recipe

        try:
            recipe = load_recipe(args.recipe)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        config = TrainConfig.from_dict(recipe.train, source=f"recipe {recipe.name!r}")
    if getattr(args, "config", None) is not None:
        config = TrainConfig.from_file(args.config, base=config)
    given = {k: getattr(args, k) for k in (getattr(args, "given_options", None) or ())
             if k in TrainConfig.field_names()}
    return TrainConfig.from_dict(given, base=config) if given else config


# ------------------------------------------------------------------------------------ memory

def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux: MemAvailable), else physical memory, else None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _known_shape(dataset: str) -> tuple[int, int]:
    """``(n_features, n_classes)`` of a dataset from the registry, before any file is read."""
    from .data.registry import get_spec

    spec = get_spec(dataset)
    if spec.image_shape:
        n_features = int(np.prod(spec.image_shape))
    else:
        from .data.arem import FEATURES
        n_features = len(FEATURES) if dataset == "arem" else 1
    return n_features, max(len(spec.class_names), 2)


def check_memory(config: TrainConfig, n_features: int, n_classes: int, available: int | None = None) -> None:
    """Refuse (``CommandError``) a network that cannot be trained in the memory this machine has."""
    n_params, need = estimate_training_memory(config, n_features, n_classes)
    available = available_memory() if available is None else available
    if available is not None and need > available:
        raise CommandError(
            f"the network {config.architecture(n_features, n_classes)} has {n_params:,} parameters and needs "
            f"about {format_bytes(need)} of memory to train ({config.dtype}, {config.optimizer}); this machine has "
            f"{format_bytes(available)} available. Choose smaller --hidden sizes")


# ------------------------------------------------------------------------------------ mlplab train

def sklearn_baseline(opts: TrainConfig | dict, data) -> dict:
    """scikit-learn's MLPClassifier with the same hidden sizes, activation, solver, learning rate,
    batch size and epochs, on the same split (scaled the same way when a scaler is used)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    c = opts if isinstance(opts, TrainConfig) else TrainConfig.from_dict(opts)
    act = {"sigmoid": "logistic", "logistic": "logistic", "relu": "relu", "tanh": "tanh",
           "identity": "identity"}.get(c.activation, "relu")
    solver = "adam" if c.optimizer in ("adam", "adamw") else "sgd"
    clf = MLPClassifier(hidden_layer_sizes=tuple(c.hidden), activation=act, solver=solver,
                        learning_rate_init=c.lr, batch_size=min(c.batch_size, len(data.X_train)),
                        max_iter=c.epochs, alpha=c.weight_decay, random_state=c.seed,
                        momentum=0.9 if c.optimizer in ("momentum", "nesterov") else 0.0,
                        nesterovs_momentum=c.optimizer == "nesterov", n_iter_no_change=c.epochs + 1)
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler}.get(c.scaler)
    est = make_pipeline(scaler(), clf) if scaler else clf
    X_tr = data.X_train.reshape(len(data.X_train), -1)
    X_te = data.X_test.reshape(len(data.X_test), -1)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_tr, data.y_train)
    seconds = time.perf_counter() - t0
    return {"accuracy": float(est.score(X_te, data.y_test)), "seconds": seconds,
            "description": f"MLPClassifier(hidden_layer_sizes={tuple(c.hidden)}, activation={act!r}, "
                           f"solver={solver!r}, learning_rate_init={c.lr}, batch_size={clf.batch_size}, "
                           f"max_iter={c.epochs}, alpha={c.weight_decay})"
                           + (f" after {scaler.__name__}" if scaler else "")}


def _data_metadata(config: TrainConfig, ds) -> dict:
    """What ``mlplab predict`` needs to rebuild this run's test part: dataset, split, scaling, seed, subset."""
    return {"dataset": ds.name, "seed": config.seed, "split": ds.extra.get("split", config.split),
            "n_train": config.n_train, "scale": "auto", "test_size": ds.extra.get("test_size"),
            "n_features": int(np.prod(ds.X_train.shape[1:])), "class_names": list(ds.class_names)}


def _divergence_line(exc: Exception, config: TrainConfig, epoch: int, run_dir: Path) -> str:
    first = str(exc).split(". ")[0]
    kept = f"end of epoch {epoch}" if epoch else "its initial weights, before epoch 1"
    return (f"{first} (learning rate {config.lr:g}, {config.optimizer}). Try a lower --lr (e.g. {config.lr / 10:g}), "
            f"a smaller --batch-size or --scaler standard. The last finite model ({kept}) is saved in "
            f"{run_dir / 'model.npz'}")


def train_run(opts: TrainConfig | dict, out: Path | None = None, data_home: Path | None = None, compare: bool = True,
              progress: bool = True, echo=print, overwrite: bool = False, threads: int | None = None) -> dict:
    """Train as ``mlplab train`` does and write the run folder; returns the summary dict.

    Order, so that nothing trained is lost: check everything (configuration, ``out``, memory) ->
    load the data -> build the network -> create the run folder (config.json, results.json with
    status ``running``) -> train -> save model.npz, history.csv, results.json (status
    ``completed``, ``interrupted`` or ``diverged``) -> the scikit-learn baseline, the figure and
    the report, each of which may fail or be interrupted without touching the saved model.
    Raises :class:`Interrupted` (Ctrl-C) or :class:`CommandError` (divergence, a failed later step)
    after the folder is written.
    """
    from . import data as mdata
    from . import io, metrics
    from .callbacks import KeepLastEpoch
    from .runs import (
        check_run_dir,
        finish_before_interrupt,
        prepare_run_dir,
        write_json,
    )
    from .train import TrainingDiverged, build_trainer

    config = opts if isinstance(opts, TrainConfig) else TrainConfig.from_dict(opts)
    if data_home is not None:
        config = config.replace(data_home=str(data_home))
    out = check_run_dir(out, overwrite)
    check_memory(config, *_known_shape(config.dataset))

    ds = mdata.load(config.dataset, **config.data_options())
    X_train = ds.X_train.reshape(len(ds.X_train), -1)
    X_test = ds.X_test.reshape(len(ds.X_test), -1)
    n_features, n_classes = X_train.shape[1], ds.n_classes
    check_memory(config, n_features, n_classes)
    keeper = KeepLastEpoch()
    try:
        model, trainer = build_trainer(config, n_features, n_classes, callbacks=[keeper], progress=progress,
                                       threads=threads)
    except MemoryError:
        n_params, need = estimate_training_memory(config, n_features, n_classes)
        raise CommandError(f"not enough memory for the network {config.architecture(n_features, n_classes)} "
                           f"({n_params:,} parameters, about {format_bytes(need)} to train); choose smaller "
                           "--hidden sizes") from None
    optimizer = trainer.optimizer
    arch = config.architecture(n_features, n_classes)
    config_dict = {**config.to_dict(), "dataset": ds.name}
    shapes = {"n_features": int(n_features), "n_classes": n_classes, "n_train": int(X_train.shape[0]),
              "n_test": int(X_test.shape[0])}
    metadata = {"class_names": list(ds.class_names), "config": config_dict, "data": _data_metadata(config, ds)}

    run_dir = prepare_run_dir(out, ds.name, overwrite)
    write_json(run_dir / "config.json", config_dict)
    write_json(run_dir / "results.json", {"status": "running", "data": shapes})
    echo(f"dataset {ds.name}: {X_train.shape[0]} training and {X_test.shape[0]} test samples, "
         f"{n_features} features, {n_classes} classes")

    status, problem = "completed", None
    t0 = time.perf_counter()
    try:
        trainer.fit(X_train, ds.y_train, validation=(X_test, ds.y_test))
    except KeyboardInterrupt:
        status = "interrupted"
        keeper.restore(trainer)  # fit did it already if training had started; cheap to repeat
    except TrainingDiverged as exc:
        status, problem = "diverged", exc
        keeper.restore(trainer)  # the weights fit fell back to, and the optimizer state that goes with them
    except MemoryError:
        status, problem = "failed", MemoryError("out of memory while training")
        keeper.restore(trainer)
    seconds = time.perf_counter() - t0
    from .train import History
    # the history of the epochs whose weights are kept (a Ctrl-C may fall between the two records)
    history = History([r for r in trainer.history.records if r["epoch"] <= keeper.epoch])
    results: dict = {"status": status, "epochs_run": keeper.epoch, "epochs": config.epochs, "data": shapes,
                     "model": "model.npz", "model_epoch": keeper.epoch}

    # save what was trained: a first Ctrl-C here waits for the files, a second one stops at once
    try:
        with finish_before_interrupt("saving the trained model", echo=lambda m: print(m, file=sys.stderr, flush=True)):
            acc = metrics.accuracy(ds.y_test, model.predict(X_test))
            results["summary"] = {"mlplab": {"accuracy": acc, "seconds": seconds}}
            if problem is not None:
                results["message"] = str(problem)
            io.save(model, run_dir / "model.npz", optimizer=optimizer,
                    metadata={**metadata, "status": status, "epoch": keeper.epoch})
            history.to_csv(run_dir / "history.csv")
            write_json(run_dir / "results.json", results)
    except KeyboardInterrupt:
        if (run_dir / "history.csv").exists() and (run_dir / "model.npz").exists():
            raise Interrupted(f"interrupted; the model of epoch {keeper.epoch} and its history were saved first, "
                              f"in {run_dir} (the baseline, figure and report were skipped)") from None
        raise Interrupted(f"stopped at once while saving: {run_dir} may lack model.npz and history.csv "
                          "(files are written whole or not at all)") from None

    if status == "interrupted":
        raise Interrupted(f"interrupted after epoch {keeper.epoch} of {config.epochs}; the model of epoch "
                          f"{keeper.epoch} and its history are saved in {run_dir}")
    if status == "diverged":
        raise CommandError(_divergence_line(problem, config, keeper.epoch, run_dir))
    if status == "failed":
        raise CommandError(f"out of memory while training {arch}; the model of epoch {keeper.epoch} is saved in "
                           f"{run_dir}. Use smaller --hidden sizes or --batch-size")

    # later steps: each may fail (or be interrupted, for the baseline) without losing the model
    failed: list[tuple[str, BaseException]] = []
    baseline_interrupted = False
    if compare:
        try:
            results["summary"]["sklearn"] = sklearn_baseline(config, ds)
        except KeyboardInterrupt:
            baseline_interrupted = True
            results["summary"]["sklearn"] = {"skipped": "interrupted (Ctrl-C)"}
            echo("scikit-learn baseline interrupted: skipped")
        except Exception as exc:  # noqa: BLE001 - reported below; the model is saved already
            failed.append(("the scikit-learn baseline", exc))
            results["summary"]["sklearn"] = {"failed": str(exc)}
    sk = results["summary"].get("sklearn", {})
    try:
        with finish_before_interrupt("writing the report", echo=lambda m: print(m, file=sys.stderr, flush=True)):
            try:
                from . import plots
                plots.training_curves(history, title=f"{ds.name}: {arch} {config.activation}, {config.optimizer} "
                                      f"lr={config.lr:g}", val_label="test", path=run_dir / "curves.png")
            except Exception as exc:  # noqa: BLE001
                failed.append(("the figure curves.png", exc))
            try:
                from .envinfo import environment_info, environment_markdown
                info = environment_info()
                results["environment"] = info
                _write_report(run_dir, ds, config, arch, acc, seconds, X_train.shape[0], X_test.shape[0], sk,
                              config_dict, environment_markdown(info), (run_dir / "curves.png").exists())
            except Exception as exc:  # noqa: BLE001
                failed.append(("the report report.md", exc))
            if failed:
                results["failed_steps"] = {what: f"{type(exc).__name__}: {exc}" for what, exc in failed}
            write_json(run_dir / "results.json", results)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted while writing the report; the trained model (test accuracy {acc:.4f}) "
                          f"and its history are saved in {run_dir}") from None

    echo("")
    echo(f"{'model':<34} {'test accuracy':>13} {'seconds':>9}")
    echo(f"{'mlplab ' + arch:<34} {acc:>13.4f} {seconds:>9.2f}")
    if "accuracy" in sk:
        echo(f"{'scikit-learn MLPClassifier':<34} {sk['accuracy']:>13.4f} {sk['seconds']:>9.2f}")
    echo(f"\nrun folder: {run_dir}")
    summary = dict(results["summary"])
    summary["run_dir"] = str(run_dir)
    if baseline_interrupted:
        raise Interrupted(f"interrupted during the scikit-learn baseline, which was skipped; the trained model "
                          f"(test accuracy {acc:.4f}) and its report are saved in {run_dir}")
    if failed:
        err = CommandError("; ".join(f"{what} failed ({type(exc).__name__}: {exc})" for what, exc in failed)
                           + f"; the trained model and its history are saved in {run_dir}")
        err.causes = [exc for _, exc in failed]
        raise err
    return summary


def _write_report(run_dir: Path, ds, config: TrainConfig, arch: str, acc: float, seconds: float, n_train: int,
                  n_test: int, sk: dict, config_dict: dict, env_md: str, figure: bool) -> None:
    from ._files import atomic_write_text

    rows = [f"| mlplab {arch} | {acc:.4f} | {seconds:.2f} |"]
    if "accuracy" in sk:
        rows.append(f"| scikit-learn MLPClassifier | {sk['accuracy']:.4f} | {sk['seconds']:.2f} |")
    baseline = ([f"Baseline: `{sk['description']}`", ""] if "description" in sk
                else [f"Baseline: {sk.get('skipped') or sk.get('failed')}", ""] if sk else [])
    report = "\n".join([
        f"# Training run: {ds.name}", "",
        (f"An MLP {arch} ({config.activation}, {config.optimizer}, lr {config.lr:g}, batch {config.batch_size}, "
        f"{config.epochs} epochs) trained on {n_train} samples and tested on {n_test}; "
        f"test accuracy {acc:.4f} in {seconds:.2f} s."), "",
        "| model | test accuracy | seconds |", "|---|---:|---:|", *rows, "",
        *baseline,
        *(["![loss and accuracy per epoch](curves.png)", ""] if figure else []),
        ("The curve labelled *test* is the test set, evaluated after each epoch; the saved model is the one "
        "after the last epoch (no selection on the test set)."), "",
        "## Configuration", "", "```json", json.dumps(config_dict, indent=2, default=str), "```", "",
        "## Environment", "", env_md, "",
        f"Reproduce: `mlplab train --config {run_dir / 'config.json'}`",
        "",
    ])
    atomic_write_text(run_dir / "report.md", report)


def _cmd_train(args) -> int:
    if args.list_recipes:
        from .recipes import list_recipes

        for recipe in list_recipes():
            print(recipe.summary())
        print("train one with: mlplab train --recipe NAME (details: docs/recipes.md)")
        return EXIT_OK
    config = config_from_args(args)  # ConfigError: exit 2, before anything is read or written
    from .runs import RunDirError, check_run_dir

    try:
        check_run_dir(args.out, args.overwrite)
    except RunDirError as exc:
        raise UsageError(str(exc)) from None
    train_run(config, out=args.out, compare=not args.no_compare, progress=not args.no_progress,
              overwrite=args.overwrite, threads=args.threads)
    return EXIT_OK


# ------------------------------------------------------------------------------------ mlplab predict

def _add_predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict with a saved model",
                       description="Load a saved model and score it on the test part of the dataset it was "
                                   "trained on (same split, scaling, seed and subset, as recorded in the model "
                                   "file), or print its predictions for chosen test samples. --dataset, --split "
                                   "and --seed override the recorded values; a dataset whose features or "
                                   "classes do not fit the model is refused.")
    p.add_argument("model", type=Path, help="a model.npz written by mlplab")
    p.add_argument("--dataset", help="dataset whose test samples to predict (default: the model's)")
    p.add_argument("--split", type=_field_type("split"), metavar="{rows,recordings}",
                   help="arem only: the split (default: the model's)")
    p.add_argument("--data-home", type=Path, help="dataset folder (default: $MLPLAB_DATA or the user cache)")
    p.add_argument("--seed", type=_field_type("seed"), default=None,
                   help="split seed (default: the model's)")
    p.add_argument("--index", type=int, action="append", help="test-sample index (repeatable); default: all")
    p.set_defaults(func=_cmd_predict)


def _predict_data(header: dict, args) -> tuple[str, dict, dict]:
    """``(dataset, load options, recorded data description)`` for predict: the recorded ones, overridden."""
    meta = header.get("metadata") if isinstance(header.get("metadata"), dict) else {}
    recorded = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    cfg = meta.get("config") if isinstance(meta.get("config"), dict) else {}
    trained_on = recorded.get("dataset") or cfg.get("dataset")
    dataset = args.dataset or trained_on
    if dataset is None:
        raise UsageError(f"{args.model} does not record the dataset it was trained on (it was not written by "
                         "'mlplab train'); give --dataset NAME")
    dataset = TrainConfig.parse_text("dataset", dataset)
    same = trained_on is not None and str(trained_on).lower() == dataset
    seed = args.seed if args.seed is not None else recorded.get("seed", cfg.get("seed", 0))
    kw: dict = {"seed": int(seed) if isinstance(seed, int) else 0}
    split = args.split if args.split is not None else (recorded.get("split", cfg.get("split")) if same else None)
    if split is not None:
        if dataset != "arem":
            raise UsageError(f"--split applies to the arem dataset only, not {dataset!r}")
        kw["split"] = split
    n_train = recorded.get("n_train", cfg.get("n_train")) if same else None
    if isinstance(n_train, int):  # AReM's scaling statistics come from the training subset
        kw["n_train"] = n_train
    if same and recorded.get("test_size") is not None and dataset in ("digits", "arem"):
        kw["test_size"] = recorded["test_size"]
    if args.data_home is not None:
        kw["data_home"] = args.data_home
    elif same and cfg.get("data_home") and Path(cfg["data_home"]).is_dir():  # where it was trained, if still there
        kw["data_home"] = cfg["data_home"]
    return dataset, kw, {"trained_on": trained_on, "class_names": meta.get("class_names")}


def _cmd_predict(args) -> int:
    from . import data as mdata
    from . import io, metrics

    try:
        header = io.read_metadata(args.model)
        model = io.load(args.model)
    except (ValueError, OSError) as exc:
        raise CommandError(f"cannot use model file {args.model}: {exc}") from None
    dataset, kw, recorded = _predict_data(header, args)
    ds = mdata.load(dataset, **kw)
    X = ds.X_test.reshape(len(ds.X_test), -1)
    where = f"the model in {args.model}" + (f" (trained on {recorded['trained_on']})" if recorded["trained_on"] else "")
    if model.n_features_in is not None and model.n_features_in != X.shape[1]:
        raise CommandError(f"{where} takes {model.n_features_in} features, but {ds.name} has {X.shape[1]}; "
                           "score it on the dataset it was trained on (leave out --dataset)")
    if model.n_outputs != ds.n_classes:
        raise CommandError(f"{where} predicts {model.n_outputs} classes, but {ds.name} has {ds.n_classes}; "
                           "score it on the dataset it was trained on (leave out --dataset)")
    names = recorded["class_names"]
    if isinstance(names, list) and list(map(str, names)) != list(ds.class_names):
        raise CommandError(f"{where} was trained on the classes {', '.join(map(str, names[:4]))}, ... but {ds.name} "
                           f"has the classes {', '.join(ds.class_names[:4])}, ...: its accuracy there would mean "
                           "nothing; score it on the dataset it was trained on (leave out --dataset)")
    names = list(ds.class_names)
    what = ", ".join(f"{k} {v}" for k, v in kw.items() if k != "data_home")
    if args.index:
        bad = [i for i in args.index if not 0 <= i < len(X)]
        if bad:
            raise UsageError(f"test indices {bad} out of range: the test set has {len(X)} samples (0..{len(X) - 1})")
        proba = model.predict_proba(X[args.index])
        for i, p in zip(args.index, proba):
            k = int(np.argmax(p))
            print(f"test sample {i}: predicted {names[k]} (p={p[k]:.3f}), true {names[ds.y_test[i]]}")
    else:
        pred = model.predict(X)
        print(f"{len(X)} test samples, accuracy {metrics.accuracy(ds.y_test, pred):.4f} ({ds.name} test part, {what})")
    return EXIT_OK


def _add_export_parser(sub) -> None:
    """``mlplab export MODEL.npz --onnx OUT.onnx``: the model as an ONNX graph (mlplab.onnx)."""
    p = sub.add_parser("export", help="export a saved model to ONNX",
                       description="Write a saved mlplab model as an ONNX graph of standard operators (input X; "
                                   "outputs scores and probabilities), for onnxruntime and other ONNX runtimes. "
                                   'Needs the onnx package: pip install "mlplab[onnx]".')
    p.add_argument("model", type=Path, help="a model.npz written by mlplab")
    p.add_argument("--onnx", type=Path, required=True, metavar="OUT.onnx", help="ONNX file to write")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: 17)")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None,
                   help="input and computation type (default: the model's)")

    def run(args) -> int:
        from . import io
        try:
            io.to_onnx(io.load(args.model), args.onnx, opset=args.opset, dtype=args.dtype)
        except ImportError as exc:       # the optional onnx package: one line saying what to install
            _error(_one_line(exc))
            return EXIT_FAILED
        print(f"wrote {args.onnx}")
        return EXIT_OK

    p.set_defaults(func=run)

# ------------------------------------------------------------------------------------ the command

def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(
        prog="mlplab", description="Build, train, compare and understand fully-connected neural networks "
                                   "(from scratch on NumPy). Exit status: 0 done, 1 failed while running, "
                                   "2 wrong input, 130 interrupted.")
    parser.add_argument("--version", action="version", version=f"mlplab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train_parser(sub)
    _add_predict_parser(sub)
    _add_export_parser(sub)
    from .data.cli import add_data_parser

    add_data_parser(sub)
    from .labs.cli import add_lab_parser

    add_lab_parser(sub)
    from .search.cli import add_search_parser

    add_search_parser(sub)
    from .exercises.cli import add_exercises_parser

    add_exercises_parser(sub)
    for p in sub.choices.values():  # `mlplab train ... --debug` works as `mlplab --debug train ...`
        if "--debug" not in p._option_string_actions:
            p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # usage errors (2), --help and --version (0)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    return run_parsed(args)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _error(message: str) -> None:
    print(f"mlplab: error: {message}", file=sys.stderr, flush=True)


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command and turn every expected failure into one line and an exit status
    (see the module docstring); ``args.debug`` adds the traceback."""
    from .data.cache import ChecksumError, DownloadError
    from .train import TrainingDiverged

    debug = getattr(args, "debug", False)

    def report(message: str, code: int, exc: BaseException | None = None) -> int:
        if debug and exc is not None:
            traceback.print_exception(exc)
            for cause in getattr(exc, "causes", ()):
                traceback.print_exception(cause)
        _error(message)
        return code

    try:
        return args.func(args) or EXIT_OK
    except Interrupted as exc:
        print(f"mlplab: {exc}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print("mlplab: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except (UsageError, ConfigError) as exc:
        return report(_one_line(exc), EXIT_USAGE, exc)
    except CommandError as exc:
        return report(_one_line(exc), EXIT_FAILED, exc)
    except DownloadError as exc:
        return report(_one_line(exc), EXIT_FAILED, exc)
    except TrainingDiverged as exc:
        return report(_one_line(exc), EXIT_FAILED, exc)
    except MemoryError as exc:
        return report(f"out of memory{': ' + _one_line(exc) if str(exc) else ''}; use a smaller network (--hidden), "
                      "--batch-size or --n-train", EXIT_FAILED, exc)
    except FileNotFoundError as exc:
        return report(_one_line(exc), EXIT_FAILED, exc)
    except OSError as exc:
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return report(f"{exc.strerror or _one_line(exc)}{where}", EXIT_FAILED, exc)
    except ChecksumError as exc:  # a damaged dataset file is not the command line's fault
        return report(_one_line(exc), EXIT_FAILED, exc)
    except ValueError as exc:  # bad input: an option, a file it names, data that does not fit
        return report(_one_line(exc), EXIT_USAGE, exc)
    except ModuleNotFoundError as exc:
        return report(f"{_one_line(exc)}: install the missing package (see the README)", EXIT_FAILED, exc)


if __name__ == "__main__":
    sys.exit(main())
