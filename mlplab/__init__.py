"""mlplab: fully-connected neural networks from scratch on NumPy.

>>> import mlplab as ml
>>> data = ml.data.load("digits", test_size=0.2, seed=0)
>>> model = ml.mlp(64, [80, 70], 10, activation="sigmoid", seed=0)
>>> opt = ml.optim.Adam(model.parameters(), lr=1e-3)
>>> history = ml.Trainer(model, ml.losses.SoftmaxCrossEntropy(), opt, batch_size=64, epochs=5,
...                      seed=0).fit(data.X_train, data.y_train)
"""
__version__ = "0.1.0"

from . import callbacks, data, fast, functional, gradcheck, init, io, layers, losses, metrics, optim  # noqa: E402
from .model import Sequential, mlp  # noqa: E402
from .parameter import Parameter  # noqa: E402
from .train import History, Trainer, TrainingDiverged  # noqa: E402

__all__ = ["Sequential", "mlp", "Parameter", "Trainer", "History", "TrainingDiverged", "callbacks", "data", "fast",
           "functional", "gradcheck", "init", "io", "layers", "losses", "metrics", "optim", "plots", "__version__"]


def __getattr__(name: str):
    # ``ml.plots`` is imported on first use: matplotlib takes about half a second to import, which
    # ``import mlplab`` (and every command-line call) should not pay when it draws nothing
    if name == "plots":
        import importlib

        return importlib.import_module(f"{__name__}.plots")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | {"plots"})
