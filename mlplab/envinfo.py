"""What a result depends on: library versions, the BLAS library, its kernel type and thread count.

Every report and benchmark records this, because the same code runs at very different speeds
under different BLAS kernels and thread counts.
"""
from __future__ import annotations

import os
import platform
import sys


def environment_info() -> dict:
    import numpy as np
    import sklearn
    from threadpoolctl import threadpool_info

    from . import __version__

    blas = [
        {"library": p.get("internal_api"), "version": p.get("version"), "kernel": p.get("architecture"),
         "threads": p.get("num_threads"), "path": os.path.basename(p.get("filepath", ""))}
        for p in threadpool_info() if p.get("user_api") == "blas"
    ]
    return {
        "mlplab": __version__, "python": platform.python_version(), "numpy": np.__version__,
        "scikit-learn": sklearn.__version__, "platform": platform.platform(), "machine": platform.machine(),
        "cpu_count": os.cpu_count(), "blas": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "argv": " ".join(sys.argv[:1]),
    }


def environment_markdown(info: dict | None = None) -> str:
    """A short Markdown list of :func:`environment_info`."""
    info = info or environment_info()
    blas = "; ".join(f"{b['library']} {b['version']} (kernel {b['kernel']}, {b['threads']} threads)"
                     for b in info["blas"]) or "unknown"
    core = info["OPENBLAS_CORETYPE"] or "not set"
    return (f"- mlplab {info['mlplab']}, Python {info['python']}, NumPy {info['numpy']}, "
            f"scikit-learn {info['scikit-learn']}\n"
            f"- {info['platform']}, {info['cpu_count']} CPUs\n"
            f"- BLAS: {blas}; OPENBLAS_CORETYPE: {core}")
