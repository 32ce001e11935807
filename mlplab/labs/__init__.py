"""The course labs as reproducible experiments: ``mlplab lab NAME``.

Each lab is a module in this package defining ``NAME``, ``DESCRIPTION`` (one line) and
``run(ctx: LabContext) -> None``; it trains, draws its figures into ``ctx.out_dir`` and fills
``ctx.report``. A lab may define ``check() -> None``, run before its folder is made, that raises if
something it needs is missing. The registry below lists them in the order of the course.
"""
from __future__ import annotations

import importlib

from .base import LabContext, Report, run_lab

__all__ = ["LABS", "get_lab", "LabContext", "Report", "run_lab"]

#: lab name -> module name inside mlplab.labs
LABS: dict[str, str] = {
    "dnn": "dnn",
    "optimizers": "optimizers",
    "optimizer-race": "optimizer_race",
    "batchnorm": "batchnorm",
    "overfitting": "overfitting",
    "fc-net": "fc_net",
    "arem": "arem",
}


def get_lab(name: str):
    """The lab module for ``name``; ``ValueError`` listing the labs if unknown."""
    if name not in LABS:
        raise ValueError(f"unknown lab {name!r}; expected one of {', '.join(LABS)} (see 'mlplab lab list')")
    return importlib.import_module(f"{__name__}.{LABS[name]}")


def available_labs() -> dict[str, str]:
    """``{name: description}`` of every lab; a lab that fails to import is listed with its error
    instead of hiding the others."""
    out = {}
    for name in LABS:
        try:
            out[name] = get_lab(name).DESCRIPTION
        except Exception as exc:  # noqa: BLE001 - one broken lab must not break the list
            out[name] = f"(unavailable: {type(exc).__name__}: {exc})"
    return out
