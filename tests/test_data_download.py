"""Downloads for real: a local HTTP server on 127.0.0.1 serves small files; the loaders download, verify,
unpack and cache them, and a second load does not touch the network (the server is shut down first)."""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import textwrap
import threading
import time
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mlplab import data
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


# ------------------------------------------------------------------ servers that misbehave (issue 10)

class Misbehaving(Server):
    """A file server whose answer for a path is set in ``modes``: ``"truncate"`` (announces the full
    length, sends half, closes), ``"truncate-nolength"`` (no length, half, closes), ``"corrupt"``
    (one byte changed), an int (that HTTP status), ``"slow"`` (4 KiB every 0.1 s)."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        self.modes: dict[str, object] = {}
        log, modes = self.requests, self.modes

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                log.append(self.path)
                mode = modes.get(self.path)
                if mode is None:
                    return super().do_GET()
                if isinstance(mode, int):
                    return self.send_error(mode)
                body = (root / self.path.lstrip("/")).read_bytes()
                if mode == "corrupt":
                    body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
                self.send_response(200)
                if mode != "truncate-nolength":
                    self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if mode == "slow":
                    for i in range(0, len(body), 4096):
                        self.wfile.write(body[i:i + 4096])
                        self.wfile.flush()
                        time.sleep(0.1)
                    return
                self.wfile.write(body if mode == "corrupt" else body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
        self.httpd.handle_error = lambda *a: None  # a client that went away is not a test failure
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()


@pytest.fixture
def misbehaving(tmp_path, monkeypatch):
    root = tmp_path / "www"
    files = idx_files(root / "mnist")
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    server = Misbehaving(root)
    yield root, server, files
    server.stop()


def assert_nothing_kept(home: Path) -> None:
    """No file under a dataset name and no scratch folder: nothing a later run could trust or trip on."""
    left = sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())
    assert left == [], left
    assert not [p for p in (home / "mnist").iterdir() if p.name.startswith(".")]
    with pytest.raises(FileNotFoundError, match="4 file\\(s\\) missing"):
        data.load("mnist", data_home=home, download=False)


def assert_one_clear_line(msg: str, url: str, home: Path, name: str = "train-images-idx3-ubyte.gz") -> None:
    assert "\n" not in msg and "Traceback" not in msg
    assert url in msg, "names the URL"
    assert str(home / "mnist" / name) in msg, "says where to put the file by hand"
    assert "--data-home" in msg and "$MLPLAB_DATA" in msg and "mlplab data fetch mnist" in msg


@pytest.mark.parametrize("mode, error, reason", [
    ("truncate", DownloadError, "the connection broke off during the transfer, the file arrived incomplete"),
    ("truncate-nolength", ChecksumError, "expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}.*cut short"),
    ("corrupt", ChecksumError, "expected sha256 [0-9a-f]{64}, got [0-9a-f]{64}.*Nothing was kept"),
    (404, DownloadError, "the server answered HTTP 404"),
    (500, DownloadError, "the server answered HTTP 500 Internal Server Error"),
])
def test_failed_download_keeps_nothing_and_says_what_to_do(misbehaving, tmp_path, mode, error, reason):
    _, server, _ = misbehaving
    path = "/mnist/train-images-idx3-ubyte.gz"
    server.modes[path] = mode
    home = tmp_path / "cache"
    with pytest.raises(error) as err:
        data.load("mnist", data_home=home, base_url=server.url, progress=False)
    msg = str(err.value)
    assert re.search(reason, msg), msg
    assert_one_clear_line(msg, server.url + path, home)
    assert_nothing_kept(home)
    # the next try, with a server that behaves, downloads everything
    del server.modes[path]
    assert data.load("mnist", data_home=home, base_url=server.url, progress=False).X_train.shape == (50, 784)


def test_no_network(tmp_path, misbehaving):
    _, server, _ = misbehaving
    server.stop()  # nothing listens on that port any more
    home = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        data.fetch("mnist", home, base_url=server.url, progress=False)
    host = server.url.removeprefix("http://")
    assert f"could not connect to {host} (no network, or the server is down)" in str(err.value)
    assert_one_clear_line(str(err.value), server.url, home)
    assert err.value.url.startswith(server.url) and err.value.path.endswith("train-images-idx3-ubyte.gz")
    assert_nothing_kept(home)


SERVER_THAT_DIES = textwrap.dedent("""
    import os, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    body = open(sys.argv[1], "rb").read()
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            os._exit(1)  # the server process dies mid-transfer
    s = HTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
""")


def test_server_process_dies_mid_transfer(misbehaving, tmp_path):
    root, _, files = misbehaving
    proc = subprocess.Popen([sys.executable, "-c", SERVER_THAT_DIES, str(root / files[0].path)],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{proc.stdout.readline().strip()}"
        home = tmp_path / "cache"
        with pytest.raises(DownloadError) as err:
            data.fetch("mnist", home, base_url=url, progress=False)
        assert proc.wait(timeout=10) == 1  # it really died
    finally:
        proc.kill()
        proc.wait()
    assert re.search(r"could not download train-images-idx3-ubyte.gz \(mnist\) from .*: the connection broke off",
                     str(err.value)), str(err.value)
    assert_one_clear_line(str(err.value), url, home)
    assert_nothing_kept(home)


def test_arem_archive_cut_short(served, tmp_path, tiny_arem_spec):
    root, server = served
    (root / "arem").mkdir()
    (root / "arem" / "arem.zip").write_bytes(zip_bytes(tiny_arem_spec)[:300])  # no length problem: just short
    home = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        data.load("arem", data_home=home, base_url=server.url, progress=False)
    msg = str(err.value)
    assert re.search(r"could not download arem.zip \(arem\) from http://127.0.0.1:\d+/arem/arem.zip: the downloaded "
                     r"archive does not unpack .*cut short or corrupt\)\. Nothing was kept\.", msg), msg
    assert f"unzip it into {home / 'arem'}" in msg and "--data-home" in msg
    assert list((home / "arem").iterdir()) == []


CLIENT = textwrap.dedent("""
    import dataclasses, json, sys
    import mlplab.data as data
    from mlplab.data.registry import REGISTRY, FileSpec
    files = tuple(FileSpec(*f) for f in json.loads(sys.argv[3]))
    REGISTRY["mnist"] = dataclasses.replace(REGISTRY["mnist"], files=files)
    data.fetch("mnist", sys.argv[1], base_url=sys.argv[2], progress=False)
""")


def test_download_killed_midway_is_cleaned_by_the_next_fetch(misbehaving, tmp_path):
    _, server, files = misbehaving
    for f in files:
        server.modes["/" + f.path] = "slow"
    home = tmp_path / "cache"
    specs = json.dumps([[f.path, f.sha256, f.size] for f in files])
    proc = subprocess.Popen([sys.executable, "-c", CLIENT, str(home), server.url, specs])
    try:
        deadline = time.monotonic() + 30
        partial = []
        while time.monotonic() < deadline and not partial:
            time.sleep(0.05)
            partial = [p for p in (home / "mnist").glob(".download-*/*") if p.stat().st_size > 0] \
                if (home / "mnist").is_dir() else []
        assert partial, "the client never started writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
        proc.wait()
    scratch = partial[0].parent
    assert scratch.is_dir() and f"-{proc.pid}-" in scratch.name  # the killed process's partial download ...
    assert not [p for p in (home / "mnist").iterdir() if not p.name.startswith(".")]  # ... under no file's name
    with pytest.raises(FileNotFoundError, match="missing"):
        data.load("mnist", data_home=home, download=False)  # nothing is trusted
    server.modes.clear()
    st = data.fetch("mnist", home, base_url=server.url, progress=False)
    assert st.verified and st.present
    assert not scratch.exists(), "the next fetch removed the killed download's scratch folder"
    assert sorted(p.name for p in (home / "mnist").iterdir()) == sorted(Path(f.path).name for f in files)


def test_stale_leftovers_and_live_downloads(tmp_path):
    from mlplab.data.cache import _host, clean_stale_downloads

    folder = tmp_path / "mnist"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = folder / f".download-{_host()}-{dead.pid}-abc123"
    live = folder / f".download-{_host()}-{os.getpid()}-def456"
    other_host = folder / f".unpack-otherhost-{dead.pid}-x1"
    legacy_old, legacy_new = folder / "tmpab12cd34", folder / ".download-zz9"
    for d in (stale, live, other_host, legacy_new):
        d.mkdir()
    legacy_old.write_bytes(b"partial")
    os.utime(legacy_old, (time.time() - 7200, time.time() - 7200))
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"a user's file")
    removed = clean_stale_downloads(folder)
    assert sorted(p.name for p in removed) == sorted([stale.name, legacy_old.name])
    assert live.is_dir() and other_host.is_dir() and legacy_new.is_dir()  # maybe still running: left alone
    assert (folder / "train-images-idx3-ubyte.gz").read_bytes() == b"a user's file"


def test_download_log_names_the_destination_not_the_scratch_folder(served, tmp_path, monkeypatch):
    import logging

    import pooch

    root, server = served
    files = idx_files(root / "mnist")
    monkeypatch.setitem(REGISTRY, "mnist", dataclasses.replace(REGISTRY["mnist"], files=files))
    home = tmp_path / "cache"
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    pooch.get_logger().addHandler(handler)
    try:
        for _ in range(2):  # the second time too (a level change would not hold on pooch's logger)
            data.fetch("mnist", home, base_url=server.url, force=True, progress=False)
            for f in files:
                (home / f.path).unlink()
    finally:
        pooch.get_logger().removeHandler(handler)
    assert f"Downloading {home / files[0].path} from '{server.url}/{files[0].path}'." in lines
    assert len(lines) == 8 and not [line for line in lines if ".download-" in line], lines
