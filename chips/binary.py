"""The chip configuration binary (docs/binary-format.md): layout, encoder, validating reader, readable dump.

Layout: magic, version, chip-description hash, sections of named little-endian
arrays, CRC-32 of everything before it. This module knows nothing of the IR (numpy
only): the simulator loads binaries through it, and `nmc.targets.chip_binary` builds
the image of a mapped network.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from nmc.chips.binary_error import BinaryError
from nmc.chips.binary_schema import INTEGER_ARRAYS, check_arrays, check_meta
from nmc.chips.formats import COMPARES, MODES, RESETS
from nmc.chips.tnn_binary import TNN_SECTIONS, dump_tnn, validate_tnn

MAGIC = b"NMCBIN\x00\x01"
VERSION = 1
DTYPES = {0: "<u1", 1: "<i1", 2: "<i2", 3: "<i4", 4: "<i8", 5: "<f4", 6: "<f8"}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
SECTIONS = ("META", "CORE", "NRN ", "AXON", "SYN ", "ROUT", "OUT ")


@dataclass
class ChipImage:
    """The decoded content of a binary: metadata and named arrays per section."""

    meta: dict[str, Any]
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    chip_digest: bytes = b""

    def a(self, section: str, name: str) -> np.ndarray:
        return self.arrays[section][name]


# --------------------------------------------------------------------------- encoding


def _pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    out = [struct.pack("<H", len(arrays))]
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        code = CODES[np.dtype(dt.str.replace("=", "<").replace("|", "<"))]
        key = name.encode()
        out.append(struct.pack("<B", len(key)) + key + struct.pack("<BB", code, arr.ndim))
        out.append(struct.pack(f"<{arr.ndim}Q", *arr.shape))
        out.append(arr.astype(DTYPES[code]).tobytes())
    return b"".join(out)


def is_tnn(image: ChipImage) -> bool:
    """A TNN binary (columns, nmc.chips.tnn_binary) rather than a crossbar one."""
    return image.meta.get("kind") == "tnn"


def encode(image: ChipImage) -> bytes:
    meta = json.dumps(image.meta, sort_keys=True, separators=(",", ":")).encode()
    sections = {"META": {"json": np.frombuffer(meta, np.uint8)}, **image.arrays}
    tags = TNN_SECTIONS if is_tnn(image) else SECTIONS
    body = [MAGIC, struct.pack("<HH", VERSION, 0), image.chip_digest.ljust(32, b"\0")[:32], struct.pack("<I", len(tags))]
    for tag in tags:
        payload = _pack_arrays(sections[tag])
        body.append(tag.encode() + struct.pack("<Q", len(payload)) + payload)
    data = b"".join(body)
    return data + struct.pack("<I", zlib.crc32(data))


# --------------------------------------------------------------------------- decoding


class _Reader:
    def __init__(self, data: bytes, end: int):
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > self.end:
            raise BinaryError(f"truncated: {what} needs {n} bytes at offset {self.pos}, {self.end - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def decode(data: bytes) -> ChipImage:
    """Parse and check a binary's framing: magic, version, length, CRC, sections and arrays."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BinaryError("not an nmc chip binary (bad magic number)")
    if len(data) < 48:
        raise BinaryError(f"truncated: {len(data)} bytes, the header alone needs 48")
    (version, _) = struct.unpack("<HH", data[8:12])
    if version != VERSION:
        raise BinaryError(f"format version {version}, this nmc reads version {VERSION}")
    (stored_crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != stored_crc:
        raise BinaryError("CRC mismatch: the file is corrupt or truncated")
    r = _Reader(data, len(data) - 4)
    r.pos = 12
    digest = r.take(32, "chip hash")
    (count,) = r.unpack("<I", "section count")
    if count not in (len(SECTIONS), len(TNN_SECTIONS)):
        raise BinaryError(f"{count} sections, expected {len(SECTIONS)} (crossbar cores) or {len(TNN_SECTIONS)} (TNN columns)")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for expected in SECTIONS if count == len(SECTIONS) else TNN_SECTIONS:
        tag = r.take(4, "section tag").decode("ascii", "replace")
        if tag != expected:
            raise BinaryError(f"section '{tag}' where '{expected}' was expected")
        (length,) = r.unpack("<Q", f"section {tag} length")
        end = r.pos + length
        if end > r.end:
            raise BinaryError(f"truncated: section {tag} runs past the end of the file")
        sub = _Reader(data, end)
        sub.pos = r.pos
        arrays[tag] = _read_arrays(sub, tag)
        r.pos = end
    if r.pos != r.end:
        raise BinaryError(f"{r.end - r.pos} unexpected bytes after the last section")
    try:
        meta = json.loads(arrays.pop("META")["json"].tobytes())
    except (KeyError, ValueError, RecursionError) as e:
        raise BinaryError(f"unreadable META section ({type(e).__name__}: {str(e)[:100]})") from None
    return ChipImage(meta, arrays, digest)


def _read_arrays(r: _Reader, tag: str) -> dict[str, np.ndarray]:
    (n,) = r.unpack("<H", f"{tag} array count")
    out = {}
    for _ in range(n):
        (klen,) = r.unpack("<B", f"{tag} array name")
        name = r.take(klen, f"{tag} array name").decode("ascii", "replace")
        code, ndim = r.unpack("<BB", f"{tag}.{name} header")
        if code not in DTYPES:
            raise BinaryError(f"{tag}.{name}: unknown element type code {code}")
        if ndim > 8:
            raise BinaryError(f"{tag}.{name}: {ndim} dimensions (at most 8)")
        shape = r.unpack(f"<{ndim}Q", f"{tag}.{name} shape")
        size = math.prod(shape) * np.dtype(DTYPES[code]).itemsize  # Python ints: no overflow on a forged shape
        out[name] = np.frombuffer(r.take(size, f"{tag}.{name} data"), DTYPES[code]).reshape(shape)
    if r.pos != r.end:
        raise BinaryError(f"section {tag}: {r.end - r.pos} bytes left over")
    return out


def read_binary(path: str | Path) -> ChipImage:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BinaryError(f"{path}: no such file") from None
    image = decode(data)
    validate(image)
    return image


REQUIRED = {**INTEGER_ARRAYS, "OUT ": ()}  # the arrays every section must hold (OUT's depend on META)


def validate(image: ChipImage) -> None:
    """Check every index and size in the image, so the simulator can trust it."""
    if count_tnn_sections(image):
        if not is_tnn(image):
            raise BinaryError("META.kind must be 'tnn' in a binary with TNN sections")
        check_common_meta(image.meta)
        return validate_tnn(image)
    if is_tnn(image):
        raise BinaryError("META.kind is 'tnn' but the binary has crossbar sections")
    for tag, names in REQUIRED.items():
        for name in names:
            if name not in image.arrays.get(tag, {}):
                raise BinaryError(f"section {tag.strip()} lacks the array '{name}'")
    m = image.meta
    check_meta(m)
    check_arrays(image.arrays, m)
    x, y = image.a("CORE", "x"), image.a("CORE", "y")
    k = x.size
    w, h = m["mesh"]
    if y.size != k or (x < 0).any() or (x >= w).any() or (y < 0).any() or (y >= h).any():
        raise BinaryError(f"CORE: core coordinates outside the {w}x{h} mesh")
    nrn = image.arrays["NRN "]
    g = nrn["core"].size
    for name, arr in nrn.items():
        if arr.shape != (g,):
            raise BinaryError(f"NRN.{name}: {arr.shape[0] if arr.ndim else 0} entries for {g} neurons")
    _in_range("NRN.core", nrn["core"], k)
    _in_range("NRN.slot", nrn["slot"], m["neurons_per_core"])
    _in_range("NRN.mode", nrn["mode"], len(MODES))
    _in_range("NRN.reset", nrn["reset"], len(RESETS))
    _in_range("NRN.compare", nrn["compare"], len(COMPARES))
    n_inputs = sum(int(np.prod(i["shape"])) for i in m["inputs"])
    ax = image.arrays["AXON"]
    _csr("AXON", ax["offsets"], k, ax["kind"].size)
    if (np.diff(ax["offsets"]) > m["axons_per_core"]).any():
        raise BinaryError(f"AXON: a core has more than {m['axons_per_core']} axons")
    host = ax["kind"] == 0
    _in_range("AXON.kind", ax["kind"], 2)
    _in_range("AXON.src (host input)", ax["src"][host], n_inputs)
    _in_range("AXON.src (neuron)", ax["src"][~host], g)
    syn = image.arrays["SYN "]
    _csr("SYN", syn["offsets"], k, syn["axon"].size)
    per_core_axons = np.repeat(np.diff(ax["offsets"]), np.diff(syn["offsets"]))
    if (syn["axon"] < 0).any() or (syn["axon"] >= per_core_axons).any():
        raise BinaryError("SYN.axon: a synapse names an axon its core does not have")
    # a slot must name a neuron of the synapse's own core (else it would land on another core's neuron)
    core_size = np.bincount(nrn["core"], minlength=k)
    _below("SYN.slot", syn["slot"], np.repeat(core_size, np.diff(syn["offsets"])))
    rt = image.arrays["ROUT"]
    _csr("ROUT", rt["offsets"], k, rt["slot"].size)
    _csr("ROUT.dest", rt["dest_offsets"], rt["slot"].size, rt["dest"].size)
    _in_range("ROUT.dest", rt["dest"], k)
    _below("ROUT.slot", rt["slot"], np.repeat(core_size, np.diff(rt["offsets"])))
    for i, _out in enumerate(m["outputs"]):
        ids = image.arrays["OUT "].get(f"neurons{i}")
        if ids is None:
            raise BinaryError(f"OUT lacks neurons{i}")
        _in_range(f"OUT.neurons{i}", ids, g)


def _below(what: str, arr: np.ndarray, limits: np.ndarray) -> None:
    bad = np.nonzero((arr < 0) | (arr >= limits))[0]
    if bad.size:
        i = int(bad[0])
        raise BinaryError(f"{what}: entry {i} names neuron {int(arr[i])} of a core with {int(limits[i])} neurons")


def _in_range(what: str, arr: np.ndarray, limit: int) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= limit):
        bad = int(arr.max() if arr.max() >= limit else arr.min())
        raise BinaryError(f"{what}: index {bad} out of range [0, {limit})")


def _csr(what: str, offsets: np.ndarray, rows: int, total: int) -> None:
    if offsets.shape != (rows + 1,) or offsets[0] != 0 or offsets[-1] != total or (np.diff(offsets) < 0).any():
        raise BinaryError(f"{what}: offsets do not describe {rows} rows of {total} entries")


def count_tnn_sections(image: ChipImage) -> bool:
    return "COL " in image.arrays


def check_common_meta(meta: Any) -> None:
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise BinaryError("META must be a JSON object with a name")
    mesh = meta.get("mesh")
    if not (isinstance(mesh, list) and len(mesh) == 2 and all(isinstance(v, int) and 1 <= v <= 4096 for v in mesh)):
        raise BinaryError(f"META.mesh must be [width, height] in 1..4096, got {mesh!r}")


def dump(image: ChipImage, out: IO[str]) -> None:
    """A readable listing of a binary, for people and FileCheck."""
    if is_tnn(image):
        return dump_tnn(image, out)
    m = image.meta
    x, y = image.a("CORE", "x"), image.a("CORE", "y")
    nrn, ax, syn, rt = image.arrays["NRN "], image.arrays["AXON"], image.arrays["SYN "], image.arrays["ROUT"]
    out.write(
        f"network {m['name']} ticks {m['ticks']} chip {m['chip']} mesh {m['mesh'][0]}x{m['mesh'][1]} "
        f"cores {x.size} neurons {nrn['core'].size} axons {ax['kind'].size} synapses {syn['axon'].size}\n"
    )
    for i, inp in enumerate(m["inputs"]):
        out.write(
            f"input {i}: {inp['encoding']} shape {inp['shape']} scale {inp['scale']:g} seed {inp['seed']}"
            f"{'' if inp['levels'] is None else ' levels ' + str(inp['levels'])}\n"
        )
    for c in range(x.size):
        sel = np.nonzero(nrn["core"] == c)[0]
        a0, a1 = ax["offsets"][c], ax["offsets"][c + 1]
        s0, s1 = syn["offsets"][c], syn["offsets"][c + 1]
        r0, r1 = rt["offsets"][c], rt["offsets"][c + 1]
        out.write(f"core {c} at ({x[c]}, {y[c]}): {sel.size} neurons, {a1 - a0} axons, {s1 - s0} synapses, {r1 - r0} routes\n")
        for a in range(a0, a1):
            what = "input" if ax["kind"][a] == 0 else "neuron"
            out.write(f"  axon {a - a0} <- {what} {ax['src'][a]} delay {ax['delay'][a]}\n")
        for n in sel:
            out.write(
                f"  neuron {nrn['slot'][n]}: {MODES[nrn['mode'][n]]} threshold {nrn['threshold'][n]} "
                f"bias {nrn['bias'][n]} v_init {nrn['v_init'][n]} shift {nrn['shift'][n]} "
                f"reset {RESETS[nrn['reset'][n]]} compare {COMPARES[nrn['compare'][n]]} start {nrn['start'][n]}\n"
            )
        for s in range(s0, s1):
            out.write(f"  synapse axon {syn['axon'][s]} -> neuron {syn['slot'][s]} weight {syn['weight'][s]}\n")
        for r in range(r0, r1):
            dests = rt["dest"][rt["dest_offsets"][r] : rt["dest_offsets"][r + 1]]
            out.write(f"  route neuron {rt['slot'][r]} -> cores {', '.join(str(d) for d in dests)}\n")
    for i, o in enumerate(m["outputs"]):
        out.write(
            f"output {i}: {o['kind']} latency {o['latency']} shape {o['shape']} neurons "
            f"{', '.join(str(v) for v in image.arrays['OUT '][f'neurons{i}'][:16])}\n"
        )
