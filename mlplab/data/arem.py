"""UCI AReM: read the 88 recordings (verified), merge bending1/bending2, and split by rows or by recordings.

Each recording ``arem/<activity>/datasetN.csv`` is 480 rows (one has 479) of
``time, avg_rss12, var_rss12, avg_rss13, var_rss13, avg_rss23, var_rss23``; a row is one sample
with the 6 RSS features (time is dropped) and the recording's activity as label.

Duplicates: six recordings of the original are byte-identical copies of others (cycling 15 = 1;
lying 15 = 1, 11 = 3, 12 = 5, 13 = 7, 14 = 9). With ``drop_duplicates=True`` (the default) only
the first of each set of identical files is used, so no recording can end up on both sides of a
split and no activity is counted twice: 82 recordings, 39359 rows. ``drop_duplicates=False`` keeps
all 88 files (42239 rows) as the original distribution has them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import read_verified
from .formats import AREM_COLUMNS, parse_arem_csv
from .registry import AREM_ACTIVITIES, AREM_CLASSES, get_spec

__all__ = ["Recording", "read_recordings", "arem_arrays", "split_recordings"]

#: Feature names of an AReM sample (the CSV columns without ``time``).
FEATURES = list(AREM_COLUMNS[1:])


@dataclass
class Recording:
    """One AReM CSV file: ``name`` like ``"cycling/dataset3"``, its activity folder, class index into
    :data:`~mlplab.data.registry.AREM_CLASSES`, rows ``(n, 6)`` float64 and the SHA-256 of its bytes."""

    name: str
    activity: str
    label: int
    rows: np.ndarray
    sha256: str


def activity_class(activity: str) -> int:
    """Class index of an activity folder: ``bending1`` and ``bending2`` are both ``bending`` (0)."""
    return AREM_CLASSES.index("bending" if activity.startswith("bending") else activity)


def read_recordings(home: Path) -> list[Recording]:
    """Read every AReM recording listed in the registry from ``home/arem``, each verified by SHA-256.

    Returns them in activity then recording-number order. Raises ``ChecksumError`` for a file whose
    digest differs and ``ValueError`` (naming file and line) for text that does not parse.
    """
    spec = get_spec("arem")
    out = []
    for f in spec.files:
        if not f.required:
            continue
        path = home / f.path
        data = read_verified(path, f.sha256, hint="Delete the file and run `mlplab data fetch arem --force`, "
                                                  "or replace it with the original file.")
        rows, _ = parse_arem_csv(data, str(path))
        _, activity, fname = f.path.split("/")
        out.append(Recording(f"{activity}/{fname.removesuffix('.csv')}", activity, activity_class(activity),
                             rows[:, 1:], hashlib.sha256(data).hexdigest()))
    return out


def arem_arrays(home: Path, drop_duplicates: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """All AReM rows: ``X`` float64 ``(n, 6)``, ``y`` int64 ``(n,)``, ``groups`` ``(n,)`` recording names.

    The dict reports ``duplicates_dropped``: ``[(dropped, identical kept one), ...]``.
    """
    kept: dict[str, str] = {}
    dropped = []
    recs = []
    for rec in read_recordings(home):
        if drop_duplicates and rec.sha256 in kept:
            dropped.append((rec.name, kept[rec.sha256]))
            continue
        kept.setdefault(rec.sha256, rec.name)
        recs.append(rec)
    X = np.concatenate([r.rows for r in recs])
    y = np.concatenate([np.full(len(r.rows), r.label, dtype=np.int64) for r in recs])
    groups = np.concatenate([np.full(len(r.rows), r.name, dtype=object) for r in recs]).astype(str)
    return X, y, groups, {"duplicates_dropped": dropped, "n_recordings": len(recs)}


def split_recordings(groups: np.ndarray, test_size: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices ``(train_idx, test_idx)`` of a split that sends whole recordings to one side.

    For each activity folder (``groups`` are ``"<activity>/datasetN"``) with ``n`` recordings,
    ``round(test_size * n)`` of them, at least 1 and at most ``n - 1``, drawn with ``rng``, go to
    the test side. Both index arrays are sorted.
    """
    if not (isinstance(test_size, float) and 0.0 < test_size < 1.0):
        raise ValueError(f"a split by recordings takes a fraction in (0, 1) of each activity's recordings "
                         f"(test_size, val_size); got {test_size!r}")
    names = list(dict.fromkeys(groups.tolist()))  # recordings in order of appearance
    test_names: set[str] = set()
    for activity in AREM_ACTIVITIES:
        members = [n for n in names if n.split("/")[0] == activity]
        if len(members) < 2:
            continue
        k = min(max(int(round(test_size * len(members))), 1), len(members) - 1)
        test_names.update(rng.choice(members, size=k, replace=False).tolist())
    is_test = np.isin(groups, sorted(test_names))
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)
