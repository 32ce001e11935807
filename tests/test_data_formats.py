"""Parsers and loaders on small files written by the tests: IDX, CIFAR-10 binary, AReM CSV with every quirk."""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

import mlplab.data as data
from mlplab.data import ChecksumError
from mlplab.data.cache import CIFAR10_SUMS
from mlplab.data.cli import add_data_parser, run_data_command
from mlplab.data.formats import (AREM_COLUMNS, IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, parse_arem_csv, parse_idx,
                                 read_arem_csv, read_cifar10_bin, read_idx, write_cifar10_bin, write_idx)
from mlplab.data.registry import AREM_ACTIVITIES, REGISTRY, FileSpec


def sha(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------- IDX

@pytest.mark.parametrize("name", ["x-idx3-ubyte.gz", "x-idx3-ubyte"])
def test_idx_round_trip_gzip_and_raw(tmp_path, name):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(7, 5, 4), dtype=np.uint8)
    write_idx(tmp_path / name, images)
    raw = (tmp_path / name).read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    back = read_idx(tmp_path / name, expected_magic=IDX_IMAGES_MAGIC)
    assert back.dtype == np.uint8 and back.shape == (7, 5, 4)
    np.testing.assert_array_equal(back, images)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.float32, np.float64, np.int8])
def test_idx_other_types_are_big_endian(tmp_path, dtype):
    arr = (np.arange(12).reshape(3, 4) - 5).astype(dtype)
    write_idx(tmp_path / "a.idx", arr)
    raw = (tmp_path / "a.idx").read_bytes()
    assert raw[3] == 2 and int.from_bytes(raw[4:8], "big") == 3
    back = read_idx(tmp_path / "a.idx")
    assert back.dtype == np.dtype(dtype).newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


def test_idx_header_is_the_mnist_one(tmp_path):
    write_idx(tmp_path / "l", np.array([3, 1, 4], dtype=np.uint8))
    assert (tmp_path / "l").read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 3, 1, 4])
    assert int.from_bytes(bytes([0, 0, 8, 1]), "big") == IDX_LABELS_MAGIC


def test_idx_truncated_gzip(tmp_path):
    write_idx(tmp_path / "t.gz", np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    raw = (tmp_path / "t.gz").read_bytes()
    (tmp_path / "t.gz").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match=r"t\.gz: the gzip stream is truncated .*expected a complete gzip file"):
        read_idx(tmp_path / "t.gz")


def test_idx_corrupted_gzip(tmp_path):
    write_idx(tmp_path / "c.gz", np.random.default_rng(1).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    raw = bytearray((tmp_path / "c.gz").read_bytes())
    raw[-6] ^= 0xFF  # inside the CRC32 / length trailer
    (tmp_path / "c.gz").write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=r"c\.gz: corrupted gzip data"):
        read_idx(tmp_path / "c.gz")
    raw = bytearray(gzip.compress(bytes(1000)))
    raw[15] ^= 0x55  # inside the deflate stream
    with pytest.raises(ValueError, match=r"x\.gz: (corrupted gzip data|the gzip stream is truncated|IDX|not an IDX)"):
        parse_idx(bytes(raw), "x.gz")


def test_idx_truncated_raw_data(tmp_path):
    write_idx(tmp_path / "r", np.zeros((10, 28, 28), dtype=np.uint8))
    raw = (tmp_path / "r").read_bytes()
    (tmp_path / "r").write_bytes(raw[:-100])
    with pytest.raises(ValueError, match=r"r: IDX data truncated: 7756 bytes; expected exactly 7856 bytes "
                                         r"\(header 16 \+ dimensions 10x28x28"):
        read_idx(tmp_path / "r")
    (tmp_path / "r").write_bytes(raw + b"extra")
    with pytest.raises(ValueError, match="has trailing bytes"):
        read_idx(tmp_path / "r")
    with pytest.raises(ValueError, match="truncated IDX header"):
        parse_idx(raw[:9], "h")
    with pytest.raises(ValueError, match="expected an IDX file"):
        parse_idx(b"\x00\x00", "tiny")


def test_idx_wrong_magic(tmp_path):
    write_idx(tmp_path / "labels.gz", np.arange(10, dtype=np.uint8))
    with pytest.raises(ValueError, match=r"labels\.gz: wrong IDX magic number 2049 \(0x00000801: unsigned byte, "
                                         r"1 dimension\); expected 2051 \(0x00000803: unsigned byte, 3 dimensions\)"):
        read_idx(tmp_path / "labels.gz", expected_magic=IDX_IMAGES_MAGIC)
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match=r"png: not an IDX file: magic number 0x89504e47; expected 2051"):
        read_idx(tmp_path / "png", expected_magic=IDX_IMAGES_MAGIC)
    (tmp_path / "typ").write_bytes(bytes([0, 0, 0x07, 1, 0, 0, 0, 1, 5]))
    with pytest.raises(ValueError, match="not an IDX file: magic number 0x00000701; expected 0x0000TTDD"):
        read_idx(tmp_path / "typ")


# ------------------------------------------------------------------------------------------ CIFAR

def test_cifar10_binary_layout(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(6, 3, 32, 32), dtype=np.uint8)
    labels = np.array([0, 9, 3, 3, 1, 7])
    write_cifar10_bin(tmp_path / "b.bin", images, labels)
    raw = (tmp_path / "b.bin").read_bytes()
    assert len(raw) == 6 * 3073 and raw[3073] == 9
    # record 1, green channel (1), row 4, column 5: byte 1 + 1024 * 1 + 32 * 4 + 5 of the record
    assert raw[3073 + 1 + 1024 + 32 * 4 + 5] == images[1, 1, 4, 5]
    X, y = read_cifar10_bin(tmp_path / "b.bin")
    assert X.shape == (6, 3, 32, 32) and X.dtype == np.uint8 and y.dtype == np.int64
    np.testing.assert_array_equal(X, images)
    np.testing.assert_array_equal(y, labels)


def test_cifar10_bad_files(tmp_path):
    write_cifar10_bin(tmp_path / "b.bin", np.zeros((2, 3, 32, 32)), [1, 2])
    raw = (tmp_path / "b.bin").read_bytes()
    (tmp_path / "t.bin").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match=r"t\.bin: 6136 bytes is not a whole number of CIFAR-10 records; expected "
                                         r"a non-zero multiple of 3073 bytes"):
        read_cifar10_bin(tmp_path / "t.bin")
    (tmp_path / "e.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="0 bytes is not a whole number"):
        read_cifar10_bin(tmp_path / "e.bin")
    (tmp_path / "l.bin").write_bytes(raw[:3073] + bytes([12]) + raw[3074:])
    with pytest.raises(ValueError, match=r"l\.bin: record 1 has label byte 12; expected 0\.\.9"):
        read_cifar10_bin(tmp_path / "l.bin")


# ------------------------------------------------------------------------------------------- AReM

HEADER = ("# Task: {task}\r\n# Frequency (Hz): 20\r\n# Clock (millisecond): 250\r\n# Duration (seconds): 120\r\n"
          "# Columns: time,avg_rss12,var_rss12,avg_rss13,var_rss13,avg_rss23,var_rss23\r\n")


def arem_text(task: str, rows: np.ndarray, quirk: str = "lf") -> bytes:
    """An AReM recording in the original's style; ``quirk`` picks one of the original's oddities."""
    lines = []
    for i, r in enumerate(rows):
        vals = [f"{i * 250}"] + [f"{v:.2f}" for v in r]
        if quirk == "space":  # bending2/dataset4: space-separated, trailing space, CRLF throughout
            lines.append(" ".join(vals) + " \r\n")
        elif quirk == "mixed":  # bending1/dataset1: the first rows CRLF, the rest LF
            lines.append(",".join(vals) + ("\r\n" if i < len(rows) // 2 else "\n"))
        else:
            lines.append(",".join(vals) + "\n")
    text = HEADER.format(task=task) + "".join(lines)
    if quirk == "comma":  # cycling/dataset9: last row ends in a comma, no final newline
        text = text.rstrip("\n") + ","
    return text.encode("ascii")


def test_arem_csv_quirks():
    rows = np.round(np.random.default_rng(0).uniform(0, 50, size=(9, 6)), 2)
    for quirk in ("lf", "space", "mixed", "comma"):
        parsed, header = parse_arem_csv(arem_text("cycling", rows, quirk), f"{quirk}.csv")
        assert parsed.shape == (9, 7), quirk
        np.testing.assert_allclose(parsed[:, 1:], rows, err_msg=quirk)
        np.testing.assert_array_equal(parsed[:, 0], np.arange(9) * 250)
        assert header["Task"] == "cycling"
        assert header["Columns"] == ",".join(AREM_COLUMNS)
    blank = arem_text("lying", rows).replace(b"\n0,", b"\n\r\n  \n0,")
    assert parse_arem_csv(blank, "blank.csv")[0].shape == (9, 7)


def test_arem_csv_errors(tmp_path):
    good = arem_text("sitting", np.ones((3, 6)))
    (tmp_path / "short.csv").write_bytes(good.replace(b"250,1.00,1.00,1.00,1.00,1.00,1.00", b"250,1.00,1.00"))
    with pytest.raises(ValueError, match=r"short\.csv, line 7: 3 fields in '250,1.00,1.00'; expected 7 numbers"):
        read_arem_csv(tmp_path / "short.csv")
    with pytest.raises(ValueError, match=r"gap\.csv, line 6: empty field in '0,,1.00"):
        parse_arem_csv(good.replace(b"0,1.00", b"0,,1.00", 1), "gap.csv")
    with pytest.raises(ValueError, match=r"nan\.csv, line 6: non-numeric field"):
        parse_arem_csv(good.replace(b"0,1.00", b"0,abc", 1), "nan.csv")
    with pytest.raises(ValueError, match=r"cols\.csv: header '# Columns: time,a,b'; expected '# Columns: time,avg"):
        parse_arem_csv(good.replace(b"time,avg_rss12,var_rss12,avg_rss13,var_rss13,avg_rss23,var_rss23",
                                    b"time,a,b"), "cols.csv")
    with pytest.raises(ValueError, match=r"empty\.csv: no data rows"):
        parse_arem_csv(HEADER.format(task="x").encode(), "empty.csv")
    with pytest.raises(ValueError, match=r"bin\.csv: not an ASCII text file"):
        parse_arem_csv(b"\xff\xfe\x00", "bin.csv")


# --------------------------------------------------------------------------- loaders on local files

def make_idx_dataset(home: Path, folder: str = "mnist", n_train: int = 60, n_test: int = 20, seed: int = 0,
                     side: int = 28) -> tuple[FileSpec, ...]:
    """Four small IDX .gz files in ``home/folder`` (labels 0..9 balanced); returns their FileSpecs."""
    rng = np.random.default_rng(seed)
    (home / folder).mkdir(parents=True, exist_ok=True)
    specs = []
    for part, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, side, side), dtype=np.uint8)
        images[:, 0, :] = 0  # a constant border row, as in MNIST
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            path = home / folder / f"{part}-{kind}-ubyte.gz"
            write_idx(path, arr)
            specs.append(FileSpec(f"{folder}/{path.name}", sha(path), path.stat().st_size))
    return tuple(specs)


@pytest.fixture
def tiny_mnist(tmp_path, monkeypatch):
    """A synthetic 'mnist' in tmp_path/home, with its digests patched into the registry."""
    home = tmp_path / "home"
    files = make_idx_dataset(home)
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    return home


def test_idx_loader_options(tiny_mnist):
    ds = data.load("mnist", data_home=tiny_mnist, download=False)
    assert ds.X_train.shape == (60, 784) and ds.X_test.shape == (20, 784)
    assert ds.X_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert 0.0 <= ds.X_train.min() and ds.X_train.max() <= 1.0 and ds.image_shape == (28, 28)
    assert ds.class_names == [str(i) for i in range(10)] and len(ds.feature_names) == 784
    assert "LeCun" in ds.citation and ds.extra["scale"] == "unit"
    raw = data.load("mnist", data_home=tiny_mnist, download=False, scale=None, flatten=False, dtype="float64")
    assert raw.X_train.shape == (60, 28, 28) and raw.X_train.dtype == np.float64
    np.testing.assert_allclose(ds.X_train, raw.X_train.reshape(60, -1) / 255, rtol=1e-6)
    assert np.array_equal(raw.X_train, np.round(raw.X_train)) and raw.X_train.max() <= 255
    same = data.load("mnist", data_home=tiny_mnist, download=False, scale="255")
    np.testing.assert_array_equal(same.X_train, ds.X_train)


def test_validation_split_subset_and_standardization(tiny_mnist):
    ds = data.load("mnist", data_home=tiny_mnist, download=False, val_size=20, n_train=30, seed=3,
                   scale="standard", dtype="float64")
    assert ds.X_val.shape == (20, 784) and ds.X_train.shape == (30, 784) and ds.X_test.shape == (20, 784)
    assert np.bincount(ds.y_val).tolist() == [2] * 10 and np.bincount(ds.y_train).tolist() == [3] * 10
    # standardization fitted on the final training part only: its features have mean 0 and std 1 (or 0 if constant)
    np.testing.assert_allclose(ds.X_train.mean(axis=0), 0, atol=1e-9)
    std = ds.X_train.std(axis=0)
    assert np.allclose(std[std > 0], 1) and (std == 0).sum() == 28  # the constant border row stays 0
    assert abs(ds.X_test.mean()) > 1e-6  # the test part is transformed with the training statistics
    assert ds.extra["scaler_mean"].shape == (784,)
    again = data.load("mnist", data_home=tiny_mnist, download=False, val_size=20, n_train=30, seed=3,
                      scale="standard", dtype="float64")
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    a = data.load("mnist", data_home=tiny_mnist, download=False, val_size=20, seed=3, scale=None)
    b = data.load("mnist", data_home=tiny_mnist, download=False, val_size=20, seed=4, scale=None)
    assert not np.array_equal(a.X_val, b.X_val)  # another seed, another validation part
    frac = data.load("mnist", data_home=tiny_mnist, download=False, val_size=0.5)
    assert frac.X_val.shape[0] == 30 and frac.X_train.shape[0] == 30


def test_load_option_errors(tiny_mnist):
    with pytest.raises(ValueError, match="mnist has an official test set; use val_size"):
        data.load("mnist", data_home=tiny_mnist, test_size=0.3)
    with pytest.raises(ValueError, match="unknown scale 'minmax'"):
        data.load("mnist", data_home=tiny_mnist, scale="minmax")
    with pytest.raises(ValueError, match="n_train=61 is more than the 60 training samples"):
        data.load("mnist", data_home=tiny_mnist, n_train=61)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        data.load("mnist", data_home=tiny_mnist, dtype="int8")
    with pytest.raises(ValueError, match="unknown dataset 'svhn'; expected one of digits, mnist"):
        data.load("svhn")
    with pytest.raises(ValueError, match=r"split is an option of arem only, not of mnist \(split='rows' given\)"):
        data.load("mnist", data_home=tiny_mnist, split="rows")
    with pytest.raises(ValueError, match="unknown split 'users'"):
        data.load("arem", split="users", data_home=tiny_mnist)
    assert data.load("mnist", data_home=tiny_mnist, test_size=None).X_test.shape == (20, 784)


def test_loader_reports_format_errors_with_the_file(tiny_mnist, monkeypatch):
    # swap a label file for an image file and patch its digest in: the checksum passes, the format check does not
    labels = tiny_mnist / "mnist" / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes((tiny_mnist / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())
    files = tuple(dataclasses.replace(f, sha256=sha(labels)) if f.path.endswith("t10k-labels-idx1-ubyte.gz") else f
                  for f in REGISTRY["mnist"].files)
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    with pytest.raises(ValueError, match=r"t10k-labels-idx1-ubyte\.gz: wrong IDX magic number 2051 .*expected 2049"):
        data.load("mnist", data_home=tiny_mnist, download=False)


def test_corrupted_local_file_is_never_used(tiny_mnist):
    path = tiny_mnist / "mnist" / "train-labels-idx1-ubyte.gz"
    expected = sha(path)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError) as err:
        data.load("mnist", data_home=tiny_mnist, download=True)  # present but bad: an error, not a silent re-download
    msg = str(err.value)
    assert str(path) in msg and f"expected sha256 {expected}" in msg and f"got {sha(path)}" in msg
    assert "mlplab data fetch mnist --force" in msg
    assert isinstance(err.value, ValueError) and err.value.actual == sha(path)


def test_missing_files_without_download(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"mnist: 4 file\(s\) missing from .*mlplab data fetch mnist"):
        data.load("mnist", data_home=tmp_path, download=False)


def test_data_home_from_environment(tiny_mnist, monkeypatch):
    monkeypatch.setenv("MLPLAB_DATA", str(tiny_mnist))
    assert data.get_data_home() == tiny_mnist
    assert data.load("mnist", download=False).X_train.shape == (60, 784)
    assert data.get_data_home(tiny_mnist / "x") == tiny_mnist / "x"
    monkeypatch.delenv("MLPLAB_DATA")
    assert "mlplab" in str(data.get_data_home())  # the user cache folder


def test_digits_keeps_its_contract():
    ds = data.load("digits", test_size=0.2, seed=0, dtype="float32")
    assert ds.X_train.shape == (1438, 64) and ds.X_test.shape == (359, 64)
    assert ds.X_train.dtype == np.float32 and ds.X_train.max() == 1.0 and ds.X_train.min() == 0.0
    assert ds.image_shape == (8, 8) and ds.n_classes == 10
    again = data.load("digits", test_size=0.2, seed=0, dtype="float32")
    np.testing.assert_array_equal(ds.X_train, again.X_train)
    raw = data.load("digits", scale=False, flatten=False, val_size=0.1, n_train=500, data_home="/nonexistent")
    assert raw.X_train.shape == (500, 8, 8) and raw.X_train.max() == 16.0 and raw.X_val.shape[0] == 144
    assert data.DATASETS["digits"](seed=0).X_train.shape == (1438, 64)


def test_cifar10_loader_on_local_files(tmp_path, monkeypatch):
    home = tmp_path / "home"
    folder = home / "cifar10" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    sums = []
    for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
        write_cifar10_bin(folder / name, rng.integers(0, 256, (10, 3, 32, 32)), np.arange(10))
        sums.append(f"{sha(folder / name)}  cifar-10-batches-bin/{name}\n")
    with pytest.raises(FileNotFoundError, match="have no digest record .* and the archive .* is not there"):
        data.load("cifar10", data_home=home, download=False)
    (home / CIFAR10_SUMS).write_text("".join(sums))
    ds = data.load("cifar10", data_home=home, download=False)
    assert ds.X_train.shape == (50, 3072) and ds.X_test.shape == (10, 3072) and ds.image_shape == (3, 32, 32)
    assert ds.class_names[0] == "airplane" and ds.feature_names[1024] == "g_0_0"
    img = data.load("cifar10", data_home=home, download=False, flatten=False, scale=None)
    assert img.X_train.shape == (50, 3, 32, 32)
    X, _ = read_cifar10_bin(folder / "data_batch_1.bin")
    np.testing.assert_array_equal(img.X_train[:10], X)
    with open(folder / "data_batch_3.bin", "r+b") as f:
        f.seek(500)
        f.write(b"\x00\x01\x02")
    with pytest.raises(ChecksumError, match=r"data_batch_3\.bin: expected sha256"):
        data.load("cifar10", data_home=home, download=False)


# ------------------------------------------------------------------------------- synthetic AReM folder

def make_arem(home: Path, n_rows: int = 12) -> tuple[FileSpec, ...]:
    """3 recordings per activity folder (2 for bending*), with every quirk of the original and one duplicate."""
    rng = np.random.default_rng(0)
    specs = []
    quirks = {("bending2", 2): "space", ("bending1", 1): "mixed", ("cycling", 2): "comma"}
    for a, activity in enumerate(AREM_ACTIVITIES):
        for k in range(1, (2 if activity.startswith("bending") else 3) + 1):
            path = home / "arem" / activity / f"dataset{k}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            rows = np.round(rng.normal(10 * a, 1, size=(n_rows - (activity == "sitting" and k == 1), 6)), 2)
            if activity == "lying" and k == 3:
                path.write_bytes((home / "arem" / "lying" / "dataset1.csv").read_bytes())  # exact duplicate
            else:
                path.write_bytes(arem_text(activity, rows, quirks.get((activity, k), "lf")))
            specs.append(FileSpec(f"arem/{activity}/{path.name}", sha(path), path.stat().st_size))
    return tuple(specs)


@pytest.fixture
def tiny_arem(tmp_path, monkeypatch):
    home = tmp_path / "home"
    files = make_arem(home)
    monkeypatch.setitem(REGISTRY, "arem", dataclasses.replace(REGISTRY["arem"], files=files))
    return home


def test_arem_rows_split(tiny_arem):
    ds = data.load("arem", data_home=tiny_arem, download=False, scale=None, test_size=0.25, seed=1)
    # 19 files, one duplicate dropped -> 18 recordings of 12 rows, one row short
    assert ds.extra["duplicates_dropped"] == [("lying/dataset3", "lying/dataset1")]
    n = ds.X_train.shape[0] + ds.X_test.shape[0]
    assert n == 18 * 12 - 1 and ds.X_test.shape == (54, 6) and ds.X_train.dtype == np.float32
    assert ds.class_names == ["bending", "cycling", "lying", "sitting", "standing", "walking"]
    assert ds.feature_names == list(AREM_COLUMNS[1:])
    counts = np.bincount(np.concatenate([ds.y_train, ds.y_test]))
    assert counts.tolist() == [48, 36, 24, 35, 36, 36]  # bending1 + bending2 merged
    # rows of one recording fall on both sides with split="rows"
    assert set(ds.extra["groups_train"]) & set(ds.extra["groups_test"])
    # class means: activity a has mean 10 a; bending1 and bending2 both map to class 0
    assert abs(ds.X_train[ds.y_train == 5].mean() - 60) < 1
    keep = data.load("arem", data_home=tiny_arem, download=False, drop_duplicates=False)
    assert keep.X_train.shape[0] + keep.X_test.shape[0] == 19 * 12 - 1
    std = data.load("arem", data_home=tiny_arem, download=False)  # scale="auto" -> "standard" for AReM
    assert std.extra["scale"] == "standard"
    np.testing.assert_allclose(std.X_train.mean(axis=0), 0, atol=1e-5)


def test_arem_recordings_split(tiny_arem):
    ds = data.load("arem", split="recordings", data_home=tiny_arem, download=False, test_size=0.4, val_size=0.5,
                   seed=2)
    tr, te, va = (set(ds.extra[f"groups_{s}"]) for s in ("train", "test", "val"))
    assert not (tr & te) and not (tr & va) and not (te & va)  # whole recordings on one side
    assert len(tr | te | va) == 18
    assert set(ds.extra["test_recordings"]) == te
    # at least one recording of every activity folder is in the test part
    assert {g.split("/")[0] for g in te} == set(AREM_ACTIVITIES)
    for name in te:
        assert (ds.extra["groups_test"] == name).sum() in (11, 12)
    same = data.load("arem", split="recordings", data_home=tiny_arem, download=False, test_size=0.4, seed=2)
    assert same.extra["test_recordings"] == ds.extra["test_recordings"]
    with pytest.raises(ValueError, match="a split by recordings takes a fraction"):
        data.load("arem", split="recordings", data_home=tiny_arem, download=False, test_size=5)


def test_arem_bad_csv_names_file_and_line(tiny_arem, monkeypatch):
    path = tiny_arem / "arem" / "walking" / "dataset2.csv"
    path.write_bytes(path.read_bytes().replace(b"\n250,", b"\n250,x", 1))
    files = tuple(dataclasses.replace(f, sha256=sha(path)) if f.path.endswith("walking/dataset2.csv") else f
                  for f in REGISTRY["arem"].files)
    monkeypatch.setitem(REGISTRY, "arem", dataclasses.replace(REGISTRY["arem"], files=files))
    with pytest.raises(ValueError, match=r"walking/dataset2\.csv, line 7: non-numeric field"):
        data.load("arem", data_home=tiny_arem, download=False)


# -------------------------------------------------------------------------------------------- CLI

def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="mlplab")
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    assert args.func is run_data_command
    return args.func(args)


def test_cli_list(tiny_mnist, capsys):
    assert run_cli(["data", "list", "--data-home", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    assert f"data folder: {tiny_mnist}" in out
    line = next(x for x in out.splitlines() if x.startswith("mnist "))
    assert "4/4" in line and "verified" in line and str(tiny_mnist / "mnist") in line
    assert "missing" in next(x for x in out.splitlines() if x.startswith("cifar10 "))
    p = tiny_mnist / "mnist" / "t10k-labels-idx1-ubyte.gz"
    p.write_bytes(p.read_bytes() + b"x")
    assert run_cli(["data", "list", "--data-home", str(tiny_mnist)]) == 0
    out = capsys.readouterr().out
    assert "BAD" in next(x for x in out.splitlines() if x.startswith("mnist "))
    assert "checksum mismatch: mnist/t10k-labels-idx1-ubyte.gz" in out
    assert run_cli(["data", "fetch", "mnist", "--data-home", str(tiny_mnist)]) == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert run_cli(["data", "fetch", "nope"]) == 2
