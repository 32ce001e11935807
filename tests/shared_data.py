"""Where the tests find the real data sets (MNIST, Fashion-MNIST, AReM in their original formats):
the folder named by ``$MLPLAB_DATA`` if it is set and exists, else ``shared/data`` beside the repository
(``<repo>/../shared/data``, as in CI). Tests that need the files are skipped when neither exists."""
from __future__ import annotations

import os
from pathlib import Path

BESIDE_REPO = Path(__file__).resolve().parents[2] / "shared" / "data"


def _find() -> Path:
    env = os.environ.get("MLPLAB_DATA")
    if env and Path(env).expanduser().is_dir():
        return Path(env).expanduser().resolve()
    return BESIDE_REPO


SHARED = _find()
WHERE = f"$MLPLAB_DATA or {BESIDE_REPO}"
