"""The Optuna side of the search: importing it, storages, samplers and pruners."""
from __future__ import annotations

import copy
import os
import time
import warnings
import zlib
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import types

    import optuna

__all__ = ["require_optuna", "mask_url", "open_storage", "make_sampler", "make_pruner", "derive_seed",
           "retry_trial", "fail_trial", "fail_unstarted_trials", "SAMPLERS", "PRUNERS", "EXTRA_HINT", "MAX_RETRY"]

EXTRA_HINT = 'pip install "mlplab[search]"'
SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "none")
#: how many times the configuration of a trial whose worker stopped is run again
MAX_RETRY = 3


def require_optuna() -> "types.ModuleType":
    """Import and return :mod:`optuna`, or raise ``ImportError`` naming the extra that installs it."""
    try:
        import optuna
    except ImportError as exc:  # ModuleNotFoundError: the command line's one line for a missing package
        raise ModuleNotFoundError(f"hyperparameter search needs Optuna, a dependency of mlplab that is not installed "
                          f"here: {EXTRA_HINT} (installs optuna and the PostgreSQL driver psycopg); "
                          f"import error: {exc}", name="optuna") from exc
    return optuna


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and reports)."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: hide whatever sits between ':' and '@' after '//'
        import re

        return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", str(url))


def _password(url: str) -> str | None:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).password
    except Exception:
        return None


def _scrub(text: str, url: str) -> str:
    """``text`` with the URL's password (and the URL itself) replaced by the masked URL."""
    pw = _password(url)
    text = str(text).replace(str(url), mask_url(url))
    if pw:
        text = text.replace(str(pw), "***")
    return text


def _sqlite_path(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL (None for in-memory SQLite or other databases)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if not u.get_backend_name() == "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _with_installed_driver(url: str) -> str:
    """A bare ``postgresql://`` URL with the PostgreSQL driver that is installed made explicit:
    SQLAlchemy 2.0 means psycopg2 by it, 2.1 psycopg (3); either driver then works with either."""
    import importlib.util

    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername != "postgresql":
        return url
    for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return u.set(drivername=driver).render_as_string(hide_password=False)
    return url


def open_storage(url: str | None, heartbeat: float | None = 30.0, grace_period: float | None = None,
                 max_retry: int = MAX_RETRY, attempts: int = 4) -> "optuna.storages.BaseStorage":
    """An Optuna storage for ``url``: in memory for None, else an ``RDBStorage`` (any SQLAlchemy URL:
    ``sqlite:///runs/study.db``, ``postgresql://user@host/db``, ``mysql+pymysql://...``).

    With ``heartbeat`` seconds, each running trial records a heartbeat; a trial whose heartbeat is
    older than ``grace_period`` (default three heartbeats) is taken as dead (its worker was killed),
    marked failed, and queued to run again (at most ``max_retry`` times) by the next worker that
    starts a trial. Creating the tables is retried a few times, since several workers starting at
    once on an empty database may race to create them. Errors are ``ValueError``s that name the URL
    without its password.
    """
    optuna = require_optuna()
    if url is None:
        return optuna.storages.InMemoryStorage()
    if not isinstance(url, str) or not url.strip():
        raise ValueError(f"storage must be a database URL such as sqlite:///runs/study.db, got {url!r}")
    masked = mask_url(url)
    try:
        from sqlalchemy.engine import make_url

        backend = make_url(url).get_backend_name()
    except Exception as exc:
        raise ValueError(f"storage {masked} is not a database URL ({_scrub(exc, url)}); expected e.g. "
                         "sqlite:///runs/study.db or postgresql://user:password@host:5432/dbname") from None
    url = _with_installed_driver(url)
    engine_kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        path = _sqlite_path(url)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ValueError(f"cannot reach storage {masked}: cannot create the folder {path.parent}: "
                                 f"{exc.strerror}") from None
        engine_kwargs["connect_args"] = {"timeout": 60}  # wait for other workers' writes, do not fail
    elif backend == "postgresql":
        engine_kwargs["connect_args"] = {"connect_timeout": 10}
        engine_kwargs["pool_pre_ping"] = True
    kwargs: dict[str, Any] = {"engine_kwargs": engine_kwargs}
    beat = grace_seconds(heartbeat, grace_period)
    if beat is not None:
        hb, grace = beat
        kwargs.update(heartbeat_interval=hb, grace_period=grace)
        kwargs["heartbeat_stale_trial_callback"] = _RetryStale(max_retry)
    last: BaseException | None = None
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(url, **kwargs)
        except ImportError as exc:
            raise ValueError(f"cannot open storage {masked}: its database driver is not installed "
                             f"({_scrub(exc.__cause__ or exc, url)}); for PostgreSQL: {EXTRA_HINT}") from None
        except Exception as exc:  # sqlalchemy errors: connection refused, bad credentials, races on create
            last = exc
            if _is_connection_error(exc):
                break
            time.sleep(0.2 + 0.4 * attempt + (os.getpid() % 7) * 0.05)
    reason = _scrub(_first_line(last), url)
    raise ValueError(f"cannot reach storage {masked}: {reason}") from None


def _first_line(exc: BaseException | None) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {text[0] if text else ''}".strip()


def _is_connection_error(exc: BaseException) -> bool:
    """Errors that a retry will not fix (nothing listens, wrong password, unknown host, no file access)."""
    text = str(getattr(exc, "orig", None) or exc).lower()
    if "does not exist" in text and ("database" in text or "role" in text):
        return True
    return any(s in text for s in ("connection refused", "could not connect", "authentication failed",
                                   "could not translate host", "unable to open database", "timeout expired",
                                   "no such host", "name or service not known"))


# ------------------------------------------------------------------------------------ trials whose worker stopped
#
# Three ways a trial's worker can stop without finishing it, all ending the same way (the trial FAIL,
# its configuration queued to run again by Optuna's RetryHeartbeatStaleTrialCallback, at most MAX_RETRY
# times): its heartbeat went stale (Optuna's fail_stale_trials), it never recorded a heartbeat
# (fail_unstarted_trials), or the command that started the worker saw it die (fail_trial).

class _RetryStale:
    """The storage's callback for heartbeat-stale trials: :func:`retry_trial`."""

    def __init__(self, max_retry: int) -> None:
        self.max_retry = max_retry

    def __call__(self, study, trial) -> None:
        retry_trial(study, trial, self.max_retry)


def retry_trial(study: "optuna.Study", trial: "optuna.trial.FrozenTrial", max_retry: int = MAX_RETRY) -> None:
    """Queue the configuration of the failed ``trial`` to run again: a WAITING trial with the same
    parameters and the system attributes ``failed_trial`` (the first trial of the series) and
    ``retry_history`` (Optuna's :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback`), unless it
    has been rerun ``max_retry`` times already. Its user attributes describe the run that failed
    (worker, epochs, seconds), so the rerun starts without them. A trial that stopped before its
    parameters were drawn is rerun with no parameters; the random sampler gives it the configuration
    of the trial it reruns (see :class:`~mlplab.search._samplers.TrialSeededRandomSampler`)."""
    optuna = require_optuna()
    clean = copy.deepcopy(trial)
    clean.user_attrs = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry)(study, clean)


def fail_trial(study: "optuna.Study", trial: "optuna.trial.FrozenTrial", reason: str,
               max_retry: int = MAX_RETRY) -> bool:
    """Mark the RUNNING ``trial`` failed, with ``reason`` in its user attribute ``lost``, and queue
    its configuration again (:func:`retry_trial`). False if another process finished it first."""
    optuna = require_optuna()
    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "lost", reason)
        if not storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
            return False
    except optuna.exceptions.UpdateFinishedTrialError:
        return False
    retry_trial(study, storage.get_trial(trial._trial_id), max_retry)
    return True


def _rdb_storage(storage) -> "optuna.storages.RDBStorage | None":
    from optuna.storages import RDBStorage

    storage = getattr(storage, "_backend", storage)  # a study wraps its RDBStorage in a cache
    return storage if isinstance(storage, RDBStorage) else None


def _trials_with_heartbeat(storage, trial_ids: list[int]) -> set[int] | None:
    """The ids among ``trial_ids`` that have recorded a heartbeat; None when ``storage`` keeps none."""
    rdb = _rdb_storage(storage)
    if rdb is None or rdb.get_heartbeat_interval() is None:
        return None
    import sqlalchemy
    # Optuna's heartbeat table (RDBStorage.record_heartbeat writes it); no public method reads it
    from optuna.storages._rdb.models import TrialHeartbeatModel as HB

    with rdb.engine.connect() as conn:
        rows = conn.execute(sqlalchemy.select(HB.trial_id).where(HB.trial_id.in_(list(trial_ids))))
        return {int(r[0]) for r in rows}


def fail_unstarted_trials(study: "optuna.Study", grace_period: float, max_retry: int = MAX_RETRY) -> list[int]:
    """Fail the RUNNING trials that never recorded a heartbeat and started more than ``grace_period``
    seconds ago, and queue their configurations again; returns their numbers.

    Optuna's :func:`~optuna.storages.fail_stale_trials` only judges trials by their last heartbeat,
    so a trial whose worker died between creating it and its first heartbeat (recorded by a thread
    that starts with the trial) would stay RUNNING forever. A live worker records that first
    heartbeat within moments of starting the trial, so one silent for a whole grace period is dead.
    Start times are the workers' clocks: machines sharing a study need clocks that agree to well
    within the grace period (NTP does).
    """
    TS = require_optuna().trial.TrialState
    running = study.get_trials(deepcopy=False, states=(TS.RUNNING,))
    if not running:
        return []
    beating = _trials_with_heartbeat(study._storage, [t._trial_id for t in running])
    if beating is None:
        return []
    now = datetime.now()
    failed = []
    for t in running:
        if t._trial_id in beating or t.datetime_start is None:
            continue
        if (now - t.datetime_start).total_seconds() > grace_period and fail_trial(
                study, t, "its worker stopped before its first heartbeat", max_retry):
            failed.append(t.number)
    return failed


def grace_seconds(heartbeat: float | None, grace_period: float | None) -> tuple[int, int] | None:
    """``(heartbeat, grace period)`` in whole seconds as the storage uses them, or None (no heartbeat)."""
    if heartbeat is None:
        return None
    hb = max(1, int(round(heartbeat)))
    return hb, max(hb + 1, int(round(grace_period if grace_period is not None else 3 * hb)))


# ------------------------------------------------------------------------------------ samplers, pruners

def derive_seed(*parts: Any) -> int:
    """A 32-bit seed from ``parts`` (ints and strings), stable across processes and machines."""
    import numpy as np

    ints = [int(p) if isinstance(p, (int,)) else zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence([abs(i) for i in ints]).generate_state(1)[0])


def make_sampler(name: "str | optuna.samplers.BaseSampler", seed: int, grid: dict | None = None,
                 worker_salt: tuple = ()) -> "optuna.samplers.BaseSampler":
    """An Optuna sampler by name: ``tpe`` (seeded from ``seed`` and ``worker_salt``, so parallel
    workers differ), ``random`` (trial-seeded, see
    :class:`~mlplab.search._samplers.TrialSeededRandomSampler`), ``grid`` (over
    ``grid``, shuffled by ``seed``, the same order in every worker); an Optuna sampler is used as is."""
    optuna = require_optuna()
    if isinstance(name, optuna.samplers.BaseSampler):
        return name
    key = str(name).lower()
    if key == "tpe":
        return optuna.samplers.TPESampler(seed=derive_seed(seed, "tpe", *worker_salt))
    if key == "random":
        from ._samplers import TrialSeededRandomSampler

        return TrialSeededRandomSampler(seed)
    if key == "grid":
        if grid is None:
            raise ValueError("the grid sampler needs the grid")
        return optuna.samplers.GridSampler(grid, seed=seed)
    raise ValueError(f"unknown sampler {name!r}; expected one of {', '.join(SAMPLERS)} or an Optuna sampler")


def make_pruner(name: "str | optuna.pruners.BasePruner | None", startup_trials: int = 5,
                warmup_epochs: int = 2) -> "optuna.pruners.BasePruner":
    """``median`` (Optuna's MedianPruner: stop a trial whose validation accuracy after an epoch is
    below the median of earlier trials at that epoch, once ``startup_trials`` trials have finished and
    after ``warmup_epochs`` epochs), ``none``, or an Optuna pruner as is."""
    optuna = require_optuna()
    if isinstance(name, optuna.pruners.BasePruner):
        return name
    key = "none" if name is None else str(name).lower()
    if key == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=int(startup_trials), n_warmup_steps=int(warmup_epochs))
    if key == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"unknown pruner {name!r}; expected one of {', '.join(PRUNERS)} or an Optuna pruner")
