"""Filling the exercise notebooks: solutions (and, for demonstrations and tests, classic mistakes)
written into the cells a student completes.

A notebook is read and written as JSON (nbformat 4.5, cells with ids), so this needs no Jupyter
package. The cell to complete has the id ``exercise-NAME``; its check cell ``check-NAME``
(see :mod:`mlplab.exercises.solutions`).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

from .._files import atomic_write_text
from .solutions import EXERCISES, INJECTIONS, NOTEBOOKS, injected_source, solution_source

__all__ = ["default_notebook_dir", "fill_notebook", "read_notebook", "write_solutions"]


def default_notebook_dir() -> Path:
    """``notebooks/exercises`` of the source tree this mlplab was installed from."""
    return Path(__file__).resolve().parents[2] / "notebooks" / "exercises"


def read_notebook(path: str | Path) -> dict:
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not a notebook (invalid JSON: {exc})") from None
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        raise ValueError(f"{path} is not a Jupyter notebook (no list of cells)")
    return nb


def _lines(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def fill_notebook(nb: dict, mistakes: tuple[str, ...] | list[str] = ()) -> dict:
    """A copy of ``nb`` with every ``exercise-NAME`` cell holding its solution, except those named in
    ``mistakes`` (keys of :data:`~mlplab.exercises.solutions.INJECTIONS`, ``"exercise:mistake"``),
    which get the solution with that mistake written in. Outputs of filled cells are cleared."""
    for key in mistakes:
        if key not in INJECTIONS:
            raise ValueError(f"unknown mistake {key!r}; see 'mlplab exercises list'")
    by_exercise = {INJECTIONS[k].exercise: k for k in mistakes}
    if len(by_exercise) != len(mistakes):
        raise ValueError("at most one mistake per exercise at a time")
    nb = copy.deepcopy(nb)
    found = set()
    for cell in nb["cells"]:
        cid = cell.get("id", "")
        if cell.get("cell_type") == "code" and cid.startswith("exercise-") and cid[len("exercise-"):] in EXERCISES:
            name = cid[len("exercise-"):]
            found.add(name)
            src = injected_source(by_exercise[name]) if name in by_exercise else solution_source(name)
            cell["source"] = _lines(src)
            cell["outputs"], cell["execution_count"] = [], None
    missing = sorted(set(by_exercise) - found)
    if missing:
        raise ValueError(f"the notebook has no cell for exercise(s) {', '.join(missing)}")
    return nb


def write_solutions(dst: str | Path, src: str | Path | None = None, mistakes: tuple[str, ...] = (),
                    force: bool = False) -> list[Path]:
    """Write the exercise notebooks of ``src`` (default: :func:`default_notebook_dir`) into ``dst``
    with the solutions filled in (and ``mistakes`` injected). Refuses to write into ``src`` itself
    (the student files stay without solutions) and to overwrite files unless ``force``."""
    for key in mistakes:
        if key not in INJECTIONS:
            raise ValueError(f"unknown mistake {key!r}; see 'mlplab exercises list'")
    src = Path(src) if src is not None else default_notebook_dir()
    dst = Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"no exercise notebooks at {src}; pass --from with the folder that holds "
                                f"{NOTEBOOKS[0]}.ipynb and the others")
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError(f"{dst} is the folder of the student notebooks; write the solutions somewhere else")
    sources = [src / f"{name}.ipynb" for name in NOTEBOOKS]
    absent = [p.name for p in sources if not p.exists()]
    if absent:
        raise FileNotFoundError(f"{src} lacks {', '.join(absent)}")
    targets = [dst / p.name for p in sources]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not force:
        raise ValueError(f"{', '.join(existing)} already exist; pass --force to overwrite")
    dst.mkdir(parents=True, exist_ok=True)
    for source, target in zip(sources, targets):
        nb = read_notebook(source)
        here = [k for k in mistakes if EXERCISES[INJECTIONS[k].exercise].notebook == source.stem] if mistakes else []
        atomic_write_text(target, json.dumps(fill_notebook(nb, here), indent=1, ensure_ascii=False) + "\n")
    return targets
