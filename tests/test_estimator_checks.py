"""scikit-learn's own estimator checks over mlplab.estimator.MLPClassifier and MLPRegressor.

Small ``max_iter`` as scikit-learn's test suite uses for its own MLPs (its instance generator sets
``max_iter=100``), and ConvergenceWarning ignored as there. No check is expected to fail.
"""
import re
import warnings
from unittest import SkipTest

from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import parametrize_with_checks

from mlplab.estimator import MLPClassifier, MLPRegressor

#: Checks we expect to fail, with the reason. None: every applicable check passes.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {"MLPClassifier": {}, "MLPRegressor": {}}

#: Checks that scikit-learn itself skips in some environments, and the only skip message accepted
#: for each. They run (and pass) where the optional dependency is present: pandas is in the ``test``
#: extra, so CI runs the pandas checks; the array-API check needs SCIPY_ARRAY_API=1 set before SciPy
#: is imported.
#: scikit-learn's MLPClassifier has no decision_function, and neither has ours.
ENVIRONMENT_SKIPS = {
    "check_sample_weights_pandas_series": r"pandas is not installed",
    "check_classifier_data_not_an_array": r"pandas is not installed",
    "check_regressor_data_not_an_array": r"pandas is not installed",
    "check_array_api_input": r"SCIPY_ARRAY_API is not set",
    "check_classifiers_multilabel_output_format_decision_function": r"does not have a decision_function method",
}


def _check_name(check) -> str:
    while hasattr(check, "func"):  # functools.partial
        check = check.func
    return check.__name__


@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS[type(est).__name__])
def test_sklearn_estimator_checks(estimator, check):
    name = _check_name(check)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            check(estimator)
    except SkipTest as exc:
        pattern = ENVIRONMENT_SKIPS.get(name)
        assert pattern is not None and re.search(pattern, str(exc)), f"{name} was skipped unexpectedly: {exc}"
