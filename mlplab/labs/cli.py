"""``mlplab lab list`` and ``mlplab lab NAME``."""
from __future__ import annotations

from pathlib import Path


def add_lab_parser(sub) -> None:
    p = sub.add_parser("lab", help="run one of the course labs (trains, compares, plots, reports)",
                       description="Run a course lab end to end with fixed seeds; it writes a run folder with "
                                   "report.md, its figures (PNG) and results.json. 'mlplab lab list' lists them.")
    p.add_argument("name", help="lab name, or 'list'")
    p.add_argument("--quick", action="store_true", help="a few seconds of the experiment (to check it runs)")
    p.add_argument("--out", type=Path, help="run folder (default: runs/lab-<name>-<time>)")
    p.add_argument("--seed", type=int, default=0, help="seed for data splits, weights, shuffling, dropout")
    p.add_argument("--data-home", type=Path, help="dataset folder (default: $MLPLAB_DATA or the user cache)")
    p.add_argument("--dataset", help="dataset for labs that accept another one (fc-net)")
    p.set_defaults(func=run_lab_command)


def run_lab_command(args) -> int:
    from . import available_labs, run_lab

    if args.name == "list":
        labs = available_labs()
        width = max(map(len, labs)) if labs else 0
        for name, desc in labs.items():
            print(f"{name:<{width}}  {desc}")
        return 0
    options = {"dataset": args.dataset} if args.dataset else {}
    out = run_lab(args.name, out=args.out, quick=args.quick, seed=args.seed, data_home=args.data_home,
                  options=options, echo=print)
    print(f"report: {out / 'report.md'}")
    return 0
