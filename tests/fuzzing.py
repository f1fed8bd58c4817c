"""Seeded mutators for the input boundaries (used by tests/test_fuzz.py and scripts/fuzz.py).

Each `*_cases(seed, n)` yields (description, input) pairs; each `check_*` returns "ok" for a
valid input, "refused" for a clean one-line refusal, and raises for anything else (a crash).
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WILD_VALUES = [0, -1, 1, 2**31, -(2**31), 2**63 - 1, 2**64, 10**9, 1.5, float("nan"), float("inf"), "x", "", None, True,
               [], [0], [1, 2, 3], {}, {"a": 1}, [[[[]]]], -(10**12)]  # fmt: skip


def _wild(rng: random.Random) -> object:
    return copy.deepcopy(rng.choice(WILD_VALUES))


# --------------------------------------------------------------------------- chip binaries


def _mutate_meta(meta: dict, rng: random.Random) -> str:
    node, path = meta, "META"
    while isinstance(node, dict | list) and node and rng.random() < 0.6:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if not isinstance(node[key], dict | list):
            break
        node, path = node[key], f"{path}.{key}"
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        if rng.random() < 0.2:
            del node[key]
            return f"{path}.{key} deleted"
        node[key] = _wild(rng)
        return f"{path}.{key} = {node[key]!r}"
    if isinstance(node, list) and node:
        i = rng.randrange(len(node))
        node[i] = _wild(rng)
        return f"{path}[{i}] = {node[i]!r}"
    return "no change"


def _mutate_index_array(arr: np.ndarray, rng: random.Random) -> tuple[np.ndarray, str]:
    """A structural edit of an integer (index) array that keeps its length and type: values drawn from just
    around its own range, reversed, shuffled, shifted by one, made constant, or one entry pushed past the end."""
    a = arr.astype(np.int64)
    top = int(a.max())
    how = rng.randrange(6)
    if how == 0:
        a = np.array([rng.randrange(-2, top + 3) for _ in range(a.size)], np.int64)
    elif how == 1:
        a = a[::-1].copy()
    elif how == 2:
        a = np.array(rng.sample(a.tolist(), a.size), np.int64)
    elif how == 3:
        a = a + rng.choice([-1, 1])
    elif how == 4:
        a = np.full_like(a, rng.choice([top, top + 1, 0, -1]))
    else:
        i = rng.randrange(a.size)
        a[i] = rng.choice([top + 1, 2 * top + 5, -1, int(a[i]) + 1])
    info = np.iinfo(arr.dtype)
    what = ("random in range", "reversed", "shuffled", "shifted", "constant", "one past the end")[how]
    return np.clip(a, info.min, info.max).astype(arr.dtype), what


def _mutate_arrays(arrays: dict, rng: random.Random) -> str:
    tag = rng.choice(list(arrays))
    if not arrays[tag]:
        return "no change"
    name = rng.choice(list(arrays[tag]))
    arr = arrays[tag][name]
    if arr.size and arr.dtype.kind in "iu" and rng.random() < 0.5:
        arrays[tag][name], what = _mutate_index_array(arr, rng)
        return f"{tag}.{name} {what}"
    choice = rng.randrange(5)
    if choice == 0 and arr.size:
        arr = arr.copy()
        i = rng.randrange(arr.size)
        info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
        values = [-1, 0, 1, 7, 255, 1 << 20] + ([info.min, info.max] if info else [np.nan, 1e30])
        value = rng.choice([v for v in values if info is None or info.min <= v <= info.max])
        arr.flat[i] = value
        what = f"{tag}.{name}[{i}] = {value}"
    elif choice == 1:
        arr = arr[: rng.randrange(arr.size + 1)] if arr.ndim == 1 else arr
        what = f"{tag}.{name} cut to {arr.shape}"
    elif choice == 2:
        arr = arr.astype(rng.choice([np.float32, np.int8, np.uint8, np.int64]))
        what = f"{tag}.{name} as {arr.dtype}"
    elif choice == 3:
        del arrays[tag][name]
        return f"{tag}.{name} deleted"
    else:
        arr = np.concatenate([arr, arr]) if arr.ndim == 1 else arr
        what = f"{tag}.{name} doubled"
    arrays[tag][name] = arr
    return what


def binary_cases(seed: int, n: int, source: bytes) -> Iterator[tuple[str, bytes]]:
    """Mutated binaries with a recomputed CRC: metadata, arrays, or raw bytes."""
    import struct
    import zlib

    from nmc.chips.binary import BinaryError, decode, encode

    rng = random.Random(seed)
    base = decode(source)
    made = 0
    while made < n:  # exactly n files: a mutation the writer refuses is drawn again
        image = copy.deepcopy(base)
        kind = rng.randrange(3)
        if kind in (0, 1):
            what = _mutate_meta(image.meta, rng) if kind == 0 else _mutate_arrays(image.arrays, rng)
            try:
                data = encode(image)
            except (BinaryError, KeyError):  # META.kind made unknown or another kind: the writer refuses, no file
                continue
            made += 1
            yield what, data
        else:
            data = bytearray(source[:-4])
            for _ in range(rng.randrange(1, 4)):
                i = rng.randrange(len(data))
                data[i] = rng.randrange(256)
            data += struct.pack("<I", zlib.crc32(bytes(data)))
            made += 1
            yield f"bytes flipped (CRC recomputed) near {i}", bytes(data)


def source_binaries() -> dict[str, bytes]:
    """Binaries of every kind and feature the reader and simulators meet: a dense MLP, a CNN with partial sums
    (tianjic256), a residual CNN with fan-out and delay relays (truenorth4), and a TNN."""
    import sys

    import nmc

    sys.path.insert(0, str(ROOT))
    from tests import model_gen as mg

    ex = ROOT / "examples"
    out = {}
    for name in ("digits_mlp", "digits_cnn"):
        out[name] = nmc.compile(ex / f"{name}.pt", calibration=ex / "digits_calib.npy", timesteps=4, check=False).binary
    g = mg.ann(0)  # a residual 1-D CNN: on truenorth4, fan-out relays and delay relays
    x = np.random.default_rng(0).random((20, *g.input_shape)).astype(np.float32)
    out["residual_truenorth4"] = nmc.compile(g.model, calibration=x, chip="truenorth4", timesteps=4, check=False,
                                             allow_accuracy_loss=True).binary  # fmt: skip
    out["tnn"] = nmc.compile(ex / "cbf_tnn.pt").binary
    return out


def check_binary(data: bytes, run: bool) -> str:
    from nmc.chips.binary import BinaryError, decode, validate
    from nmc.runtime.engines import simulate

    try:
        image = decode(data)
        validate(image)
        if run:
            specs = image.meta.get("inputs") or [{"shape": image.meta["encoder"]["input_shape"]}]  # TNN: the series
            x = [np.full((2, *spec["shape"]), 0.5, np.float32) for spec in specs]
            simulate(image, x if len(x) != 1 else x[0])
    except BinaryError:
        return "refused"
    return "ok"


# --------------------------------------------------------------------------- chip descriptions


def _mutate_text(text: str, tokens: list[str], rng: random.Random) -> str:
    """One to three edits: insert a token, delete a few characters, or copy a piece elsewhere."""
    for _ in range(rng.randrange(1, 4)):
        i, op = rng.randrange(len(text) + 1), rng.randrange(3)
        if op == 0:
            text = text[:i] + rng.choice(tokens) + text[i:]
        elif op == 1:
            text = text[:i] + text[i + rng.randrange(1, 12) :]
        else:
            j = rng.randrange(len(text) + 1)
            text = text[:i] + text[j : j + rng.randrange(1, 40)] + text[i:]
    return text


def chip_cases(seed: int, n: int) -> Iterator[tuple[str, str]]:
    rng = random.Random(seed)
    texts = [p.read_text() for p in sorted((ROOT / "chips").glob("*.chip"))]
    tokens = ["{", "}", ",", "x", "mesh", "core", "chip", '"', "#", "\n", "-1", "0", "1e9", "nan", "inf", "true", "zero",
              "weight_bits", "99999999999999999999", "1.5", "axons", "reset", "ge"]  # fmt: skip
    for _ in range(n):
        yield "mutated preset", _mutate_text(rng.choice(texts), tokens, rng)


def check_chip(text: str) -> str:
    from nmc.chips import parse_chip
    from nmc.errors import NmcError

    try:
        chip = parse_chip(text, "fuzz.chip")
    except NmcError as e:
        if "\n" in str(e) or not str(e).startswith("fuzz.chip:"):
            raise AssertionError(f"not a one-line, located error: {e!r}") from None
        return "refused"
    chip.canonical_text()
    return "ok"


def check_chip_compile(text: str, calibration: np.ndarray) -> str:
    """An accepted chip description used: the bundled MLP (and the TNN where the chip has TNN columns) compiled
    for it, a clean refusal or a binary, never a traceback or a numpy warning."""
    import warnings

    import nmc
    from nmc.chips import parse_chip
    from nmc.errors import NmcError

    try:
        chip = parse_chip(text, "fuzz.chip")
    except NmcError:
        return "refused"
    ex = ROOT / "examples"
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        try:
            nmc.compile(ex / "digits_mlp.pt", chip=chip, calibration=calibration, timesteps=4, check=False)
            if chip.tnn_column is not None:
                nmc.compile(ex / "cbf_tnn.pt", chip=chip)
        except NmcError:
            return "refused"
    return "ok"


# --------------------------------------------------------------------------- IR text


IR_TOKENS = ["%a", "%0", "}", "{", "(", ")", ":", "<", ">", "[", "]", "=", "-1", "0", "99999999999999", "1.0e39", "i0",
             "f32", "core.neurons", "snn.dense", '"x"', ",", "\n", "^bb0", '"']  # fmt: skip


IR_MEMORY = 1 << 30  # the fuzzer's --max-model-bytes


def ir_cases(seed: int, n: int) -> Iterator[tuple[str, str]]:
    """Every lit test file and input, with text inserted, deleted or copied."""
    rng = random.Random(seed)
    texts = [p.read_text() for p in sorted((ROOT / "tests" / "lit").rglob("*.mlir"))]
    for _ in range(n):
        yield "mutated lit file", _mutate_text(rng.choice(texts), IR_TOKENS, rng)


def _one_line_exit(e: SystemExit, err) -> str:
    """A tool's exit on bad input must be non-zero with exactly one stderr line: then it is a refusal."""
    lines = err.getvalue().strip().splitlines()
    if e.code in (0, None) or len(lines) != 1:
        raise AssertionError(f"exit {e.code} with {len(lines)} lines: {err.getvalue()[:300]}") from None
    return "refused"


def check_ir(text: str) -> str:
    """Parse and verify as nmc-opt does, under its error reporting: a one-line exit is a refusal."""
    import contextlib
    import io

    from xdsl.context import Context
    from xdsl.dialects.builtin import Builtin
    from xdsl.parser import Parser

    from nmc.dialects import get_all_dialects
    from nmc.errors import report_user_errors
    from nmc.limits import bounded_memory, check_declared_tensors

    ctx = Context()
    ctx.load_dialect(Builtin)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), report_user_errors("nmc-opt"):
            check_declared_tensors(text, "fuzz.mlir", IR_MEMORY)  # as nmc-opt reads a file
            with bounded_memory("fuzz.mlir", IR_MEMORY):
                Parser(ctx, text, "fuzz.mlir").parse_module().verify()
    except SystemExit as e:
        return _one_line_exit(e, err)
    return "ok"


def check_ir_pipeline(text: str, folder: Path) -> str:
    """A mutated lit file that parses and verifies, lowered on as far as it goes through `nmc-opt` (in-process):
    snn level through the whole mapping pipeline, core level through partition/place/route, then the chip dump.
    A one-line refusal or a result; a traceback or a multi-line exit is a crash."""
    import io

    from nmc.dialects.core_ir import MAP_PIPELINE
    from nmc.tools import nmc_opt

    if check_ir(text) != "ok":
        return "refused"
    if "snn.network" in text:
        pipeline = MAP_PIPELINE
    elif "core.network" in text and "map." not in text:
        pipeline = "partition-cores,place-cores,route"
    else:
        return "ok"
    path = folder / "fuzz.mlir"
    path.write_text(text)
    for target in ([], ["-t", "chip-dump"]):
        err = io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                nmc_opt.main([str(path), "-p", pipeline, *target])
        except SystemExit as e:
            return _one_line_exit(e, err)
    return "ok"


# --------------------------------------------------------------------------- model files


def model_sources() -> list[Path]:
    """The files the model fuzzer mutates: a .pt pickle of each example and a .pt2 export."""
    return [ROOT / "examples" / name for name in ("digits_mlp.pt", "digits_cnn.pt", "digits_snn.pt", "digits_cnn.pt2")]


def _rezip(source: bytes, edit) -> bytes:
    """The zip archive with one member's bytes edited (the archive itself stays well formed)."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(source)) as z, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as w:
        for info in z.infolist():
            w.writestr(info.filename, edit(info.filename, z.read(info.filename)))
    return out.getvalue()


def model_cases(seed: int, n: int, sources: list[Path]) -> Iterator[tuple[str, str, bytes]]:
    """(what, suffix, bytes): pickles and exports with their pickled data, JSON, tensors or raw bytes mutated."""
    import json

    rng = random.Random(seed)
    files = [(p.suffix, p.read_bytes()) for p in sources]
    for _ in range(n):
        suffix, source = rng.choice(files)
        kind = rng.randrange(4)
        if kind == 0:  # raw bytes: the zip's own checks (or torch's) must refuse cleanly
            data = bytearray(source)
            for _ in range(rng.randrange(1, 6)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield "raw bytes", suffix, bytes(data)
        elif kind == 1:  # pickled data: opcodes and arguments flipped inside a valid archive

            def flip(name: str, blob: bytes) -> bytes:
                if not name.endswith(".pkl") or not blob:
                    return blob
                b = bytearray(blob)
                for _ in range(rng.randrange(1, 4)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                return bytes(b)

            yield "pickle bytes", suffix, _rezip(source, flip)
        elif kind == 2:  # JSON of an export (schema, shapes, symbolic sizes)

            def mutate_json(name: str, blob: bytes) -> bytes:
                if not name.endswith(".json"):
                    return blob
                try:
                    doc = json.loads(blob)
                except ValueError:
                    return blob
                if isinstance(doc, dict):
                    _mutate_meta(doc, rng)
                return json.dumps(doc).encode()

            yield "export json", suffix, _rezip(source, mutate_json)
        else:  # tensor storages: truncated, extended, or NaN/inf written in

            def mutate_tensor(name: str, blob: bytes) -> bytes:
                if "/data/" not in name or not blob:
                    return blob
                choice = rng.randrange(3)
                if choice == 0:
                    return blob[: rng.randrange(len(blob))]
                if choice == 1:
                    return blob + blob
                arr = bytearray(blob)
                i = rng.randrange(max(1, len(arr) // 4)) * 4
                arr[i : i + 4] = rng.choice([np.float32(np.nan), np.float32(np.inf), np.float32(1e30)]).tobytes()
                return bytes(arr)

            yield "tensor bytes", suffix, _rezip(source, mutate_tensor)


def check_model(data: bytes, suffix: str, folder: Path, limit: int = 1 << 30) -> str:
    """Load, import and shape-check a model file as nmc-compile does, under a memory bound."""
    from nmc.driver import ImportOptions, layer_graph
    from nmc.errors import NmcError

    path = folder / f"fuzz{suffix}"
    path.write_bytes(data)
    try:
        layer_graph(path, ImportOptions(input_shape=(1, 8, 8), max_model_bytes=limit))
    except NmcError as e:
        if "\n" in str(e) or not str(e).startswith(str(path)):
            raise AssertionError(f"not a one-line error naming the file: {e!r}") from None
        return "refused"
    return "ok"


# --------------------------------------------------------------------------- NIR graphs


class _TimeLimit(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    import signal

    def expire(_signum, _frame):
        raise _TimeLimit

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def nir_cases(seed: int, n: int, source: Path) -> Iterator[tuple[str, bytes]]:
    """A NIR file with a node field, an edge or its raw bytes mutated (written back by nir.write when it can)."""
    import tempfile

    import nir

    rng = random.Random(seed)
    data = source.read_bytes()
    wild = [np.array([]), np.array(np.nan, np.float32), np.full(3, -1.0, np.float32), np.zeros((2, 2, 2), np.float32),
            np.array([1e30], np.float32), np.array(0), np.array([7, 7], np.int64)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp) / "g.nir"
        for _ in range(n):
            if rng.random() < 0.3:
                b = bytearray(data)
                for _ in range(rng.randrange(1, 6)):
                    b[rng.randrange(len(b))] = rng.randrange(256)
                yield "raw bytes", bytes(b)
                continue
            graph = nir.read(source, type_check=False)
            names = list(graph.nodes)
            kind = rng.randrange(3)
            if kind == 0:
                name = rng.choice(names)
                node = graph.nodes[name]
                fields = [k for k, v in vars(node).items() if isinstance(v, np.ndarray)]
                if not fields:
                    continue
                field = rng.choice(fields)
                setattr(node, field, copy.deepcopy(rng.choice(wild)))
                what = f"{name}.{field}"
            elif kind == 1 and graph.edges:
                graph.edges = [e for e in graph.edges if e != rng.choice(graph.edges)]
                what = "edge deleted"
            else:
                graph.edges = [*graph.edges, (rng.choice(names), rng.choice(names))]
                what = f"edge added {graph.edges[-1]}"
            try:
                with _time_limit(5):  # nir.write loops forever on some cyclic graphs (nir's, not nmc's)
                    nir.write(scratch, graph)
            except Exception:  # nir cannot store it: not a file anyone can hand us
                continue
            yield what, scratch.read_bytes()


def check_nir(data: bytes, folder: Path) -> str:
    """Import a NIR file as nmc-compile does (memory-bounded): a one-line refusal naming the file, or snn IR."""
    from nmc.driver import ImportOptions, import_model
    from nmc.errors import NmcError

    path = folder / "fuzz.nir"
    path.write_bytes(data)
    try:
        import_model(path, ImportOptions(max_model_bytes=1 << 30)).verify()
    except NmcError as e:
        if "\n" in str(e) or not str(e).startswith(str(path)):
            raise AssertionError(f"not a one-line error naming the file: {e!r}") from None
        return "refused"
    return "ok"
