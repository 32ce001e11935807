"""Samplers of our own, built on Optuna's (imported only when Optuna is installed)."""
from __future__ import annotations

import optuna

from ._optuna import derive_seed

__all__ = ["TrialSeededRandomSampler"]


class TrialSeededRandomSampler(optuna.samplers.BaseSampler):
    """Random search in which trial ``k``'s value of parameter ``p`` is drawn by Optuna's
    :class:`~optuna.samplers.RandomSampler` seeded with ``(seed, k, p)``.

    So a seeded random search gives trial ``k`` the same configuration however many worker processes
    or machines share the study, and workers never repeat each other's draws (a plain seeded
    ``RandomSampler`` in two workers would draw the same sequence twice). A rerun of trial ``k``
    (system attribute ``failed_trial``, see :func:`mlplab.search._optuna.retry_trial`) draws as
    trial ``k``: a trial whose worker stopped before drawing its parameters is rerun with the
    configuration it would have had.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)

    def infer_relative_search_space(self, study, trial) -> dict:
        return {}

    def sample_relative(self, study, trial, search_space) -> dict:
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        number = trial.system_attrs.get("failed_trial", trial.number)
        sampler = optuna.samplers.RandomSampler(seed=derive_seed(self.seed, number, param_name))
        return sampler.sample_independent(study, trial, param_name, param_distribution)
