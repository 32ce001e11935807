"""The figures of mlplab.plots and the notebook-facing API: summary, History.plot/to_pandas, HTML
summaries, toy data, the progress bar's modes, and that nothing touches pyplot or the backend."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from matplotlib.figure import Figure as MplFigure

import mlplab as ml
from mlplab import plots
from mlplab.callbacks import ProgressBar

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def digits():
    return ml.data.load("digits", test_size=0.2, seed=0)


@pytest.fixture(scope="module")
def trained(digits):
    model = ml.mlp(64, [16], 10, activation="sigmoid", seed=0)
    history = ml.Trainer(model, batch_size=64, epochs=4, seed=0).fit(
        digits.X_train, digits.y_train, validation=(digits.X_test, digits.y_test))
    return model, history


def png_of(fig) -> bytes:
    data = fig._repr_png_()
    assert data.startswith(PNG)
    return data


# ----------------------------------------------------------------------------------- no global state

def test_import_and_every_figure_leave_the_backend_and_pyplot_alone(tmp_path):
    """A user's backend (here 'svg', set before mlplab is imported) stays, and pyplot is never
    imported, through ``import mlplab``, ``ml.plots`` and every figure function."""
    code = textwrap.dedent(f"""
        import sys
        import matplotlib
        matplotlib.use("svg")
        import numpy as np
        import mlplab as ml
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        X, y = ml.data.make_moons(60, seed=0)
        model = ml.mlp(2, [8, 8], 2, activation="tanh", seed=0)
        h = ml.Trainer(model, epochs=2, seed=0).fit(X, y, validation=(X, y))
        img = ml.mlp(16, [4], 2, seed=0)
        Xi = np.random.default_rng(0).random((10, 16))
        figs = [ml.plots.training_curves(h), h.plot().figure, ml.plots.confusion_matrix(y, model.predict(X)),
                ml.plots.sample_images(Xi, y[:10], y[:10], seed=0, n=6), ml.plots.first_layer_weights(img),
                ml.plots.activation_histograms(model, X), ml.plots.decision_boundary(model, X, y, resolution=30)]
        for i, f in enumerate(figs):
            ml.plots.save(f, r"{tmp_path}/f%d.png" % i)
            f._repr_png_()
        from mlplab.labs import run_lab  # a lab draws its figures through plots too
        run_lab("optimizers", out=r"{tmp_path}/lab", quick=True)
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
        print("ok", len(figs))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MPLBACKEND": "pdf", "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ok 7" in proc.stdout
    for i in range(7):
        assert (tmp_path / f"f{i}.png").read_bytes().startswith(PNG)
    assert (tmp_path / "lab" / "optimizers.png").read_bytes().startswith(PNG)


def test_plots_is_an_attribute_of_the_package():
    code = "import mlplab as ml; import sys; print(ml.plots.__name__, 'plots' in dir(ml))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["mlplab.plots", "True"]


# ----------------------------------------------------------------------------------- figures

def test_training_curves_two_panels_one_axes_and_a_pair(trained, tmp_path):
    _, history = trained
    fig = plots.training_curves(history, path=tmp_path / "c.png")
    assert isinstance(fig, MplFigure) and len(fig.axes) == 2
    loss_ax, acc_ax = fig.axes
    assert [ln.get_label() for ln in loss_ax.lines] == ["training", "validation"]
    np.testing.assert_allclose(loss_ax.lines[0].get_ydata(), history["loss"])
    np.testing.assert_allclose(acc_ax.lines[1].get_ydata(), history["val_accuracy"])
    assert (tmp_path / "c.png").read_bytes().startswith(PNG)
    # into a given Axes: loss there, accuracy on a twin axis
    _, ax = plots.subplots()
    assert plots.training_curves(history, ax=ax) is ax.figure
    assert len(ax.figure.axes) == 2 and len(ax.lines) == 2 and len(ax.figure.axes[1].lines) == 2
    _, axes = plots.subplots(1, 2)
    plots.training_curves(history, ax=axes)
    assert len(axes[0].lines) == 2 and len(axes[1].lines) == 2
    with pytest.raises(ValueError, match="empty"):
        plots.training_curves(ml.History())


def test_history_plot_returns_its_axes_and_to_pandas(trained):
    _, history = trained
    ax = history.plot()
    labels = [ln.get_label() for a in ax.figure.axes for ln in a.lines]
    assert labels == ["training loss", "validation loss", "training accuracy", "validation accuracy"]
    png_of(ax.figure)
    _, given = plots.subplots()
    assert history.plot(ax=given) is given
    df = history.to_pandas()
    assert list(df.index) == [1, 2, 3, 4] and df.index.name == "epoch"
    assert list(df.columns) == ["loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    np.testing.assert_allclose(df["val_accuracy"], history["val_accuracy"])
    no_val = ml.History([{"epoch": 1, "loss": 1.0, "accuracy": None, "val_loss": None, "val_accuracy": None,
                          "lr": 0.1, "seconds": 0.0}])
    assert np.isnan(no_val.to_pandas()["accuracy"].iloc[0])


def test_to_pandas_without_pandas_says_what_to_install(monkeypatch, trained):
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        trained[1].to_pandas()


def test_confusion_matrix_counts_and_normalized_rows():
    y = np.array([0, 0, 1, 1, 1, 2])
    p = np.array([0, 1, 1, 1, 2, 2])
    fig = plots.confusion_matrix(y, p, class_names=["a", "b", "c"])
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    assert [t.get_text() for t in ax.texts] == ["1", "1", "0", "0", "2", "1", "0", "0", "1"]
    assert "0.667" in ax.get_title() and [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    norm = plots.confusion_matrix(y, p, normalize=True).axes[0].images[0].get_array()
    np.testing.assert_allclose(norm.sum(axis=1), 1.0)
    png_of(fig)


def test_sample_images_labels_mark_wrong_predictions(digits):
    X, y = digits.X_test, digits.y_test
    pred = y.copy()
    pred[:3] = (y[:3] + 1) % 10
    fig = plots.sample_images(X, y, pred, n=8, ncols=4)
    texts = fig.axes[0].texts
    assert len(texts) == 8
    assert texts[0].get_text() == f"{pred[0]}/{y[0]}" and texts[0].get_color() == "tab:red"
    assert texts[5].get_text() == str(y[5]) and texts[5].get_color() == "tab:green"
    img = fig.axes[0].images[0].get_array()
    assert img.shape[0] > 2 * 8 and img.shape[1] > 4 * 8  # two rows of four 8x8 tiles
    # random samples with a seed are reproducible; an ax is used as given
    a = [t.get_text() for t in plots.sample_images(X, y, n=6, seed=3).axes[0].texts]
    _, ax = plots.subplots()
    b = [t.get_text() for t in plots.sample_images(X, y, n=6, seed=3, ax=ax).axes[0].texts]
    assert a == b and a != [str(v) for v in y[:6]]
    with pytest.raises(ValueError, match="image_shape"):
        plots.sample_images(np.zeros((4, 10)))


def test_first_layer_weights_one_tile_per_unit():
    model = ml.mlp(64, [12], 10, seed=0)
    fig = plots.first_layer_weights(model, ncols=4)
    grid = fig.axes[0].images[0].get_array()
    assert grid.shape == (3 * 8 + 2, 4 * 8 + 3)  # 12 units: 3 rows of 4 tiles of 8x8, 1-pixel gaps
    w0 = model.layers[0].weight.data[0].reshape(8, 8)
    np.testing.assert_allclose(grid[:8, :8], w0 / np.abs(w0).max(), rtol=1e-6)
    with pytest.raises(ValueError, match="image_shape"):
        plots.first_layer_weights(ml.mlp(10, [3], 2, seed=0))
    rgb = plots.first_layer_weights(ml.mlp(3 * 4 * 4, [5], 2, seed=0), image_shape=(3, 4, 4))  # channels first
    assert rgb.axes[0].images[0].get_array().shape == (4, 5 * 4 + 4, 3)
    assert "3x4x4 inputs" in rgb.axes[0].get_title()


def test_activation_histograms_show_sigmoid_saturation():
    """The weight-scale lesson: with std 1 the sigmoid outputs of a deep net pile up near 0 and 1;
    with std 0.01 they all sit near 0.5."""
    X = np.random.default_rng(0).normal(size=(500, 100))
    big = ml.mlp(100, [100] * 4, 10, activation="sigmoid", init=1.0, seed=0)
    small = ml.mlp(100, [100] * 4, 10, activation="sigmoid", init=0.01, seed=0)
    fig = plots.activation_histograms(big, X)
    assert len(fig.axes) == 4
    counts = [patch.get_height() for patch in fig.axes[3].patches]
    assert counts[0] + counts[-1] > 0.5 * sum(counts)  # the extreme bins hold most values
    outs = plots._activation_outputs(small, X)
    assert len(outs) == 4 and abs(outs[3][1].mean() - 0.5) < 0.05 and outs[3][1].std() < 0.05
    _, ax = plots.subplots()
    plots.activation_histograms(big, X, ax=ax)
    assert len(ax.patches) == 4  # one step outline per layer
    with pytest.raises(ValueError, match="activation layers"):
        plots.activation_histograms(ml.mlp(100, [], 10, seed=0), X)


def test_activation_histograms_keep_the_backward_caches():
    model = ml.mlp(5, [4], 3, activation="relu", seed=0)
    x = np.random.default_rng(1).normal(size=(7, 5)).astype(np.float32)
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    loss = ml.losses.SoftmaxCrossEntropy()
    loss.forward(model.forward(x, training=True), y)
    plots.activation_histograms(model, np.ones((3, 5)))  # between forward and backward
    dx = model.backward(loss.backward())
    assert dx.shape == (7, 5)


def test_decision_boundary_on_moons_and_spiral():
    X, y = ml.data.make_moons(200, noise=0.1, seed=0)
    model = ml.mlp(2, [16, 16], 2, activation="relu", seed=0)
    ml.Trainer(model, optimizer=ml.optim.Adam(model.parameters(), lr=0.02), epochs=60, batch_size=32,
               seed=0).fit(X, y)
    fig = plots.decision_boundary(model, X, y, resolution=50)
    ax = fig.axes[0]
    assert len(ax.collections) >= 3  # filled regions, boundary, one scatter per class
    assert float(ax.get_title().split()[-1].rstrip(")")) > 0.95
    png_of(fig)
    Xs, ys = ml.data.make_spiral(90, n_classes=3, seed=0)
    spiral = ml.mlp(2, [8], 3, seed=0)
    plots.decision_boundary(spiral, Xs, ys, resolution=20)
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        plots.decision_boundary(model, np.zeros((5, 3)), np.zeros(5))


# ----------------------------------------------------------------------------------- toy data

def test_toy_generators_are_seeded_balanced_and_checked():
    X, y = ml.data.make_moons(101, noise=0.0, seed=1)
    assert X.shape == (101, 2) and X.dtype == np.float32 and np.bincount(y).tolist() == [50, 51]
    r = np.hypot(X[y == 0, 0], X[y == 0, 1])
    np.testing.assert_allclose(r, 1.0, atol=1e-6)  # noise 0: class 0 lies on the unit circle
    np.testing.assert_array_equal(ml.data.make_moons(50, seed=4)[0], ml.data.make_moons(50, seed=4)[0])
    Xs, ys = ml.data.make_spiral(100, n_classes=3, noise=0.0, seed=0, dtype="float64")
    assert Xs.dtype == np.float64 and np.bincount(ys).tolist() == [34, 33, 33]
    assert np.hypot(Xs[:, 0], Xs[:, 1]).max() <= 1.0 + 1e-12
    with pytest.raises(ValueError, match="noise"):
        ml.data.make_moons(10, noise=-1)
    with pytest.raises(ValueError, match="n_classes"):
        ml.data.make_spiral(10, n_classes=1)
    with pytest.raises(ValueError, match="at least n_classes"):
        ml.data.make_spiral(2, n_classes=3)


# ----------------------------------------------------------------------------------- summaries

def test_summary_table_counts_and_memory(capsys):
    model = ml.mlp(64, [80, 70], 10, activation="sigmoid", norm="batchnorm", dropout=0.1, seed=0)
    text = model.summary()
    assert capsys.readouterr().out.strip() == str(text).strip()
    assert text.total_parameters == 64 * 80 + 80 + 80 * 70 + 70 + 70 * 10 + 10 + 2 * (80 + 70) == 11_880
    assert text.parameter_bytes == 4 * 11_880
    assert "Dense(64 → 80)" in text and "(N, 80)" in text and "5,200" in text
    assert "total: 11,880 parameters, 46.4 KiB (float32)" in text
    assert [r[2] for r in text.rows] == [5200, 160, 0, 0, 5670, 140, 0, 0, 710]
    assert repr(text) == "<model summary: 9 layers, 11,880 parameters, 46.4 KiB>"
    assert model.summary(print_fn=None) == text and capsys.readouterr().out == ""
    html = model._repr_html_()
    assert html.count("<tr>") == 1 + 9 and "11,880 parameters" in html


def test_trainer_repr_is_readable():
    model = ml.mlp(64, [80, 70], 10, seed=0)
    t = ml.Trainer(model, optimizer=ml.optim.SGD(model.parameters(), lr=0.1), batch_size=16, epochs=3, progress=True)
    r = repr(t)
    assert r.startswith("Trainer(model=Sequential(64-80-70-10, 11,580 parameters), "
                        "loss=SoftmaxCrossEntropy(reduction='mean'), optimizer=SGD(lr=0.1")
    assert "batch_size=16, epochs=3" in r and "callbacks=[ProgressBar]" in r and r.endswith("epochs_done=0)")


def test_html_summaries_of_history_and_dataset(trained, digits):
    html = trained[1]._repr_html_()
    assert "4 epochs" in html and html.count("<tr>") == 1 + 4 and "val_accuracy" in html
    long = ml.History([{**trained[1].records[0], "epoch": i} for i in range(1, 31)])
    assert long._repr_html_().count("<tr>") == 1 + 11  # first five, an ellipsis row, last five
    assert "no epochs" in ml.History()._repr_html_()
    d = digits._repr_html_()
    assert "Dataset digits" in d and "1,438" in d and "359" in d and "(8, 8)" in d


# ----------------------------------------------------------------------------------- progress

class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_prints_one_line_per_epoch_when_not_a_terminal(digits):
    out = _Stream(tty=False)
    model = ml.mlp(64, [8], 10, seed=0)
    ml.Trainer(model, epochs=3, callbacks=[ProgressBar(file=out)]).fit(
        digits.X_train, digits.y_train, validation=(digits.X_test, digits.y_test))
    lines = out.getvalue().splitlines()
    assert len(lines) == 3 and "\r" not in out.getvalue()
    assert lines[0].startswith("epoch 1/3: loss ") and "val_accuracy" in lines[2]


def test_progress_draws_a_bar_on_a_terminal_and_nothing_when_disabled(digits):
    tty = _Stream(tty=True)
    model = ml.mlp(64, [8], 10, seed=0)
    ml.Trainer(model, epochs=2, callbacks=[ProgressBar(file=tty)]).fit(digits.X_train, digits.y_train)
    assert "2/2" in tty.getvalue() and "loss=" in tty.getvalue() and "\r" in tty.getvalue()
    off = _Stream(tty=False)
    ml.Trainer(model, epochs=2, callbacks=[ProgressBar(file=off, disable=True)]).fit(digits.X_train, digits.y_train)
    assert off.getvalue() == ""
    with pytest.raises(ValueError, match="mode"):
        ProgressBar(mode="fancy")


def test_cli_prints_epoch_lines_into_a_pipe(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mlplab.cli", "train", "--epochs", "3", "--hidden", "16",
                           "--no-compare", "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    epoch_lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("epoch ")]
    assert [ln.split(":")[0] for ln in epoch_lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]
