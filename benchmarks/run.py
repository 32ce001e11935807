"""mlplab against scikit-learn, PyTorch and the matrix-multiply limit, in one run.

    python -m benchmarks.run --out bench-out                 # the full suite (minutes)
    python -m benchmarks.run --quick --out /tmp/bench        # a smoke run (seconds), as CI does
    python -m benchmarks.run --workloads W3 --threads 1,2 --repeats 5 --data-home /data --out b
    python -m benchmarks.run --busy 2 --threads 1,2,default --contenders mlplab,limit --out busy

For each workload (see benchmarks/workloads.py) every contender trains from scratch ``--repeats``
times, interleaved (the order rotates from one repetition to the next, so a slow spell of a shared
machine does not land on one contender), and the suite reports the median seconds per epoch, the test
accuracy and the peak training memory (each in a fresh process, see benchmarks/memory.py), the
ratios peer / mlplab and mlplab / limit, and whether the targets of issue 14 are met.

Threads: ``--threads`` lists the settings to measure, each for every contender side by side in the
same run: a number pins every library to that many threads (threadpoolctl for NumPy's and SciPy's
BLAS and OpenMP, ``torch.set_num_threads`` for PyTorch, ``Trainer(threads=n)`` for mlplab);
``default`` runs every library as users run it, with nothing pinned (the BLAS's own default, PyTorch's
default thread count, mlplab's engine choosing). float64 is measured at the first setting only.
``--busy N`` runs N CPU-bound background processes (benchmarks/busy.py) during the timed runs, as
on a shared machine, and stops them afterwards. Results go to ``<out>/results.json`` and
``<out>/results.md``; the table is printed too. ``--quick`` measures the memory of mlplab float32 only.
"""
from __future__ import annotations

import argparse
import contextlib
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
from .busy import busy
from .workloads import SPECS, make

#: (contender, dtype) pairs in the order of the first repetition
ENTRIES = [("mlplab", "float32"), ("mlplab", "float64"), ("sklearn", "float32"), ("sklearn", "float64"),
           ("torch", "float32"), ("limit", "float32"), ("limit", "float64")]

TARGETS = """\
Targets (issue 14; float32, medians of one run):
- W1, W2: mlplab at most 1.5x the matrix-multiply limit, and at least 3x faster per epoch than the
  faster of scikit-learn and PyTorch.
- W3: at most 1.3x the 1-thread limit; with 2 threads at most 1.3x the 2-thread limit.
- W4: at most 1.15x the limit.
- Under --busy 2: mlplab with default settings at most 1.2x its best of 1 and 2 threads, on every
  workload (run with --threads 1,2,default).
- M (the README's MNIST command): at most 1.5x its own limit (training and test evaluation).
- Peak memory while training W3: at most 100 MB on top of the data already in memory.
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


def _environment(settings: list[str], torch_ok: bool, busy_n: int, torch_default: int | None) -> dict:
    from mlplab.envinfo import environment_info

    info = environment_info()  # the BLAS as loaded, before any setting: its default threads
    info["threads"] = settings
    info["busy"] = busy_n
    info["torch_default_threads"] = torch_default
    info["loadavg_start"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    info["cpu_model"] = _cpu_model()
    if torch_ok:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    from mlplab.threads import MIN_MACS_PER_THREAD, available_cores

    info["engine"] = {"min_macs_per_thread": MIN_MACS_PER_THREAD, "available_cores": available_cores()}
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


class Threads:
    """Applies one thread setting ("1", "2", ... or "default") around a timed run."""

    def __init__(self, torch_default: int | None):
        from threadpoolctl import ThreadpoolController

        self.controller = ThreadpoolController()  # after every BLAS is loaded: it sees only those
        self.torch_default = torch_default

    @contextlib.contextmanager
    def __call__(self, setting: str):
        n = None if setting == "default" else int(setting)
        if self.torch_default is not None:
            import torch

            torch.set_num_threads(self.torch_default if n is None else n)
        if n is None:
            yield None
        else:
            with self.controller.limit(limits=n):
                yield n


def _run_entry(w, name: str, dtype: str, setting: str, X: np.ndarray, threads: Threads) -> dict:
    gc.collect()
    with threads(setting) as n:
        if name == "limit":
            return C.run_limit(w, dtype)
        if name == "mlplab":
            return C.run_mlplab(w, X, dtype, threads=n)
        return C.RUNNERS[name](w, X, dtype)


def _warm_up(w, entries, Xs, threads) -> None:
    """One untimed run of every contender on two mini-batches: imports, BLAS and allocator start-up."""
    from .workloads import Workload

    n = min(2 * w.batch_size, w.X_train.shape[0])
    small = Workload(**{**w.__dict__, "epochs": 1, "X_train": w.X_train[:n], "y_train": w.y_train[:n],
                        "evaluate": False})
    for name, dtype, setting in entries:
        _run_entry(small, name, dtype, setting, Xs[dtype][:n], threads)


def run_workload(wname: str, args, entries, threads: Threads) -> dict:
    w = make(wname, quick=args.quick, data_home=args.data_home)
    if getattr(args, "epochs", None):
        w.epochs = args.epochs
    entries = [e for e in entries if e[0] in w.contenders]
    Xs = {"float32": w.X_train, "float64": w.X_train.astype(np.float64)}
    print(f"\n{w.describe()}\n  data: {w.data_note}", flush=True)
    if not args.quick:
        _warm_up(w, entries, Xs, threads)
    runs = {" ".join(e): [] for e in entries}
    for rep in range(args.repeats):
        k = rep % len(entries)
        for name, dtype, setting in entries[k:] + entries[:k]:
            r = _run_entry(w, name, dtype, setting, Xs[dtype], threads)
            r["epoch_seconds"] = r["seconds"] / w.epochs
            runs[f"{name} {dtype} {setting}"].append(r)
            print(f"  rep {rep + 1}  {name:8s}{dtype:8s}{setting:>8s} thr {r['epoch_seconds']:9.4f} s/epoch"
                  + (f"  acc {r['accuracy']:.4f}" if r["accuracy"] is not None else "")
                  + (f"  (engine: {r['engine_threads']})" if "engine_threads" in r and setting == "default" else ""),
                  flush=True)
    summary = {}
    for key, rs in runs.items():
        t = [r["epoch_seconds"] for r in rs]
        summary[key] = {"epoch_seconds": statistics.median(t), "epoch_seconds_min": min(t),
                        "epoch_seconds_max": max(t),
                        "cpu_epoch_seconds": statistics.median(r["cpu_seconds"] / w.epochs for r in rs),
                        "accuracy": rs[0]["accuracy"], "runs": rs}
    flops = C.epoch_flops(w)
    for key, v in summary.items():
        if key.startswith("limit"):
            v["gflops"] = flops / v["epoch_seconds"] / 1e9
    return {"workload": wname, "description": w.describe(), "data": w.data_note, "epochs_per_run": w.epochs,
            "n_train": int(w.X_train.shape[0]), "n_test": int(w.X_test.shape[0]),
            "batches_per_epoch": w.n_batches, "epoch_gflop": flops / 1e9,
            "train_data_mb": w.X_train.nbytes / 2**20, "results": summary}


def measure_memory(wname: str, args, entries) -> dict:
    """Peak training memory of each contender at the first thread setting (fresh process each)."""
    out = {}
    first = args.threads[0]
    contenders = SPECS[wname].get("contenders", ("mlplab", "sklearn", "torch"))
    for name, dtype, setting in entries:
        if (name == "limit" or setting != first or name not in contenders
                or (args.quick and (name, dtype) != ("mlplab", "float32"))):
            continue
        cmd = [sys.executable, "-m", "benchmarks.memory", wname, name, dtype, "--threads", setting]
        if args.quick:
            cmd.append("--quick")
        if args.data_home:
            cmd += ["--data-home", args.data_home]
        p = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).resolve().parent.parent)
        if p.returncode != 0:
            out[f"{name} {dtype} {setting}"] = {"peak_mb": None, "note": p.stderr.strip().splitlines()[-1:]}
        else:
            out[f"{name} {dtype} {setting}"] = json.loads(p.stdout.strip().splitlines()[-1])
        pm = out[f"{name} {dtype} {setting}"].get("peak_mb")
        print(f"  memory {wname} {name} {dtype}: " + (f"{pm:.1f} MB" if pm is not None else "n/a"), flush=True)
    return out


# ------------------------------------------------------------------------------------------ report

def _ratio(a, b):
    return None if a is None or b is None or b == 0 else a / b


def add_ratios(wres: dict) -> None:
    """peer / mlplab and mlplab / limit, each for the same dtype and thread setting."""
    r = wres["results"]
    for key, v in r.items():
        name, dtype, setting = key.split()
        ours = r.get(f"mlplab {dtype} {setting}", {}).get("epoch_seconds")
        if name not in ("mlplab", "limit"):
            v["peer_over_mlplab"] = _ratio(v["epoch_seconds"], ours)
        if name == "mlplab" and f"limit {dtype} {setting}" in r:
            v["mlplab_over_limit"] = _ratio(ours, r[f"limit {dtype} {setting}"]["epoch_seconds"])


def check_targets(workloads: dict, busy_n: int = 0) -> list[dict]:
    """One row per target of issue 14 that this run measured: the value, the bound, met or not."""
    rows = []
    load = f" (--busy {busy_n})" if busy_n else ""

    def t(w, key):
        return workloads[w]["results"].get(key, {}).get("epoch_seconds") if w in workloads else None

    def add(name, value, bound, met, text):
        rows.append({"target": name + load, "value": value, "bound": bound, "met": met, "measured": text})

    def vs_limit(w, setting, bound, label=None, best_limit=False):
        ours, lim = t(w, f"mlplab float32 {setting}"), t(w, f"limit float32 {setting}")
        if best_limit and w in workloads:  # the fastest the products ran in this run, at any setting
            lims = [v["epoch_seconds"] for k, v in workloads[w]["results"].items() if k.startswith("limit float32")]
            lim = min(lims) if lims else None
        if ours is not None and lim is not None:
            v = ours / lim
            add(label or f"{w} mlplab f32 / limit <= {bound} ({setting} thread(s))", v, bound, v <= bound, f"{v:.2f}x")

    for w, bound in (("W1", 1.5), ("W2", 1.5), ("W3", 1.3), ("W4", 1.15)):
        vs_limit(w, "1", bound)
    vs_limit("W3", "2", 1.3)
    for setting in ("1", "default"):
        vs_limit("M", setting, 1.5, f"M (README MNIST command) mlplab / best limit <= 1.5 ({setting} threads)",
                 best_limit=True)
    for w in ("W1", "W2"):
        for setting in ("1", "default"):
            ours = t(w, f"mlplab float32 {setting}")
            peers = [(t(w, f"{p} float32 {setting}"), p) for p in ("sklearn", "torch")]
            peers = [pp for pp in peers if pp[0] is not None]
            if ours is not None and peers:
                best, who = min(peers)
                v = best / ours
                add(f"{w} at least 3x faster than the faster peer ({who}, {setting} threads)", v, 3.0, v >= 3.0,
                    f"{v:.2f}x")
    for w in workloads:
        d, one, two = (t(w, f"mlplab float32 {s}") for s in ("default", "1", "2"))
        if d is not None and one is not None and two is not None:
            v = d / min(one, two)
            add(f"{w} mlplab default threads / best of 1 and 2 <= 1.2", v, 1.2, v <= 1.2, f"{v:.2f}x")
    if "W3" in workloads:
        mem = workloads["W3"].get("memory", {})
        pm = next((m.get("peak_mb") for k, m in mem.items() if k.startswith("mlplab float32")), None)
        if pm is not None:
            add("W3 training memory on top of the data <= 100 MB", pm, 100.0, pm <= 100.0, f"{pm:.0f} MB")
    for w, wr in workloads.items():
        accs = {k.split()[1]: v.get("accuracy") for k, v in wr["results"].items() if k.startswith("mlplab")}
        if accs.get("float32") is not None and accs.get("float64") is not None:
            d = abs(accs["float32"] - accs["float64"]) * 100
            add(f"{w} accuracy f32 within 0.5 pp of f64", d, 0.5, d <= 0.5, f"{d:.2f} pp")
    return rows


def markdown(report: dict) -> str:
    env = report["environment"]
    blas = "; ".join(f"{b['library']} {b['version']} ({b['path']}, kernel {b['kernel']}, {b['threads']} threads "
                     f"by default)" for b in env["blas"]) or "unknown"
    la0, la1 = env.get("loadavg_start"), report.get("loadavg_end")
    fmt_la = lambda la: "n/a" if not la else " / ".join(f"{x:.2f}" for x in la)
    lines = [
        f"Measured {report['started']} on commit {report['commit']}, {'quick' if report['quick'] else 'full'} run, "
        f"{report['repeats']} repetition(s), {report['wall_seconds']:.0f} s in all.",
        "",
        f"- Machine: {env['cpu_model']}, {env['cpu_count']} cores, {env['platform']}",
        f"- Thread settings: {', '.join(env['threads'])} (a number: every library pinned, threadpoolctl, "
        f"torch.set_num_threads, Trainer(threads=n); default: nothing pinned, PyTorch "
        f"{env.get('torch_default_threads')} threads, mlplab's engine choosing); OPENBLAS_CORETYPE "
        f"{env.get('OPENBLAS_CORETYPE') or 'not set'}; OMP_NUM_THREADS {env.get('OMP_NUM_THREADS') or 'not set'}",
        f"- Background load: {env.get('busy', 0)} CPU-bound process(es) of --busy during the timed runs, besides "
        f"whatever else runs on the machine (see the load averages)",
        f"- BLAS: {blas}",
        f"- mlplab {env['mlplab']}, NumPy {env['numpy']}, scikit-learn {env['scikit-learn']}, "
        f"PyTorch {env.get('torch', 'not installed')}, Python {env['python']}",
        f"- Load average (1, 5, 15 min) at start: {fmt_la(la0)}; at end: {fmt_la(la1)}",
        "",
        "| workload | contender | dtype | threads | s/epoch (median) | min-max | CPU s/epoch | vs mlplab | mlplab / limit "
        "| test acc | train mem MB |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for w, wr in report["workloads"].items():
        mem = wr.get("memory", {})
        for key, v in wr["results"].items():
            name, dtype, setting = key.split()
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
            engine = {r.get("engine_threads") for r in v["runs"]} - {None} if name == "mlplab" else set()
            shown = setting + (f" (engine: {','.join(map(str, sorted(engine)))})" if setting == "default" and engine else "")
            lines.append(
                f"| {w} | {name} | {dtype[5:]} | {shown} | {v['epoch_seconds']:.4f} | "
                f"{v['epoch_seconds_min']:.4f}-{v['epoch_seconds_max']:.4f} | {v['cpu_epoch_seconds']:.4f} | {vs} | "
                f"{'' if lim is None else f'{lim:.2f}x'} | {'' if acc is None else f'{acc:.4f}'} | "
                f"{'' if pm is None else f'{pm:.0f}'} |")
    lines += ["", "\"vs mlplab\" is the peer's time over mlplab's of the same dtype and threads (above 1: mlplab is "
              "faster); \"mlplab / limit\" compares the same dtype and threads; "
              "for the limit rows it gives the BLAS speed. \"CPU s/epoch\" is the process's CPU time (all its "
              "threads; on a busy machine it grows less than the wall time, which includes waiting for a core). "
              "\"train mem\" is the peak resident memory of one training epoch on top of the interpreter, the "
              "libraries and the data (fresh process each).", "",
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
    ap.add_argument("--workloads", default="W1,W2,W3,W4,M", help="comma-separated subset of W1,W2,W3,W4,M")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per contender (default 3; quick: 1)")
    ap.add_argument("--threads", default=None,
                    help="comma-separated thread settings, each measured for every contender: a number pins every "
                         "library to it, 'default' runs each as users do (default: 1,default; quick: 1)")
    ap.add_argument("--busy", type=int, default=0, metavar="N",
                    help="run N CPU-bound background processes during the timed runs (default 0)")
    ap.add_argument("--epochs", type=int, default=None,
                    help="epochs per timed run for every workload (default: each workload's own, see --help)")
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
    args.threads = args.threads or ("1" if args.quick else "1,default")
    args.threads = [t.strip().lower() for t in args.threads.split(",") if t.strip()]
    if not args.threads or any(t != "default" and not (t.isdigit() and int(t) > 0) for t in args.threads):
        ap.error(f"--threads takes positive numbers and 'default', comma-separated; got {args.threads}")
    if args.busy < 0:
        ap.error("--busy takes a number of processes >= 0")
    torch_ok = not args.no_torch and _have("torch")
    keep = set(args.contenders.split(",")) if args.contenders else {"mlplab", "sklearn", "torch", "limit"}
    entries = [(n, d, t) for i, t in enumerate(args.threads) for n, d in ENTRIES
               if n in keep and (n != "torch" or torch_ok) and (d == "float32" or i == 0)]

    # load every BLAS first: threadpoolctl can only pin the libraries already loaded
    import scipy.linalg  # noqa: F401  (scikit-learn's BLAS)
    import sklearn.neural_network  # noqa: F401
    torch_default = None
    if torch_ok:
        import torch

        torch_default = torch.get_num_threads()
    threads = Threads(torch_default)
    root = Path(__file__).resolve().parent.parent
    t0 = time.perf_counter()
    out = Path(args.out)
    report = {"started": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
              "commit": _git_commit(root), "quick": args.quick, "repeats": args.repeats,
              "environment": _environment(args.threads, torch_ok, args.busy, torch_default), "workloads": {}}
    for wname in names:
        with busy(args.busy):
            wres = run_workload(wname, args, entries, threads)
        add_ratios(wres)
        if not args.no_memory:
            wres["memory"] = measure_memory(wname, args, entries)
        report["workloads"][wname] = wres
        out.mkdir(parents=True, exist_ok=True)  # what is measured so far survives an interrupted run
        (out / "partial.json").write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
    report["loadavg_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    report["wall_seconds"] = time.perf_counter() - t0
    report["targets"] = check_targets(report["workloads"], args.busy)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float) + "\n", encoding="utf-8")
    md = markdown(report)
    (out / "results.md").write_text(md, encoding="utf-8")
    print("\n" + md)
    print(f"wrote {out / 'results.json'} and {out / 'results.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
