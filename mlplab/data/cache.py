"""The local data folder: where dataset files live, how they are verified, and how missing ones are downloaded.

Layout inside ``data_home`` (the same as the shared test data, so ``data_home=<that folder>`` works)::

    mnist/train-images-idx3-ubyte.gz  train-labels-idx1-ubyte.gz  t10k-images-idx3-ubyte.gz  t10k-labels-idx1-ubyte.gz
    fashion-mnist/<the same four names>
    arem/<activity>/datasetN.csv            (bending1, bending2, cycling, lying, sitting, standing, walking)
    cifar10/cifar-10-binary.tar.gz          (the downloaded archive, kept)
    cifar10/cifar-10-batches-bin/data_batch_1.bin ... data_batch_5.bin, test_batch.bin, batches.meta.txt
    cifar10/SHA256SUMS                      (digests of the unpacked files, written when they were unpacked)

Verification policy -- a file whose digest does not match is never used:

* MNIST, Fashion-MNIST and AReM files have SHA-256 digests built into the package
  (:mod:`mlplab.data.registry`). Every load hashes the files it reads (the bytes are read once, hashed,
  then parsed; for MNIST that is ~11 MB of gzip and about 25 ms), so there is no marker file that
  could go stale and nothing is ever written next to the data on load (``data_home`` may be read-only).
* CIFAR-10 has only a published MD5 of its archive. The archive is verified against it (by pooch)
  when it is downloaded, and again before it is unpacked; the digests of the unpacked ``.bin`` files
  are then written to ``cifar10/SHA256SUMS`` (``sha256sum -c`` format), and every load checks the
  batches against that record.
* AReM's zip has no published digest; every CSV taken out of it is checked against the built-in table
  before it is written into ``arem/``.

A mismatch raises :class:`ChecksumError` (a ``ValueError``) naming the file, the expected and the
actual digest and how to fix it. Files present locally are never silently replaced: only
``fetch(name, force=True)`` (``mlplab data fetch NAME --force``) downloads over a bad file.

Downloads go through pooch (digest check, then move into place) from the dataset's official location,
or from ``<base_url>/<folder>/<file name>`` when a base URL is given (argument ``base_url`` or the
``MLPLAB_DATA_URL`` environment variable), e.g. a local mirror or a test server.

Partial downloads never sit under a file's own name: every download and every unpacking happens in a
scratch folder ``.download-<host>-<pid>-<random>`` (or ``.unpack-...``) inside the dataset's folder,
and only a verified file is moved out of it. The scratch folder is removed when the download ends,
whatever happened; one left behind by a killed process (its pid no longer runs on this host) is
removed by the next download into that folder. A failed download raises :class:`DownloadError` (no
network, HTTP error, connection cut, an archive that does not unpack) or :class:`ChecksumError` (the
bytes arrived but are not the expected ones), each one message naming the file, the URL, and how to
place the file by hand or point ``data_home`` (``--data-home``, ``$MLPLAB_DATA``) at a folder with it.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import socket
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path

from .._files import atomic_open
from .registry import AREM_ACTIVITIES, REGISTRY, DatasetSpec, FileSpec, get_spec

__all__ = [
    "ENV_DATA_HOME", "ENV_BASE_URL", "ChecksumError", "DownloadError", "DatasetStatus",
    "get_data_home", "get_base_url", "sha256_file", "read_verified", "ensure_files", "expected_digests",
    "fetch", "status", "list_datasets", "CIFAR10_SUMS", "clean_stale_downloads",
]

log = logging.getLogger(__name__)

#: Environment variable that overrides the default data folder.
ENV_DATA_HOME = "MLPLAB_DATA"
#: Environment variable that replaces every dataset's download location by ``<url>/<folder>/<file>``.
ENV_BASE_URL = "MLPLAB_DATA_URL"
#: Where the digests of the unpacked CIFAR-10 files are recorded, relative to ``data_home``.
CIFAR10_SUMS = "cifar10/SHA256SUMS"
_CIFAR10_DIR = "cifar-10-batches-bin"


class ChecksumError(ValueError):
    """A file's digest differs from the expected one; the file was not used.

    Attributes: ``path`` (the file), ``expected`` and ``actual`` (hex digests), ``algorithm``.
    """

    def __init__(self, path: str | PathLike, expected: str, actual: str, algorithm: str = "sha256",
                 hint: str | None = None):
        self.path, self.expected, self.actual, self.algorithm = str(path), expected, actual, algorithm
        fix = hint or ("Delete the file and download it again (`mlplab data fetch NAME --force`, or delete it and "
                       "call mlplab.data.load(..., download=True)), or replace it with a good copy.")
        super().__init__(f"checksum mismatch for {self.path}: expected {algorithm} {expected}, got {actual}. "
                         f"The file is corrupted, incomplete or a different version, and was not used. {fix}")


class DownloadError(OSError):
    """A download failed (network, HTTP error, connection cut, an archive that does not unpack or lacks a
    member); nothing was kept. Attributes: ``url``, ``path`` (where the file would have gone)."""

    def __init__(self, message: str, url: str | None = None, path: str | PathLike | None = None):
        super().__init__(message)
        self.url, self.path = url, None if path is None else str(path)

    def __str__(self) -> str:
        return self.args[0]


# ------------------------------------------------------------------------------------------ paths

def get_data_home(data_home: str | PathLike | None = None) -> Path:
    """The data folder: ``data_home`` if given, else ``$MLPLAB_DATA``, else the user cache folder
    (``pooch.os_cache("mlplab")``, e.g. ``~/.cache/mlplab`` on Linux). Not created here."""
    if data_home is not None:
        return Path(data_home).expanduser()
    env = os.environ.get(ENV_DATA_HOME)
    if env:
        return Path(env).expanduser()
    import pooch

    return Path(pooch.os_cache("mlplab"))


def get_base_url(base_url: str | None = None) -> str | None:
    """The download base URL override: ``base_url`` if given, else ``$MLPLAB_DATA_URL``, else None."""
    url = base_url if base_url is not None else os.environ.get(ENV_BASE_URL) or None
    return url.rstrip("/") + "/" if url else None


def _url_for(spec: DatasetSpec, remote_name: str, official: str, base_url: str | None) -> str:
    return f"{base_url}{spec.folder}/{remote_name}" if base_url else official


# ---------------------------------------------------------------------------------------- hashing

def sha256_file(path: str | PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_verified(path: str | PathLike, sha256: str, hint: str | None = None) -> bytes:
    """Read a whole file, check its SHA-256 and return its bytes (read once: hashed, then parsed).

    Raises ``FileNotFoundError`` if it is missing and :class:`ChecksumError` if the digest differs.
    """
    data = Path(path).read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256.lower():
        raise ChecksumError(path, sha256.lower(), actual, hint=hint)
    return data


def _fix_hint(name: str) -> str:
    return (f"Delete the file and run `mlplab data fetch {name} --force` (or delete it and call "
            f"mlplab.data.load({name!r}, download=True)), or replace it with a good copy.")


def _read_sums(path: Path) -> dict[str, str]:
    sums = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.strip().split(maxsplit=1)
            if len(parts) == 2 and re.fullmatch(r"[0-9a-f]{64}", parts[0]):
                sums[parts[1].lstrip("*")] = parts[0]
    return sums


def _write_atomic(path: Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def expected_digests(name: str, data_home: str | PathLike | None = None) -> dict[str, str | None]:
    """``{path inside data_home: expected SHA-256}`` for each file of ``name``, in registry order.

    For CIFAR-10 the digests come from ``cifar10/SHA256SUMS`` (None where that record is missing).
    """
    spec = get_spec(name)
    if spec.name != "cifar10":
        return {f.path: f.sha256 for f in spec.files}
    sums = _read_sums(get_data_home(data_home) / CIFAR10_SUMS)
    return {f.path: sums.get(f.path.removeprefix("cifar10/")) for f in spec.files}


# ------------------------------------------------------------------------------ scratch folders

#: Scratch folders of downloads and unpacking: ``.download-<host>-<pid>-<random>`` in a dataset's folder.
_SCRATCH = re.compile(r"\.(?:download|unpack)-(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-[a-z0-9_]+")
#: Leftovers of earlier versions, which did not record the process: ``.download-<random>``,
#: ``.unpack-<random>`` folders and pooch's ``tmp<random>`` files; removed once this old.
_LEGACY = re.compile(r"\.(?:download|unpack)-[a-z0-9_]+|tmp[a-z0-9_]{8}")
_LEGACY_AGE_S = 3600.0
#: A scratch folder whose process cannot be asked (another host's, on a network drive) or whose pid
#: runs again (reused) is removed once this old.
_OTHER_HOST_AGE_S = 24 * 3600.0


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9.]", "_", socket.gethostname()) or "host"


def _pid_running(pid: int) -> bool:
    """Whether process ``pid`` runs on this host (True when that cannot be told)."""
    if os.name == "nt":  # os.kill(pid, 0) would send Ctrl-C there; such folders go by age instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):  # another user's process, or a platform that cannot tell
        return True
    return True


def clean_stale_downloads(folder: str | PathLike) -> list[Path]:
    """Remove what killed downloads left in ``folder``: scratch folders whose process no longer runs
    on this host, any scratch folder older than a day (another host's, or a pid reused since), and
    leftovers of earlier versions older than an hour. Returns what was removed. Running downloads
    (their process is alive) are left alone."""
    folder = Path(folder)
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    host, now = _host(), time.time()
    for entry in folder.iterdir():
        m = _SCRATCH.fullmatch(entry.name)
        if m is not None and entry.is_dir() and not entry.is_symlink():
            if m["host"] == host and int(m["pid"]) != os.getpid() and not _pid_running(int(m["pid"])):
                stale = True
            else:  # alive, ours, or another host's (a data folder on a network drive): by age
                stale = now - entry.stat().st_mtime > _OTHER_HOST_AGE_S
        elif _LEGACY.fullmatch(entry.name) and not entry.is_symlink():
            stale = now - entry.stat().st_mtime > _LEGACY_AGE_S
        else:
            continue
        if stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            log.info("removed %s, left by an interrupted download", entry)
            removed.append(entry)
    return removed


@contextlib.contextmanager
def _scratch(folder: Path, kind: str = "download") -> Iterator[Path]:
    """A scratch folder in ``folder`` for one download or unpacking, removed at the end whatever
    happens; stale ones of killed processes are removed first."""
    folder.mkdir(parents=True, exist_ok=True)
    clean_stale_downloads(folder)
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=f".{kind}-{_host()}-{os.getpid()}-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# -------------------------------------------------------------------------------------- downloads

def _by_hand(spec: DatasetSpec, dest: Path, url: str) -> str:
    """What to do about a failed download: place the file yourself, or use a folder that has it."""
    if spec.archive is not None and spec.name == "arem":
        place = (f"download {url} yourself and unzip it into {dest.parent} (one folder per activity, "
                 "e.g. arem/walking/dataset1.csv)")
    else:
        place = f"download {url} yourself and put it at {dest}"
    return (f"Try again (`mlplab data fetch {spec.name}`), or {place}, or point --data-home (data_home=) or "
            f"${ENV_DATA_HOME} at a folder that already has the {spec.name} files (layout: docs/datasets.md).")


def _reason(exc: BaseException, url: str) -> str:
    """Why a download failed, in a few words."""
    import requests

    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"the server answered HTTP {exc.response.status_code} {exc.response.reason or ''}".rstrip()
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "the connection broke off during the transfer, the file arrived incomplete"
    if isinstance(exc, requests.Timeout):
        return "the server stopped answering (timed out)"
    if isinstance(exc, requests.ConnectionError):
        host = re.sub(r"^\w+://([^/]+).*$", r"\1", url)
        return f"could not connect to {host} (no network, or the server is down)"
    if isinstance(exc, zipfile.BadZipFile):
        return f"the downloaded archive does not unpack ({exc}; cut short or corrupt)"
    if isinstance(exc, OSError) and exc.filename:
        return f"could not write {exc.filename}: {exc.strerror or exc}"
    return f"{type(exc).__name__}: {exc}"


def _below_warning(record: logging.LogRecord) -> bool:
    """A logging filter that keeps warnings and errors only."""
    return record.levelno >= logging.WARNING


def _pooch_retrieve(spec: DatasetSpec, url: str, known_hash: str | None, dest: Path, progress: bool,
                    shown: Path | None = None) -> Path:
    """Download ``url`` to ``dest`` through a scratch folder beside it: :class:`ChecksumError` on a
    digest mismatch, :class:`DownloadError` otherwise; nothing is left behind on failure. ``shown``:
    where the user would put the file by hand (default ``dest``), for the messages."""
    import pooch

    shown = shown or dest
    plog = pooch.get_logger()
    try:
        with _scratch(dest.parent) as tmp:
            # pooch's own lines would name the scratch folder (and, for a file without a published digest,
            # advise recording the download's hash): say where the file goes instead. A filter, not a
            # level: pooch's logger is outside logging's hierarchy, so a level change is not seen by
            # its cached checks.
            plog.info("Downloading %s from '%s'.", shown, url)
            plog.addFilter(_below_warning)
            try:
                pooch.retrieve(url, known_hash=known_hash, fname=dest.name, path=tmp, progressbar=progress)
            finally:
                plog.removeFilter(_below_warning)
            os.replace(tmp / dest.name, dest)
            return dest
    except ValueError as exc:
        if known_hash is not None and "hash" in str(exc).lower():
            m = re.search(r"expected (\S+) but got (\S+?)\.", str(exc))
            algo, _, expected = (m.group(1) if m else known_hash).rpartition(":")
            raise ChecksumError(f"{dest.name} downloaded from {url}", expected,
                                m.group(2) if m else "(see pooch's message above)", algorithm=algo or "sha256",
                                hint="Nothing was kept (a download cut short or altered on the way gives this; "
                                     "if it keeps failing the file changed upstream: try a mirror with --base-url "
                                     f"or ${ENV_BASE_URL}). " + _by_hand(spec, shown, url)) from None
        raise DownloadError(f"could not download {dest.name} ({spec.name}) from {url}: {_reason(exc, url)}. "
                            f"Nothing was kept. {_by_hand(spec, shown, url)}", url, shown) from exc
    except Exception as exc:  # requests errors, OSError, ...
        raise DownloadError(f"could not download {dest.name} ({spec.name}) from {url}: {_reason(exc, url)}. "
                            f"Nothing was kept. {_by_hand(spec, shown, url)}", url, shown) from exc


def _download_files(spec: DatasetSpec, home: Path, files: list[FileSpec], base_url: str | None,
                    progress: bool) -> None:
    for f in files:
        fname = f.path.rsplit("/", 1)[1]
        url = _url_for(spec, fname, (spec.base_url or "") + fname, base_url)
        log.info("downloading %s from %s", f.path, url)
        _pooch_retrieve(spec, url, f"sha256:{f.sha256}", home / f.path, progress)


def _check_archive(spec: DatasetSpec, archive: Path) -> None:
    """Verify a CIFAR-10 archive already on disk against its published digest (MD5)."""
    import pooch

    algo, _, expected = spec.archive.known_hash.rpartition(":")
    actual = pooch.file_hash(str(archive), alg=algo or "sha256")
    if actual != expected:
        raise ChecksumError(archive, expected, actual, algorithm=algo, hint=_fix_hint(spec.name))


def _install_cifar10(spec: DatasetSpec, home: Path, download: bool, base_url: str | None, progress: bool,
                     force: bool = False) -> None:
    """Get the verified archive (downloading it if needed), unpack it and record the digests.

    An archive already on disk is checked against the published MD5 first; a bad one raises
    :class:`ChecksumError`, or with ``force`` is downloaded again.
    """
    import pooch

    folder = home / spec.folder
    archive = folder / spec.archive.fname
    have_archive = archive.is_file()
    if have_archive:
        try:
            _check_archive(spec, archive)
        except ChecksumError:
            if not force:
                raise
            archive.unlink()
            have_archive = False
    if not have_archive:
        if not download:
            missing = [f.path for f in spec.files if f.required and not (home / f.path).is_file()]
            if missing:
                raise FileNotFoundError(_missing_message(spec, home, missing))
            raise FileNotFoundError(
                f"cifar10: the unpacked batches in {folder / _CIFAR10_DIR} have no digest record ({CIFAR10_SUMS}) "
                f"and the archive {archive} is not there to verify them, so they are not used. Put the original "
                f"{spec.archive.fname} into {folder} (it is checked against its published MD5 and unpacked), or "
                "allow the download (download=True, `mlplab data fetch cifar10`).")
        url = _url_for(spec, spec.archive.fname, spec.archive.url, base_url)
        log.info("downloading %s from %s", archive, url)
        _pooch_retrieve(spec, url, spec.archive.known_hash, archive, progress)
    # Unpack into a fresh folder, check the batches, then move them into place and write the record last,
    # so an interrupted run leaves no record and is unpacked again next time.
    with _scratch(folder, "unpack") as tmp:
        pooch.Untar(members=[_CIFAR10_DIR], extract_dir=tmp.name)(str(archive), "download", None)
        src = tmp / _CIFAR10_DIR
        missing = [f.path for f in spec.files if f.required and not (src / Path(f.path).name).is_file()]
        if missing:
            raise DownloadError(f"{archive} does not contain {', '.join(missing)}; expected the CIFAR-10 binary "
                                "version (cifar-10-binary.tar.gz with a cifar-10-batches-bin/ folder)")
        from .formats import CIFAR10_RECORD_BYTES

        for p in sorted(src.glob("*.bin")):
            if p.stat().st_size % CIFAR10_RECORD_BYTES:
                raise ValueError(f"{p.name} in {archive}: {p.stat().st_size} bytes is not a whole number of "
                                 f"{CIFAR10_RECORD_BYTES}-byte records")
        (home / CIFAR10_SUMS).unlink(missing_ok=True)
        dest = folder / _CIFAR10_DIR
        dest.mkdir(parents=True, exist_ok=True)
        lines = []
        for p in sorted(x for x in src.iterdir() if x.is_file() and not x.is_symlink()):
            lines.append(f"{sha256_file(p)}  {_CIFAR10_DIR}/{p.name}\n")
            os.replace(p, dest / p.name)
        _write_atomic(home / CIFAR10_SUMS, "".join(lines).encode())
        log.info("unpacked %s into %s", archive, dest)


_AREM_MEMBER = re.compile(rf"(?:^|/)((?:{'|'.join(AREM_ACTIVITIES)})/dataset\d+\.csv|bendingType\.pdf|"
                          r"sensorsPlacement\.pdf)$", re.IGNORECASE)


#: Largest member read from an AReM archive (the real CSVs are ~20 KB, the inner zip ~1 MB): a corrupt or
#: hostile archive cannot make the reader decompress more.
_AREM_MAX_MEMBER_BYTES = 64 << 20


def _arem_members(root: Path) -> dict[str, list[bytes]]:
    """``{path inside arem/: [bytes, ...]}`` of every AReM file found under ``root``, in nested zips too.

    A name can have several candidates (e.g. a copy in another folder of the archive); the caller
    keeps the one whose digest is the expected one. Only members with AReM names (and nested zips, three
    deep) are decompressed, each at most :data:`_AREM_MAX_MEMBER_BYTES`.
    """
    import io

    found: dict[str, list[bytes]] = {}

    def take(name: str, read) -> None:
        name = name.replace("\\", "/")
        m = _AREM_MEMBER.search(name)
        if m and not name.split("/")[-1].startswith("._"):  # skip macOS resource forks
            key = m.group(1)
            key = key if "/" not in key else key.split("/")[0].lower() + "/" + key.split("/")[1]
            found.setdefault(key, []).append(read())

    def scan_zip(zf: zipfile.ZipFile, depth: int) -> None:
        for info in zf.infolist():
            if info.is_dir():
                continue
            nested = info.filename.lower().endswith(".zip") and depth < 3
            if not (nested or _AREM_MEMBER.search(info.filename.replace("\\", "/"))):
                continue
            if info.file_size > _AREM_MAX_MEMBER_BYTES:
                raise zipfile.BadZipFile(f"member {info.filename!r} declares {info.file_size} bytes, more than an "
                                         "AReM file has")
            if nested:
                scan_zip(zipfile.ZipFile(io.BytesIO(zf.read(info))), depth + 1)
            else:
                take(info.filename, lambda info=info: zf.read(info))

    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.is_symlink():
            continue
        if p.suffix.lower() == ".zip":
            with zipfile.ZipFile(p) as zf:
                scan_zip(zf, 1)
        else:
            take(p.relative_to(root).as_posix(), p.read_bytes)
    return found


def _install_arem(spec: DatasetSpec, home: Path, wanted: list[FileSpec], base_url: str | None,
                  progress: bool) -> None:
    """Download the AReM zip, check every wanted file against the built-in table, write them into arem/."""
    folder = home / spec.folder
    url = _url_for(spec, spec.archive.fname, spec.archive.url, base_url)
    with _scratch(folder) as tmp:
        log.info("downloading AReM from %s", url)
        # No digest is published for this zip (every file in it is checked below); _pooch_retrieve does
        # not show pooch's advice to record the zip's hash.
        archive = _pooch_retrieve(spec, url, spec.archive.known_hash, tmp / spec.archive.fname, progress,
                                  shown=folder / spec.archive.fname)
        try:
            members = _arem_members(archive.parent)
        except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise DownloadError(f"could not download {spec.archive.fname} ({spec.name}) from {url}: "
                                f"{_reason(zipfile.BadZipFile(str(exc)), url)}. Nothing was kept. "
                                f"{_by_hand(spec, folder / spec.archive.fname, url)}", url, folder) from exc
        checked: dict[Path, bytes] = {}
        for f in wanted:
            rel = f.path.removeprefix("arem/")
            if rel not in members:
                if f.required:
                    raise DownloadError(f"the AReM archive from {url} has no {rel}; expected the 88 recordings in "
                                        f"{len(AREM_ACTIVITIES)} activity folders. Nothing was written. "
                                        f"{_by_hand(spec, folder / spec.archive.fname, url)}", url, folder)
                continue
            digests = [hashlib.sha256(b).hexdigest() for b in members[rel]]
            if f.sha256 not in digests:
                raise ChecksumError(f"{rel} in {url}", f.sha256, digests[0],
                                    hint="Nothing was written. The archive differs from the original release. "
                                         + _by_hand(spec, folder / spec.archive.fname, url))
            checked[home / f.path] = members[rel][digests.index(f.sha256)]
        for path, data in checked.items():  # everything checked before anything is written
            _write_atomic(path, data)
        log.info("wrote %d AReM files into %s", len(checked), folder)


def _missing_message(spec: DatasetSpec, home: Path, missing: list[str]) -> str:
    shown = ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    return (f"{spec.name}: {len(missing)} file(s) missing from {home}: {shown}. Download them with "
            f"mlplab.data.load({spec.name!r}, download=True) or `mlplab data fetch {spec.name}`, or point "
            f"data_home / ${ENV_DATA_HOME} at a folder that has them (layout: docs/datasets.md).")


def ensure_files(name: str, data_home: str | PathLike | None = None, download: bool = True,
                 base_url: str | None = None, progress: bool = True) -> Path:
    """Make sure every required file of ``name`` is on disk, downloading missing ones when allowed.

    Present files are *not* hashed here (the loader hashes what it reads); downloaded ones are
    verified by the download. Returns the data home. Raises ``FileNotFoundError`` when files are
    missing and ``download`` is False, :class:`DownloadError` or :class:`ChecksumError` when a
    download fails.
    """
    spec = get_spec(name)
    home = get_data_home(data_home)
    if spec.folder is None:
        return home
    base_url = get_base_url(base_url)
    if spec.name == "cifar10":
        digests = expected_digests(name, home)
        if any(f.required and (not (home / f.path).is_file() or digests[f.path] is None) for f in spec.files):
            _install_cifar10(spec, home, download, base_url, progress)
        return home
    missing = [f for f in spec.files if f.required and not (home / f.path).is_file()]
    if missing:
        if not download:
            raise FileNotFoundError(_missing_message(spec, home, [f.path for f in missing]))
        if spec.archive is not None:
            optional = [f for f in spec.files if not f.required and not (home / f.path).is_file()]
            _install_arem(spec, home, missing + optional, base_url, progress)
        else:
            _download_files(spec, home, missing, base_url, progress)
    return home


# --------------------------------------------------------------------------------- status & fetch

@dataclass
class DatasetStatus:
    """What is on disk for one dataset.

    ``present``: every required file exists. ``verified``: every present file matched its digest
    (None when not checked or nothing to check). ``n_files``/``n_present``: files known / on disk
    (optional ones included, e.g. the AReM PDFs). ``size_bytes``: bytes on disk; ``expected_size``:
    bytes of the required files when complete. ``problems``: one line per missing or bad file.
    """

    name: str
    title: str
    location: Path | None
    present: bool
    verified: bool | None
    n_files: int
    n_present: int
    size_bytes: int
    expected_size: int | None
    problems: list[str] = field(default_factory=list)


def status(name: str, data_home: str | PathLike | None = None, verify: bool = True) -> DatasetStatus:
    """Check which files of ``name`` are present under ``data_home`` and, with ``verify``, hash them all."""
    spec = get_spec(name)
    home = get_data_home(data_home)
    if spec.folder is None:
        return DatasetStatus(spec.name, spec.title, None, True, True, 0, 0, 0, None,
                             ["bundled with scikit-learn; no files"])
    digests = expected_digests(name, home)
    problems: list[str] = []
    n_present = size = 0
    present, verified = True, (True if verify else None)
    for f in spec.files:
        path = home / f.path
        if not path.is_file():
            if f.required:
                present = False
                problems.append(f"missing: {f.path}")
            continue
        n_present += 1
        size += path.stat().st_size
        if not verify:
            continue
        expected = digests[f.path]
        if expected is None:
            verified = False
            problems.append(f"no digest recorded for {f.path} (run `mlplab data fetch {spec.name}` to verify the "
                            "archive and unpack it again)")
        elif sha256_file(path) != expected:
            verified = False
            problems.append(f"checksum mismatch: {f.path} (delete it and run `mlplab data fetch {spec.name} --force`)")
    if verify and n_present == 0:
        verified = None
    return DatasetStatus(spec.name, spec.title, home / spec.folder, present, verified,
                         len(spec.files), n_present, size, spec.size_bytes, problems)


def list_datasets(data_home: str | PathLike | None = None, verify: bool = True) -> list[DatasetStatus]:
    """:func:`status` of every registered dataset."""
    return [status(name, data_home, verify) for name in REGISTRY]


def fetch(name: str, data_home: str | PathLike | None = None, base_url: str | None = None,
          force: bool = False, progress: bool = True) -> DatasetStatus:
    """Download whatever ``name`` lacks, verify every file, and return its :class:`DatasetStatus`.

    A present file with a wrong digest raises :class:`ChecksumError` unless ``force``, which
    downloads it again (for CIFAR-10: the archive, which is then unpacked again).
    """
    spec = get_spec(name)
    home = get_data_home(data_home)
    if spec.folder is None:
        return status(name, home)
    base_url = get_base_url(base_url)
    digests = expected_digests(name, home)
    if spec.name == "cifar10":
        bad = [f for f in spec.files if (home / f.path).is_file() and digests[f.path] is not None
               and sha256_file(home / f.path) != digests[f.path]]
        if bad and not force:
            raise ChecksumError(home / bad[0].path, digests[bad[0].path], sha256_file(home / bad[0].path),
                                hint=_fix_hint(spec.name))
        if bad or any(f.required and (not (home / f.path).is_file() or digests[f.path] is None)
                        for f in spec.files):
            _install_cifar10(spec, home, True, base_url, progress, force=force)
        return status(name, home)
    bad = []
    for f in spec.files:
        path = home / f.path
        if path.is_file() and (actual := sha256_file(path)) != f.sha256:
            if not force:
                raise ChecksumError(path, f.sha256, actual, hint=_fix_hint(spec.name))
            bad.append(f)
    for f in bad:
        (home / f.path).unlink()
    missing = [f for f in spec.files if not (home / f.path).is_file() and (f.required or spec.archive is not None)]
    if missing:
        if spec.archive is not None:
            _install_arem(spec, home, missing, base_url, progress)
        else:
            _download_files(spec, home, missing, base_url, progress)
    return status(name, home)
