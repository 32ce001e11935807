"""Model files from strangers are safe to load (issue 10, section 2).

Each crafted file (zip bomb, huge declared shapes, sizes that lie, malformed descriptions of every kind,
truncated, not a zip, a pickled array) is loaded in a child process whose address space is capped a
little above what the interpreter with NumPy and mlplab needs (measured in the child, then
``resource.setrlimit(RLIMIT_AS)``), with a CPU-time limit. Every file must be refused with a
``ModelFileError`` (a ``ValueError``) whose message names the problem, within a fraction of a second and
a few MB of traced memory; a good model must still load under the same limits. The child loads all
files in one run (one interpreter start for the whole module, about 1 s).
"""
from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import mlplab as ml
from mlplab import io as mio

#: address space the child may use above what it uses after importing mlplab
MEMORY_MARGIN = 32 << 20  # every case also passes with 8 MiB; 32 leaves room for other platforms' allocators
#: CPU seconds for the whole child (all files)
CPU_LIMIT_S = 30
#: wall-clock seconds one file may take to be refused (typically ~1 ms; generous for a busy machine)
PER_FILE_S = 1.0
#: traced Python/NumPy memory one refusal may take
PER_FILE_BYTES = 8 << 20

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="RLIMIT_AS and /proc/self/status (the memory cap) are Linux features")


# ------------------------------------------------------------------------------- crafting files

def npy(shape, descr: str = "<f4", data: bytes | None = None, fortran: bool = False) -> bytes:
    """A .npy file: NumPy's version 1.0 header for ``shape``/``descr``, then ``data`` (zeros if None)."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": fortran, "shape": tuple(shape)})
    if data is None:
        data = bytes(int(np.prod(shape)) * np.dtype(descr).itemsize)
    return buf.getvalue() + data


def write_zip(path: Path, members: list[tuple[str, bytes, dict]], zip64: tuple[int, int] | None = None) -> Path:
    """A zip written by hand so every field can lie: ``(name, payload, opts)`` with opts ``method``
    (0 stored, 8 deflate: payload is then the raw deflate stream), ``file_size`` and ``crc``
    (default: those of the payload). ``zip64=(entries, directory bytes)`` adds ZIP64 end records
    that claim those numbers (the classic end record keeps the true ones)."""
    local, central = bytearray(), bytearray()
    for name, payload, opts in members:
        method = opts.get("method", 0)
        usize = opts.get("file_size", len(payload))
        crc = opts.get("crc", zlib.crc32(payload))
        nb = name.encode()
        offset = len(local)
        local += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc, len(payload), usize,
                             len(nb), 0) + nb + payload
        central += struct.pack("<4s6H3L5HLL", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21, crc, len(payload),
                               usize, len(nb), 0, 0, 0, 0, 0, offset) + nb
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(central), len(local), 0)
    if zip64 is not None:
        at = len(local) + len(central)
        eocd = (struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, zip64[0], zip64[0], zip64[1], len(local))
                + struct.pack("<4sLQL", b"PK\x06\x07", 0, at, 1) + eocd)
    path.write_bytes(bytes(local + central + eocd))
    return path


def zero_bomb(n_bytes: int, prefix: bytes) -> bytes:
    """A raw deflate stream of ``prefix`` then ``n_bytes`` zeros, made without compressing them all: a
    block of 1 MiB of zeros, compressed once after a full flush, repeats byte for byte. (Its CRC is
    not computed: the loader must refuse the file before reading that far.)"""
    mib = bytes(1 << 20)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(mib) + c.flush(zlib.Z_FULL_FLUSH)
    assert n_bytes % len(mib) == 0
    return head + block * (n_bytes // len(mib)) + c.flush(zlib.Z_FINISH)


def header_of(model: ml.Sequential, **change) -> dict:
    h = {"format": mio.FORMAT, "version": mio.VERSION, "dtype": "float32", "architecture": model.config(),
         "metadata": {}, "optimizer": None,
         "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in mio._layer_arrays(model).items()}}
    h.update(change)
    return h


def model_members(model: ml.Sequential, header: dict | list | bytes | None = None,
                  arrays: dict[str, bytes] | None = None) -> list[tuple[str, bytes, dict]]:
    """Members of a model file (stored), with the description and any arrays replaced."""
    blob = header if isinstance(header, bytes) else json.dumps(header if header is not None else header_of(model)).encode()
    out = [("__mlplab__.npy", npy((len(blob),), "|u1", blob), {})]
    body = {k: npy(v.shape, v.dtype.str, v.tobytes()) for k, v in mio._layer_arrays(model).items()}
    body.update(arrays or {})
    out += [(f"{k}.npy", v, {}) for k, v in body.items()]
    return out


@pytest.fixture(scope="module")
def small():
    return ml.mlp(4, [3], 2, seed=0)


def crafted_files(folder: Path, small: ml.Sequential) -> dict[str, tuple[Path, str]]:
    """``{case: (file, regex the refusal must match)}``; ``None`` as regex: must load."""
    cases: dict[str, tuple[Path, str | None]] = {}

    def add(name, members, pattern):
        cases[name] = (write_zip(folder / f"{name}.npz", members), pattern)

    good = ml.io.save(small, folder / "good.npz")
    cases["good model (control)"] = (good, None)

    # a zip bomb: a consistent description of a 16000x16000 layer (1 GB of float32 zeros, within the
    # parameter limit) in a file of ~1 MB
    big = ml.Sequential([ml.layers.Dense(2, 2, rng=0)])
    cfg = {"layers": [{"type": "Dense", "config": {"in_features": 16000, "out_features": 16000, "init": "he"}}]}
    hdr = header_of(big, architecture=cfg, arrays={"layers.0.weight": [[16000, 16000], "float32"],
                                                   "layers.0.bias": [[16000], "float32"]})
    w_head = npy((16000, 16000), data=b"")
    stream = zero_bomb(1024 << 20, w_head)  # 1 GiB of zeros: more than the 16000² floats, cut below
    members = model_members(big, hdr, {"layers.0.bias": npy((16000,))})
    members = [m for m in members if not m[0].startswith("layers.0.weight")]
    members.append(("layers.0.weight.npy", stream, {"method": 8, "file_size": len(w_head) + 16000 * 16000 * 4}))
    add("zip bomb (1 GB declared, consistent)", members, r"declare \d+ bytes in a file of \d+ bytes.*zip bomb")

    # the same stream under a member that declares 48 bytes: decompression stops at the declared size
    tiny = ml.Sequential([ml.layers.Dense(4, 3, rng=0)])
    w_head = npy((3, 4), data=b"")
    stream = zero_bomb(64 << 20, w_head)
    first = w_head + bytes(48)
    members = [m for m in model_members(tiny) if not m[0].startswith("layers.0.weight")]
    members.append(("layers.0.weight.npy", stream, {"method": 8, "file_size": len(first), "crc": zlib.crc32(first)}))
    cases["bomb under a small declared size (loads the declared 48 bytes)"] = (
        write_zip(folder / "capped.npz", members), None)

    huge = {"layers": [{"type": "Dense", "config": {"in_features": 10 ** 6, "out_features": 10 ** 6}}]}
    add("huge declared shapes", model_members(big, header_of(big, architecture=huge, arrays={
        "layers.0.weight": [[10 ** 6, 10 ** 6], "float32"], "layers.0.bias": [[10 ** 6], "float32"]})),
        r"holds more than 268435456 values")
    add("huge shape in the npy header only", model_members(small, arrays={
        "layers.0.weight": npy((10 ** 9, 10 ** 9), data=b"")}),
        r"array 'layers.0.weight' has shape \(1000000000, 1000000000\), the architecture needs \(3, 4\)")
    add("member size does not match its npy header", model_members(small, arrays={
        "layers.0.weight": npy((3, 4), data=bytes(10))}),
        r"member 'layers.0.weight.npy' declares \d+ bytes, but its .npy header \(shape \(3, 4\), float32\) implies")
    too_many = {"layers": [{"type": "ReLU", "config": {}}] * (mio.MAX_LAYERS + 1)}
    add("too many layers", model_members(small, header_of(small, architecture=too_many, arrays={})),
        r"has 1001 layers, at most 1000")

    # malformed descriptions
    add("description is a JSON list", model_members(small, [1, 2]), r"model description is a JSON list, expected an object")
    add("absurd nesting", model_members(small, b'{"metadata": ' + b"[" * 100000 + b"]" * 100000 + b"}"),
        r"nested 100001 levels deep, at most 32")
    add("description not UTF-8 JSON", model_members(small, b"\xff\xfe{"), r"the model description is not valid JSON")
    add("NaN in the description", model_members(small, json.dumps(header_of(small, metadata={"lr": 0.1}))
                                                .replace("0.1", "NaN").encode()), r"not valid JSON: NaN is not allowed")
    hdr = header_of(small)
    hdr["arrays"]["layers.0.forward"] = [[3], "float32"]
    add("array named after a method", model_members(small, hdr, {"layers.0.forward": npy((3,))}),
        r"unexpected array 'layers.0.forward'; it belongs to no layer")
    scaled = ml.mlp(4, [3], 2, scaler="standard", seed=0).fit_scalers(np.random.default_rng(0).random((5, 4)))
    hdr = header_of(scaled)
    hdr["arrays"]["layers.0.shift"] = [[3], "float32"]
    add("scaler shift of the wrong shape", model_members(scaled, hdr, {"layers.0.shift": npy((3,))}),
        r"array 'layers.0.scale' has shape \(4,\), but 'layers.0.shift' has \(3,\)")
    hdr = header_of(scaled)
    hdr["arrays"]["layers.0.shift"] = hdr["arrays"]["layers.0.scale"] = [[5], "float32"]
    add("scaler width does not chain", model_members(scaled, hdr, {"layers.0.shift": npy((5,)),
                                                                    "layers.0.scale": npy((5,))}),
        r"layer 1 \(Dense\) takes 4 features, but the layer before it gives 5")
    hdr = header_of(small)
    hdr["architecture"]["layers"][1]["type"] = "Conv2D"
    add("unknown layer type", model_members(small, hdr), r"layer 1 has unknown type 'Conv2D'; expected one of Dense")
    for label, value, pattern in [("string", "4", r"expected an integer, got '4'"),
                                  ("float", 2.5, r"expected an integer, got 2.5"),
                                  ("bool", True, r"expected an integer, got True"),
                                  ("zero", 0, r"must be >= 1, got 0")]:
        hdr = header_of(small)
        hdr["architecture"]["layers"][0]["config"]["in_features"] = value
        add(f"config value of the wrong type ({label})", model_members(small, hdr),
            rf"layer 0 \(Dense\): config 'in_features' {pattern}")
    hdr = header_of(small)
    hdr["architecture"]["layers"][0]["config"]["__class__"] = 1
    add("unknown config key", model_members(small, hdr), r"layer 0 \(Dense\): unknown config '__class__'")
    hdr = header_of(small)
    hdr["architecture"] = {"layers": "Dense"}
    add("architecture not a list", model_members(small, hdr), r"architecture must be an object with a non-empty list")
    hdr = header_of(small)
    hdr["architecture"]["layers"][2]["config"]["in_features"] = 5
    hdr["arrays"]["layers.2.weight"] = [[2, 5], "float32"]
    add("widths do not chain", model_members(small, hdr, {"layers.2.weight": npy((2, 5))}),
        r"layer 2 \(Dense\) takes 5 features, but the layer before it gives 3")
    hdr = header_of(small, optimizer={"type": "os.system", "t": 0, "hyperparameters": {}})
    add("unknown optimizer type", model_members(small, hdr), r"unknown optimizer type 'os.system'")
    add("metadata is a list", model_members(small, header_of(small, metadata=[1])), r"metadata must be a JSON object")
    hdr = header_of(small)
    del hdr["arrays"]
    add("no list of arrays", model_members(small, hdr), r"no list of arrays")
    add("NaN weights", model_members(small, arrays={"layers.0.bias": npy((3,), data=np.full(3, np.nan, "<f4").tobytes())}),
        r"array 'layers.0.bias' contains NaN or infinite values")
    normed = ml.mlp(4, [3], 2, norm="batchnorm", seed=0)
    add("negative running variance", model_members(normed, arrays={
        "layers.1.running_var": npy((3,), data=np.array([1, -1, 1], "<f4").tobytes())}),
        r"array 'layers.1.running_var' holds -1.0, but its values must be >= 0.0")
    add("scaler scale of zero", model_members(scaled, arrays={
        "layers.0.scale": npy((4,), data=np.array([1, 0, 1, 1], "<f4").tobytes())}),
        r"array 'layers.0.scale' holds 0.0, but its values must be > 0.0")
    add("dtype float64 in a float32 model", model_members(small, arrays={"layers.0.bias": npy((3,), "<f8")}),
        r"array 'layers.0.bias' has dtype float64, expected float32")
    big_head = npy((10 ** 9,), "|u1", data=b"")
    add("description declares 1 GB", [("__mlplab__.npy", big_head, {"file_size": len(big_head) + 10 ** 9})]
        + model_members(small)[1:], r"the model description has shape \(1000000000,\), expected at most")

    # zip-level problems
    raw = good.read_bytes()
    (folder / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    cases["truncated file"] = (folder / "truncated.npz", r"not a readable mlplab model file.*not a zip archive")
    (folder / "text.npz").write_text("not a model\n")
    cases["not a zip"] = (folder / "text.npz", r"not a readable mlplab model file.*not a zip archive")
    (folder / "array.npy").write_bytes(npy((2,), "|O", b"\x80\x04K\x01."))
    cases["a pickled .npy, not an .npz"] = (folder / "array.npy", r"not a zip archive")
    import pickle

    evil = pickle.dumps([os.getcwd])  # unpickling would import and reference os.getcwd
    add("pickled object array in place of a weight", model_members(small, arrays={
        "layers.0.weight": npy((1,), "|O", evil)}),
        r"array 'layers.0.weight' has dtype object, expected float32 \(a pickled object array: refused")
    np.savez(folder / "foreign.npz", a=np.zeros(3))
    cases["an .npz not written by mlplab"] = (folder / "foreign.npz", r"was not written by mlplab \(no '__mlplab__'")
    add("bzip2-compressed member", [(n, p, dict(o, method=12)) if n.startswith("layers.0.w") else (n, p, o)
                                    for n, p, o in model_members(small)], r"uses zip compression method 12")
    add("duplicate member", model_members(small) + [model_members(small)[1]], r"appears twice")
    many = [(f"layers.{i}.bias.npy", b"", {}) for i in range(20000)]
    add("20000 members", model_members(small) + many, r"zip directory lists 20005 members")
    add("unexpected member name", model_members(small) + [("../../etc/passwd", b"x", {})],
        r"unexpected member '../../etc/passwd'")
    bad_crc = model_members(small)
    name, payload, _ = bad_crc[1]
    bad_crc[1] = (name, payload, {"crc": zlib.crc32(payload) ^ 1})
    add("wrong CRC", bad_crc, r"truncated or corrupt\?\): Bad CRC-32")
    cases["ZIP64 end record claims 10**12 members"] = (
        write_zip(folder / "zip64.npz", model_members(small), zip64=(10 ** 12, 10 ** 13)),
        r"zip directory lists 1000000000000 members")

    # the optimizer state is never decompressed unless an optimizer is restored: a corrupt one does not
    # stop the model from loading (test_corrupt_optimizer_state_is_read_only_when_restoring)
    opt = ml.optim.Adam(small.parameters())
    hdr = header_of(small, optimizer={"type": "Adam", "t": 1, "hyperparameters": opt.hyperparameters()})
    members = model_members(small, None)
    for j, p in enumerate(small.parameters()):
        for name in ("m", "v"):
            key = f"optimizer.{j}.{name}"
            hdr["arrays"][key] = [list(p.data.shape), "float32"]
            payload = npy(p.data.shape)
            members.append((key + ".npy", payload, {"crc": zlib.crc32(payload) ^ 1}))
    members[0] = model_members(small, hdr)[0]
    add("corrupt optimizer state (model only)", members, None)
    return cases


CHILD = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    import numpy as np
    import mlplab.io as mio

    def vm_size():
        for line in open("/proc/self/status"):
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    base = vm_size()
    limit = base + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CPU, (int(sys.argv[3]), int(sys.argv[3])))
    out = {"base": base, "limit": limit}
    try:  # the cap is real: twice the margin cannot be had
        np.ones(2 * int(sys.argv[2]), dtype=np.uint8)
        out["cap_works"] = False
    except MemoryError:
        out["cap_works"] = True
    results = {}
    for case, path in json.loads(open(sys.argv[1]).read()).items():
        for fn in ("load", "read_metadata"):
            tracemalloc.start()
            t0 = time.perf_counter()
            try:
                getattr(mio, fn)(path)
                err = None
            except BaseException as exc:
                err = [type(exc).__name__, str(exc), isinstance(exc, ValueError)]
            dt = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            results[case + " / " + fn] = {"error": err, "seconds": dt, "peak": peak}
    out["results"] = results
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def child_results(tmp_path_factory, small):
    folder = tmp_path_factory.mktemp("crafted")
    cases = crafted_files(folder, small)
    (folder / "cases.json").write_text(json.dumps({k: str(p) for k, (p, _) in cases.items()}))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(folder / "cases.json"), str(MEMORY_MARGIN),
                           str(CPU_LIMIT_S)], capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)
    return cases, out


CASE_NAMES = [
    "good model (control)", "zip bomb (1 GB declared, consistent)",
    "bomb under a small declared size (loads the declared 48 bytes)", "huge declared shapes",
    "huge shape in the npy header only", "member size does not match its npy header", "too many layers",
    "description is a JSON list", "absurd nesting", "description not UTF-8 JSON", "NaN in the description",
    "array named after a method", "scaler shift of the wrong shape", "scaler width does not chain",
    "unknown layer type", "config value of the wrong type (string)", "config value of the wrong type (float)",
    "config value of the wrong type (bool)", "config value of the wrong type (zero)", "unknown config key",
    "architecture not a list", "widths do not chain", "unknown optimizer type", "metadata is a list",
    "no list of arrays", "NaN weights", "negative running variance", "scaler scale of zero",
    "dtype float64 in a float32 model", "description declares 1 GB",
    "truncated file", "not a zip", "a pickled .npy, not an .npz", "pickled object array in place of a weight",
    "an .npz not written by mlplab", "bzip2-compressed member", "duplicate member", "20000 members",
    "unexpected member name", "wrong CRC", "ZIP64 end record claims 10**12 members",
    "corrupt optimizer state (model only)",
]

# arrays are not read by read_metadata: these files are only refused by load
ARRAY_LEVEL = {"huge shape in the npy header only", "member size does not match its npy header", "NaN weights",
               "negative running variance", "scaler scale of zero",
               "dtype float64 in a float32 model", "pickled object array in place of a weight",
               "zip bomb (1 GB declared, consistent)", "wrong CRC"}


def test_the_memory_cap_is_real(child_results):
    _, out = child_results
    assert out["cap_works"], "the child could allocate twice the margin: the memory cap does not hold"
    assert out["limit"] - out["base"] == MEMORY_MARGIN


def test_every_case_is_checked(child_results):
    cases, _ = child_results
    assert sorted(cases) == sorted(CASE_NAMES)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_crafted_file_is_refused_quickly_in_little_memory(child_results, case):
    cases, out = child_results
    path, pattern = cases[case]
    for fn in ("load", "read_metadata"):
        r = out["results"][f"{case} / {fn}"]
        assert r["seconds"] < PER_FILE_S, f"{fn} took {r['seconds']:.3f} s"
        if pattern is None or (fn == "read_metadata" and case in ARRAY_LEVEL):
            assert r["error"] is None, f"{fn} refused a good file: {r['error']}"
            continue
        assert r["peak"] < PER_FILE_BYTES, f"{fn} traced {r['peak'] / 2**20:.1f} MiB"
        assert r["error"] is not None, f"{fn} accepted {case}"
        name, message, is_value_error = r["error"]
        assert name == "ModelFileError" and is_value_error, f"{fn} raised {name}: {message}"
        assert re.search(pattern, message, re.DOTALL), f"{fn}: {message!r} does not match {pattern!r}"
        assert str(path) in message, "the message names the file"
        assert "allow_pickle" not in message, "NumPy's advice to unpickle is never shown"


def test_bomb_capped_at_declared_size_loads_zeros(child_results):
    cases, _ = child_results
    path, _ = cases["bomb under a small declared size (loads the declared 48 bytes)"]
    model = ml.io.load(path)
    np.testing.assert_array_equal(model.layers[0].weight.data, np.zeros((3, 4), np.float32))


def test_corrupt_optimizer_state_is_read_only_when_restoring(child_results, small):
    cases, _ = child_results
    path, _ = cases["corrupt optimizer state (model only)"]
    model = ml.io.load(path)  # the optimizer members are not touched
    with pytest.raises(ml.io.ModelFileError, match=r"Bad CRC-32 for file 'optimizer.0.m.npy'"):
        ml.io.load(path, optimizer=ml.optim.Adam(model.parameters()))


def test_random_corruption_is_a_model_or_a_model_file_error(tmp_path):
    """Seeded fuzzing: flipped bytes anywhere in a real file (zip structures, .npy headers, the JSON,
    the weights) and truncations either load a usable model or raise ModelFileError, nothing else."""
    model = ml.mlp(5, [4], 3, norm="batchnorm", scaler="standard", seed=0)
    model.fit_scalers(np.random.default_rng(0).random((8, 5)))
    opt = ml.optim.Adam(model.parameters())
    raw = bytearray(ml.io.save(model, tmp_path / "m.npz", optimizer=opt).read_bytes())
    rng = np.random.default_rng(0)
    X = np.random.default_rng(1).random((4, 5)).astype(np.float32)
    outcomes = {"loaded": 0, "refused": 0}
    for trial in range(300):
        data = bytearray(raw)
        if trial % 4 == 3:
            data = data[: int(rng.integers(0, len(data)))]
        else:
            for pos in rng.integers(0, len(data), size=int(rng.integers(1, 9))):
                data[pos] = int(rng.integers(0, 256))
        path = tmp_path / f"f{trial}.npz"
        path.write_bytes(bytes(data))
        try:
            back = ml.io.load(path, optimizer=None)
            ml.io.restore_optimizer(ml.optim.Adam(back.parameters()), path)
        except ml.io.ModelFileError:
            outcomes["refused"] += 1
            continue
        except ValueError as exc:  # restore_optimizer's own checks of a well-formed file
            assert "optimizer" in str(exc) or "state" in str(exc), exc
            outcomes["refused"] += 1
            continue
        with np.errstate(all="ignore"):  # a flipped exponent byte may make a weight 1e38: valid, if useless
            assert back.decision_function(X).shape == (4, 3)
        bn, scaler = back.layers[2], back.layers[0]
        assert (bn.running_var >= 0).all() and (scaler.scale > 0).all()  # checked by load
        outcomes["loaded"] += 1
        path.unlink()
    assert outcomes["refused"] > 100 and outcomes["loaded"] > 0, outcomes
