"""Run folders: one folder per training run or lab with model, config, history, figures and report.

A training run's folder is checked before anything is loaded (:func:`check_run_dir`: an existing
run is never mixed with a new one unless the user asks to replace it), created when the data and
the model are ready (:func:`prepare_run_dir`), and its last writes are protected from a first
Ctrl-C (:func:`finish_before_interrupt`).
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from ._files import atomic_write_text

__all__ = [
    "RUN_MARKERS",
    "RunDirError",
    "check_run_dir",
    "finish_before_interrupt",
    "make_run_dir",
    "prepare_run_dir",
    "write_json",
]

#: files whose presence makes a folder an mlplab run folder (what ``--overwrite`` may replace)
RUN_MARKERS = ("results.json", "config.json", "report.md")


class RunDirError(ValueError):
    """The requested run folder cannot be used (it holds another run, or is a file)."""


def make_run_dir(out: str | os.PathLike | None, prefix: str, root: str | os.PathLike = "runs") -> Path:
    """``out`` if given, else ``runs/<prefix>-<YYYYmmdd-HHMMSS>`` (with a suffix if it exists)."""
    if out is not None:
        path = Path(out)
    else:
        path = _fresh_name(prefix, root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _fresh_name(prefix: str, root: str | os.PathLike) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = Path(root) / f"{prefix}-{stamp}"
    n = 1
    while path.exists():
        n += 1
        path = Path(root) / f"{prefix}-{stamp}-{n}"
    return path


def check_run_dir(out: str | os.PathLike | None, overwrite: bool = False) -> Path | None:
    """Check (creating nothing) that ``out`` may receive a new run; returns it as a Path (None stays None).

    Accepted: a path that does not exist, an empty folder, and, with ``overwrite=True``, a folder
    holding an earlier mlplab run (one of :data:`RUN_MARKERS`, files only). Refused with
    :class:`RunDirError`: a file, a folder holding a run (without ``overwrite``), a non-empty folder
    that is not a run folder (``overwrite`` never deletes files mlplab did not write).
    """
    if out is None:
        return None
    path = Path(out)
    if path.is_symlink() and not path.exists():
        raise RunDirError(f"--out {path} is a broken link; choose another folder")
    if not path.exists():
        return path
    if not path.is_dir():
        raise RunDirError(f"--out {path} is an existing file, not a folder; choose another --out "
                          "(a run folder is created for you)")
    entries = list(path.iterdir())
    if not entries:
        return path
    is_run = any((path / m).is_file() for m in RUN_MARKERS)
    if not is_run:
        raise RunDirError(f"--out {path} is a folder that already holds other files and is not an mlplab run "
                          "folder; choose a new or empty folder")
    if not overwrite:
        raise RunDirError(f"--out {path} already holds a run; choose another folder, or add --overwrite to "
                          "replace that run")
    subfolders = [e.name for e in entries if e.is_dir() and not e.is_symlink()]
    if subfolders:
        raise RunDirError(f"--out {path} holds a run and the folders {', '.join(sorted(subfolders))}; "
                          "--overwrite replaces run files only: move them away or choose another folder")
    return path


def prepare_run_dir(out: Path | None, prefix: str, overwrite: bool = False, root: str | os.PathLike = "runs") -> Path:
    """Create the run folder (``out``, or a fresh ``runs/<prefix>-<time>``) after checking it again;
    with ``overwrite`` the files of the run it held are removed first, so two runs never mix."""
    if out is None:
        path = _fresh_name(prefix, root)
    else:
        path = check_run_dir(out, overwrite)
    if path.is_dir():
        for entry in path.iterdir():
            if entry.is_file() or entry.is_symlink():
                entry.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


@contextlib.contextmanager
def finish_before_interrupt(what: str = "saving the trained model", echo=None) -> Iterator[None]:
    """Let the block finish when Ctrl-C arrives once, then raise ``KeyboardInterrupt``; a second
    Ctrl-C stops at once. Outside the main thread (where Python cannot install handlers) the block
    runs unprotected.

    The writes inside are atomic anyway, so even the second Ctrl-C leaves whole files (or none).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    pending = []

    def handler(signum, frame):
        if pending:
            raise KeyboardInterrupt
        pending.append(signum)
        echo(f"mlplab: {what}; press Ctrl-C again to stop at once")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt
