"""The exercise notebooks, executed in a real Jupyter kernel (nbclient + ipykernel, with the test
interpreter): with the solutions filled in every check passes and the digits networks learn; with
classic mistakes injected each check names its mistake. Also: the committed student notebooks hold
exactly the solution cells with the solution parts cut out, and ``mlplab exercises`` works.

In the kernel: the 4 solution notebooks, one unfilled student notebook and, per notebook, one run
with the first mistake of every exercise injected at once (each check cell sees its own mistake):
9 kernel runs, about 40 s of wall time on the shared 2-core machine (most of it importing
scikit-learn and starting kernels; about 2 s of CPU per run).
Every mistake is also checked without a kernel in test_exercises.py; MLPLAB_EXERCISES_FULL=1 runs
every mistake in the kernel too (4 more rounds).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbclient  # in the test extra: a missing Jupyter stack fails here, it is never skipped
import pytest
from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import KernelManager

import mlplab.exercises as ex
from mlplab.exercises.notebooks import default_notebook_dir, fill_notebook, read_notebook
from mlplab.exercises.solutions import EXERCISES, INJECTIONS, NOTEBOOKS, check_source, student_source

ROOT = Path(__file__).resolve().parents[1]
NB_DIR = ROOT / "notebooks" / "exercises"
ACCURACY_FLOOR = 0.85  # the runs reach 0.95-0.98; a broken layer stays near 0.1


def _execute(nb: dict, tmp_path: Path) -> dict:
    """Run ``nb`` in a fresh kernel of this interpreter; returns the executed notebook (as a dict)."""
    import nbformat

    km = KernelManager()
    km._kernel_spec = KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                 display_name="test python", language="python")
    node = nbformat.reads(json.dumps(nb), as_version=4)
    client = nbclient.NotebookClient(node, km=km, timeout=120, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return json.loads(nbformat.writes(node))


def _text(cell: dict) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append("".join(o["text"]) if isinstance(o["text"], list) else o["text"])
        elif "data" in o:
            t = o["data"].get("text/plain", "")
            out.append("".join(t) if isinstance(t, list) else t)
    return "".join(out)


def _cells(nb: dict) -> dict[str, dict]:
    return {c.get("id"): c for c in nb["cells"]}


def test_student_notebooks_hold_the_exercises_without_solutions():
    assert sorted(p.stem for p in NB_DIR.glob("*.ipynb")) == NOTEBOOKS
    assert default_notebook_dir() == NB_DIR
    for name, e in EXERCISES.items():
        cells = _cells(read_notebook(NB_DIR / f"{e.notebook}.ipynb"))
        student = "".join(cells[f"exercise-{name}"]["source"])
        assert student == student_source(name)
        assert "# YOUR CODE HERE" in student and "raise NotImplementedError" in student
        assert "BEGIN SOLUTION" not in student
        assert "".join(cells[f"check-{name}"]["source"]) == check_source(name)
        assert not cells[f"exercise-{name}"]["outputs"]


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_solutions_pass_every_check_in_a_kernel(notebook, tmp_path):
    nb = _execute(fill_notebook(read_notebook(NB_DIR / f"{notebook}.ipynb")), tmp_path)
    cells = _cells(nb)
    names = [n for n, e in EXERCISES.items() if e.notebook == notebook]
    for name in names:
        text = _text(cells[f"check-{name}"])
        assert ": PASSED" in text, text
        html = [o for o in cells[f"check-{name}"]["outputs"] if "text/html" in o.get("data", {})]
        assert html and "passed" in "".join(html[0]["data"]["text/html"])
    trained = _text(cells["train"])
    accuracy = float(re.search(r"test accuracy [^:]*: ([0-9.]+)", trained).group(1))
    assert accuracy >= ACCURACY_FLOOR, trained


def test_unfilled_student_notebook_runs_and_says_what_to_do(tmp_path):
    """A student who runs everything before writing anything gets no traceback: each check says
    'not implemented yet' and the training cell waits."""
    notebook = NOTEBOOKS[0]
    cells = _cells(_execute(read_notebook(NB_DIR / f"{notebook}.ipynb"), tmp_path))
    for name, e in EXERCISES.items():
        if e.notebook == notebook:
            text = _text(cells[f"check-{name}"])
            assert "FAILED" in text and "not implemented yet" in text, text
    assert "first" in _text(cells["train"])


def _rounds(full: bool) -> list[tuple[str, tuple[str, ...]]]:
    """Per notebook, rounds of injected mistakes with at most one per exercise."""
    rounds = []
    for notebook in NOTEBOOKS:
        per_exercise = [[k for k, i in INJECTIONS.items() if i.exercise == n]
                        for n, e in EXERCISES.items() if e.notebook == notebook]
        depth = max(len(p) for p in per_exercise) if full else 1
        for r in range(depth):
            keys = tuple(p[r] for p in per_exercise if len(p) > r)
            if keys:
                rounds.append((notebook, keys))
    return rounds


@pytest.mark.parametrize("notebook,keys", _rounds(os.environ.get("MLPLAB_EXERCISES_FULL") == "1"),
                         ids=lambda v: v if isinstance(v, str) else "+".join(k.split(":")[1] for k in v))
def test_injected_mistakes_are_named_in_a_kernel(notebook, keys, tmp_path):
    nb = _execute(fill_notebook(read_notebook(NB_DIR / f"{notebook}.ipynb"), keys), tmp_path)
    cells = _cells(nb)
    for key in keys:
        inj = INJECTIONS[key]
        text = _text(cells[f"check-{inj.exercise}"])
        assert "FAILED" in text, text
        assert ex.MISTAKES[inj.mistake].title in text, (key, text)
        html = "".join("".join(o["data"]["text/html"]) for o in cells[f"check-{inj.exercise}"]["outputs"]
                       if "text/html" in o.get("data", {}))
        assert "<table>" in html and html.count(ex.MISTAKES[inj.mistake].title.replace("'", "&#x27;")) >= 1
    assert "pass" in _text(cells["train"])  # the training cell waits for the checks to pass


def test_cli_writes_filled_copies_and_never_overwrites_the_student_files(tmp_path, capsys):
    from mlplab.cli import main

    cmd = [sys.executable, "-m", "mlplab.cli", "exercises"]
    out = subprocess.run(cmd + ["solutions", str(tmp_path / "filled")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for notebook in NOTEBOOKS:
        filled = _cells(read_notebook(tmp_path / "filled" / f"{notebook}.ipynb"))
        for name, e in EXERCISES.items():
            if e.notebook == notebook:
                src = "".join(filled[f"exercise-{name}"]["source"])
                assert "NotImplementedError" not in src and "BEGIN SOLUTION" not in src
    capsys.readouterr()
    assert main(["exercises", "solutions", str(tmp_path / "filled")]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["exercises", "solutions", str(NB_DIR), "--force"]) == 2
    assert "student notebooks" in capsys.readouterr().err
    assert main(["exercises", "solutions", str(tmp_path / "x"), "--mistake", "dense:nonsense"]) == 2
    assert "unknown mistake" in capsys.readouterr().err
    assert main(["exercises", "solutions", str(tmp_path / "demo"), "--mistake", "adam:adam_no_bias_correction"]) == 0
    adam = "".join(_cells(read_notebook(tmp_path / "demo" / "03-optimizers.ipynb"))["exercise-adam"]["source"])
    assert "m_hat = self.m[key]\n" in adam
    assert main(["exercises", "list"]) == 0
    assert "adam:adam_eps_inside_sqrt" in capsys.readouterr().out
