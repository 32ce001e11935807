"""Training callbacks: early stopping, checkpoints, progress bar.

A callback may define ``on_train_begin(trainer)``, ``on_batch_begin(trainer, batch)``,
``on_epoch_end(trainer, logs)`` and ``on_train_end(trainer, interrupted)``. ``batch`` is a dict with
the batch's number in the epoch (``index``, from 0), its ``size`` and its ``sample_weight`` (or None);
the hook runs before the batch's forward pass. ``logs`` is the History record of the epoch just ended
(keys ``epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds``). Setting
``trainer.stop_training = True`` ends training after the current epoch.

**Ctrl-C.** ``Trainer.fit`` calls ``on_train_end(trainer, interrupted=True)`` before the
``KeyboardInterrupt`` goes on. Then :class:`KeepLastEpoch` puts back the weights and optimizer state
of the last finished epoch (what the History describes), :class:`EarlyStopping` with
``restore_best_weights`` the best epoch's weights, :class:`ModelCheckpoint` has already written
``last.npz``/``best.npz`` of the finished epochs, and :class:`ProgressBar` closes its bar.
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from . import io

__all__ = ["Callback", "EarlyStopping", "ModelCheckpoint", "ProgressBar", "LogEvery", "KeepLastEpoch"]

log = logging.getLogger(__name__)


class Callback:
    def on_train_begin(self, trainer) -> None:
        pass

    def on_batch_begin(self, trainer, batch: dict) -> None:
        pass

    def on_epoch_end(self, trainer, logs: dict) -> None:
        pass

    def on_train_end(self, trainer, interrupted: bool = False) -> None:
        pass


class _Monitor:
    """Tracks the best value of one History key; ``mode="auto"`` maximises accuracies, minimises the rest."""

    def __init__(self, monitor: str, mode: str, min_delta: float = 0.0) -> None:
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.mode = ("max" if "acc" in monitor else "min") if mode == "auto" else mode
        self.min_delta = abs(float(min_delta))
        self.best = -math.inf if self.mode == "max" else math.inf

    def value(self, logs: dict) -> float:
        if logs.get(self.monitor) is None:
            avail = [k for k, v in logs.items() if v is not None]
            raise ValueError(f"cannot monitor {self.monitor!r}: it is not recorded "
                             f"(available: {', '.join(avail)}; val_* needs validation data)")
        return float(logs[self.monitor])

    def improved(self, v: float) -> bool:
        if self.mode == "max":
            return v > self.best + self.min_delta
        return v < self.best - self.min_delta


class EarlyStopping(Callback, _Monitor):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` epochs.

    With ``restore_best_weights=True`` the model ends with the weights of its best epoch.
    ``best_epoch`` and ``stopped_epoch`` tell what happened (epochs count from 1).
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 10, min_delta: float = 0.0,
                 mode: str = "auto", restore_best_weights: bool = False) -> None:
        _Monitor.__init__(self, monitor, mode, min_delta)
        if patience < 0:
            raise ValueError(f"patience must be >= 0, got {patience}")
        self.patience = int(patience)
        self.restore_best_weights = restore_best_weights

    def on_train_begin(self, trainer):
        self.best = -math.inf if self.mode == "max" else math.inf
        self.wait = 0
        self.best_epoch = 0
        self.stopped_epoch = 0
        self._best_state = None

    def on_epoch_end(self, trainer, logs):
        v = self.value(logs)
        if self.improved(v):
            self.best, self.best_epoch, self.wait = v, logs["epoch"], 0
            if self.restore_best_weights:
                self._best_state = trainer.model.get_state()
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.stopped_epoch = logs["epoch"]
                trainer.stop_training = True

    def on_train_end(self, trainer, interrupted=False):
        if self.restore_best_weights and self._best_state is not None:
            trainer.model.set_state(self._best_state)


class ModelCheckpoint(Callback, _Monitor):
    """Write ``<directory>/last.npz`` after every epoch and ``<directory>/best.npz`` whenever
    ``monitor`` improves, atomically, with the optimizer state so training can resume."""

    def __init__(self, directory: str | os.PathLike, monitor: str = "val_loss", mode: str = "auto",
                 save_best: bool = True, save_last: bool = True, metadata: dict | None = None) -> None:
        _Monitor.__init__(self, monitor, mode)
        self.directory = Path(directory)
        self.save_best, self.save_last = save_best, save_last
        self.metadata = metadata or {}

    @property
    def best_path(self) -> Path:
        return self.directory / "best.npz"

    @property
    def last_path(self) -> Path:
        return self.directory / "last.npz"

    def on_epoch_end(self, trainer, logs):
        # a non-finite number (an infinite validation loss of a regressor, say) is not JSON: recorded as None
        finite = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in logs.items()}
        meta = {**self.metadata, "epoch": logs["epoch"], "logs": finite}
        if self.save_last:
            io.save(trainer.model, self.last_path, optimizer=trainer.optimizer, metadata=meta)
        if self.save_best:
            v = self.value(logs)
            if self.improved(v):
                self.best = v
                io.save(trainer.model, self.best_path, optimizer=trainer.optimizer, metadata=meta)


class KeepLastEpoch(Callback):
    """Keep a copy of the weights and of the optimizer's state at the start of training and after
    every epoch; :meth:`restore` (called on Ctrl-C, and by ``mlplab train`` after a divergence) puts
    back those of the last finished epoch, so a saved model matches its History and its optimizer
    state is finite. ``epoch`` is that epoch (0: none finished). Costs one copy of the parameters
    and optimizer state per epoch."""

    def __init__(self) -> None:
        # one attribute, replaced in one step: a Ctrl-C between two assignments cannot pair the
        # weights of one epoch with the number or optimizer state of another
        self._kept: tuple = (0, None, None)

    @property
    def epoch(self) -> int:
        return self._kept[0]

    def _keep(self, trainer, epoch: int) -> None:
        state = trainer.model.get_state()
        opt_state = trainer.optimizer.state_dict() if trainer.optimizer is not None else None
        self._kept = (epoch, state, opt_state)

    def on_train_begin(self, trainer):
        self._keep(trainer, trainer.epoch)

    def on_epoch_end(self, trainer, logs):
        self._keep(trainer, int(logs["epoch"]))

    def on_train_end(self, trainer, interrupted=False):
        if interrupted:
            self.restore(trainer)

    def restore(self, trainer) -> None:
        _, state, opt_state = self._kept
        if state is None:
            return
        trainer.model.set_state(state)
        if opt_state is not None:
            trainer.optimizer.load_state_dict(opt_state)


class ProgressBar(Callback):
    """Progress over epochs with loss, accuracy and the time left, where the user is looking:

    * in Jupyter, tqdm's notebook bar (a widget: needs ipywidgets, ``pip install "mlplab[notebook]"``;
      without it tqdm falls back to its text bar);
    * in a terminal, tqdm's text bar on ``file`` (stderr);
    * where ``file`` is not a terminal (a pipe, a log file, ``nohup``), one plain line per epoch
      instead of a bar that would be all carriage returns, e.g.
      ``epoch 3/50: loss 0.2143, accuracy 0.9411, val_loss 0.2001, val_accuracy 0.9472 (0.04 s)``.

    ``mode`` forces one: ``"bar"`` (tqdm, picks the notebook bar in Jupyter) or ``"lines"``;
    ``disable=True`` shows nothing. ``file`` defaults to ``sys.stderr`` at the start of training.
    """

    MODES = ("auto", "bar", "lines")

    def __init__(self, desc: str = "training", leave: bool = True, disable: bool | None = None,
                 mode: str = "auto", file=None) -> None:
        if mode not in self.MODES:
            raise ValueError(f"ProgressBar mode must be one of {', '.join(self.MODES)}, got {mode!r}")
        self.desc, self.leave, self.disable, self.mode, self.file = desc, leave, disable, mode, file
        self.bar = None

    @staticmethod
    def in_notebook() -> bool:
        """True inside a Jupyter kernel (where stderr is not a terminal but a bar can be drawn)."""
        import sys

        if "ipykernel" not in sys.modules:
            return False
        try:
            from IPython import get_ipython
        except ImportError:
            return False
        shell = get_ipython()
        return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"

    def _resolve_mode(self, stream) -> str:
        if self.disable:
            return "off"
        if self.mode != "auto":
            return self.mode
        if self.in_notebook():
            return "bar"
        isatty = getattr(stream, "isatty", None)
        try:
            tty = bool(isatty()) if isatty is not None else False
        except (ValueError, OSError):  # a closed or odd stream
            tty = False
        return "bar" if tty or self.disable is False else "lines"

    def on_train_begin(self, trainer):
        import sys

        self._stream = self.file if self.file is not None else sys.stderr
        # epochs count on across fit calls: this call ends at epoch (epochs done so far + epochs)
        self._last_epoch = trainer.epoch + trainer.epochs
        self._active = self._resolve_mode(self._stream)
        self.bar = None
        if self._active == "bar":
            from tqdm.auto import tqdm

            self.bar = tqdm(total=trainer.epochs, desc=self.desc, unit="epoch", leave=self.leave,
                            disable=False, dynamic_ncols=True, file=self.file)

    @staticmethod
    def format_line(logs: dict, total: int | None = None) -> str:
        """The line printed for one epoch in ``"lines"`` mode."""
        epoch = f"epoch {logs['epoch']}" + (f"/{total}" if total else "")
        parts = [f"loss {logs['loss']:.4f}"]
        parts += [f"{k} {logs[k]:.4f}" for k in ("accuracy", "val_loss", "val_accuracy") if logs.get(k) is not None]
        seconds = f" ({logs['seconds']:.2f} s)" if logs.get("seconds") is not None else ""
        return f"{epoch}: {', '.join(parts)}{seconds}"

    def on_epoch_end(self, trainer, logs):
        if self._active == "lines":
            print(self.format_line(logs, self._last_epoch), file=self._stream, flush=True)
            return
        if self.bar is None:
            return
        post = {"loss": f"{logs['loss']:.4f}"}
        if logs.get("accuracy") is not None:
            post["acc"] = f"{logs['accuracy']:.3f}"
        if logs.get("val_accuracy") is not None:
            post["val_acc"] = f"{logs['val_accuracy']:.3f}"
        self.bar.set_postfix(post, refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer, interrupted=False):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class LogEvery(Callback):
    """Log one line every ``every`` epochs through :mod:`logging` (the labs' "print the loss every 500 epochs")."""

    def __init__(self, every: int = 100, logger: logging.Logger | None = None, level: int = logging.INFO) -> None:
        self.every, self.logger, self.level = int(every), logger or log, level

    def on_epoch_end(self, trainer, logs):
        if logs["epoch"] % self.every == 0 or logs["epoch"] == 1:
            parts = [f"epoch {logs['epoch']}", f"loss {logs['loss']:.4f}"]
            for k in ("accuracy", "val_loss", "val_accuracy"):
                if logs.get(k) is not None:
                    parts.append(f"{k} {logs[k]:.4f}")
            self.logger.log(self.level, ", ".join(parts))
