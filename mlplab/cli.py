"""The ``mlplab`` command."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import tomllib
import warnings
from pathlib import Path

import numpy as np

__all__ = ["main", "build_parser", "TRAIN_DEFAULTS"]

#: defaults of ``mlplab train``; a ``--config`` file may set any of these keys
TRAIN_DEFAULTS = {
    "dataset": "digits", "hidden": "128,64", "activation": "relu", "norm": None, "dropout": 0.2,
    "init": None, "scaler": "standard", "optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0,
    "batch_size": 32, "epochs": 50, "seed": 0, "dtype": "float32", "split": None, "n_train": None,
}


def _hidden(text: str) -> list[int]:
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s]
    except ValueError:
        raise ValueError(f"hidden sizes must be comma-separated integers like 128,64; got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise ValueError(f"hidden sizes must be >= 1, got {text!r}")
    return sizes


def _init(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def _add_train_parser(sub) -> None:
    from .model import ACTIVATIONS, NORMS, SCALERS
    from .optim import OPTIMIZERS

    p = sub.add_parser(
        "train", help="train an MLP on a dataset and compare it with scikit-learn",
        description="Train an MLP, print its test accuracy next to scikit-learn's MLPClassifier trained on the "
                    "same split with the same hidden sizes, and write a run folder (model.npz, config.json, "
                    "history.csv, curves.png, report.md). With no options: digits, 64-128-64-10 ReLU, "
                    "dropout 0.2, standard scaling, Adam 1e-3, batch 32, 50 epochs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--config", type=Path, help="JSON or TOML file of options (keys as below, with underscores); "
                   "options given on the command line win")
    p.add_argument("--dataset", help="dataset name (see 'mlplab data list')")
    p.add_argument("--data-home", type=Path, help="dataset folder (default: $MLPLAB_DATA or the user cache)")
    p.add_argument("--split", choices=["rows", "recordings"], help="arem only: random rows (as the original lab) "
                   "or whole recordings on each side (honest generalisation)")
    p.add_argument("--n-train", type=int, help="use a seeded stratified subset of this many training samples")
    p.add_argument("--hidden", help="hidden layer sizes, comma-separated, e.g. 128,64")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="hidden-layer activation")
    p.add_argument("--norm", choices=sorted(NORMS), help="normalization after each hidden Dense layer")
    p.add_argument("--dropout", type=float, help="drop probability after each hidden activation (0 = none)")
    p.add_argument("--init", type=_init, help="weight init: he, xavier, xavier_uniform or a number "
                   "(fixed standard deviation); default: he for relu-like, xavier otherwise")
    p.add_argument("--scaler", choices=sorted(SCALERS) + ["none"], help="frozen input scaling layer fitted "
                   "on the training data and saved with the model")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), help="optimizer")
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--weight-decay", type=float, help="L2 weight decay on weight matrices")
    p.add_argument("--batch-size", type=int, help="mini-batch size (the last batch may be shorter)")
    p.add_argument("--epochs", type=int, help="number of epochs")
    p.add_argument("--seed", type=int, help="seed for the split, initial weights, shuffling and dropout")
    p.add_argument("--dtype", choices=["float32", "float64"], help="floating-point precision")
    p.add_argument("--out", type=Path, help="run folder (default: runs/<dataset>-<time>)")
    p.add_argument("--no-compare", action="store_true", help="skip the scikit-learn baseline")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, help="BLAS threads for training (default: chosen by the engine per "
                   "network size and machine load, or OMP_NUM_THREADS/OPENBLAS_NUM_THREADS if set)")
    p.set_defaults(func=_cmd_train)


def _train_options(args) -> dict:
    opts = dict(TRAIN_DEFAULTS)
    if args.config is not None:
        opts.update(read_config(args.config))
    for key in TRAIN_DEFAULTS:
        v = getattr(args, key, None)
        if v is not None:
            opts[key] = v
    opts["hidden"] = _hidden(opts["hidden"]) if isinstance(opts["hidden"], str) else [int(h) for h in opts["hidden"]]
    if opts.get("scaler") == "none":
        opts["scaler"] = None
    return opts


def read_config(path: Path) -> dict:
    """Options from a JSON or TOML file; unknown keys are an error."""
    if not path.exists():
        raise ValueError(f"config file not found: {path}")
    text = path.read_text(encoding="utf-8")
    try:
        cfg = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot parse config file {path}: {exc}") from exc
    cfg = {k.replace("-", "_"): v for k, v in cfg.items()}
    unknown = sorted(set(cfg) - set(TRAIN_DEFAULTS))
    if unknown:
        raise ValueError(f"config file {path} has unknown keys {unknown}; known keys: {', '.join(TRAIN_DEFAULTS)}")
    return cfg


def sklearn_baseline(opts: dict, data) -> dict:
    """scikit-learn's MLPClassifier with the same hidden sizes, activation, solver, learning rate,
    batch size and epochs, on the same split (scaled the same way when a scaler is used)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    act = {"sigmoid": "logistic", "logistic": "logistic", "relu": "relu", "tanh": "tanh",
           "identity": "identity"}.get(opts["activation"], "relu")
    solver = "adam" if opts["optimizer"] in ("adam", "adamw") else "sgd"
    clf = MLPClassifier(hidden_layer_sizes=tuple(opts["hidden"]), activation=act, solver=solver,
                        learning_rate_init=opts["lr"], batch_size=min(opts["batch_size"], len(data.X_train)),
                        max_iter=opts["epochs"], alpha=opts["weight_decay"], random_state=opts["seed"],
                        momentum=0.9 if opts["optimizer"] in ("momentum", "nesterov") else 0.0,
                        nesterovs_momentum=opts["optimizer"] == "nesterov", n_iter_no_change=opts["epochs"] + 1)
    scaler = {"standard": StandardScaler, "minmax": MinMaxScaler}.get(opts["scaler"])
    est = make_pipeline(scaler(), clf) if scaler else clf
    X_tr = data.X_train.reshape(len(data.X_train), -1)
    X_te = data.X_test.reshape(len(data.X_test), -1)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X_tr, data.y_train)
    seconds = time.perf_counter() - t0
    return {"accuracy": float(est.score(X_te, data.y_test)), "seconds": seconds,
            "description": f"MLPClassifier(hidden_layer_sizes={tuple(opts['hidden'])}, activation={act!r}, "
                           f"solver={solver!r}, learning_rate_init={opts['lr']}, batch_size={clf.batch_size}, "
                           f"max_iter={opts['epochs']}, alpha={opts['weight_decay']})"
                           + (f" after {scaler.__name__}" if scaler else "")}


def train_run(opts: dict, out: Path | None = None, data_home: Path | None = None, compare: bool = True,
              progress: bool = True, echo=print, threads: int | None = None) -> dict:
    """Train as ``mlplab train`` does and write the run folder; returns the summary dict."""
    from . import data as mdata
    from . import io, metrics, plots
    from .envinfo import environment_info, environment_markdown
    from .runs import make_run_dir, write_json
    from .train import build_trainer

    load_kwargs = {"seed": opts["seed"], "dtype": opts["dtype"]}
    if opts.get("split") is not None:
        if opts["dataset"] != "arem":
            raise ValueError(f"--split applies to the arem dataset only, not {opts['dataset']!r}")
        load_kwargs["split"] = opts["split"]
    if opts.get("n_train") is not None:
        load_kwargs["n_train"] = opts["n_train"]
    if data_home is not None:
        load_kwargs["data_home"] = data_home
    ds = mdata.load(opts["dataset"], **load_kwargs)
    X_train = ds.X_train.reshape(len(ds.X_train), -1)
    X_test = ds.X_test.reshape(len(ds.X_test), -1)
    run_dir = make_run_dir(out, ds.name)
    echo(f"dataset {ds.name}: {X_train.shape[0]} training and {X_test.shape[0]} test samples, "
         f"{X_train.shape[1]} features, {ds.n_classes} classes")
    model, trainer = build_trainer(opts, X_train.shape[1], ds.n_classes, progress=progress, threads=threads)
    optimizer = trainer.optimizer
    t0 = time.perf_counter()
    history = trainer.fit(X_train, ds.y_train, validation=(X_test, ds.y_test))
    seconds = time.perf_counter() - t0
    acc = metrics.accuracy(ds.y_test, model.predict(X_test))
    summary = {"mlplab": {"accuracy": acc, "seconds": seconds}}
    if compare:
        summary["sklearn"] = sklearn_baseline(opts, ds)

    config = {**opts, "dataset": ds.name}
    shapes = {"n_features": int(X_train.shape[1]), "n_classes": ds.n_classes,
              "n_train": int(X_train.shape[0]), "n_test": int(X_test.shape[0])}
    io.save(model, run_dir / "model.npz", optimizer=optimizer,
            metadata={"class_names": ds.class_names, "config": config})
    write_json(run_dir / "config.json", config)
    history.to_csv(run_dir / "history.csv")
    arch = "-".join(str(v) for v in [X_train.shape[1], *opts["hidden"], ds.n_classes])
    plots.training_curves(history, title=f"{ds.name}: {arch} {opts['activation']}, {opts['optimizer']} "
                          f"lr={opts['lr']:g}", val_label="test", path=run_dir / "curves.png")
    info = environment_info()
    write_json(run_dir / "results.json", {"summary": summary, "data": shapes, "environment": info})

    rows = [f"| mlplab {arch} | {acc:.4f} | {seconds:.2f} |"]
    if compare:
        sk = summary["sklearn"]
        rows.append(f"| scikit-learn MLPClassifier | {sk['accuracy']:.4f} | {sk['seconds']:.2f} |")
    report = "\n".join([
        f"# Training run: {ds.name}", "",
        f"An MLP {arch} ({opts['activation']}, {opts['optimizer']}, lr {opts['lr']:g}, batch {opts['batch_size']}, "
        f"{opts['epochs']} epochs) trained on {X_train.shape[0]} samples and tested on {X_test.shape[0]}; "
        f"test accuracy {acc:.4f} in {seconds:.2f} s.", "",
        "| model | test accuracy | seconds |", "|---|---:|---:|", *rows, "",
        *([f"Baseline: `{summary['sklearn']['description']}`", ""] if compare else []),
        "![loss and accuracy per epoch](curves.png)", "",
        "The curve labelled *test* is the test set, evaluated after each epoch; the saved model is the one "
        "after the last epoch (no selection on the test set).", "",
        "## Configuration", "", "```json", json.dumps(config, indent=2, default=str), "```", "",
        "## Environment", "", environment_markdown(info), "",
        f"Reproduce: `mlplab train --config {run_dir / 'config.json'}`",
        "",
    ])
    from ._files import atomic_write_text
    atomic_write_text(run_dir / "report.md", report)

    echo("")
    echo(f"{'model':<34} {'test accuracy':>13} {'seconds':>9}")
    echo(f"{'mlplab ' + arch:<34} {acc:>13.4f} {seconds:>9.2f}")
    if compare:
        echo(f"{'scikit-learn MLPClassifier':<34} {summary['sklearn']['accuracy']:>13.4f} "
             f"{summary['sklearn']['seconds']:>9.2f}")
    echo(f"\nrun folder: {run_dir}")
    summary["run_dir"] = str(run_dir)
    return summary


def _cmd_train(args) -> int:
    opts = _train_options(args)
    train_run(opts, out=args.out, data_home=args.data_home, compare=not args.no_compare,
              progress=not args.no_progress, threads=args.threads)
    return 0


def _add_predict_parser(sub) -> None:
    p = sub.add_parser("predict", help="predict with a saved model",
                       description="Load a saved model and print its prediction for samples of a dataset's test "
                                   "set (or all of them, with accuracy).")
    p.add_argument("model", type=Path, help="a model.npz written by mlplab")
    p.add_argument("--dataset", default="digits", help="dataset whose test samples to predict")
    p.add_argument("--data-home", type=Path, help="dataset folder")
    p.add_argument("--seed", type=int, default=None, help="split seed (default: the one in the model's config)")
    p.add_argument("--index", type=int, action="append", help="test-sample index (repeatable); default: all")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    from . import data as mdata
    from . import io, metrics

    header = io.read_metadata(args.model)
    model = io.load(args.model)
    meta = header.get("metadata", {})
    cfg = meta.get("config", {})
    seed = args.seed if args.seed is not None else cfg.get("seed", 0)
    kw = {"seed": seed}
    if args.data_home is not None:
        kw["data_home"] = args.data_home
    ds = mdata.load(args.dataset, **kw)
    X = ds.X_test.reshape(len(ds.X_test), -1)
    names = meta.get("class_names", ds.class_names)
    if args.index:
        bad = [i for i in args.index if not 0 <= i < len(X)]
        if bad:
            raise ValueError(f"test indices {bad} out of range: the test set has {len(X)} samples (0..{len(X) - 1})")
        proba = model.predict_proba(X[args.index])
        for i, p in zip(args.index, proba):
            k = int(np.argmax(p))
            print(f"test sample {i}: predicted {names[k]} (p={p[k]:.3f}), true {names[ds.y_test[i]]}")
    else:
        pred = model.predict(X)
        print(f"{len(X)} test samples, accuracy {metrics.accuracy(ds.y_test, pred):.4f}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="mlplab", description="Build, train, compare and understand fully-connected neural networks "
                                   "(from scratch on NumPy).")
    parser.add_argument("--version", action="version", version=f"mlplab {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train_parser(sub)
    _add_predict_parser(sub)
    try:
        from .data.cli import add_data_parser
    except ImportError:
        pass
    else:
        add_data_parser(sub)
    from .labs.cli import add_lab_parser

    add_lab_parser(sub)
    from .search_cli import add_search_parser

    add_search_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return run_parsed(args)


def run_parsed(args: argparse.Namespace) -> int:
    """Run a parsed command; bad input becomes a one-line error and exit status 2, Ctrl-C status 130."""
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        print(f"mlplab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlplab: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
