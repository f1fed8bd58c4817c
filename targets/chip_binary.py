"""The chip configuration binary (docs/binary-format.md): writer, validating reader, readable dump.

Layout: magic, version, chip-description hash, sections of named little-endian
arrays, CRC-32 of everything before it. The writer orders everything by
(core, slot) or (core, axon), so the same mapped network gives the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

MAGIC = b"NMCBIN\x00\x01"
VERSION = 1
DTYPES = {0: "<u1", 1: "<i1", 2: "<i2", 3: "<i4", 4: "<i8", 5: "<f4", 6: "<f8"}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MODES = ("spike", "psum", "integrate")
RESETS = ("zero", "subtract", "none")
COMPARES = ("ge", "gt")
SECTIONS = ("META", "CORE", "NRN ", "AXON", "SYN ", "ROUT", "OUT ")


class BinaryError(Exception):
    """A chip binary that cannot be loaded; the message says what is wrong."""


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


def encode(image: ChipImage) -> bytes:
    meta = json.dumps(image.meta, sort_keys=True, separators=(",", ":")).encode()
    sections = {"META": {"json": np.frombuffer(meta, np.uint8)}, **image.arrays}
    body = [MAGIC, struct.pack("<HH", VERSION, 0), image.chip_digest.ljust(32, b"\0")[:32], struct.pack("<I", len(sections))]
    for tag in SECTIONS:
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
    if count != len(SECTIONS):
        raise BinaryError(f"{count} sections, expected {len(SECTIONS)}")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for expected in SECTIONS:
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
    except (KeyError, ValueError) as e:
        raise BinaryError(f"unreadable META section ({e})") from None
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
        shape = r.unpack(f"<{ndim}Q", f"{tag}.{name} shape")
        size = int(np.prod(shape)) * np.dtype(DTYPES[code]).itemsize
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


REQUIRED = {
    "CORE": ("x", "y"),
    "NRN ": ("core", "slot", "mode", "threshold", "bias", "v_init", "shift", "reset", "compare", "start"),
    "AXON": ("offsets", "kind", "src", "delay"),
    "SYN ": ("offsets", "axon", "slot", "weight"),
    "ROUT": ("offsets", "slot", "dest_offsets", "dest"),
    "OUT ": (),
}


def validate(image: ChipImage) -> None:
    """Check every index and size in the image, so the simulator can trust it."""
    for tag, names in REQUIRED.items():
        for name in names:
            if name not in image.arrays.get(tag, {}):
                raise BinaryError(f"section {tag.strip()} lacks the array '{name}'")
    m = image.meta
    for key in (
        "name",
        "ticks",
        "mesh",
        "neurons_per_core",
        "axons_per_core",
        "membrane_bits",
        "partial_sum_bits",
        "inputs",
        "outputs",
    ):
        if key not in m:
            raise BinaryError(f"META lacks '{key}'")
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
    _in_range("SYN.slot", syn["slot"], m["neurons_per_core"])
    rt = image.arrays["ROUT"]
    _csr("ROUT", rt["offsets"], k, rt["slot"].size)
    _csr("ROUT.dest", rt["dest_offsets"], rt["slot"].size, rt["dest"].size)
    _in_range("ROUT.dest", rt["dest"], k)
    for i, _out in enumerate(m["outputs"]):
        ids = image.arrays["OUT "].get(f"neurons{i}")
        if ids is None:
            raise BinaryError(f"OUT lacks neurons{i}")
        _in_range(f"OUT.neurons{i}", ids, g)


def _in_range(what: str, arr: np.ndarray, limit: int) -> None:
    if arr.size and (arr.min() < 0 or arr.max() >= limit):
        bad = int(arr.max() if arr.max() >= limit else arr.min())
        raise BinaryError(f"{what}: index {bad} out of range [0, {limit})")


def _csr(what: str, offsets: np.ndarray, rows: int, total: int) -> None:
    if offsets.shape != (rows + 1,) or offsets[0] != 0 or offsets[-1] != total or (np.diff(offsets) < 0).any():
        raise BinaryError(f"{what}: offsets do not describe {rows} rows of {total} entries")


# --------------------------------------------------------------------------- writer


def build_image(module: Any) -> ChipImage:
    """The image of a mapped, quantized core network (after partition-cores and place-cores)."""
    from nmc.chip import load_chip
    from nmc.core_ir import networks
    from nmc.dialects import core
    from nmc.dialects import map as map_d
    from nmc.errors import NmcError
    from nmc.ir_arrays import to_numpy
    from nmc.mapping import assignment, destinations, net_view, source_cores, unique_pairs

    (net,) = networks(module)
    chip = load_chip(net.chip.data)
    view = net_view(net)
    assigned = assignment(net, view)
    mesh = next((o for o in net.body.block.ops if isinstance(o, map_d.MeshOp)), None)
    if assigned is None or mesh is None:
        raise NmcError("the chip binary needs a mapped network: run partition-cores and place-cores")
    for g in view.groups:
        if not g.quantized:
            raise NmcError(f"layer '{g.layer.data}' has float weights: run reduce-precision before writing a binary")
    cores, slots = assigned
    order = np.lexsort((slots, cores))
    bid = np.empty_like(order)
    bid[order] = np.arange(order.size)  # binary neuron id of each IR neuron

    from nmc.core_ir import read_group

    params = {k: [] for k in ("mode", "threshold", "bias", "v_init", "shift", "reset", "compare", "start")}
    for op in view.groups:
        gr = read_group(op)
        n = gr.size
        params["mode"].append(np.full(n, MODES.index(gr.mode)))
        params["threshold"].append(gr.threshold)
        params["bias"].append(gr.bias)
        params["v_init"].append(gr.v_init)
        params["shift"].append(np.full(n, gr.decay_shift or 0))
        params["reset"].append(np.full(n, RESETS.index(gr.reset)))
        params["compare"].append(np.full(n, COMPARES.index(gr.compare)))
        params["start"].append(np.full(n, core.depth(op.output)))
    cat = {k: np.concatenate(v)[order] for k, v in params.items()}
    nrn = {
        "core": cores[order].astype(np.int32),
        "slot": slots[order].astype(np.int32),
        "mode": cat["mode"].astype(np.uint8),
        "threshold": cat["threshold"].astype(np.int64),
        "bias": cat["bias"].astype(np.int64),
        "v_init": cat["v_init"].astype(np.int64),
        "shift": cat["shift"].astype(np.uint8),
        "reset": cat["reset"].astype(np.uint8),
        "compare": cat["compare"].astype(np.uint8),
        "start": cat["start"].astype(np.int32),
    }
    k = int(cores.max(initial=-1)) + 1
    # axons: distinct (core, source, delay) in sorted order
    syn_core = cores[view.syn_post]
    ax_core, ax_key, inverse = unique_pairs(syn_core, view.syn_key, return_inverse=True)
    ax_offsets = np.concatenate([[0], np.cumsum(np.bincount(ax_core, minlength=k))])
    ax_local = np.arange(ax_core.size) - ax_offsets[ax_core]
    src, delay = ax_key // 256, ax_key % 256
    host_offset, owner = _source_maps(view, bid)
    is_host = owner[src] < 0
    ax_src = np.where(is_host, host_offset[src], bid[np.maximum(owner[src], 0)])
    axon = {
        "offsets": ax_offsets.astype(np.int64),
        "kind": (~is_host).astype(np.uint8),
        "src": ax_src.astype(np.int64),
        "delay": delay.astype(np.uint8),
    }
    # synapses ordered by (core, axon, slot)
    s_axon = ax_local[inverse]
    s_slot = slots[view.syn_post]
    s_order = np.lexsort((s_slot, s_axon, syn_core))
    weights = view.syn_weight[s_order]
    syn = {
        "offsets": np.concatenate([[0], np.cumsum(np.bincount(syn_core, minlength=k))]).astype(np.int64),
        "axon": s_axon[s_order].astype(np.int32),
        "slot": s_slot[s_order].astype(np.int32),
        "weight": weights.astype(np.int32),
    }
    # routing: one multicast entry per neuron with remote destinations
    d_src, d_core = destinations(view, cores)
    home = source_cores(view, cores)[d_src]
    remote = (home >= 0) & (home != d_core)
    d_src, d_core, home = d_src[remote], d_core[remote], home[remote]
    d_neuron = bid[owner[d_src]]
    r_order = np.lexsort((d_core, d_neuron))
    d_neuron, d_core = d_neuron[r_order], d_core[r_order]
    entry_neuron, entry_start = np.unique(d_neuron, return_index=True)
    entry_core = nrn["core"][entry_neuron]
    rout = {
        "offsets": np.concatenate([[0], np.cumsum(np.bincount(entry_core, minlength=k))]).astype(np.int64),
        "slot": nrn["slot"][entry_neuron].astype(np.int32),
        "dest_offsets": np.concatenate([entry_start, [d_neuron.size]]).astype(np.int64),
        "dest": d_core.astype(np.int32),
    }
    inputs, outputs, out_arrays = [], [], {}
    for op in net.body.block.ops:
        if isinstance(op, core.InputOp):
            inputs.append(
                {
                    "arg": op.input.index,
                    "shape": list(op.input.type.get_shape()),
                    "encoding": op.encoding.data.value,
                    "scale": op.scale.value.data,
                    "seed": op.seed.value.data,
                    "levels": None if op.levels is None else op.levels.value.data,
                }
            )
    for i, v in enumerate(net.body.block.last_op.operands):
        d = v.owner
        src_op = d.input.owner
        if not isinstance(src_op, core.NeuronsOp):
            raise NmcError("a decoder of a host input cannot be compiled to the chip")
        ids = bid[view.neuron_offset[src_op] + np.arange(src_op.size)]
        outputs.append({"kind": d.kind.data.value, "latency": d.latency.value.data, "shape": list(d.output.type.get_shape())})
        out_arrays[f"neurons{i}"] = ids.astype(np.int64)
        out_arrays[f"scale{i}"] = (to_numpy(d.scale) if d.scale is not None else np.ones(ids.size)).astype(np.float64)
    meta = {
        "name": net.sym_name.data,
        "ticks": net.ticks.value.data,
        "dt": net.dt.value.data,
        "chip": chip.name,
        "mesh": list(chip.mesh),
        "neurons_per_core": chip.core["neurons"],
        "axons_per_core": chip.core["axons"],
        "membrane_bits": chip.core["membrane_bits"],
        "partial_sum_bits": chip.core["partial_sum_bits"],
        "n_inputs": len(net.body.block.args),
        "inputs": inputs,
        "outputs": outputs,
    }
    arrays = {
        "CORE": {"x": to_numpy(mesh.x).astype(np.int32), "y": to_numpy(mesh.y).astype(np.int32)},
        "NRN ": nrn,
        "AXON": axon,
        "SYN ": syn,
        "ROUT": rout,
        "OUT ": out_arrays,
    }
    return ChipImage(meta, arrays, bytes.fromhex(chip.digest))


def _source_maps(view: Any, bid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per global source index: offset among host input elements (or -1), and IR neuron id (or -1)."""
    from nmc.dialects import core

    host = np.full(view.n_sources, -1, np.int64)
    owner = np.full(view.n_sources, -1, np.int64)
    owner[view.neuron_source] = np.arange(view.n_neurons)
    offset = 0
    for v in view.sources:
        if isinstance(v.owner, core.InputOp):
            n = core.size_of(v.type)
            host[view.source_offset[v] : view.source_offset[v] + n] = np.arange(offset, offset + n)
            offset += n
    return host, owner


def chip_digest_hex(image: ChipImage) -> str:
    return image.chip_digest.hex()


def dump(image: ChipImage, out: IO[str]) -> None:
    """A readable listing of a binary, for people and FileCheck."""
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


def write_binary(image: ChipImage, path: Path) -> bytes:
    from nmc.driver import write_atomically

    data = encode(image)
    write_atomically(path, lambda f: f.write(data), mode="wb")
    return data


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
