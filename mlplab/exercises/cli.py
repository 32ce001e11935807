"""``mlplab exercises``: list the exercises and the mistakes the checks name; write filled copies of
the exercise notebooks for teachers."""
from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["add_exercises_parser"]


def add_exercises_parser(sub) -> None:
    p = sub.add_parser("exercises", help="exercise notebooks: list them, write the solutions for teachers",
                       description="Students complete the cells marked '# YOUR CODE HERE' in notebooks/exercises/ "
                                   "and run the check cell below each; mlplab compares their code with its "
                                   "reference and names classic mistakes. See docs/exercises.md.")
    esub = p.add_subparsers(dest="exercises_command", metavar="SUBCOMMAND")
    lst = esub.add_parser("list", help="the exercises and the classic mistakes the checks recognise")
    lst.set_defaults(func=_cmd_list)
    sol = esub.add_parser("solutions", help="write copies of the exercise notebooks with the solutions filled in",
                          description="Write the exercise notebooks into DIR with every '# YOUR CODE HERE' cell "
                                      "filled with its solution (the student notebooks stay as they are). With "
                                      "--mistake, that classic mistake is written into its exercise instead, to "
                                      "show what the check says.")
    sol.add_argument("dir", type=Path, help="folder for the filled notebooks (created if missing)")
    sol.add_argument("--from", dest="src", type=Path, default=None,
                     help="folder of the student notebooks (default: notebooks/exercises of this source tree)")
    sol.add_argument("--mistake", action="append", default=[], metavar="EXERCISE:MISTAKE",
                     help="inject this mistake (repeatable; see 'mlplab exercises list')")
    sol.add_argument("--force", action="store_true", help="overwrite notebooks already in DIR")
    sol.set_defaults(func=_cmd_solutions)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _cmd_list(args: argparse.Namespace) -> int:
    from .catalog import MISTAKES
    from .solutions import EXERCISES, INJECTIONS

    print("exercises (notebook: cell):")
    for name, e in EXERCISES.items():
        print(f"  {e.notebook}: {name:<22} check: {e.check}")
    print("\nmistakes that can be injected (--mistake EXERCISE:MISTAKE):")
    for key, inj in INJECTIONS.items():
        print(f"  {key:<45} {MISTAKES[inj.mistake].title}")
    return 0


def _cmd_solutions(args: argparse.Namespace) -> int:
    from .notebooks import write_solutions

    written = write_solutions(args.dir, args.src, tuple(args.mistake), force=args.force)
    for path in written:
        print(f"wrote {path}")
    return 0
