"""The notebooks in notebooks/ run in a real Jupyter kernel, and the README's Python runs as written.

Every notebook is executed with ``MLPLAB_QUICK=1`` by nbclient in an ipykernel started from this
test's interpreter (a kernelspec written to a temporary folder, so a fresh venv needs no installed
kernel): any error fails the test, and each must show at least one inline PNG figure. A notebook
lists the datasets it reads in its metadata (``mlplab.datasets``); it is skipped only when their files
are absent from the data folder ($MLPLAB_DATA, else ``<repo>/../shared/data``, as the other
real-data tests).

The committed notebooks must carry the outputs of a full run (not a quick one), figures included,
and stay small. To refresh them after a change: ``python tests/test_notebooks.py [NAME ...]``
(full runs, outputs written in place; MLPLAB_DATA as above).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))  # notebooks/exercises/ is tested on its own
MAX_FOLDER_BYTES = 3_000_000
LABS = ("dnn", "optimizers", "optimizer-race", "batchnorm", "overfitting", "fc-net", "arem")


def data_home() -> Path:
    env = os.environ.get("MLPLAB_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def missing_data(nb) -> list[str]:
    """The datasets a notebook reads whose files are not in :func:`data_home`."""
    from mlplab.data.registry import get_spec

    home = data_home()
    out = []
    for name in nb.metadata.get("mlplab", {}).get("datasets", []):
        if any(not (home / f.path).is_file() for f in get_spec(name).files if f.required):
            out.append(name)
    return out


def kernel_env(quick: bool, threads: int = 1) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # tests set Agg; a notebook must draw with Jupyter's own inline setup
    env.pop("MLPLAB_QUICK", None)
    if quick:
        env["MLPLAB_QUICK"] = "1"
    env.setdefault("MLPLAB_DATA", str(data_home()))
    env["OPENBLAS_NUM_THREADS"] = env["OMP_NUM_THREADS"] = str(threads)  # parallel test workers share the cores
    return env


def execute(path: Path, quick: bool, cwd: Path, timeout: int):
    """Run every cell of the notebook at ``path`` in a fresh kernel of this interpreter; returns the
    executed notebook (nbclient raises CellExecutionError on the first failing cell)."""
    import nbformat
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory() as kdir:
        spec = Path(kdir) / "kernels" / "mlplab-test"
        spec.mkdir(parents=True)
        (spec / "kernel.json").write_text(json.dumps({
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "mlplab test", "language": "python"}))
        km = KernelManager(kernel_name="mlplab-test", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec.parent)]))
        client = NotebookClient(nb, km=km, timeout=timeout, record_timing=False,  # no timestamps in the diffs
                                resources={"metadata": {"path": str(cwd)}})
        client.execute(env=kernel_env(quick))
    return nb


def png_outputs(nb) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells if cell.cell_type == "code"
               for out in cell.outputs)


def test_one_notebook_per_lab_and_a_quickstart():
    names = [p.stem for p in NOTEBOOKS]
    assert names[0] == "00-quickstart"
    for lab in LABS:
        assert any(re.fullmatch(rf"\d\d-{lab}", n) for n in names), f"no notebook for the {lab} lab: {names}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_in_a_kernel_in_quick_mode(path, tmp_path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    missing = missing_data(nb)
    if missing:
        pytest.skip(f"{path.name} reads {', '.join(missing)}, whose files are not in {data_home()}")
    executed = execute(path, quick=True, cwd=tmp_path, timeout=180)
    assert png_outputs(executed) >= 1, f"{path.name} showed no inline PNG figure"
    if path.stem == "00-quickstart":  # Trainer(progress=True) draws tqdm's notebook widget in a kernel
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {})
                   for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    first = executed.cells[[c.cell_type for c in executed.cells].index("code")]
    assert "quick run" in "".join(o.get("text", "") for o in first.outputs), "the first code cell must read MLPLAB_QUICK"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_has_the_outputs_of_a_full_run(path):
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), f"{path.name}: not every cell was run"
    outputs = [o for c in code for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"], f"{path.name} was committed with an error"
    assert "full run" in "".join(o.get("text", "") for o in code[0].outputs), f"{path.name}: outputs of a quick run"
    assert png_outputs(nb) >= 1
    assert "%pip install" in code[0].source and "MLPLAB_QUICK" in code[0].source
    assert nb.cells[0].cell_type == "markdown"


def test_notebooks_folder_stays_small():
    size = sum(p.stat().st_size for p in NOTEBOOKS)
    assert size < MAX_FOLDER_BYTES, f"the notebooks take {size / 1e6:.1f} MB; lower the figures' dpi or size"


def test_readme_python_snippets_run_as_written(tmp_path):
    """The README's ```python blocks, in order in one namespace (the second continues the first), with
    the epochs cut down so that it takes a second."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) >= 2
    code = "\n".join(blocks)
    small = re.sub(r"epochs=\d+", "epochs=2", code)
    small = re.sub(r"range\(\d+\)", "range(2)", small)
    assert small != code, "the snippets' epoch counts were not found"
    script = small + "\nimport sys\nsys.stdout.write('README OK')\n"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.endswith("README OK")
    assert (tmp_path / "digits.npz").is_file()


def _refresh(names: list[str]) -> None:
    """Run notebooks in full and write their outputs in place (see the module docstring)."""
    import nbformat

    for path in NOTEBOOKS:
        if names and path.stem not in names and path.name not in names:
            continue
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as cwd:
            nb = execute(path, quick=False, cwd=Path(cwd), timeout=900)
        nbformat.write(nb, path)
        print(f"{path.name}: {time.perf_counter() - start:.0f} s, {path.stat().st_size / 1e3:.0f} kB", flush=True)


if __name__ == "__main__":
    _refresh(sys.argv[1:])
