"""Measure shipped recipes: test accuracy over several seeds and training time per seed.

    python -m benchmarks.recipes digits --seeds 5 --out runs/recipes
    python -m benchmarks.recipes mnist --seeds 5 --data-home ../shared/data --out runs/recipes

Each seed trains the recipe's configuration (with ``seed`` replaced) on the whole training part and is
scored once on the test part; nothing is chosen on the test part (the recipe was found by the search
named in its ``[search]`` table, on a validation part of the training data). Writes
``<out>/<recipe>.json`` (per-seed accuracy and seconds, mean, std, environment) and prints a table row
for docs/recipes.md.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

import mlplab as ml
from mlplab.config import TrainConfig
from mlplab.envinfo import environment_info
from mlplab.recipes import load_recipe
from mlplab.train import build_trainer


def measure(name: str, seeds: list[int], data_home: str | None = None, epochs: int | None = None,
            overrides: dict | None = None) -> dict:
    recipe = load_recipe(name)
    base = TrainConfig.from_dict({**recipe.train, **(overrides or {})})
    if data_home is not None:
        base = base.replace(data_home=str(data_home))
    if epochs is not None:
        base = base.replace(epochs=epochs)
    runs = []
    for seed in seeds:
        config = base.replace(seed=seed)
        ds = ml.data.load(config.dataset, **config.data_options())
        X_train = ds.X_train.reshape(len(ds.X_train), -1)
        X_test = ds.X_test.reshape(len(ds.X_test), -1)
        model, trainer = build_trainer(config, X_train.shape[1], ds.n_classes)
        t0 = time.perf_counter()
        trainer.fit(X_train, ds.y_train)
        seconds = time.perf_counter() - t0
        acc = float(np.mean(model.predict(X_test) == ds.y_test))
        runs.append({"seed": seed, "accuracy": acc, "seconds": seconds})
        print(f"{name} seed {seed}: test accuracy {acc:.4f}, {seconds:.1f} s", flush=True)
    accs = [r["accuracy"] for r in runs]
    secs = [r["seconds"] for r in runs]
    return {"recipe": name, "version": recipe.version, "config": base.to_dict(), "runs": runs,
            "accuracy_mean": statistics.fmean(accs), "accuracy_std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "seconds_mean": statistics.fmean(secs), "environment": environment_info()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.recipes", description=__doc__.split("\n\n")[0])
    p.add_argument("recipe")
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    p.add_argument("--data-home")
    p.add_argument("--epochs", type=int, help="override the recipe's epochs (smoke runs only)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="change a field of the recipe, e.g. --set split=recordings (to compare a recipe elsewhere)")
    p.add_argument("--out", type=Path, default=Path("runs/recipes"))
    args = p.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, text = item.partition("=")
        overrides[key] = TrainConfig.parse_text(key, text)
    result = measure(args.recipe, list(range(args.seeds)), args.data_home, args.epochs, overrides)
    result["overrides"] = overrides
    args.out.mkdir(parents=True, exist_ok=True)
    tag = "".join(f"-{k}-{v}" for k, v in overrides.items())
    (args.out / f"{args.recipe}{tag}.json").write_text(json.dumps(result, indent=2, default=str))
    blas = "; ".join(f"{b['library']} {b.get('version', '')} {b.get('kernel', '')}, {b.get('threads')} threads"
                     for b in result["environment"].get("blas", [])[:1])
    print(f"| {args.recipe} | {result['accuracy_mean']:.4f} ± {result['accuracy_std']:.4f} "
          f"({len(result['runs'])} seeds) | {result['seconds_mean']:.1f} s | {blas} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
