"""What every lab shares: the run context and the Markdown report."""
from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence


from .._files import atomic_write_text
from ..envinfo import environment_info, environment_markdown
from ..runs import make_run_dir, write_json

__all__ = ["LabContext", "Report", "run_lab", "trials_from_table", "quiet_optuna"]

log = logging.getLogger(__name__)


class Report:
    """A Markdown report built piece by piece; :meth:`write` adds configuration, seed, versions and
    the time taken, and writes ``report.md`` atomically.

    Order in the file: title, summary (what the lab shows, two or three sentences), tables,
    figures, comparison with the published figures, configuration, environment.
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.summary_text = ""
        self.sections: list[str] = []
        self.published_notes: list[str] = []
        self.config: dict[str, Any] = {}
        self.tables: dict[str, list[list[Any]]] = {}

    def summary(self, text: str) -> None:
        self.summary_text = text.strip()

    def heading(self, text: str) -> None:
        self.sections.append(f"## {text}\n")

    def text(self, text: str) -> None:
        self.sections.append(text.strip() + "\n")

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[Any]], name: str | None = None,
              floatfmt: str = ".4f") -> None:
        """A Markdown table; floats are formatted with ``floatfmt``. ``name`` keeps the rows for tests
        and ``results.json``."""
        def fmt(v):
            return format(v, floatfmt) if isinstance(v, float) else str(v)

        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
        self.sections.append("\n".join(lines) + "\n")
        if name:
            self.tables[name] = [list(headers)] + [list(r) for r in rows]

    def figure(self, filename: str, caption: str) -> None:
        self.sections.append(f"![{caption}]({filename})\n\n*{caption}*\n")

    def published(self, text: str) -> None:
        """How our figure compares with the original lab's published one, and why it differs."""
        self.published_notes.append(text.strip())

    def render(self, seconds: float, seed: int, quick: bool, command: str) -> str:
        parts = [f"# {self.title}\n", self.summary_text + "\n"]
        if quick:
            parts.append("> **Quick mode**: a few seconds of the experiment, to check that it runs; "
                         "the numbers are not the lab's results.\n")
        parts += self.sections
        if self.published_notes:
            parts.append("## Compared with the published figures\n")
            parts += [n + "\n" for n in self.published_notes]
        parts.append("## Configuration\n")
        parts.append(f"Command: `{command}`; seed {seed}; {seconds:.1f} s in all.\n")
        if self.config:
            parts.append("```json\n" + json.dumps(self.config, indent=2, default=str) + "\n```\n")
        parts.append("## Environment\n")
        parts.append(environment_markdown() + "\n")
        return "\n".join(parts)


@dataclass
class LabContext:
    """What a lab's ``run`` gets: where to write, how long to run, which seed and data.

    ``echo`` prints a progress line for the person running the lab (the CLI passes ``print``;
    tests pass a no-op); library code never prints otherwise.
    """

    name: str
    out_dir: Path
    quick: bool = False
    seed: int = 0
    data_home: str | os.PathLike | None = None
    options: dict[str, Any] = field(default_factory=dict)
    echo: Callable[[str], None] = lambda msg: None
    report: Report = field(default_factory=lambda: Report(""))

    def path(self, filename: str) -> Path:
        return self.out_dir / filename

    def load_data(self, name: str, **kwargs):
        """``mlplab.data.load`` with this run's ``data_home`` and seed."""
        from .. import data

        kwargs.setdefault("seed", self.seed)
        if self.data_home is not None:
            kwargs.setdefault("data_home", self.data_home)
        return data.load(name, **kwargs)


def run_lab(name: str, out: str | os.PathLike | None = None, quick: bool = False, seed: int = 0,
            data_home=None, options: dict | None = None, echo: Callable[[str], None] = lambda m: None) -> Path:
    """Run lab ``name`` end to end and return its run folder (with ``report.md``, figures, ``results.json``)."""
    from . import get_lab

    module = get_lab(name)
    check = getattr(module, "check", None)  # what a lab needs (a package, say), checked before any folder is made
    if check is not None:
        check()
    out_dir = make_run_dir(out, f"lab-{name}{'-quick' if quick else ''}")
    ctx = LabContext(name=name, out_dir=out_dir, quick=quick, seed=seed, data_home=data_home,
                     options=dict(options or {}), echo=echo, report=Report(module.DESCRIPTION))
    start = time.perf_counter()
    module.run(ctx)
    seconds = time.perf_counter() - start
    opts = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in ctx.options.items() if v is not None)
    command = f"mlplab lab {name}{' --quick' if quick else ''} --seed {seed}{' ' + opts if opts else ''}"
    atomic_write_text(out_dir / "report.md", ctx.report.render(seconds, seed, quick, command))
    write_json(out_dir / "results.json", {"lab": name, "quick": quick, "seed": seed, "seconds": seconds,
                                          "config": ctx.report.config, "tables": ctx.report.tables,
                                          "environment": environment_info()})
    return out_dir


# ------------------------------------------------------------------------------- hyperparameter search
# (the labs search with mlplab.search; these turn its results into the rows of a lab's report)

def trials_from_table(table: Sequence[dict], names: Sequence[str]) -> list[dict[str, Any]]:
    """The rows of a ``mlplab.search`` results table as the labs' trial records ``{"number", "params",
    "value", "info"}``: completed trials keep their validation accuracy, others get ``-inf``; ``info``
    holds ``epochs``, ``seconds`` and ``note``. The best trial is ``max(trials, key=lambda t:
    t["value"])`` (the first one on ties)."""
    out = []
    for row in table:
        done = row.get("state") == "complete" and row.get("val_accuracy") is not None
        out.append({"number": int(row["trial"]), "params": {n: row.get(n) for n in names},
                    "value": float(row["val_accuracy"]) if done else -math.inf,
                    "info": {"epochs": row.get("epochs"), "seconds": row.get("seconds"), "note": row.get("note", "")}})
    return out


class quiet_optuna:
    """Context manager: Optuna logs warnings only (not a line per trial) while a lab runs a search."""

    def __enter__(self):
        import optuna

        self._level = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        return self

    def __exit__(self, *exc):
        import optuna

        optuna.logging.set_verbosity(self._level)
        return False
