"""mlplab against scikit-learn, PyTorch and the matrix-multiply limit, in one run.

    python -m benchmarks.run --out bench-out                 # the full suite (minutes)
    python -m benchmarks.run --quick --out /tmp/bench        # a smoke run (seconds), as CI does
    python -m benchmarks.run --workloads W3 --threads 1 --repeats 5 --data-home /data --out b

For each workload (see benchmarks/workloads.py) every contender trains from scratch ``--repeats``
times, interleaved (the order rotates from one repetition to the next, so a slow spell of a shared
machine does not land on one contender), and the suite reports the median seconds per epoch, the test
accuracy and the peak training memory (each in a fresh process, see benchmarks/memory.py), the
ratios peer / mlplab and mlplab / limit, and whether the targets of issue 6 are met. All libraries run
with the same number of threads (``--threads``, default 1), set with threadpoolctl for NumPy's and
SciPy's BLAS and ``torch.set_num_threads`` for PyTorch. One thread is the default because it gives
repeatable numbers on a shared machine: a BLAS that waits for a second thread which another process
holds loses whole scheduler time slices. Results go to ``<out>/results.json`` and
``<out>/results.md``; the table is printed too. ``--quick`` measures the memory of mlplab float32 only.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from . import contenders as C
from .workloads import SPECS, make

#: (contender, dtype) pairs in the order of the first repetition
ENTRIES = [("mlplab", "float32"), ("mlplab", "float64"), ("sklearn", "float32"), ("sklearn", "float64"),
           ("torch", "float32"), ("limit", "float32"), ("limit", "float64")]

TARGETS = """\
- W3: mlplab float32 at most 1.3x the matrix-multiply limit, and at least 1.5x faster than the faster
  of scikit-learn float32 and PyTorch float32.
- W4: mlplab float32 at most 1.4x the limit, and faster than both peers.
- W1, W2: mlplab float32 at least 2.5x faster per epoch than the faster of scikit-learn and PyTorch (float32).
- Peak memory while training W3 (float32): at most the training data plus 100 MB, i.e. at most 100 MB
  on top of the data already in memory.
- Accuracy: on each workload mlplab float32's test accuracy within 0.5 percentage points of float64's."""


def _git_commit(root: Path) -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
        return head + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def _environment(threads: int, torch_ok: bool) -> dict:
    from mlplab.envinfo import environment_info

    info = environment_info()
    info["threads"] = threads
    info["loadavg_start"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    info["cpu_model"] = _cpu_model()
    if torch_ok:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _have(module: str) -> bool:
    try:
        __import__(module)
        return True
    except ImportError:
        return False


def _run_entry(w, name: str, dtype: str, X: np.ndarray) -> dict:
    gc.collect()
    if name == "limit":
        return C.run_limit(w, dtype)
    return C.RUNNERS[name](w, X, dtype)


def _warm_up(w, entries, Xs) -> None:
    """One untimed run of every contender on two mini-batches: imports, BLAS and allocator start-up."""
    from .workloads import Workload

    n = min(2 * w.batch_size, w.X_train.shape[0])
    small = Workload(**{**w.__dict__, "epochs": 1, "X_train": w.X_train[:n], "y_train": w.y_train[:n]})
    for name, dtype in entries:
        _run_entry(small, name, dtype, Xs[dtype][:n])


def run_workload(wname: str, args, entries) -> dict:
    w = make(wname, quick=args.quick, data_home=args.data_home)
    Xs = {"float32": w.X_train, "float64": w.X_train.astype(np.float64)}
    print(f"\n{w.describe()}\n  data: {w.data_note}", flush=True)
    if not args.quick:
        _warm_up(w, entries, Xs)
    runs = {f"{n} {d}": [] for n, d in entries}
    for rep in range(args.repeats):
        k = rep % len(entries)
        for name, dtype in entries[k:] + entries[:k]:
            r = _run_entry(w, name, dtype, Xs[dtype])
            r["epoch_seconds"] = r["seconds"] / w.epochs
            runs[f"{name} {dtype}"].append(r)
            print(f"  rep {rep + 1}  {name:8s}{dtype:8s} {r['epoch_seconds']:9.4f} s/epoch"
                  + (f"  acc {r['accuracy']:.4f}" if r["accuracy"] is not None else ""), flush=True)
    summary = {}
    for key, rs in runs.items():
        t = [r["epoch_seconds"] for r in rs]
        summary[key] = {"epoch_seconds": statistics.median(t), "epoch_seconds_min": min(t),
                        "epoch_seconds_max": max(t),
                        "cpu_epoch_seconds": statistics.median(r["cpu_seconds"] / w.epochs for r in rs),
                        "accuracy": rs[0]["accuracy"], "runs": rs}
    flops = C.epoch_flops(w)
    for d in ("float32", "float64"):
        lim = summary.get(f"limit {d}")
        if lim:
            lim["gflops"] = flops / lim["epoch_seconds"] / 1e9
    return {"workload": wname, "description": w.describe(), "data": w.data_note, "epochs_per_run": w.epochs,
            "n_train": int(w.X_train.shape[0]), "n_test": int(w.X_test.shape[0]),
            "batches_per_epoch": w.n_batches, "epoch_gflop": flops / 1e9,
            "train_data_mb": w.X_train.nbytes / 2**20, "results": summary}


def measure_memory(wname: str, args, entries) -> dict:
    out = {}
    for name, dtype in entries:
        if name == "limit" or (args.quick and (name, dtype) != ("mlplab", "float32")):
            continue
        cmd = [sys.executable, "-m", "benchmarks.memory", wname, name, dtype, "--threads", str(args.threads)]
        if args.quick:
            cmd.append("--quick")
        if args.data_home:
            cmd += ["--data-home", args.data_home]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
        if p.returncode != 0:
            out[f"{name} {dtype}"] = {"peak_mb": None, "note": p.stderr.strip().splitlines()[-1:]}
        else:
            out[f"{name} {dtype}"] = json.loads(p.stdout.strip().splitlines()[-1])
        pm = out[f"{name} {dtype}"].get("peak_mb")
        print(f"  memory {wname} {name} {dtype}: " + (f"{pm:.1f} MB" if pm is not None else "n/a"), flush=True)
    return out


# ------------------------------------------------------------------------------------------ report

def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def add_ratios(wres: dict) -> None:
    r = wres["results"]
    for d in ("float32", "float64"):
        ours = r.get(f"mlplab {d}", {}).get("epoch_seconds")
        for key, v in r.items():
            if key.endswith(d) and not key.startswith(("mlplab", "limit")):
                v["peer_over_mlplab"] = _ratio(v["epoch_seconds"], ours)
        if f"mlplab {d}" in r and f"limit {d}" in r:
            r[f"mlplab {d}"]["mlplab_over_limit"] = _ratio(ours, r[f"limit {d}"]["epoch_seconds"])


def check_targets(workloads: dict) -> list[dict]:
    """One row per target of issue 6: the measured value, the bound, met or not."""
    rows = []

    def t(w, key):
        return workloads[w]["results"].get(key, {}).get("epoch_seconds") if w in workloads else None

    def add(name, value, bound, met, text):
        rows.append({"target": name, "value": value, "bound": bound, "met": met, "measured": text})

    def peers(w):
        cands = [(t(w, k), k.split()[0]) for k in ("sklearn float32", "torch float32") if t(w, k) is not None]
        return min(cands) if cands else (None, None)

    for w, lim_bound, speed_bound in (("W3", 1.3, 1.5), ("W4", 1.4, 1.0)):
        ours, lim = t(w, "mlplab float32"), t(w, "limit float32")
        if ours is not None and lim is not None:
            v = ours / lim
            add(f"{w} mlplab f32 / limit <= {lim_bound}", v, lim_bound, v <= lim_bound, f"{v:.2f}x")
        best, who = peers(w)
        if ours is not None and best is not None:
            v = best / ours
            label = f"at least {speed_bound}x faster" if speed_bound > 1 else "faster"
            add(f"{w} {label} than the faster peer ({who})", v, speed_bound,
                v >= speed_bound if speed_bound > 1 else v > 1.0, f"{v:.2f}x")
    for w in ("W1", "W2"):
        ours = t(w, "mlplab float32")
        best, who = peers(w)
        if ours is not None and best is not None:
            v = best / ours
            add(f"{w} at least 2.5x faster than the faster peer ({who})", v, 2.5, v >= 2.5, f"{v:.2f}x")
    if "W3" in workloads:
        mem = workloads["W3"].get("memory", {}).get("mlplab float32", {})
        pm = mem.get("peak_mb")
        if pm is not None:
            add("W3 training memory on top of the data <= 100 MB", pm, 100.0, pm <= 100.0, f"{pm:.0f} MB")
    for w, wr in workloads.items():
        a32 = wr["results"].get("mlplab float32", {}).get("accuracy")
        a64 = wr["results"].get("mlplab float64", {}).get("accuracy")
        if a32 is not None and a64 is not None:
            d = abs(a32 - a64) * 100
            add(f"{w} accuracy f32 within 0.5 pp of f64", d, 0.5, d <= 0.5, f"{d:.2f} pp")
    return rows


def markdown(report: dict) -> str:
    env = report["environment"]
    blas = "; ".join(f"{b['library']} {b['version']} ({b['path']}, kernel {b['kernel']}, {b['threads']} threads)"
                     for b in env["blas"]) or "unknown"
    la0, la1 = env.get("loadavg_start"), report.get("loadavg_end")
    fmt_la = lambda la: "n/a" if not la else " / ".join(f"{x:.2f}" for x in la)
    lines = [
        f"Measured {report['started']} on commit {report['commit']}, {'quick' if report['quick'] else 'full'} run, "
        f"{report['repeats']} repetition(s), {report['wall_seconds']:.0f} s in all.",
        "",
        f"- Machine: {env['cpu_model']}, {env['cpu_count']} cores, {env['platform']}",
        f"- Threads: {env['threads']} for every library (threadpoolctl; torch.set_num_threads); "
        f"OPENBLAS_CORETYPE {env.get('OPENBLAS_CORETYPE') or 'not set'}",
        f"- BLAS: {blas}",
        f"- mlplab {env['mlplab']}, NumPy {env['numpy']}, scikit-learn {env['scikit-learn']}, "
        f"PyTorch {env.get('torch', 'not installed')}, Python {env['python']}",
        f"- Load average (1, 5, 15 min) at start: {fmt_la(la0)}; at end: {fmt_la(la1)}",
        "",
        "| workload | contender | dtype | s/epoch (median) | min-max | vs mlplab | mlplab / limit | test acc | train mem MB |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w, wr in report["workloads"].items():
        mem = wr.get("memory", {})
        for key, v in wr["results"].items():
            name, dtype = key.split()
            if name == "limit":
                vs = f"{v.get('gflops', 0):.0f} GFLOP/s"
            elif name == "mlplab":
                vs = "1"
            else:
                r = v.get("peer_over_mlplab")
                vs = f"{r:.2f}x" if r is not None else ""
            lim = v.get("mlplab_over_limit")
            acc = v.get("accuracy")
            pm = mem.get(key, {}).get("peak_mb")
            lines.append(
                f"| {w} | {name} | {dtype[5:]} | {v['epoch_seconds']:.4f} | "
                f"{v['epoch_seconds_min']:.4f}-{v['epoch_seconds_max']:.4f} | {vs} | "
                f"{'' if lim is None else f'{lim:.2f}x'} | {'' if acc is None else f'{acc:.4f}'} | "
                f"{'' if pm is None else f'{pm:.0f}'} |")
    lines += ["", "\"vs mlplab\" is the peer's time over mlplab's of the same dtype (above 1: mlplab is faster); "
              "for the limit rows it gives the BLAS speed. \"train mem\" is the peak resident memory of one "
              "training epoch on top of the interpreter, the libraries and the data (fresh process each).", "",
              "| target | measured | met |", "|---|---:|---|"]
    for t in report["targets"]:
        lines.append(f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else '**no**'} |")
    lines += ["", "Workloads:"] + [f"- {wr['description']}; {wr['data']}" for wr in report["workloads"].values()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=TARGETS)
    ap.add_argument("--out", required=True, help="folder for results.json and results.md (created)")
    ap.add_argument("--quick", action="store_true", help="tiny data, one repetition: checks that it all runs")
    ap.add_argument("--workloads", default="W1,W2,W3,W4", help="comma-separated subset of W1,W2,W3,W4")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per contender (default 3; quick: 1)")
    ap.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    ap.add_argument("--data-home", default=None, help="folder holding mnist/*.gz (default: mlplab's)")
    ap.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurements")
    ap.add_argument("--no-torch", action="store_true", help="skip PyTorch even if installed")
    ap.add_argument("--contenders", default=None,
                    help="comma-separated subset of mlplab,sklearn,torch,limit (default: all)")
    args = ap.parse_args(argv)
    args.repeats = args.repeats or (1 if args.quick else 3)
    names = [w.strip().upper() for w in args.workloads.split(",") if w.strip()]
    bad = [w for w in names if w not in SPECS]
    if bad:
        ap.error(f"unknown workload(s) {bad}; expected some of {', '.join(SPECS)}")
    torch_ok = not args.no_torch and _have("torch")
    keep = set(args.contenders.split(",")) if args.contenders else {"mlplab", "sklearn", "torch", "limit"}
    entries = [(n, d) for n, d in ENTRIES if n in keep and (n != "torch" or torch_ok)]

    # load every BLAS first: threadpoolctl can only pin the libraries already loaded
    import scipy.linalg  # noqa: F401  (scikit-learn's BLAS)
    import sklearn.neural_network  # noqa: F401
    from threadpoolctl import threadpool_limits

    if torch_ok:
        import torch

        torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    root = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    report = {"started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "commit": _git_commit(root), "quick": args.quick, "repeats": args.repeats,
              "environment": _environment(args.threads, torch_ok), "workloads": {}}
    for wname in names:
        wres = run_workload(wname, args, entries)
        add_ratios(wres)
        if not args.no_memory:
            wres["memory"] = measure_memory(wname, args, entries)
        report["workloads"][wname] = wres
    report["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report["wall_seconds"] = time.perf_counter() - t0
    report["targets"] = check_targets(report["workloads"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
    md = markdown(report)
    (out / "results.md").write_text(md, encoding="utf-8")
    print("\n" + md)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
