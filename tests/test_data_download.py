"""Downloads for real: a local HTTP server on 127.0.0.1 serves small files; the loaders download, verify,
unpack and cache them, and a second load does not touch the network (the server is shut down first)."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import mlplab.data as data
from mlplab.data import ChecksumError, DownloadError
from mlplab.data.cache import CIFAR10_SUMS
from mlplab.data.cli import add_data_parser
from mlplab.data.formats import write_cifar10_bin, write_idx
from mlplab.data.registry import AREM_ACTIVITIES, REGISTRY, FileSpec
from shared_data import SHARED



def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


class Server:
    """A static file server for ``root`` on 127.0.0.1; ``requests`` lists the paths asked for."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        log = self.requests

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                log.append(self.path)
                super().do_GET()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture
def served(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    server = Server(root)
    yield root, server
    server.stop()


def idx_files(folder: Path, n_train: int = 50, n_test: int = 20) -> tuple[FileSpec, ...]:
    """Small MNIST-format files under ``folder``; FileSpecs with their digests (paths under ``mnist/``)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    specs = []
    for part, n in (("train", n_train), ("t10k", n_test)):
        for kind, arr in (("images-idx3", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)),
                          ("labels-idx1", (np.arange(n) % 10).astype(np.uint8))):
            path = folder / f"{part}-{kind}-ubyte.gz"
            write_idx(path, arr)
            specs.append(FileSpec(f"mnist/{path.name}", sha(path.read_bytes()), path.stat().st_size))
    return tuple(specs)


def test_mnist_download_verify_cache_then_offline(served, tmp_path, monkeypatch):
    root, server = served
    files = idx_files(root / "mnist")
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    home = tmp_path / "cache"
    ds = data.load("mnist", data_home=home, base_url=server.url, progress=False)
    assert ds.X_train.shape == (50, 784) and ds.X_test.shape == (20, 784)
    assert sorted(server.requests) == sorted(f"/mnist/{Path(f.path).name}" for f in files)
    for f in files:
        assert sha((home / f.path).read_bytes()) == f.sha256  # cached where data_home says
    assert data.status("mnist", home).verified
    server.stop()  # no network from here on
    again = data.load("mnist", data_home=home, base_url=server.url, download=True)
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    assert len(server.requests) == 4


def test_environment_variables_pick_folder_and_mirror(served, tmp_path, monkeypatch):
    root, server = served
    files = idx_files(root / "mnist")
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    monkeypatch.setenv("MLPLAB_DATA", str(tmp_path / "env-home"))
    monkeypatch.setenv("MLPLAB_DATA_URL", server.url + "/")
    (root / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    (tmp_path / "env-home" / "mnist").mkdir(parents=True)
    (tmp_path / "env-home" / "mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        (root / "mnist" / "t10k-images-idx3-ubyte.gz").read_bytes())  # wrong content under the right name
    with pytest.raises(ChecksumError, match="t10k-labels-idx1-ubyte.gz: expected sha256"):
        data.load("mnist", progress=False)  # a bad local file is an error, never silently replaced
    # the three missing files came from $MLPLAB_DATA_URL into $MLPLAB_DATA; the bad one was not downloaded over
    assert sorted(server.requests) == ["/mnist/t10k-images-idx3-ubyte.gz", "/mnist/train-images-idx3-ubyte.gz",
                                       "/mnist/train-labels-idx1-ubyte.gz"]
    assert (tmp_path / "env-home" / "mnist" / "train-images-idx3-ubyte.gz").is_file()


def test_wrong_checksum_of_a_download(served, tmp_path, monkeypatch):
    root, server = served
    files = idx_files(root / "mnist")
    bad = dataclasses.replace(files[1], sha256="0" * 64)
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=(files[0], bad) + files[2:]))
    home = tmp_path / "cache"
    with pytest.raises(ChecksumError) as err:
        data.load("mnist", data_home=home, base_url=server.url, progress=False)
    msg = str(err.value)
    assert f"{server.url}/mnist/train-labels-idx1-ubyte.gz" in msg
    assert f"expected sha256 {'0' * 64}, got {files[1].sha256}" in msg and "was not used" in msg
    assert not (home / bad.path).exists()  # the bad download was deleted, not cached


def test_missing_file_on_the_server(served, tmp_path, monkeypatch):
    root, server = served
    files = idx_files(root / "mnist")
    (root / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    with pytest.raises(DownloadError, match=r"could not download .*/mnist/train-images-idx3-ubyte\.gz.*404"):
        data.load("mnist", data_home=tmp_path / "cache", base_url=server.url, progress=False)


def test_fetch_force_repairs_a_bad_file(served, tmp_path, monkeypatch, capsys):
    root, server = served
    files = idx_files(root / "mnist")
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    home = tmp_path / "cache"
    parser = argparse.ArgumentParser(prog="mlplab")
    add_data_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", "fetch", "mnist", "--data-home", str(home), "--base-url", server.url,
                              "--no-progress"])
    assert args.func(args) == 0
    assert "mnist: verified, 4 files" in capsys.readouterr().out
    victim = home / files[0].path
    victim.write_bytes(victim.read_bytes()[:-3])
    with pytest.raises(ChecksumError):
        data.fetch("mnist", home, base_url=server.url, progress=False)
    n = len(server.requests)
    st = data.fetch("mnist", home, base_url=server.url, force=True, progress=False)
    assert st.verified and st.present and len(server.requests) == n + 1  # only the bad file again


# ------------------------------------------------------------------------------------------ CIFAR-10

def cifar_archive(path: Path, n: int = 4) -> bytes:
    """A tiny cifar-10-binary.tar.gz: 5 training batches and a test batch of ``n`` records each."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin", "batches.meta.txt"]:
            tmp = path.parent / name
            if name.endswith(".bin"):
                write_cifar10_bin(tmp, rng.integers(0, 256, (n, 3, 32, 32)), rng.integers(0, 10, n))
            else:
                tmp.write_text("\n".join(REGISTRY["cifar10"].class_names) + "\n")
            tar.add(tmp, arcname=f"cifar-10-batches-bin/{name}")
            tmp.unlink()
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


def test_cifar10_download_unpack_verify(served, tmp_path, monkeypatch):
    root, server = served
    (root / "cifar10").mkdir()
    archive = cifar_archive(root / "cifar10" / "cifar-10-binary.tar.gz")
    spec = REGISTRY["cifar10"]
    spec = dataclasses.replace(spec, archive=dataclasses.replace(spec.archive, known_hash="md5:"
                                                                  + hashlib.md5(archive).hexdigest()))
    monkeypatch.setitem(REGISTRY, "cifar10", spec)
    home = tmp_path / "cache"
    ds = data.load("cifar10", data_home=home, base_url=server.url, progress=False, flatten=False)
    assert server.requests == ["/cifar10/cifar-10-binary.tar.gz"]
    assert ds.X_train.shape == (20, 3, 32, 32) and ds.X_test.shape == (4, 3, 32, 32)
    assert ds.X_train.dtype == np.float32 and ds.X_train.max() <= 1.0
    sums = (home / CIFAR10_SUMS).read_text().splitlines()
    assert len(sums) == 7 and all(len(s.split()[0]) == 64 for s in sums)
    assert (home / "cifar10" / "cifar-10-binary.tar.gz").is_file()  # the verified archive is kept
    assert not [p for p in (home / "cifar10").iterdir() if p.name.startswith(".")]  # no temporary leftovers
    assert data.status("cifar10", home).verified
    server.stop()
    again = data.load("cifar10", data_home=home, flatten=False)  # no network
    np.testing.assert_array_equal(again.X_train, ds.X_train)
    # a corrupted batch is refused; fetch --force unpacks it again from the kept archive, still offline
    batch = home / "cifar10" / "cifar-10-batches-bin" / "data_batch_2.bin"
    batch.write_bytes(batch.read_bytes()[:-3073])
    with pytest.raises(ChecksumError, match=r"data_batch_2\.bin: expected sha256"):
        data.load("cifar10", data_home=home)
    assert data.fetch("cifar10", home, force=True, progress=False).verified
    np.testing.assert_array_equal(data.load("cifar10", data_home=home, flatten=False).X_train, ds.X_train)


def test_cifar10_wrong_archive_digest(served, tmp_path, monkeypatch):
    root, server = served
    (root / "cifar10").mkdir()
    cifar_archive(root / "cifar10" / "cifar-10-binary.tar.gz")
    # the real published MD5 does not match our tiny archive
    with pytest.raises(ChecksumError, match=r"expected md5 c32a1d4ab5d03f1284b67883e8d87530, got [0-9a-f]{32}"):
        data.load("cifar10", data_home=tmp_path / "cache", base_url=server.url, progress=False)
    assert not (tmp_path / "cache" / "cifar10" / "cifar-10-binary.tar.gz").exists()


# ----------------------------------------------------------------------------------------------- AReM

def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


def tiny_arem_members() -> dict[str, bytes]:
    out = {}
    for a, activity in enumerate(AREM_ACTIVITIES):
        for k in (1, 2):
            rows = "".join(f"{i * 250},{a}.00,0.50,{k}.00,0.00,1.00,0.25\n" for i in range(5))
            out[f"{activity}/dataset{k}.csv"] = (f"# Task: {activity}\r\n# Columns: time,avg_rss12,var_rss12,"
                                                 f"avg_rss13,var_rss13,avg_rss23,var_rss23\r\n{rows}").encode()
    return out


@pytest.fixture
def tiny_arem_spec(monkeypatch):
    members = tiny_arem_members()
    files = tuple(FileSpec(f"arem/{name}", sha(b), len(b)) for name, b in members.items())
    monkeypatch.setitem(REGISTRY, "arem", dataclasses.replace(REGISTRY["arem"], files=files))
    return members


def test_arem_download_from_a_zip(served, tmp_path, tiny_arem_spec):
    root, server = served
    (root / "arem").mkdir()
    (root / "arem" / "arem.zip").write_bytes(zip_bytes(tiny_arem_spec))
    home = tmp_path / "cache"
    ds = data.load("arem", data_home=home, base_url=server.url, progress=False, scale=None, test_size=0.3)
    assert server.requests == ["/arem/arem.zip"]
    assert ds.X_train.shape[0] + ds.X_test.shape[0] == 70 and ds.n_classes == 6
    assert sorted(p.relative_to(home / "arem").as_posix() for p in (home / "arem").rglob("*.csv")) == \
        sorted(tiny_arem_spec)
    assert [p.name for p in (home / "arem").iterdir() if p.name.startswith(".")] == []  # download folder removed
    server.stop()
    np.testing.assert_array_equal(data.load("arem", data_home=home, scale=None, test_size=0.3).X_train, ds.X_train)


def test_arem_zip_with_a_modified_file_writes_nothing(served, tmp_path, tiny_arem_spec):
    root, server = served
    members = dict(tiny_arem_spec)
    members["walking/dataset2.csv"] = members["walking/dataset2.csv"].replace(b"\n", b"\r\n")  # "fixed" copy
    (root / "arem").mkdir()
    (root / "arem" / "arem.zip").write_bytes(zip_bytes(members))
    home = tmp_path / "cache"
    with pytest.raises(ChecksumError, match=r"walking/dataset2\.csv in http://127\.0\.0\.1:\d+/arem/arem\.zip: "
                                            r"expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}.*Nothing was written"):
        data.load("arem", data_home=home, base_url=server.url, progress=False)
    assert not list((home / "arem").rglob("*.csv"))


@pytest.mark.skipif(not (SHARED / "arem").is_dir(), reason=f"real AReM files not found at {SHARED / 'arem'}")
def test_arem_real_files_in_a_nested_zip(served, tmp_path):
    """The UCI download wraps the original AReM.zip; the real files are checked against the built-in table."""
    root, server = served
    inner = zip_bytes({p.relative_to(SHARED / "arem").as_posix(): p.read_bytes()
                       for p in sorted((SHARED / "arem").rglob("*")) if p.is_file()})
    (root / "arem").mkdir()
    (root / "arem" / "arem.zip").write_bytes(zip_bytes({"AReM.zip": inner}))
    home = tmp_path / "cache"
    st = data.fetch("arem", home, base_url=server.url, progress=False)
    assert st.present and st.verified and st.n_present == 90
    ds = data.load("arem", data_home=home, download=False, drop_duplicates=False)
    assert ds.X_train.shape[0] + ds.X_test.shape[0] == 42239


def test_arem_zip_layout_variants(served, tmp_path, tiny_arem_spec):
    """Files in a sub-folder, macOS resource forks, a hand-'fixed' copy beside the original: the original is used."""
    root, server = served
    members = {f"AReM/{k}": v for k, v in tiny_arem_spec.items()}
    members["AReM/Walking/dataset1.csv"] = members.pop("AReM/walking/dataset1.csv")  # other case of the folder
    members["AReM-fixed/walking/dataset1.csv"] = b"# edited\n0,1,2,3,4,5,6\n"
    members["__MACOSX/AReM/walking/._dataset2.csv"] = b"\x00\x05\x16\x07"
    (root / "arem").mkdir()
    (root / "arem" / "arem.zip").write_bytes(zip_bytes(members))
    home = tmp_path / "cache"
    st = data.fetch("arem", home, base_url=server.url, progress=False)
    assert st.present and st.verified and st.n_present == 14
    assert (home / "arem" / "walking" / "dataset1.csv").read_bytes() == tiny_arem_spec["walking/dataset1.csv"]
