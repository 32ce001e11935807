"""The ``mlplab data`` subcommand: ``data list`` and ``data fetch NAME``.

Wire it into the main parser with::

    sub = parser.add_subparsers(dest="command")
    add_data_parser(sub)
    ...
    if args.command == "data":
        return run_data_command(args)      # or args.func(args): the data parser sets func
"""
from __future__ import annotations

import argparse
import sys

from .cache import (ENV_BASE_URL, ENV_DATA_HOME, ChecksumError, DatasetStatus, DownloadError, fetch, get_data_home,
                    list_datasets)
from .registry import REGISTRY

__all__ = ["add_data_parser", "run_data_command", "format_status_table"]


def add_data_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add ``data`` (with ``list`` and ``fetch``) to the main CLI's subparsers; returns the ``data`` parser.

    The parsed namespace has ``func`` (= :func:`run_data_command`), ``data_command`` (``"list"`` or
    ``"fetch"``), ``data_home``, and for ``fetch``: ``names``, ``base_url``, ``force``, ``no_progress``;
    for ``list``: ``no_verify``.
    """
    data = subparsers.add_parser(
        "data", help="list and download datasets",
        description=f"Datasets on disk. The data folder is --data-home, else ${ENV_DATA_HOME}, else the user "
                    "cache folder.")
    data.set_defaults(func=run_data_command)
    data_sub = data.add_subparsers(dest="data_command", metavar="{list,fetch}")
    data_sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-home", default=None, metavar="DIR",
                       help=f"data folder (default: ${ENV_DATA_HOME} or the user cache folder)")

    p_list = data_sub.add_parser("list", help="show each dataset: size, whether present and verified, where",
                                 description="Show each dataset, its size, whether its files are present and "
                                             "match their SHA-256, and where they are.")
    common(p_list)
    p_list.add_argument("--no-verify", action="store_true", help="do not hash the files (faster)")

    p_fetch = data_sub.add_parser("fetch", help="download and verify a dataset",
                                  description="Download the files a dataset lacks, verify every file, unpack "
                                              "archives. Files already present and valid are not downloaded.")
    common(p_fetch)
    p_fetch.add_argument("names", nargs="+", metavar="NAME",
                         help=f"dataset name ({', '.join(n for n in REGISTRY if n != 'digits')}) or 'all'")
    p_fetch.add_argument("--base-url", default=None, metavar="URL",
                         help=f"download from URL/<folder>/<file> instead of the official location "
                              f"(also ${ENV_BASE_URL})")
    p_fetch.add_argument("--force", action="store_true",
                         help="download again the files whose checksum does not match (instead of failing)")
    p_fetch.add_argument("--no-progress", action="store_true", help="no progress bar")
    return data


def _size(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return "?"


def _state(st: DatasetStatus) -> str:
    if st.location is None:
        return "bundled"
    if st.n_present == 0:
        return "missing"
    if st.verified is False:
        return "BAD" if any(p.startswith("checksum") for p in st.problems) else "unverified"
    if not st.present:
        return "incomplete"
    return "verified" if st.verified else "present"


def format_status_table(statuses: list[DatasetStatus]) -> str:
    """A plain-text table of :class:`DatasetStatus` rows (name, files, size, state, location), then problems."""
    rows = [("dataset", "files", "size", "state", "location")]
    for st in statuses:
        size = st.size_bytes if st.n_present else st.expected_size
        rows.append((st.name, "-" if st.location is None else f"{st.n_present}/{st.n_files}",
                     "-" if st.location is None else _size(size), _state(st),
                     "scikit-learn (bundled)" if st.location is None else str(st.location)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    for st in statuses:
        if st.location is None:
            continue
        shown = st.problems[:3] + ([f"... and {len(st.problems) - 3} more"] if len(st.problems) > 3 else [])
        if st.n_present:  # a fully missing dataset needs no file-by-file list
            lines += [f"  {st.name}: {p}" for p in shown]
    return "\n".join(lines)


def run_data_command(args: argparse.Namespace) -> int:
    """Run ``mlplab data list`` / ``mlplab data fetch``; prints to stdout, errors to stderr; returns the exit code."""
    cmd = getattr(args, "data_command", None)
    data_home = getattr(args, "data_home", None)
    if cmd == "list":
        statuses = list_datasets(data_home, verify=not getattr(args, "no_verify", False))
        print(f"data folder: {get_data_home(data_home)}")
        print(format_status_table(statuses))
        return 0
    if cmd == "fetch":
        names = list(args.names)
        if "all" in names:
            names = [n for n in REGISTRY if n != "digits"]
        unknown = [n for n in names if n.lower() not in REGISTRY]
        if unknown:
            print(f"mlplab: error: unknown dataset {', '.join(unknown)}; expected one of {', '.join(REGISTRY)} or all",
                  file=sys.stderr)
            return 2
        code = 0
        for name in names:
            try:
                st = fetch(name, data_home, base_url=args.base_url, force=args.force, progress=not args.no_progress)
            except (ChecksumError, DownloadError, FileNotFoundError, ValueError, OSError) as exc:
                print(f"mlplab: error: {name}: {' '.join(str(exc).split())}", file=sys.stderr)  # one line
                code = 1
                continue
            if st.location is None:
                print(f"{name}: bundled with scikit-learn, nothing to fetch")
            else:
                print(f"{name}: {_state(st)}, {st.n_present} files, {_size(st.size_bytes)} in {st.location}")
                for p in st.problems:
                    print(f"  {p}")
                if not (st.present and st.verified):
                    code = 1
        return code
    print("mlplab: error: expected `mlplab data list` or `mlplab data fetch NAME`", file=sys.stderr)
    return 2
