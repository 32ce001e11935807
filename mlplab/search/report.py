"""What a search found: the results table, the best configuration, figures and a report folder."""
from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_write_text
from .space import CONFIG_KEYS
from ._optuna import mask_url, open_storage, require_optuna

if TYPE_CHECKING:  # pragma: no cover
    import optuna

__all__ = ["results_table", "best_config", "table_csv", "table_markdown", "plot_history", "plot_importance",
           "param_importances", "write_report", "load_search", "TABLE_COLUMNS"]

#: the first columns of the results table; the searched parameters follow, then ``worker`` and ``note``
TABLE_COLUMNS = ("trial", "state", "val_accuracy", "epochs", "seconds")


def _note(t: "optuna.trial.FrozenTrial") -> str:
    ua = t.user_attrs
    if ua.get("duplicate_of") is not None:
        return f"grid point already run by trial {ua['duplicate_of']}"
    if ua.get("diverged"):
        return ua["diverged"]
    if ua.get("pruned_at") is not None:
        return f"pruned after epoch {ua['pruned_at']}"
    if ua.get("interrupted"):
        return "interrupted (Ctrl-C); queued to run again"
    if ua.get("lost"):
        return f"{ua['lost']}; queued to run again"
    if ua.get("error"):
        return str(ua["error"])
    if t.system_attrs.get("failed_trial") is not None:
        return f"rerun of trial {t.system_attrs['failed_trial']} (its worker stopped)"
    if t.system_attrs.get("fail_reason"):
        return str(t.system_attrs["fail_reason"]).splitlines()[0][:120]
    if t.state.name == "FAIL":
        return "worker stopped during the trial (no heartbeat)"
    return ""


def results_table(study: "optuna.Study") -> list[dict]:
    """One row per trial, by trial number: ``trial``, ``state`` (complete, pruned, fail, running,
    waiting), ``val_accuracy`` (the trial's value; for a pruned trial its last reported accuracy),
    ``epochs`` (epochs trained), ``seconds``, then each searched parameter, ``worker`` (host:pid) and
    ``note`` (why it was pruned, failed or skipped)."""
    trials = study.get_trials(deepcopy=False)
    names = sorted({k for t in trials for k in t.params})
    rows = []
    for t in trials:
        value = t.value
        if value is None and t.intermediate_values:
            value = t.intermediate_values[max(t.intermediate_values)]
        row: dict[str, Any] = {"trial": t.number, "state": t.state.name.lower(),
                               "val_accuracy": None if value is None else float(value),
                               "epochs": t.user_attrs.get("epochs_run"), "seconds": t.user_attrs.get("seconds")}
        for n in names:
            row[n] = t.params.get(n)
        row["worker"] = t.user_attrs.get("worker")
        row["note"] = _note(t)
        rows.append(row)
    return rows


def best_config(study: "optuna.Study") -> tuple[dict | None, float | None, int | None]:
    """``(config, validation accuracy, trial number)`` of the best completed trial; the config has
    exactly the keys ``mlplab train --config`` reads. ``(None, None, None)`` before any trial completes."""
    TS = require_optuna().trial.TrialState
    done = [t for t in study.get_trials(deepcopy=False, states=(TS.COMPLETE,)) if "config" in t.user_attrs]
    if not done:
        return None, None, None
    best = max(done, key=lambda t: (t.value, -t.number))  # ties: the earliest trial
    cfg = {k: best.user_attrs["config"][k] for k in CONFIG_KEYS}
    return cfg, float(best.value), best.number


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4f}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.3g}"
    return str(v)


def table_csv(rows: list[dict]) -> str:
    """The results table as CSV (full precision)."""
    if not rows:
        return ",".join(TABLE_COLUMNS) + "\n"
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if v is None else v) for k, v in r.items()})
    return buf.getvalue()


def table_markdown(rows: list[dict], top: int | None = None) -> str:
    """The results table as Markdown, best validation accuracy first (completed trials before pruned
    ones); ``top`` keeps the first rows."""
    if not rows:
        return "(no trials)"
    order = {"complete": 0, "pruned": 1, "running": 2, "waiting": 3, "fail": 4}
    ranked = sorted(rows, key=lambda r: (order.get(r["state"], 5), -(r["val_accuracy"] or -1.0), r["trial"]))
    if top is not None:
        ranked = ranked[:top]
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---:" if c in TABLE_COLUMNS[2:] or c == "trial"
                                                           else "---" for c in cols) + "|"]
    lines += ["| " + " | ".join(_fmt(r[c]).replace("|", "/") for c in cols) + " |" for r in ranked]
    return "\n".join(lines)


def plot_history(study: "optuna.Study", path: str | os.PathLike | None = None, title: str | None = None):
    """Validation accuracy per trial (completed: dots; pruned: crosses at their last reported value)
    and the best so far (a step line); returns the Figure, written atomically to ``path`` if given."""
    from ..plots import save, subplots

    rows = results_table(study)
    fig, ax = subplots(figsize=(7, 4), constrained_layout=True)
    done = [(r["trial"], r["val_accuracy"]) for r in rows if r["state"] == "complete" and r["val_accuracy"] is not None]
    pruned = [(r["trial"], r["val_accuracy"]) for r in rows if r["state"] == "pruned" and r["val_accuracy"] is not None]
    if done:
        ax.scatter(*zip(*done), color="tab:blue", s=18, label="completed trial", zorder=3)
        xs, best, b = [], [], -math.inf
        for x, y in sorted(done):
            b = max(b, y)
            xs.append(x)
            best.append(b)
        ax.step(xs, best, where="post", color="tab:red", label="best so far")
    if pruned:
        ax.scatter(*zip(*pruned), color="tab:gray", marker="x", s=18, label="pruned (last epoch reached)", zorder=2)
    ax.set(xlabel="trial", ylabel="validation accuracy", title=title or f"Optimisation history: {study.study_name}")
    ax.grid(alpha=0.3)
    if done or pruned:
        ax.legend(loc="lower right")
    else:
        ax.text(0.5, 0.5, "no finished trial yet", ha="center", va="center", transform=ax.transAxes)
    if path is not None:
        save(fig, path)
    return fig


def param_importances(study: "optuna.Study", seed: int = 0) -> dict[str, float]:
    """Optuna's fANOVA importance of each searched parameter for the validation accuracy (seeded;
    sums to 1). Raises ``ValueError`` when it cannot be computed (fewer than two completed trials, or
    nothing varied)."""
    optuna = require_optuna()
    TS = optuna.trial.TrialState
    done = study.get_trials(deepcopy=False, states=(TS.COMPLETE,))
    if len(done) < 2:
        raise ValueError(f"parameter importance needs at least 2 completed trials, the study has {len(done)}")
    try:
        from optuna.importance import FanovaImportanceEvaluator

        return dict(optuna.importance.get_param_importances(study, evaluator=FanovaImportanceEvaluator(seed=seed)))
    except (RuntimeError, ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"parameter importance cannot be computed: {exc}") from exc


def plot_importance(importances: dict[str, float], path: str | os.PathLike | None = None, title: str | None = None):
    """Horizontal bars of parameter importances, most important on top."""
    from ..plots import save, subplots

    items = sorted(importances.items(), key=lambda kv: kv[1])
    fig, ax = subplots(figsize=(6, 0.45 * len(items) + 1.5), constrained_layout=True)
    ax.barh([k for k, _ in items], [v for _, v in items], color="tab:blue")
    for i, (_, v) in enumerate(items):
        ax.text(v, i, f" {v:.2f}", va="center")
    ax.set(xlabel="importance for validation accuracy (fANOVA, sums to 1)",
           title=title or "Parameter importance")
    ax.set_xlim(0, max([v for _, v in items] + [0.01]) * 1.2)
    ax.grid(alpha=0.3, axis="x")
    if path is not None:
        save(fig, path)
    return fig


def write_report(study: "optuna.Study", out: str | os.PathLike, storage_label: str | None = None,
                 seed: int = 0) -> dict[str, Path]:
    """Write the report folder: ``results.csv`` (every trial), ``history.png``, ``importance.png``
    (when importances can be computed), ``best_config.json`` (for ``mlplab train --config``, when a
    trial has completed) and ``report.md``. Files are written atomically. Returns name -> path."""
    from ..runs import write_json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows = results_table(study)
    paths: dict[str, Path] = {}
    atomic_write_text(out / "results.csv", table_csv(rows))
    paths["results"] = out / "results.csv"
    plot_history(study, out / "history.png")
    paths["history"] = out / "history.png"
    try:
        imp = param_importances(study, seed=seed)
        plot_importance(imp, out / "importance.png")
        paths["importance"] = out / "importance.png"
        imp_note = ""
    except ValueError as exc:
        imp, imp_note = None, str(exc)
    cfg, value, number = best_config(study)
    if cfg is not None:
        write_json(out / "best_config.json", cfg)
        paths["best_config"] = out / "best_config.json"
    setup = study.user_attrs.get("mlplab", {})
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    lines = [f"# Hyperparameter search: {study.study_name}", ""]
    lines.append(f"Storage: {storage_label or 'in memory'}; dataset {setup.get('dataset', '?')} "
                 f"(validation part {setup.get('val_size', '?')} of the training part, seed {setup.get('seed', '?')}); "
                 f"sampler {setup.get('sampler', '?')}. Trials: {len(rows)} ("
                 + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) + ").")
    lines.append("")
    if setup.get("space"):
        lines += ["## Search space", ""]
        lines += [f"- `{k}`: " + (f"`{json.dumps(v)}`" if isinstance(v, dict) else f"fixed at `{json.dumps(v)}`")
                  for k, v in setup["space"].items()] + [""]
    lines += ["## Best configuration", ""]
    if cfg is None:
        lines += ["No trial has completed yet.", ""]
    else:
        lines += [f"Trial {number}: validation accuracy {value:.4f}.", "", "```json", json.dumps(cfg, indent=2),
                  "```", "",
                  f"Train it and test it on the test part: `mlplab train --config {out / 'best_config.json'}`",
                  ""]
    lines += ["## Trials, best first", "", table_markdown(rows), "",
              "![optimisation history](history.png)", ""]
    if imp is not None:
        lines += ["## Parameter importance", "", "![parameter importance](importance.png)", "",
                  "| parameter | importance |", "|---|---:|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in sorted(imp.items(), key=lambda kv: -kv[1])] + [""]
    else:
        lines += ["## Parameter importance", "", f"Not computed: {imp_note}.", ""]
    atomic_write_text(out / "report.md", "\n".join(lines))
    paths["report"] = out / "report.md"
    return paths


def load_search(storage: str, study_name: str | None = None) -> "optuna.Study":
    """Open an existing search study (for reports); with one study in the storage ``study_name`` may
    be left out. Raises ``ValueError`` naming the storage (without its password) and the studies in it."""
    optuna = require_optuna()
    st = open_storage(storage, heartbeat=None)
    names = optuna.get_all_study_names(st)
    if study_name is None:
        if len(names) != 1:
            raise ValueError(f"{mask_url(storage)} holds {len(names)} studies ({', '.join(names) or 'none'}); "
                             "name one with --study")
        study_name = names[0]
    if study_name not in names:
        raise ValueError(f"no study {study_name!r} in {mask_url(storage)}; studies there: "
                         f"{', '.join(names) if names else 'none'}")
    return optuna.load_study(study_name=study_name, storage=st)
