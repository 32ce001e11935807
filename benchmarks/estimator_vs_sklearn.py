"""mlplab.estimator.MLPClassifier against scikit-learn's MLPClassifier on digits, 5 seeds.

Both get the same hyperparameters (hidden sizes, activation, solver, learning rate, batch size,
L2 alpha, number of epochs) and the same standardized train/test split per seed; each seed also
seeds both models' ``random_state``. Epochs are fixed (``tol=0``, ``n_iter_no_change=inf``) so both
run exactly ``max_iter`` epochs. BLAS is limited to one thread for both, so times compare the
implementations rather than the scheduler; on a shared machine they are still only indicative.

    .venv/bin/python benchmarks/estimator_vs_sklearn.py            # prints a Markdown table
    .venv/bin/python benchmarks/estimator_vs_sklearn.py --json out.json --seeds 0 1 2 3 4

The table in docs/estimator.md comes from this script.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np
import sklearn
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier as SklearnMLP
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from mlplab.estimator import MLPClassifier as MlplabMLP

CONFIGS = {
    "(100,) relu, adam lr 1e-3, batch 200, alpha 1e-4, 100 epochs":
        dict(hidden_layer_sizes=(100,), activation="relu", solver="adam", learning_rate_init=1e-3, max_iter=100),
    "(64, 32) tanh, sgd+nesterov 0.9 lr 1e-2, batch 64, alpha 1e-3, 60 epochs":
        dict(hidden_layer_sizes=(64, 32), activation="tanh", solver="sgd", momentum=0.9, learning_rate_init=1e-2,
             batch_size=64, alpha=1e-3, max_iter=60),
}
FIXED_EPOCHS = dict(tol=0.0, n_iter_no_change=np.inf)


def split(seed: int):
    X, y = load_digits(return_X_y=True)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_te), y_tr, y_te


def run_one(cls, params: dict, seed: int, data) -> tuple[float, float, int]:
    X_tr, X_te, y_tr, y_te = data
    est = cls(random_state=seed, **params, **FIXED_EPOCHS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        est.fit(X_tr, y_tr)
        seconds = time.perf_counter() - start
    return float(est.score(X_te, y_te)), seconds, int(est.n_iter_)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--json", help="also write the raw numbers to this file")
    args = ap.parse_args(argv)

    runners = {"scikit-learn": (SklearnMLP, {}), "mlplab": (MlplabMLP, {}),
               "mlplab, dtype=float32": (MlplabMLP, {"dtype": "float32"})}
    results: dict = {"sklearn": sklearn.__version__, "numpy": np.__version__, "python": platform.python_version(),
                     "seeds": args.seeds, "configs": {}}
    with threadpool_limits(1):
        for cname, params in CONFIGS.items():
            rows = {}
            for rname, (cls, extra) in runners.items():
                accs, secs, iters = [], [], []
                for seed in args.seeds:
                    a, s, n = run_one(cls, {**params, **extra}, seed, split(seed))
                    accs.append(a), secs.append(s), iters.append(n)
                rows[rname] = {"accuracy": accs, "seconds": secs, "n_iter": iters}
            results["configs"][cname] = rows

    print(f"digits, 1437 train / 360 test, standardized; seeds {args.seeds}; "
          f"scikit-learn {sklearn.__version__}, numpy {np.__version__}, 1 BLAS thread\n")
    for cname, rows in results["configs"].items():
        print(f"**{cname}**\n")
        print("| implementation | test accuracy per seed | mean | mean fit seconds |")
        print("|---|---|---:|---:|")
        for rname, r in rows.items():
            per_seed = " ".join(f"{a:.4f}" for a in r["accuracy"])
            print(f"| {rname} | {per_seed} | {np.mean(r['accuracy']):.4f} | {np.mean(r['seconds']):.2f} |")
        diff = 100 * (np.mean(rows["mlplab"]["accuracy"]) - np.mean(rows["scikit-learn"]["accuracy"]))
        print(f"\nmlplab − scikit-learn, mean accuracy: {diff:+.2f} percentage points\n")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
