"""``run_search``: an Optuna study whose trials train mlplab networks, in one process or several.

One *trial* builds the network a configuration describes (:func:`mlplab.mlp`), trains it with the
library's :class:`~mlplab.train.Trainer` on the training part of a dataset and, after every epoch,
reports its accuracy on a validation part carved out of the training part (never the test set) to
Optuna, whose pruner may stop it there. The trial's value is the validation accuracy after its last
epoch.

Worker processes: with ``n_jobs > 1`` the trials of this call are run by ``n_jobs`` processes that
each run Optuna's ``optimize`` against the same storage, one trial per ticket from the calling process
(:mod:`mlplab.search.workers`: a worker that dies fails only its own trial); another machine joins by
running the same search (same storage URL, study name, space, dataset and seed).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from ..callbacks import Callback
from ..train import build_trainer  # the search builds models as `mlplab train` does
from .space import BASE_CONFIG, SearchSpace, load_space
from ._optuna import (SAMPLERS, fail_unstarted_trials, grace_seconds, make_pruner, make_sampler, mask_url,
                      open_storage, require_optuna, retry_trial)

if TYPE_CHECKING:  # pragma: no cover
    import optuna

__all__ = ["run_search", "SearchResult", "SearchProgress", "open_search", "setup_of", "build_trainer",
           "load_split", "DEFAULT_TRIALS"]

log = logging.getLogger(__name__)

#: trials of a TPE or random search when ``n_trials`` is not given (a grid search runs its grid)
DEFAULT_TRIALS = 20
#: datasets up to this size (training + validation arrays) are handed to local worker processes;
#: larger ones are loaded by each worker from the data folder
HANDOVER_BYTES = 256 * 2**20
#: format of the description of a search stored in the study (user attribute ``mlplab``)
SETUP_FORMAT = 1


# ------------------------------------------------------------------------------------ data and model

def load_split(dataset: str, val_size: float | int = 0.2, n_train: int | None = None, seed: int = 0,
               dtype: str = "float32", data_home: "str | os.PathLike | None" = None,
               data_options: Mapping[str, Any] | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """``(X_train, y_train, X_val, y_val, n_classes)``: the dataset's training part split (seeded,
    stratified) into what trials train on and what they are scored on. The test part is dropped
    here, so a search never sees it; with the same ``seed``, ``mlplab train`` tests on exactly that
    test part."""
    from .. import data as mdata

    kw: dict[str, Any] = dict(data_options or {})
    kw.update(val_size=val_size, seed=seed, dtype=dtype)
    if n_train is not None:
        kw["n_train"] = n_train
    if data_home is not None:
        kw["data_home"] = data_home
    ds = mdata.load(dataset, **kw)
    flat = lambda X: X.reshape(len(X), -1)
    return flat(ds.X_train), ds.y_train, flat(ds.X_val), ds.y_val, ds.n_classes


class _ReportToOptuna(Callback):
    """After each epoch: report validation accuracy to the trial; stop training if the pruner says so
    (not after the last epoch: a trial that has trained all its epochs completes)."""

    def __init__(self, trial, stop=None) -> None:
        self.trial = trial
        self.pruned_at: int | None = None
        self.shielded = stop.shielded if stop is not None else contextlib.nullcontext

    def on_epoch_end(self, trainer, logs: dict) -> None:
        with self.shielded():  # database calls: a worker's stop request waits for them
            self.trial.report(float(logs["val_accuracy"]), step=int(logs["epoch"]))
            prune = logs["epoch"] < trainer.epochs and self.trial.should_prune()
        if prune:
            self.pruned_at = int(logs["epoch"])
            trainer.stop_training = True


def _params_key(params: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in params.items()))


class TrialFailed(Exception):
    """A trial that failed in a way the search expects (out of memory): the trial is marked failed
    with the reason in its user attribute ``error`` and the search goes on."""


class _QuietTrialLogs(logging.Filter):
    """On Optuna's trial logger: a trial stopped by Ctrl-C is not logged (the command says it was
    interrupted), and a :class:`TrialFailed` is logged as its one-line warning, without traceback."""

    def __init__(self) -> None:
        super().__init__()
        self.silent: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        number = re.match(r"Trial (\d+) failed", record.getMessage())
        if isinstance(exc, KeyboardInterrupt):
            if number:
                self.silent.add(number.group(1))
            return False
        if number and number.group(1) in self.silent:  # its second line, "failed with value None"
            return False
        if isinstance(exc, TrialFailed):
            record.exc_info, record.exc_text = None, None
        return True


@contextlib.contextmanager
def _quiet_trial_logs():
    logger = logging.getLogger("optuna.study._optimize")
    f = _QuietTrialLogs()
    logger.addFilter(f)
    try:
        yield
    finally:
        logger.removeFilter(f)


class _Objective:
    """The function Optuna calls once per trial (see the module docstring)."""

    def __init__(self, space: SearchSpace, data: tuple, base: dict, run_id: str, worker: str, grid: bool,
                 stop=None) -> None:
        self.space, self.base, self.run_id, self.worker, self.grid = space, base, run_id, worker, grid
        self.stop = stop  # a worker process's StopRequest (mlplab.search.workers), None in the calling process
        self.X_train, self.y_train, self.X_val, self.y_val, self.n_classes = data
        self.n_run = 0

    def _duplicate_of(self, trial) -> int | None:
        """In a grid search, the number of an earlier trial with the same configuration (possible only
        when workers on several machines race for the last grid points), else None."""
        optuna = require_optuna()
        TS = optuna.trial.TrialState
        mine = _params_key(trial.params)
        for t in trial.study.get_trials(deepcopy=False):
            if t.number == trial.number or t.user_attrs.get("duplicate_of") is not None:
                continue
            if _params_key(t.params) != mine:
                continue
            if t.state in (TS.COMPLETE, TS.PRUNED) or (t.state in (TS.RUNNING, TS.WAITING) and t.number < trial.number):
                return t.number
        return None

    def __call__(self, trial) -> float:
        self.n_run += 1
        # first of all, so that the command that started a worker knows its running trial if it dies
        trial.set_user_attr("run", self.run_id)
        trial.set_user_attr("worker", self.worker)
        try:
            return self._run(trial)
        except KeyboardInterrupt:  # Ctrl-C or the search stopping its workers: rerun it when the search resumes
            trial.set_user_attr("interrupted", True)
            retry_trial(trial.study, trial.study._storage.get_trial(trial._trial_id))
            raise
        except MemoryError as exc:  # this configuration does not fit in memory; the others may
            trial.set_user_attr("error", f"out of memory (MemoryError: {exc})"[:200])
            raise TrialFailed(f"out of memory: {exc}") from None

    def _run(self, trial) -> float:
        optuna = require_optuna()
        from ..train import TrainingDiverged

        values = self.space.suggest(trial)
        config = self.space.to_config(values, self.base)
        if self.grid:
            dup = self._duplicate_of(trial)
            if dup is not None:
                trial.set_user_attr("duplicate_of", dup)
                raise optuna.TrialPruned(f"grid point already run by trial {dup}; not trained again")
        trial.set_user_attr("config", config)
        report = _ReportToOptuna(trial, self.stop)
        model, trainer = build_trainer(config, self.X_train.shape[1], self.n_classes, callbacks=[report])
        t0 = time.perf_counter()
        # a diverging trial is an expected outcome of a search (recorded below), not a reason for
        # NumPy's overflow warnings on every one of them
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            try:
                with self.stop.interruptible() if self.stop is not None else contextlib.nullcontext():
                    history = trainer.fit(self.X_train, self.y_train, validation=(self.X_val, self.y_val))
                value = float(history["val_accuracy"][-1])
            except TrainingDiverged as exc:  # a bad configuration, not a broken search: score what it left
                trial.set_user_attr("diverged", str(exc).split(". ")[0])
                value = float(trainer.evaluate(self.X_val, self.y_val)[1])
        trial.set_user_attr("epochs_run", len(trainer.history))
        trial.set_user_attr("seconds", round(time.perf_counter() - t0, 4))
        if report.pruned_at is not None:
            trial.set_user_attr("pruned_at", report.pruned_at)
            raise optuna.TrialPruned(f"pruned after epoch {report.pruned_at}")
        return value


# ------------------------------------------------------------------------------------ the study

def setup_of(space: SearchSpace, dataset: str, val_size, n_train, seed: int, sampler: str, dtype: str,
             data_options: Mapping[str, Any] | None = None) -> dict:
    """What must be equal for workers to share a study: stored in the study as user attribute ``mlplab``."""
    return {"format": SETUP_FORMAT, "space": space.to_dict(), "dataset": str(dataset).lower(),
            "val_size": val_size, "n_train": n_train, "seed": int(seed), "sampler": sampler,
            "dtype": str(dtype), "data_options": dict(sorted((data_options or {}).items())),
            "objective": "validation accuracy after the last epoch (maximize)"}


def _space_diff(old: dict, new: dict) -> str:
    parts = []
    for k in sorted(set(old) | set(new)):
        if k not in new:
            parts.append(f"{k} only in the study")
        elif k not in old:
            parts.append(f"{k} only in the new space")
        elif old[k] != new[k]:
            parts.append(f"{k}: study has {old[k]}, new space has {new[k]}")
    return "; ".join(parts)


def _check_setup(study: "optuna.Study", setup: dict, where: str, wait: float = 30.0) -> None:
    """Raise ``ValueError`` if the existing study was made for another space or setup."""
    deadline = time.monotonic() + wait
    stored = study.user_attrs.get("mlplab")
    while stored is None and not study.trials and time.monotonic() < deadline:
        time.sleep(0.5)  # another worker has just created it and is about to describe it
        stored = study.user_attrs.get("mlplab")
    if stored is None:
        raise ValueError(f"study {study.study_name!r} in {where} exists but was not made by mlplab search; "
                         "choose another study name")
    if stored.get("space") != setup["space"]:
        raise ValueError(f"study {study.study_name!r} in {where} exists with a different search space "
                         f"({_space_diff(stored.get('space', {}), setup['space'])}); use the space it was "
                         f"made with, or another study name")
    diff = [f"{k} {stored.get(k)!r} in the study, {setup[k]!r} now" for k in setup
            if k not in ("space", "format", "objective", "sampler") and stored.get(k) != setup[k]]
    if (stored.get("sampler") == "grid") != (setup["sampler"] == "grid"):  # tpe <-> random may alternate
        diff.append(f"sampler {stored.get('sampler')!r} in the study, {setup['sampler']!r} now (a grid study "
                    "stays a grid study)")
    if diff:
        raise ValueError(f"study {study.study_name!r} in {where} exists with different settings: "
                         + "; ".join(diff) + "; use the same settings, or another study name")


def open_search(storage: "optuna.storages.BaseStorage", study_name: str, setup: dict | None = None,
                sampler: "optuna.samplers.BaseSampler | None" = None, pruner: "optuna.pruners.BasePruner | None" = None,
                create: bool = True, label: str | None = None) -> "tuple[optuna.Study, bool]":
    """Create the study, or load it and check that it was made for ``setup``. ``storage`` is an Optuna
    storage; ``label`` names it in messages (a URL without its password). Returns ``(study, created)``."""
    optuna = require_optuna()
    where = label or "memory"
    if create:
        try:
            study = optuna.create_study(storage=storage, study_name=study_name, direction="maximize",
                                        sampler=sampler, pruner=pruner)
        except optuna.exceptions.DuplicatedStudyError:
            pass
        else:
            study.set_user_attr("mlplab", setup)
            return study, True
    try:
        study = optuna.load_study(study_name=study_name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        names = optuna.get_all_study_names(storage)
        raise ValueError(f"no study {study_name!r} in {where}; studies there: "
                         f"{', '.join(names) if names else 'none'}") from None
    if study.direction != optuna.study.StudyDirection.MAXIMIZE:
        raise ValueError(f"study {study_name!r} in {where} minimizes; an mlplab search maximizes accuracy")
    if setup is not None:
        _check_setup(study, setup, where)
    return study, False


def _requeue_lost_grid_points(study, space: SearchSpace) -> None:
    """Queue again the grid points whose only trials failed (a stale trial whose retries ran out)."""
    TS = require_optuna().trial.TrialState
    names = list(space.params)
    claimed, failed = set(), {}
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("duplicate_of") is not None or set(t.params) != set(names):
            continue
        key = _params_key(t.params)
        if t.state == TS.FAIL:
            failed[key] = t.params
        else:
            claimed.add(key)
    for key, params in failed.items():
        if key not in claimed:
            study.enqueue_trial(dict(params), skip_if_exists=False)


def _grid_unclaimed(study, space: SearchSpace) -> int:
    """Grid points that no trial has taken yet (finished, running or queued)."""
    TS = require_optuna().trial.TrialState
    names = set(space.params)
    claimed, pending = set(), 0
    for t in study.get_trials(deepcopy=False):
        if t.user_attrs.get("duplicate_of") is not None:
            continue
        if t.state in (TS.COMPLETE, TS.PRUNED, TS.RUNNING, TS.WAITING):
            if set(t.params) == names:
                claimed.add(_params_key(t.params))
            else:
                pending += 1  # created, parameters not drawn yet
    return max(0, space.grid_size() - len(claimed) - pending)


# ------------------------------------------------------------------------------------ workers

@dataclass
class _Job:
    """What one worker process needs (picklable)."""

    storage_url: str | None
    study_name: str
    space: SearchSpace
    setup: dict
    sampler: Any
    pruner: Any
    pruner_startup_trials: int
    pruner_warmup_epochs: int
    seed: int
    quota: int
    timeout: float | None
    worker_index: int
    run_id: str
    heartbeat: float | None
    grace_period: float | None
    data_home: Any
    optuna_verbosity: int
    data: tuple | None = None  # the arrays, when small enough to hand over instead of loading again


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _run_worker(job: _Job, study=None, data: tuple | None = None,
                on_trial: Callable[[Any], None] | None = None,
                next_ticket: Callable[[], bool] | None = None, stop=None) -> dict:
    """Run ``job.quota`` trials of the study (fewer if a grid runs out or the timeout passes), or, in a
    worker process, one trial per ``next_ticket()`` that returns True; returns ``{"worker": name,
    "trials": n}``. In a worker process ``study`` and ``data`` are None and made here; in the calling
    process they are passed in."""
    optuna = require_optuna()
    optuna.logging.set_verbosity(job.optuna_verbosity)
    grid = job.setup["sampler"] == "grid"
    if study is None:
        storage = open_storage(job.storage_url, job.heartbeat, job.grace_period)
        label = mask_url(job.storage_url) if job.storage_url else None
        pruner = make_pruner(job.pruner, job.pruner_startup_trials, job.pruner_warmup_epochs)
        study, _ = open_search(storage, job.study_name, job.setup, pruner=pruner, create=False, label=label)
        salt = (job.worker_index, len(study.get_trials(deepcopy=False)))
        study.sampler = make_sampler(job.sampler, job.seed, job.space.grid() if grid else None, worker_salt=salt)
    data = data if data is not None else job.data
    if data is None:
        s = job.setup
        data = load_split(s["dataset"], s["val_size"], s["n_train"], s["seed"], s["dtype"], job.data_home,
                          s["data_options"])
    # the configuration `mlplab train --config` gets: same dataset, test part (seed, split) and dtype;
    # it trains on the whole training part (n_train None), validation part included
    base = {**BASE_CONFIG, "dataset": job.setup["dataset"], "seed": job.seed, "dtype": job.setup["dtype"],
            "split": job.setup["data_options"].get("split"), "n_train": None}
    objective = _Objective(job.space, data, base, job.run_id, _worker_name(), grid, stop)

    def after_trial(st, frozen) -> None:
        if grid and _grid_unclaimed(st, job.space) == 0:
            st.stop()
        if on_trial is not None:
            on_trial(st)

    with warnings.catch_warnings(), _quiet_trial_logs():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if next_ticket is None:
            study.optimize(objective, n_trials=job.quota, timeout=job.timeout, callbacks=[after_trial],
                           catch=(TrialFailed,))
        else:
            while next_ticket():
                study.optimize(objective, n_trials=1, callbacks=[after_trial], catch=(TrialFailed,))
    return {"worker": objective.worker, "trials": objective.n_run}


# ------------------------------------------------------------------------------------ results

@dataclass
class SearchProgress:
    """Where a search stands: trials this call has finished (``done`` of ``total``), of which
    ``pruned`` and ``failed``; the study's best value and trial so far."""

    done: int
    total: int
    pruned: int
    failed: int
    best_value: float | None
    best_trial: int | None
    study_trials: int


def _progress(study, run_id: str, total: int) -> SearchProgress:
    TS = require_optuna().trial.TrialState
    trials = study.get_trials(deepcopy=False)
    mine = [t for t in trials if t.user_attrs.get("run") == run_id and t.state.is_finished()]
    done = [t for t in trials if t.state == TS.COMPLETE]
    best = max(done, key=lambda t: (t.value, -t.number)) if done else None
    return SearchProgress(done=len(mine), total=total, pruned=sum(t.state == TS.PRUNED for t in mine),
                          failed=sum(t.state == TS.FAIL for t in mine),
                          best_value=None if best is None else float(best.value),
                          best_trial=None if best is None else best.number, study_trials=len(trials))


@dataclass
class SearchResult:
    """What :func:`run_search` returns.

    ``study`` (the Optuna study), ``best_config`` (the best trial's training configuration, with the
    keys ``mlplab train --config`` reads; None while no trial has completed), ``best_value`` (its
    validation accuracy), ``best_trial`` (its number), ``table`` (one dict per trial of the study,
    see :func:`mlplab.search.results_table`), ``n_run`` (trials this call ran), ``workers``
    (``{"worker": "host:pid", "trials": n, "status": "finished" or how it stopped, "lost": [trials
    it was running when it died]}`` per worker process of this call), ``not_run`` (trials this call
    was to run that no worker was left to run) and ``recovered`` (trials of earlier runs found
    abandoned by their workers and queued again when this call started).
    """

    study: Any
    study_name: str
    storage: str | None
    best_config: dict | None
    best_value: float | None
    best_trial: int | None
    table: list[dict]
    n_run: int
    workers: list[dict] = field(default_factory=list)
    not_run: int = 0
    recovered: list[int] = field(default_factory=list)

    def table_csv(self) -> str:
        from .report import table_csv

        return table_csv(self.table)

    def table_markdown(self, top: int | None = None) -> str:
        from .report import table_markdown

        return table_markdown(self.table, top=top)


def result_of(study: "optuna.Study", storage_label: str | None, n_run: int = 0,
              workers: list | None = None, not_run: int = 0, recovered: list | None = None) -> SearchResult:
    """A :class:`SearchResult` describing ``study`` as it stands."""
    from .report import best_config, results_table

    cfg, value, number = best_config(study)
    return SearchResult(study=study, study_name=study.study_name, storage=storage_label, best_config=cfg,
                        best_value=value, best_trial=number, table=results_table(study), n_run=n_run,
                        workers=list(workers or []), not_run=not_run, recovered=list(recovered or []))


# ------------------------------------------------------------------------------------ run_search

def run_search(space: "SearchSpace | Mapping[str, Any] | str | os.PathLike", dataset: str = "digits", *,
               n_trials: int | None = None, sampler: "str | optuna.samplers.BaseSampler" = "tpe",
               pruner: "str | optuna.pruners.BasePruner | None" = "median",
               storage: str | None = None, study_name: str | None = None, n_jobs: int = 1, seed: int = 0,
               val_size: float | int = 0.2, n_train: int | None = None, data_home: "str | os.PathLike | None" = None,
               data_options: Mapping[str, Any] | None = None, dtype: str = "float32", timeout: float | None = None,
               pruner_startup_trials: int = 5, pruner_warmup_epochs: int = 2, heartbeat: float | None = 30.0,
               grace_period: float | None = None, enqueue: tuple | list = (),
               progress: Callable[[SearchProgress], None] | None = None) -> SearchResult:
    """Search hyperparameters of an MLP on ``dataset`` with Optuna; returns a :class:`SearchResult`.

    Parameters
    ----------
    space : a :class:`~mlplab.search.SearchSpace`, a mapping (see :mod:`mlplab.search.space`) or the
        path of a TOML/JSON space file.
    dataset : a name of :func:`mlplab.data.load`. Trials train on its training part less a seeded,
        stratified validation part (``val_size``, default 0.2) and are scored on that validation part;
        ``n_train`` keeps only that many training samples (faster searches); ``data_options`` go to
        ``load`` too (e.g. ``{"split": "recordings"}`` for AReM). The test part is never loaded into
        a trial.
    n_trials : trials this call runs, shared out among its worker processes (default 20). For
        ``sampler="grid"``: at most the grid points not yet taken; default all of them.
    sampler : ``"tpe"`` (default), ``"random"`` or ``"grid"`` (every searched parameter needs finite
        values), or an Optuna sampler (used as is, a copy in every worker process). Seeded by ``seed``:
        trial ``k`` of a random search always gets the same configuration; a grid is visited in an
        order shuffled by ``seed``.
    pruner : ``"median"`` (default; ``pruner_startup_trials``, ``pruner_warmup_epochs``), ``"none"``
        or an Optuna pruner.
    storage : None (in memory), or a SQLAlchemy URL: ``"sqlite:///runs/study.db"`` keeps the study
        on disk so that it can be resumed and inspected; ``"postgresql://user:pw@host/db"`` shares
        it with other machines. ``study_name`` (default ``"mlplab-<dataset>"``) names the study in it;
        if it exists it is resumed, provided it was made with the same space, dataset, validation
        split, seed and dtype, and grid stays grid (else ``ValueError``).
    n_jobs : worker processes on this machine. Each runs Optuna against the storage, one trial at a
        time while this call has trials left; without a storage they share a temporary SQLite file
        and the returned study is copied into memory. A worker that dies (killed, out of memory)
        fails only the trial it was running, whose configuration is queued to run again; the others
        run the remaining trials. ``KeyboardInterrupt`` (Ctrl-C) stops every worker: their trials
        fail and are queued to run again when the search resumes.
    seed : seeds the data split, every network's initial weights, shuffling and dropout (the same in
        every trial, so trials differ only by their hyperparameters) and the sampler.
    timeout : seconds after which each worker starts no new trial.
    heartbeat, grace_period : seconds; with a database storage a running trial records a heartbeat
        every ``heartbeat`` seconds, and one silent for ``grace_period`` (default 3 heartbeats) is
        taken as killed: marked failed and run again by the next worker that starts a trial. So is a
        trial that never recorded a heartbeat (its worker died as it started) and began more than
        ``grace_period`` ago, when a search on the study starts. None turns this off.
    enqueue : configurations (parameter name -> value) to try first, when the study is created.
    progress : called with a :class:`SearchProgress` after each trial (in the calling process).
    """
    optuna = require_optuna()
    space = load_space(space)
    if isinstance(sampler, str):
        sampler_name = sampler.lower()
        if sampler_name not in SAMPLERS:
            make_sampler(sampler, seed)  # raises the explanatory ValueError
    else:
        sampler_name = type(sampler).__name__
    make_pruner(pruner, pruner_startup_trials, pruner_warmup_epochs)  # check the name early
    grid = sampler_name == "grid"
    grid_values = space.grid() if grid else None
    if n_trials is not None and (isinstance(n_trials, bool) or int(n_trials) != n_trials or n_trials < 1):
        raise ValueError(f"n_trials must be an integer >= 1, got {n_trials!r}")
    if isinstance(n_jobs, bool) or int(n_jobs) != n_jobs or n_jobs < 1:
        raise ValueError(f"n_jobs must be an integer >= 1, got {n_jobs!r}")
    n_jobs = int(n_jobs)
    study_name = study_name or f"mlplab-{str(dataset).lower()}"
    setup = setup_of(space, dataset, val_size, n_train, seed, sampler_name, dtype, data_options)
    run_id = uuid.uuid4().hex[:12]

    tmpdir = None
    storage_url = storage
    if storage is None and n_jobs > 1:  # worker processes need a storage they can all open
        tmpdir = tempfile.mkdtemp(prefix="mlplab-search-")
        storage_url = f"sqlite:///{os.path.join(tmpdir, 'study.db')}"
    label = mask_url(storage_url) if storage is not None else None
    try:
        # data first: a bad dataset name fails before a study is created
        data = load_split(dataset, val_size, n_train, seed, dtype, data_home, data_options)
        opt_storage = open_storage(storage_url, heartbeat, grace_period)
        pruner_obj = make_pruner(pruner, pruner_startup_trials, pruner_warmup_epochs)
        study, created = open_search(opt_storage, study_name, setup, pruner=pruner_obj, label=label,
                                     sampler=make_sampler(sampler, seed, grid_values, worker_salt=(0, 0)))
        if created:
            for params in enqueue:
                study.enqueue_trial(dict(params))
        recovered = [t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # trials of killed workers: failed, queued again
        beat = grace_seconds(heartbeat, grace_period)
        if beat is not None:  # and those whose worker died before their first heartbeat
            fail_unstarted_trials(study, beat[1])
        still = {t.number for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))}
        recovered = [n for n in recovered if n not in still]
        if grid:
            _requeue_lost_grid_points(study, space)
            total = _grid_unclaimed(study, space)
            if n_trials is not None:
                total = min(total, int(n_trials))
        else:
            total = int(n_trials) if n_trials is not None else DEFAULT_TRIALS
        job = _Job(storage_url=storage_url, study_name=study_name, space=space, setup=setup, sampler=sampler,
                   pruner=pruner, pruner_startup_trials=pruner_startup_trials,
                   pruner_warmup_epochs=pruner_warmup_epochs, seed=seed, quota=0, timeout=timeout,
                   worker_index=0, run_id=run_id, heartbeat=heartbeat, grace_period=grace_period,
                   data_home=data_home, optuna_verbosity=optuna.logging.get_verbosity())
        workers: list[dict] = []
        not_run = 0
        if total > 0 and n_jobs == 1:
            n_existing = len(study.get_trials(deepcopy=False))
            study.sampler = make_sampler(sampler, seed, grid_values, worker_salt=(0, n_existing))
            job.quota = total
            report = (lambda st: progress(_progress(st, run_id, total))) if progress else None
            workers.append(_run_worker(job, study=study, data=data, on_trial=report))
        elif total > 0:
            if sum(a.nbytes for a in data[:4]) <= HANDOVER_BYTES:
                job.data = data  # spares each worker loading (and importing) the dataset again
            workers, not_run = _run_processes(job, min(n_jobs, total), study, run_id, total, progress)
        n_run = sum(w["trials"] for w in workers)
        if tmpdir is not None:  # hand back an in-memory copy of the temporary study
            mem = optuna.storages.InMemoryStorage()
            optuna.copy_study(from_study_name=study_name, from_storage=opt_storage, to_storage=mem)
            study = optuna.load_study(study_name=study_name, storage=mem)
            _dispose(opt_storage)
        return result_of(study, label, n_run=n_run, workers=workers, not_run=not_run, recovered=recovered)
    finally:
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)


def _dispose(storage) -> None:
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


def _quotas(total: int, n_jobs: int) -> list[int]:
    n = max(1, min(n_jobs, total))
    return [total // n + (1 if i < total % n else 0) for i in range(n)]


def _run_processes(job: _Job, n_workers: int, study, run_id: str, total: int,
                   progress: Callable[[SearchProgress], None] | None,
                   target: Callable[..., dict] | None = None) -> tuple[list[dict], int]:
    """Run ``total`` trials in ``n_workers`` worker processes (:func:`mlplab.search.workers.supervise`),
    showing progress by reading the storage every half second; returns the workers' reports and the
    number of trials no worker was left to run. ``target`` replaces :func:`_run_worker` (tests).

    Each worker has its share of the trials (50 with 2 workers: 25 each); the share a worker leaves
    when it dies goes to the workers that ask for more once they have run theirs."""
    from .workers import supervise

    quotas = _quotas(total, n_workers)
    jobs = [_Job(**{**job.__dict__, "quota": q, "worker_index": i}) for i, q in enumerate(quotas)]
    granted = [0] * len(quotas)
    grid = job.setup["sampler"] == "grid"
    start = time.monotonic()
    last: list = [None]

    def grant(i: int, dead: set[int], others_running: bool = False) -> bool | None:
        """A trial for worker ``i``, while this call has trials, grid points and time left. Once ``i``
        has run its share it takes over what dead workers left; while another worker is still at work
        (and may yet die and leave some), the answer is None: ask again later."""
        if job.timeout is not None and time.monotonic() - start >= job.timeout:
            return False
        if grid and _grid_unclaimed(study, job.space) == 0:
            return False
        if granted[i] >= quotas[i]:
            spare = [j for j in dead if granted[j] < quotas[j]]
            if not spare:
                return None if others_running else False
            quotas[spare[0]] -= 1
            quotas[i] += 1
        granted[i] += 1
        return True

    def on_death(i: int, n_lost: int) -> None:
        # a trial lost with its worker failed and its configuration is queued: its ticket comes back to
        # the dead worker's share, which the others take over, so the requeued trial is always run and
        # the search still finishes as many trials as were asked for
        granted[i] -= n_lost

    def on_poll() -> None:
        if progress is not None:
            p = _progress(study, run_id, total)
            if p != last[0]:
                progress(p)
                last[0] = p

    workers = supervise(target or _run_worker, jobs, study, run_id, grant, on_poll, on_death)
    on_poll()
    left = sum(q - g for q, g in zip(quotas, granted))  # shares of workers that died after the others ended
    if grid:
        left = min(left, _grid_unclaimed(study, job.space))
    if job.timeout is not None and time.monotonic() - start >= job.timeout:
        left = 0
    return workers, left
