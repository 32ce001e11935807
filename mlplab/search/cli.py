"""The ``mlplab search`` command: run a hyperparameter search, or report on one.

Wired into ``mlplab`` by :func:`add_search_parser` (``python -m mlplab.cli search ARGS`` without the
installed script), like ``mlplab data`` and ``mlplab lab``; it imports nothing of the main command,
so there is no import cycle. Needs Optuna (a dependency of mlplab) only when it runs, not to build
the parser.

Exit status: 0 when the search ran its trials (a worker that died costs only its trial, and the
summary says so), 1 when trials were left unrun because the workers that had them stopped or Optuna
is missing, 2 for bad input, 130 for Ctrl-C (one line saying what the study keeps).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

__all__ = ["add_search_parser", "cmd_search", "STORAGE_ENV"]

#: environment variable read when ``--storage`` is not given (keeps a password off the command line)
STORAGE_ENV = "MLPLAB_SEARCH_STORAGE"


def add_search_parser(sub) -> argparse.ArgumentParser:
    """Add the ``search`` command to an ``argparse`` sub-parsers object; returns its parser."""
    p = sub.add_parser(
        "search", help="search hyperparameters with Optuna (one machine or many sharing a database)",
        description="Search hyperparameters of an MLP with Optuna: each trial trains a network on the training "
                    "part of a dataset and is scored by its accuracy on a validation part carved out of the "
                    "training part (the test part is never used); bad trials are stopped early by a pruner. "
                    "With --storage the study lives in a database (sqlite:///runs/study.db, "
                    "postgresql://user:pw@host/db) where it can be resumed and where other machines join it by "
                    "running the same command. Afterwards (and with --report alone) writes a report folder: "
                    "results.csv, history.png, importance.png, best_config.json (for 'mlplab train --config') "
                    "and report.md. PostgreSQL storages need: pip install \"mlplab[search]\".",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--space", type=Path, help="search space file (TOML or JSON); see examples/space.toml")
    p.add_argument("--dataset", default="digits", help="dataset name (see 'mlplab data list')")
    p.add_argument("--data-home", type=Path, help="dataset folder (default: $MLPLAB_DATA or the user cache)")
    p.add_argument("--val-size", type=float, default=0.2,
                   help="validation part taken out of the training part: a fraction, or a count if >= 1")
    p.add_argument("--split", choices=["rows", "recordings"], help="arem only: how the test part is split off "
                   "(as 'mlplab train --split'; the best configuration keeps it)")
    p.add_argument("--n-train", type=int, help="keep only this many training samples (faster trials)")
    p.add_argument("--trials", type=int, help="trials this command runs, shared among its --jobs workers "
                   "(default 20; a grid search runs the grid points not yet taken)")
    p.add_argument("--sampler", choices=["tpe", "random", "grid"], default="tpe", help="how trials are chosen")
    p.add_argument("--pruner", choices=["median", "none"], default="median",
                   help="stop a trial whose validation accuracy falls below the median of earlier trials")
    p.add_argument("--pruner-startup", type=int, default=5, help="trials that finish before pruning starts")
    p.add_argument("--pruner-warmup", type=int, default=2, help="epochs of each trial that are never pruned")
    p.add_argument("--storage", help=f"SQLAlchemy database URL of the study (default: ${STORAGE_ENV}, else in "
                   "memory); e.g. sqlite:///runs/study.db or postgresql://user:pw@host:5432/db")
    p.add_argument("--study", help="study name in the storage (default: mlplab-<dataset>)")
    p.add_argument("--jobs", type=int, default=1, help="worker processes on this machine")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, the weights, shuffling and the sampler")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="floating-point precision")
    p.add_argument("--timeout", type=float, help="seconds after which workers start no new trial")
    p.add_argument("--heartbeat", type=float, default=30.0, help="seconds between heartbeats of a running trial; "
                   "a trial silent for 3 heartbeats is taken as killed and run again (database storages)")
    p.add_argument("--report", action="store_true", help="run no trial: write the report of the study in "
                   "--storage/--study")
    p.add_argument("--out", type=Path, help="report folder (default: runs/search-<study>-<time>)")
    p.add_argument("--no-report", action="store_true", help="after searching, write no report folder")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_search)
    return p


class _Bar:
    """A tqdm bar over this command's trials showing the best value so far and the pruned count."""

    def __init__(self, disable: bool) -> None:
        self.disable = disable
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm.auto import tqdm

        if self.bar is None:
            self.bar = tqdm(total=p.total, desc="trials", unit="trial", disable=self.disable, dynamic_ncols=True)
        post = {"best": "-" if p.best_value is None else f"{p.best_value:.4f} (#{p.best_trial})",
                "pruned": p.pruned}
        if p.failed:
            post["failed"] = p.failed
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(p.done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _report_dir(out: Path | None, study_name: str) -> Path:
    from ..runs import make_run_dir

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in study_name)
    return make_run_dir(out, f"search-{safe}")


def _print_summary(result, out_paths: dict | None) -> None:
    print()
    print(f"study {result.study_name} ({result.storage or 'in memory'}): {len(result.table)} trials in all, "
          f"{result.n_run} run now" + (f" by {len(result.workers)} workers" if len(result.workers) > 1 else ""))
    if result.table:
        print(result.table_markdown(top=10))
    for w in result.workers:
        if w.get("status", "finished") != "finished":
            lost = w.get("lost") or []
            print(f"worker {w['worker']} {w['status']}" + (
                f" during trial {', '.join(map(str, lost))}: failed, its configuration queued to run again"
                if lost else "") + f"; {w['trials']} trials ran on it")
    if result.recovered:
        print(f"trials {', '.join(map(str, result.recovered))} had been left running by a worker that stopped: "
              "marked failed, their configurations queued to run again")
    if result.best_config is None:
        print("no trial has completed yet")
    else:
        print(f"\nbest: trial {result.best_trial}, validation accuracy {result.best_value:.4f}")
    if out_paths:
        print(f"report folder: {out_paths['report'].parent}")
        if "best_config" in out_paths:
            print(f"train the best configuration: mlplab train --config {out_paths['best_config']}")


def cmd_search(args) -> int:
    """Run ``mlplab search`` with parsed arguments; returns the exit status."""
    from ._optuna import mask_url, require_optuna
    from .report import load_search, write_report
    from .run import result_of, run_search

    try:
        optuna = require_optuna()
    except ImportError as exc:
        print(f"mlplab: error: {exc}", file=sys.stderr)
        return 1
    storage = args.storage or os.environ.get(STORAGE_ENV) or None
    if args.report:
        if storage is None:
            raise ValueError("--report reads a study from a database: give --storage URL (and --study NAME)")
        study = load_search(storage, args.study)
        out = _report_dir(args.out, study.study_name)
        paths = write_report(study, out, storage_label=mask_url(storage))
        result = result_of(study, mask_url(storage))
        _print_summary(result, paths)
        return 0
    if args.space is None:
        raise ValueError("give the search space with --space FILE (see examples/space.toml), or --report")
    if not getattr(args, "verbose", False):
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    val_size = int(args.val_size) if args.val_size >= 1 else args.val_size
    bar = _Bar(disable=args.no_progress)
    t0 = time.perf_counter()
    try:
        result = run_search(
            args.space, args.dataset, n_trials=args.trials, sampler=args.sampler, pruner=args.pruner,
            storage=storage, study_name=args.study, n_jobs=args.jobs, seed=args.seed, val_size=val_size,
            n_train=args.n_train, data_home=args.data_home, dtype=args.dtype, timeout=args.timeout,
            data_options={"split": args.split} if args.split else None,
            pruner_startup_trials=args.pruner_startup, pruner_warmup_epochs=args.pruner_warmup,
            heartbeat=args.heartbeat if args.heartbeat and args.heartbeat > 0 else None, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        where = (f"finished trials are kept in {mask_url(storage)} (study {args.study or 'mlplab-' + args.dataset.lower()}); "
                 "run the same command to resume, interrupted trials run again" if storage
                 else "the study was in memory and is lost (--storage keeps one)")
        print(f"mlplab: interrupted: {where}", file=sys.stderr)
        return 130
    finally:
        bar.close()
    print(f"searched for {time.perf_counter() - t0:.1f} s")
    paths = None
    if not args.no_report:
        paths = write_report(result.study, _report_dir(args.out, result.study_name),
                                    storage_label=result.storage, seed=args.seed)
    _print_summary(result, paths)
    if result.not_run:
        print(f"mlplab: error: {result.not_run} of this command's trials were not run: the workers that had them "
              "stopped (run the same command to run them)", file=sys.stderr)
        return 1
    return 0
