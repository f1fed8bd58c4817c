"""The time-multiplexed RTL style of `--target verilog` (docs/verilog.md): per core one shared neuron
datapath (or P lanes, the chip's `core.lanes`) walking neuron state, configuration, synapses and axon
values held in memories. This module plans the sizes and memory contents; verilog_tm_rtl.py writes them.

Like the per-neuron style (targets/verilog.py) the input is the chip image, the widths are the plan's
exact bounds, and the primitives (targets/nmc_tm_primitives.v) carry the semantics; this module sizes
them per core, writes the memories' contents and the chip level: a deliver walker that copies every
axon's value (host input or a source neuron's output) into its core's axon memory, in the delay bank
the axon's delay selects, and a probe port through which the host reads outputs and membranes.

The order of a neuron's synapses changes from the binary's (by axon) to by neuron; the sum is the
same because the accumulator is wide enough never to wrap (plan's bound), so integer addition is
exact in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.chips.errors import NmcError
from nmc.targets.verilog import Design, _Image, bits_index, bits_signed, plan

TM_PRIMITIVES = "nmc_tm_primitives.v"
TM_MEMORIES = "nmc_tm_memories.v"  # behavioural memories (simulation)
SRAM_MODELS = "nmc_sram_models.v"  # the memories as SRAM macros, for synthesis
TM_MACROS = "nmc_tm_macros.v"  # the memories as black boxes (--verilog-memories macros)
LIBRARY = resources.files("nmc.targets")
# configuration fields of a neuron, in cfg word order: (name, the image column or None, signed)
FIELDS = (
    ("count", None, False),
    ("mode", "mode", False),
    ("reset", "reset", False),
    ("compare", "compare", False),
    ("shift", "shift", False),
    ("mult", "mult", False),
    ("current", None, False),
    ("cshift", "cshift", False),
    ("cmult", "cmult", False),
    ("threshold", "threshold", True),
    ("bias", "bias", True),
    ("v_init", "v_init", True),
    ("start", "start", False),
)


@dataclass
class TmLane:
    """One update datapath of a core and the neurons it walks (slots first .. first + neurons - 1)."""

    first: int
    neurons: int
    synapses: int
    iw: int  # accumulator bits: the lane's largest |synaptic sum + bias|
    mw: int
    cmw: int
    current: bool
    count_bits: int
    consts: dict[str, int]  # configuration fields equal across the lane
    slices: dict[str, tuple[int, int, bool]]  # varying fields: (lsb, width, signed)
    cfg_bits: int
    syn_words: list[int]
    cfg_words: list[int]
    busy_cycles: int  # cycles from `start` until idle again

    @property
    def nw(self) -> int:
        return bits_index(self.neurons)


@dataclass
class TmCore:
    """One core's sizes: its axons (every lane holds a copy of the axon memory) and its lanes."""

    index: int
    neurons: int
    axons: int
    bank_bits: int  # 0: no delayed axon on this core
    xw: int  # axon value bits
    signed_axons: bool
    ow: int  # output value bits (1: spikes)
    lane_bits: int  # a slot's lane is slot >> lane_bits
    lanes: list[TmLane]

    @property
    def nw(self) -> int:
        return bits_index(self.neurons)

    @property
    def aiw(self) -> int:
        return bits_index(max(1, self.axons))

    @property
    def ax_words(self) -> int:
        return (1 << self.bank_bits) * (1 << self.aiw) if self.bank_bits else max(1, self.axons)

    @property
    def synapses(self) -> int:
        return sum(lane.synapses for lane in self.lanes)

    @property
    def busy_cycles(self) -> int:
        return max(lane.busy_cycles for lane in self.lanes)

    def memory_bits(self, ww: int, vw: int) -> dict[str, int]:
        return {
            "synapses": sum(max(1, lane.synapses) for lane in self.lanes) * (self.aiw + ww),
            "configuration": sum(lane.neurons * lane.cfg_bits for lane in self.lanes),
            "state": sum(lane.neurons * vw * (2 if lane.current else 1) for lane in self.lanes),
            "outputs": self.neurons * self.ow,
            "axons": len(self.lanes) * self.ax_words * self.xw,
        }


@dataclass
class TmDesign:
    """The chip-level sizes of the time-multiplexed style."""

    base: Design
    cores: list[TmCore]
    dxw: int  # deliver bus value bits
    hw: int  # host value bits
    bank_bits: int
    deliver: list[tuple[int, int, int, int, int, int]] = field(default_factory=list)  # kind, src core, src, dst, axon, delay
    probes: list[tuple[int, int, int]] = field(default_factory=list)  # (membrane?, core, slot)

    @property
    def top(self) -> str:
        return self.base.top

    @property
    def cycles_per_tick(self) -> int:
        """From `step` to `ready` again: deliver (entries + 3), start (1), the busiest lane, 1."""
        entries = len(self.deliver)
        return (entries + 3 if entries else 1) + 1 + max((c.busy_cycles for c in self.cores), default=0) + 1

    @property
    def field_bits(self) -> tuple[int, int, int, int]:
        """Bits of the deliver table's fields: core, source index, axon, delay."""
        cb = bits_index(max(1, len(self.cores)))
        sb = max(bits_index(max(1, self.base.host_width)), max((c.nw for c in self.cores), default=1))
        ab = max((c.aiw for c in self.cores), default=1)
        return cb, sb, ab, max(1, self.bank_bits)

    @property
    def entry_bits(self) -> int:
        cb, sb, ab, db = self.field_bits
        return 1 + cb + sb + cb + ab + db

    @property
    def probe_bits(self) -> int:
        return 1 + self.field_bits[0] + max(c.nw for c in self.cores)

    def memory_bits(self) -> dict[str, int]:
        per = {
            "host_inputs": self.base.host_width * self.hw,
            "deliver_table": len(self.deliver) * self.entry_bits,
            "probe_table": max(1, len(self.probes)) * self.probe_bits,
        }
        for c in self.cores:
            for k, v in c.memory_bits(self.base.ww, self.base.vw).items():
                per[k] = per.get(k, 0) + v
        return per


def _field_width(values: np.ndarray, signed: bool) -> int:
    lo, hi = int(values.min()), int(values.max())
    return bits_signed(lo, hi) if signed else max(1, hi.bit_length())


def _lane(im: _Image, d: Design, ids: np.ndarray, first: int, syn: tuple[np.ndarray, ...]) -> TmLane:
    """The lane of binary neurons `ids` (slots first .. first + len(ids) - 1); `syn`: the core's synapses."""
    nrn = im.nrn
    n = ids.size
    s_axon, s_slot, s_w = syn
    mine = (s_slot >= first) & (s_slot < first + n)
    s_axon, s_slot, s_w = s_axon[mine], s_slot[mine] - first, s_w[mine]
    order = np.lexsort((s_axon, s_slot))
    counts = np.bincount(s_slot, minlength=n)
    columns = {
        "count": counts,
        "current": (nrn["cmult"][ids] > 0).astype(np.int64),
        **{name: nrn[col][ids].astype(np.int64) for name, col, _ in FIELDS if col is not None},
    }
    consts: dict[str, int] = {}
    slices: dict[str, tuple[int, int, bool]] = {}
    lsb = 0
    for name, _, signed in FIELDS:
        values = columns[name]
        if (values == values[0]).all():
            consts[name] = int(values[0])
        else:
            width = _field_width(values, signed)
            slices[name] = (lsb, width, signed)
            lsb += width
    cfg_words = [0] * n
    for name, (at, width, _) in slices.items():
        mask = (1 << width) - 1
        for k, value in enumerate(columns[name].tolist()):
            cfg_words[k] |= (int(value) & mask) << at
    bound = int(d.acc_bound[ids].max())
    return TmLane(
        first=first,
        neurons=n,
        synapses=int(s_w.size),
        iw=bits_signed(-bound, bound),
        mw=max(1, int(columns["mult"].max()).bit_length()),
        cmw=max(1, int(columns["cmult"].max()).bit_length()),
        current=bool(columns["current"].any()),
        count_bits=max(1, int(counts.max()).bit_length()),
        consts=consts,
        slices=slices,
        cfg_bits=max(1, lsb),
        syn_words=[(int(a) << d.ww) | (int(w) & ((1 << d.ww) - 1)) for a, w in zip(s_axon[order], s_w[order], strict=True)],
        cfg_words=cfg_words,
        # per neuron: load 1, the synapse pipeline (count + 3, or 1 without synapses), update 1
        busy_cycles=int((np.where(counts > 0, counts + 3, 1) + 2).sum()),
    )


def _core(im: _Image, d: Design, c: int, lanes: int) -> TmCore:
    nrn, ax = im.nrn, im.ax
    ids = np.array(list(im.neurons(c)), dtype=np.int64)
    ids = ids[np.argsort(nrn["slot"][ids], kind="stable")]
    n = ids.size
    if not np.array_equal(nrn["slot"][ids], np.arange(n)):
        raise NmcError(f"core {c}: neuron slots are not 0..{n - 1}; the image is malformed")
    syn = im.synapses(c)
    arrays = tuple(im.syn[k][syn.start : syn.stop].astype(np.int64) for k in ("axon", "slot", "weight"))
    axons = list(im.axons(c))
    delays = ax["delay"][axons].astype(np.int64)
    # axon values: spikes (0/1), host inputs (signed levels) or partial sums (signed)
    graded_host = any(spec["encoding"] == "direct" for spec in im.meta["inputs"])
    signed_axons, xw = False, 1
    for kind, src in zip(ax["kind"][axons].tolist(), ax["src"][axons].tolist(), strict=True):
        if kind == 0 and graded_host:
            signed_axons, xw = True, max(xw, host_bits(im))
        elif kind == 1 and nrn["mode"][src] == 1:
            signed_axons, xw = True, max(xw, d.pw)
    # P lanes of a power-of-two number of neurons each, so that a slot's lane is its high bits
    lane_bits = max(0, int(-(-n // lanes) - 1).bit_length())
    chunk = 1 << lane_bits
    return TmCore(
        index=c,
        neurons=n,
        axons=len(axons),
        bank_bits=int(delays.max(initial=0)).bit_length(),
        xw=max(xw, 2) if signed_axons else 1,
        signed_axons=signed_axons,
        ow=d.pw if (nrn["mode"][ids] == 1).any() else 1,
        lane_bits=lane_bits,
        lanes=[_lane(im, d, ids[first : first + chunk], first, arrays) for first in range(0, n, chunk)],
    )


def host_bits(im: _Image) -> int:
    """Bits of a host input value (signed): the largest direct input level, or a spike."""
    levels = max([int(s["levels"]) for s in im.meta["inputs"] if s["encoding"] == "direct"] or [1])
    return max(2, bits_signed(-levels, levels))


def tm_plan(image: ChipImage, lanes: int = 1) -> TmDesign:
    """Sizes, memory contents, the deliver and probe tables of the multiplexed style, `lanes` datapaths per core."""
    d = plan(image)
    im = _Image(image)
    if any(len(im.neurons(c)) == 0 for c in range(im.cores)):
        raise NmcError("a core without neurons cannot be emitted in the time-multiplexed style")
    cores = [_core(im, d, c, lanes) for c in range(im.cores)]
    hw = host_bits(im)
    deliver = []
    nrn, ax = im.nrn, im.ax
    for c in range(im.cores):
        for j, a in enumerate(im.axons(c)):
            kind, src = int(ax["kind"][a]), int(ax["src"][a])
            src_core, src_index = (0, src) if kind == 0 else (int(nrn["core"][src]), int(nrn["slot"][src]))
            deliver.append((kind, src_core, src_index, c, j, int(ax["delay"][a])))
    probes = [(0, int(nrn["core"][i]), int(nrn["slot"][i])) for i in d.outputs.tolist()]
    probes += [(1, int(nrn["core"][i]), int(nrn["slot"][i])) for i in d.membranes.tolist()]
    dxw = max([hw] + [c.xw for c in cores] + [c.ow for c in cores])
    bank_bits = max((c.bank_bits for c in cores), default=0)
    return TmDesign(base=d, cores=cores, dxw=dxw, hw=hw, bank_bits=bank_bits, deliver=deliver, probes=probes)


def sram_models_source() -> str:
    return LIBRARY.joinpath(SRAM_MODELS).read_text()


def cost_from_synthesis(sta: dict, cycles_per_tick: int, synapses: int) -> dict:
    """The cost model's numbers from the synthesized chip: a tick walks every synapse once, so the energy of
    a synaptic operation is the power at the timed clock times the tick's duration over its synapses."""
    tick_s = cycles_per_tick / (sta["clock_mhz"] * 1e6)
    return {
        "cycles_per_tick": cycles_per_tick,
        "tick_us": round(tick_s * 1e6, 3),
        "energy_per_tick_nj": round(sta["power_total_w"] * tick_s * 1e9, 3),
        "energy_synop_pj": round(sta["power_total_w"] * tick_s / max(1, synapses) * 1e12, 3),
        "activity": "OpenSTA's default switching activity (0.1 on every input, propagated); memories' arrays not included",
    }
