"""The crossbar kind of chip binary (docs/binary-format.md): its sections, their checks and its dump.

Sections: META (JSON), CORE (x, y of each core), NRN (per neuron: core, slot, mode, threshold, …),
AXON (per core, CSR: where each axon's values come from, and its delay), SYN (per core, CSR:
axon, slot, weight), ROUT (per core, CSR: multicast entries and their destination cores), OUT
(the neurons each decoder reads). META carries no `kind` (the crossbar binaries came first).
"""

from __future__ import annotations

from typing import IO, Any

import numpy as np

from nmc.chips.binary_error import BinaryError
from nmc.chips.binary_schema import INTEGER_ARRAYS, check_arrays, check_meta
from nmc.chips.formats import COMPARES, MODES, RESETS
from nmc.chips.kinds import BinaryFacet

SECTIONS = ("META", "CORE", "NRN ", "AXON", "SYN ", "ROUT", "OUT ")


REQUIRED = {**INTEGER_ARRAYS, "OUT ": ()}  # the arrays every section must hold (OUT's depend on META)


def validate(image: Any) -> None:
    """Check every index and size in the image, so the simulator can trust it."""
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
    shift, mult = nrn["shift"].astype(np.int64), nrn["mult"].astype(np.int64)
    bad = (mult < 1) | ((shift == 0) & (mult != 1)) | ((shift > 0) & (mult > np.left_shift(1, np.minimum(shift, 62))))
    if bad.any():
        n = int(np.argmax(bad))
        raise BinaryError(f"NRN.mult[{n}] = {mult[n]} with shift {shift[n]}: the leak V -= (V * mult) >> shift needs "
                          "1 <= mult <= 2^shift (mult 1 without a shift)")  # fmt: skip
    cshift, cmult = nrn["cshift"].astype(np.int64), nrn["cmult"].astype(np.int64)
    bad = (cmult < 0) | ((cmult > 0) & (((cshift == 0) & (cmult != 1)) | (cmult > np.left_shift(1, np.minimum(cshift, 62)))))
    bad |= (cmult == 0) & (cshift != 0)
    if bad.any():
        n = int(np.argmax(bad))
        raise BinaryError(f"NRN.cmult[{n}] = {cmult[n]} with cshift {cshift[n]}: a current decays I -= (I * cmult) >> "
                          "cshift, 1 <= cmult <= 2^cshift (1 without a shift), or cmult = cshift = 0 (no current)")  # fmt: skip
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
        if _out.get("kind") == "membrane" and ids.size and (nrn["mode"][ids.astype(np.int64)] == MODES.index("psum")).any():
            raise BinaryError(f"OUT.neurons{i}: a membrane output reads a partial-sum unit, which holds no membrane")


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


def dump(image: Any, out: IO[str]) -> None:
    """A readable listing of a crossbar binary, for people and FileCheck."""
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
                f"bias {nrn['bias'][n]} v_init {nrn['v_init'][n]} shift {nrn['shift'][n]}"
                f"{'' if nrn['mult'][n] == 1 else ' mult ' + str(nrn['mult'][n])} "
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


BINARY = BinaryFacet(SECTIONS, validate, dump)
