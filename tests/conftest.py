import os

os.environ.setdefault("MPLBACKEND", "Agg")

import pytest  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread_per_worker():
    """pytest -n auto runs one worker per core; BLAS threads on top of that oversubscribe the cores and
    make small matrix products tens of times slower, so each worker uses one BLAS thread."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        with threadpool_limits(limits=1):
            yield
    else:
        yield


@pytest.fixture
def quiet_optuna():
    """Optuna logs every trial at INFO; the search tests keep only its warnings."""
    import optuna

    old = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    yield
    optuna.logging.set_verbosity(old)
