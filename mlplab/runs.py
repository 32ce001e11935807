"""Run folders: one folder per training run or lab with model, config, history, figures and report."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ._files import atomic_write_text

__all__ = ["make_run_dir", "write_json"]


def make_run_dir(out: str | os.PathLike | None, prefix: str, root: str | os.PathLike = "runs") -> Path:
    """``out`` if given, else ``runs/<prefix>-<YYYYmmdd-HHMMSS>`` (with a suffix if it exists)."""
    if out is not None:
        path = Path(out)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{prefix}-{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = Path(root) / f"{prefix}-{stamp}-{n}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_json(path: str | os.PathLike, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
