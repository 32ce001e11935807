"""Worker processes of one ``run_search`` call, and what happens when one of them stops.

The calling process (the *supervisor*) starts each worker as a fresh interpreter (``spawn``: nothing
is shared by accident) and hands out trials one at a time: before each trial a worker asks for a
ticket over its pipe, and the supervisor grants one while the call's trials, its grid or its time
are not used up. So a worker that dies (killed, out of memory) costs only its own trial: the others
take the trials it would have run. The supervisor watches every worker's process handle, and when one
ends without saying goodbye it marks that worker's running trial failed and queues its configuration
again (:func:`~mlplab.search._optuna.fail_trial`), at once rather than after a heartbeat grace period.

Ctrl-C: workers start with SIGINT ignored (a disposition a new process inherits), so a Ctrl-C at the
terminal reaches only the supervisor, which stops the workers with SIGTERM. A worker turns SIGTERM into
``KeyboardInterrupt`` (:class:`StopRequest`: at once while it trains, after the call in progress when
it talks to the database, which an exception could leave holding a lock): its trial fails quietly and
its configuration is queued for when the search resumes. A worker that has not stopped after a few
seconds is killed and its trial failed by the supervisor. A worker whose supervisor has gone away
starts no new trial.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.connection as mpc
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ._optuna import fail_trial, require_optuna

__all__ = ["supervise", "worker_entry", "exit_reason", "StopRequest"]

log = logging.getLogger(__name__)

#: seconds a worker gets to record its interrupted trial after SIGTERM before it is killed
STOP_WAIT = 10.0


class StopRequest:
    """A worker's SIGTERM handler: the request to stop, raised as ``KeyboardInterrupt`` where that is
    safe. Inside :meth:`interruptible` (training: NumPy code) it is raised at once; elsewhere (database
    calls, Optuna's bookkeeping, waiting for a ticket) it is only recorded, and :meth:`check` raises it
    at the next safe point."""

    def __init__(self) -> None:
        self.requested = False
        self._safe = False

    def __call__(self, signum, frame) -> None:
        self.requested = True
        if self._safe:
            self._safe = False
            raise KeyboardInterrupt

    def check(self) -> None:
        if self.requested:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def interruptible(self):
        """Code that a ``KeyboardInterrupt`` may stop anywhere."""
        self.check()
        self._safe = True
        try:
            yield
        finally:
            self._safe = False

    @contextlib.contextmanager
    def shielded(self):
        """Database calls inside :meth:`interruptible` code: a stop request waits until they are done."""
        was, self._safe = self._safe, False
        try:
            yield
        finally:
            self._safe = was
        if was:
            self.check()


def worker_entry(target: Callable[..., dict], job: Any, conn, parent_pid: int) -> None:
    """The body of a worker process: ``target(job, next_ticket=..., stop=...)`` then a ``("done",
    result)`` or ``("error", exception)`` message. Exits 0, 1 (an error, reported), or 130 (stopped)."""
    stop = StopRequest()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # already inherited; set again for other start methods
    signal.signal(signal.SIGTERM, stop)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # whatever mask the process inherited

    def next_ticket() -> bool:
        # the answer is yes, no, or None: "not yet", while another worker may still die and leave
        # work (its share, or a failed trial queued to run again) that this one should take over
        while True:
            if stop.requested or os.getppid() != parent_pid:  # stopped, or the supervisor is gone
                return False
            try:
                conn.send(("ticket",))
                answer = conn.recv()
            except (EOFError, OSError):
                return False
            if answer is not None:
                return bool(answer)
            time.sleep(0.25)

    code = 0
    try:
        result = target(job, next_ticket=next_ticket, stop=stop)
        stop.check()
        conn.send(("done", result))
    except KeyboardInterrupt:
        code = 130
    except BaseException as exc:  # noqa: BLE001 - reported to the supervisor, which raises it
        code = 1
        try:
            conn.send(("error", exc))
        except Exception:  # an exception that does not pickle: its text
            with contextlib.suppress(Exception):
                conn.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    sys.exit(code)


def exit_reason(exitcode: int | None) -> str:
    """``exitcode`` of a process in words: ``killed by SIGKILL``, ``exited with status 1``."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exited with status {exitcode}"


@dataclass
class _Worker:
    proc: Any
    conn: Any
    name: str
    result: dict | None = None
    error: BaseException | None = None
    lost: list[int] = field(default_factory=list)
    ended: bool = False
    waiting: bool = False  # told "not yet" at its last ticket request: done with its share, not at work


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored while processes start, so that they inherit the disposition (main thread only)."""
    try:
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread: signals are not ours to change
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _fail_running(study, match: Callable[[dict], bool], reason: str) -> list[int]:
    """Fail the study's RUNNING trials whose user attributes satisfy ``match``; their numbers."""
    TS = require_optuna().trial.TrialState
    lost = []
    for t in study.get_trials(deepcopy=False, states=(TS.RUNNING,)):
        if match(t.user_attrs) and fail_trial(study, t, reason):
            lost.append(t.number)
    return lost


def supervise(target: Callable[..., dict], jobs: list, study, run_id: str,
              grant: Callable[[int, set[int], bool], bool | None],
              on_poll: Callable[[], None] | None = None,
              on_death: Callable[[int, int], None] | None = None) -> list[dict]:
    """Run one worker process per job (``target(job, next_ticket=...)`` in each), granting worker ``i``
    a ticket per trial while ``grant(i, dead, others_running)`` says so (``dead``: the indices of the
    workers that died; ``others_running``: whether another worker is still at work, so that ``grant``
    may answer None, "ask again later"). ``on_death(i, n_lost)`` hears of worker ``i`` dying during
    ``n_lost`` trials (failed, their configurations queued to run again). Returns one dict per worker: ``worker`` (host:pid), ``trials``
    (trials of this call it finished), ``status`` (``finished`` or how it stopped) and ``lost`` (the
    trials it was running when it died). A worker's exception is raised once all have ended."""
    ctx = multiprocessing.get_context("spawn")
    host = socket.gethostname()
    workers: list[_Worker] = []

    def ask(w: _Worker) -> bool | None:
        dead = {i for i, v in enumerate(workers) if v.ended and v.proc.exitcode != 0}
        # only a worker at a trial can still die and leave work; two waiting ones must not wait for each other
        others_running = any(not v.ended and not v.waiting for v in workers if v is not w)
        answer = grant(workers.index(w), dead, others_running)
        w.waiting = answer is None
        return answer

    try:
        for i, job in enumerate(jobs):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=worker_entry, args=(target, job, theirs, os.getpid()), daemon=True,
                               name=f"mlplab-search-worker-{i}")
            with _sigint_ignored():
                proc.start()
            theirs.close()
            workers.append(_Worker(proc, mine, f"{host}:{proc.pid}"))
        while not all(w.ended for w in workers):
            live = [w for w in workers if not w.ended]
            mpc.wait([w.conn for w in live if not w.conn.closed] + [w.proc.sentinel for w in live], timeout=0.5)
            for w in live:
                _read(w, ask)
                if w.proc.exitcode is not None:
                    _read(w, ask)  # a goodbye sent just before exiting
                    _ended(w, study)
                    if on_death is not None and w.proc.exitcode != 0 and w.error is None:
                        on_death(workers.index(w), len(w.lost))
            if on_poll is not None:
                on_poll()
    except BaseException:  # Ctrl-C (or an error here): stop every worker, fail what they leave running
        _stop(workers)
        for w in workers:
            if not w.ended:
                _ended(w, study, quiet=True, reason="the search was interrupted")
        _fail_running(study, lambda ua: ua.get("run") == run_id, "the search was interrupted")
        raise
    # trials left RUNNING by this call's workers, all gone now (e.g. one died before naming itself)
    _fail_running(study, lambda ua: ua.get("run") == run_id, "its worker stopped")
    errors = [w.error for w in workers if w.error is not None]
    if errors:
        raise errors[0]
    done = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("run") == run_id and t.state.is_finished()]
    return [{"worker": w.name, "trials": sum(t.user_attrs.get("worker") == w.name for t in done),
             "status": "finished" if w.proc.exitcode == 0 else exit_reason(w.proc.exitcode), "lost": w.lost}
            for w in workers]


def _read(w: _Worker, grant: Callable[[_Worker], bool | None]) -> None:
    """Every message waiting from worker ``w``: answer ticket requests, keep its result or error."""
    while not w.conn.closed:
        try:
            if not w.conn.poll():
                return
            msg = w.conn.recv()
        except (EOFError, OSError):  # the worker is gone (perhaps in the middle of a message)
            w.conn.close()
            return
        except Exception:  # a message cut short by the worker's death
            w.conn.close()
            return
        if msg[0] == "ticket":
            with contextlib.suppress(OSError):
                w.conn.send(grant(w))
        elif msg[0] == "done":
            w.result = msg[1]
        elif msg[0] == "error":
            w.error = msg[1]


def _ended(w: _Worker, study, quiet: bool = False, reason: str | None = None) -> None:
    """Worker ``w`` has exited: if it died (no result, no error), fail the trial it was running."""
    w.proc.join()
    w.ended = True
    with contextlib.suppress(OSError):
        w.conn.close()
    if w.proc.exitcode == 0 or w.error is not None:
        return
    how = exit_reason(w.proc.exitcode)
    w.lost = _fail_running(study, lambda ua: ua.get("worker") == w.name, reason or f"worker {w.name} {how}")
    if not quiet and w.proc.exitcode != 130:
        log.warning("search worker %s %s%s; the other workers go on", w.name, how,
                    f" during trial {', '.join(map(str, w.lost))}: it failed and its configuration is queued "
                    "to run again" if w.lost else "")


def _stop(workers: list[_Worker]) -> None:
    """SIGTERM to every live worker, a few seconds to stop, then SIGKILL (at once on a second Ctrl-C)."""
    live = [w for w in workers if not w.ended and w.proc.is_alive()]
    for w in workers:  # a worker waiting for a ticket gets none
        with contextlib.suppress(OSError):
            w.conn.close()
    for w in live:
        with contextlib.suppress(OSError):
            w.proc.terminate()
    try:
        deadline = time.monotonic() + STOP_WAIT
        for w in live:
            w.proc.join(max(0.0, deadline - time.monotonic()))
    finally:
        for w in live:
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
