"""Hyperparameter search on Optuna: from one laptop to many machines sharing one study.

>>> from mlplab.search import run_search, LogUniform, Categorical       # doctest: +SKIP
>>> result = run_search({"lr": LogUniform(1e-4, 1e-1), "hidden": Categorical(["64", "128,64"]),
...                      "epochs": 20}, dataset="digits", n_trials=30, sampler="tpe", seed=0)
>>> result.best_value, result.best_config                                 # doctest: +SKIP

* :mod:`mlplab.search.space` -- the search space (plain Python or TOML), checked against the
  parameters a training configuration has; needs no Optuna.
* :mod:`mlplab.search.run` -- :func:`run_search`: the objective (train with the library's Trainer on
  the training part, report validation accuracy per epoch, let the pruner stop bad trials),
  samplers, storages, worker processes.
* :mod:`mlplab.search.report` -- results table, best configuration (a file ``mlplab train --config``
  reads), optimisation-history and parameter-importance figures, report folder.

* :mod:`mlplab.search.workers` -- worker processes: one trial per ticket, a worker that dies fails
  only its own trial, Ctrl-C stops them all.
* :mod:`mlplab.search.cli` -- the ``mlplab search`` command.

Optuna is a dependency of mlplab (the labs fc-net and arem search with it too); the PostgreSQL driver
comes with ``pip install "mlplab[search]"``. Should Optuna be missing all the same, everything that
needs it raises ``ImportError`` naming that command. See docs/search.md.
"""
from ._optuna import EXTRA_HINT, PRUNERS, SAMPLERS, mask_url, open_storage, require_optuna
from .report import (best_config, load_search, param_importances, plot_history, plot_importance, results_table,
                     table_csv, table_markdown, write_report)
from .run import DEFAULT_TRIALS, SearchProgress, SearchResult, build_trainer, load_split, result_of, run_search
from .space import (BASE_CONFIG, CONFIG_KEYS, PARAMETERS, Categorical, Distribution, Int, LogUniform, SearchSpace,
                    Uniform, load_space)

__all__ = ["run_search", "SearchResult", "SearchProgress", "SearchSpace", "load_space", "LogUniform", "Uniform",
           "Int", "Categorical", "Distribution", "PARAMETERS", "BASE_CONFIG", "CONFIG_KEYS", "results_table",
           "best_config", "table_csv", "table_markdown", "plot_history", "plot_importance", "param_importances",
           "write_report", "load_search", "open_storage", "mask_url", "require_optuna", "build_trainer",
           "load_split", "result_of", "SAMPLERS", "PRUNERS", "EXTRA_HINT", "DEFAULT_TRIALS"]
