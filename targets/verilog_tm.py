"""The time-multiplexed RTL style of `--target verilog` (docs/verilog.md): per core one shared neuron
datapath walking neuron state, configuration, synapses and axon values held in memories.

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
from nmc.targets.verilog import Design, _Image, bits_index, bits_signed, hex_rows, identifier, plan

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
class TmCore:
    """One core's sizes and memory contents."""

    index: int
    neurons: int
    synapses: int
    axons: int
    bank_bits: int  # 0: no delayed axon on this core
    xw: int  # axon value bits
    signed_axons: bool
    ow: int  # output value bits (1: spikes)
    iw: int  # accumulator bits: this core's largest |synaptic sum + bias|
    mw: int
    cmw: int
    current: bool
    count_bits: int
    consts: dict[str, int]  # configuration fields equal across the core
    slices: dict[str, tuple[int, int, bool]]  # varying fields: (lsb, width, signed)
    cfg_bits: int
    syn_words: list[int]
    cfg_words: list[int]
    busy_cycles: int  # cycles from `start` until idle again

    @property
    def nw(self) -> int:
        return bits_index(self.neurons)

    @property
    def aiw(self) -> int:
        return bits_index(max(1, self.axons))

    @property
    def ax_words(self) -> int:
        return (1 << self.bank_bits) * (1 << self.aiw) if self.bank_bits else max(1, self.axons)

    def memory_bits(self, ww: int, vw: int) -> dict[str, int]:
        syn_w = self.aiw + ww
        return {
            "synapses": max(1, self.synapses) * syn_w,
            "configuration": self.neurons * self.cfg_bits,
            "state": self.neurons * vw * (2 if self.current else 1),
            "outputs": self.neurons * self.ow,
            "axons": self.ax_words * self.xw,
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
        """From `step` to `ready` again: deliver (entries + 3), start (1), the busiest core, 1."""
        entries = len(self.deliver)
        return (entries + 3 if entries else 1) + 1 + max((c.busy_cycles for c in self.cores), default=0) + 1

    def memory_bits(self) -> dict[str, int]:
        cb, sb, _, _ = self.field_bits
        per = {
            "host_inputs": self.base.host_width * self.hw,
            "deliver_table": len(self.deliver) * self.entry_bits,
            "probe_table": max(1, len(self.probes)) * (1 + cb + max(c.nw for c in self.cores)),
        }
        for c in self.cores:
            for k, v in c.memory_bits(self.base.ww, self.base.vw).items():
                per[k] = per.get(k, 0) + v
        return per

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


def _field_width(values: np.ndarray, signed: bool) -> int:
    lo, hi = int(values.min()), int(values.max())
    return bits_signed(lo, hi) if signed else max(1, hi.bit_length())


def _core(im: _Image, d: Design, c: int) -> TmCore:
    nrn, ax = im.nrn, im.ax
    ids = np.array(list(im.neurons(c)), dtype=np.int64)
    ids = ids[np.argsort(nrn["slot"][ids], kind="stable")]
    n = ids.size
    if not np.array_equal(nrn["slot"][ids], np.arange(n)):
        raise NmcError(f"core {c}: neuron slots are not 0..{n - 1}; the image is malformed")
    syn = im.synapses(c)
    s_axon = im.syn["axon"][syn.start : syn.stop].astype(np.int64)
    s_slot = im.syn["slot"][syn.start : syn.stop].astype(np.int64)
    s_w = im.syn["weight"][syn.start : syn.stop].astype(np.int64)
    order = np.lexsort((s_axon, s_slot))
    counts = np.bincount(s_slot, minlength=n)
    axons = list(im.axons(c))
    delays = ax["delay"][axons].astype(np.int64) if axons else np.zeros(0, np.int64)
    bank_bits = max(0, int(delays.max(initial=0))).bit_length()
    # axon values: spikes (0/1), host inputs (signed levels) or partial sums (signed)
    kinds = ax["kind"][axons] if axons else np.zeros(0, np.int64)
    srcs = ax["src"][axons] if axons else np.zeros(0, np.int64)
    graded_host = any(spec["encoding"] == "direct" for spec in im.meta["inputs"])
    signed_axons, xw = False, 1
    for kind, src in zip(kinds.tolist(), srcs.tolist(), strict=True):
        if kind == 0 and graded_host:
            signed_axons, xw = True, max(xw, host_bits(im))
        elif kind == 1 and nrn["mode"][src] == 1:
            signed_axons, xw = True, max(xw, d.pw)
    if signed_axons:
        xw = max(xw, 2)
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
        if values.size == 0 or (values == values[0]).all():
            consts[name] = int(values[0]) if values.size else 0
        else:
            width = _field_width(values, signed)
            slices[name] = (lsb, width, signed)
            lsb += width
    cfg_bits = max(1, lsb)
    cfg_words = [0] * n
    for name, (at, width, _) in slices.items():
        mask = (1 << width) - 1
        for k, value in enumerate(columns[name].tolist()):
            cfg_words[k] |= (int(value) & mask) << at
    aiw = bits_index(max(1, len(axons)))
    syn_words = [(int(a) << d.ww) | (int(w) & ((1 << d.ww) - 1)) for a, w in zip(s_axon[order], s_w[order], strict=True)]
    acc_cycles = np.where(counts > 0, counts + 3, 1)
    mw = max(1, int(columns["mult"].max(initial=1)).bit_length())
    cmw = max(1, int(columns["cmult"].max(initial=1)).bit_length())
    core = TmCore(
        index=c,
        neurons=n,
        synapses=int(s_w.size),
        axons=len(axons),
        bank_bits=bank_bits,
        xw=xw,
        signed_axons=signed_axons,
        ow=d.pw if (nrn["mode"][ids] == 1).any() else 1,
        iw=bits_signed(-int(d.acc_bound[ids].max()), int(d.acc_bound[ids].max())),
        mw=mw,
        cmw=cmw,
        current=bool(columns["current"].any()),
        count_bits=max(1, int(counts.max(initial=0)).bit_length()),
        consts=consts,
        slices=slices,
        cfg_bits=cfg_bits,
        syn_words=syn_words,
        cfg_words=cfg_words,
        busy_cycles=int((acc_cycles + 2).sum()),
    )
    assert aiw == core.aiw
    return core


def host_bits(im: _Image) -> int:
    """Bits of a host input value (signed): the largest direct input level, or a spike."""
    levels = max([int(s["levels"]) for s in im.meta["inputs"] if s["encoding"] == "direct"] or [1])
    return max(2, bits_signed(-levels, levels))


def tm_plan(image: ChipImage) -> TmDesign:
    d = plan(image)
    im = _Image(image)
    if any(len(im.neurons(c)) == 0 for c in range(im.cores)):
        raise NmcError("a core without neurons cannot be emitted in the time-multiplexed style")
    cores = [_core(im, d, c) for c in range(im.cores)]
    hw = host_bits(im)
    bank_bits = max((c.bank_bits for c in cores), default=0)
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
    return TmDesign(base=d, cores=cores, dxw=dxw, hw=hw, bank_bits=bank_bits, deliver=deliver, probes=probes)


# --------------------------------------------------------------------------- RTL


def _hex(words: list[int], width: int) -> str:
    digits = max(1, (width + 3) // 4)
    return "".join(f"{w:0{digits}x}\n" for w in words) if words else f"{0:0{digits}x}\n"


def _port_value(core: TmCore, name: str, width: int, signed: bool) -> str:
    if name in core.slices:
        lsb, w, sgn = core.slices[name]
        part = f"cfg[{lsb + w - 1}:{lsb}]"
        if width == 32 and sgn:
            return f"{{{{{32 - w}{{cfg[{lsb + w - 1}]}}}}, {part}}}" if w < 32 else part
        return f"{{{width - w}'d0, {part}}}" if w < width else part
    value = core.consts[name]
    if signed:
        return f"-32'sd{-value}" if value < 0 else f"32'sd{value}"
    return f"{width}'d{value}"


def _core_module(td: TmDesign, core: TmCore, files: dict[str, str]) -> list[str]:
    d = td.base
    name = f"{d.top}_core{core.index}"
    syn_file, cfg_file = f"{name}_syn.hex", f"{name}_cfg.hex"
    files[syn_file] = _hex(core.syn_words, core.aiw + d.ww)
    files[cfg_file] = _hex(core.cfg_words, core.cfg_bits)
    bw = max(1, core.bank_bits)
    axw = core.bank_bits + core.aiw
    spw = bits_index(max(1, core.synapses))
    ports = {
        "count": _port_value(core, "count", core.count_bits, False),
        "mode": _port_value(core, "mode", 2, False),
        "reset": _port_value(core, "reset", 2, False),
        "compare": _port_value(core, "compare", 1, False),
        "shift": _port_value(core, "shift", 5, False),
        "mult": _port_value(core, "mult", core.mw, False),
        "current": _port_value(core, "current", 1, False),
        "cshift": _port_value(core, "cshift", 5, False),
        "cmult": _port_value(core, "cmult", core.cmw, False),
        "threshold": _port_value(core, "threshold", 32, True),
        "bias": _port_value(core, "bias", 32, True),
        "v_init": _port_value(core, "v_init", 32, True),
        "start": _port_value(core, "start", d.tw, False),
    }
    varying = ", ".join(sorted(core.slices)) or "none"
    return [
        f"// core {core.index}: {core.neurons} neurons, {core.axons} axons, {core.synapses} synapses; "
        f"configuration per neuron: {varying}",
        "(* keep_hierarchy *)  // a core is a unit of the floor plan: synthesized and counted on its own",
        f"module {name} (",
        "    input  wire clk, rst, start,",
        "    output wire idle,",
        f"    input  wire [{d.tw - 1}:0] tick,",
        f"    input  wire [{bw - 1}:0] bank,",
        "    input  wire ax_we,",
        f"    input  wire [{axw - 1}:0] ax_waddr,",
        f"    input  wire [{core.xw - 1}:0] ax_wdata,",
        f"    input  wire [{core.nw - 1}:0] out_raddr,",
        f"    output wire [{core.ow - 1}:0] out_rdata,",
        f"    input  wire [{core.nw - 1}:0] probe_addr,",
        f"    output wire [{d.vw - 1}:0] probe_v",
        ");",
        f"    wire [{core.cfg_bits - 1}:0] cfg;",
        *(["    // verilator lint_off UNUSEDSIGNAL", "    wire unused_cfg = &cfg;", "    // verilator lint_on UNUSEDSIGNAL"]
          if not core.slices else []),
        f"    nmc_tm_core #(.N({core.neurons}), .NW({core.nw}), .S({max(1, core.synapses)}), .SPW({spw}), "
        f".KW({core.count_bits}), .AD({core.ax_words}), .AXW({axw}), .AIW({core.aiw}), .BW({core.bank_bits}), "
        f".WW({d.ww}), .XW({core.xw}), .XS({int(core.signed_axons)}), .OW({core.ow}), .IW({core.iw}), .VW({d.vw}), "
        f".PW({d.pw}), .MW({core.mw}), .CMW({core.cmw}), .CUR({int(core.current)}), .TW({d.tw}), "
        f'.CFGW({core.cfg_bits}), .SYNFILE("{syn_file}"), .CFGFILE("{cfg_file}")) engine (',
        "        .clk(clk), .rst(rst), .start(start), .idle(idle), .tick(tick), .bank(bank), .ax_we(ax_we), "
        ".ax_waddr(ax_waddr), .ax_wdata(ax_wdata),",
        "        .out_raddr(out_raddr), .out_rdata(out_rdata), .probe_addr(probe_addr), .probe_v(probe_v), .cfg(cfg),",
        "        " + ", ".join(f".cfg_{k}({v})" for k, v in ports.items()) + ");",
        "endmodule",
        "",
    ]


def _top_module(td: TmDesign, files: dict[str, str]) -> list[str]:
    d = td.base
    cb, sb, ab, db = td.field_bits
    ew = td.entry_bits
    entries = len(td.deliver)
    words = [
        (kind << (ew - 1)) | (src_core << (sb + cb + ab + db)) | (src << (cb + ab + db)) | (dst << (ab + db)) | (axon << db) | delay
        for kind, src_core, src, dst, axon, delay in td.deliver
    ]
    deliver_file = f"{d.top}_deliver.hex"
    files[deliver_file] = _hex(words, ew)
    nw_max = max(c.nw for c in td.cores)
    probe_file = f"{d.top}_probe.hex"
    files[probe_file] = _hex([(m << (cb + nw_max)) | (c << nw_max) | slot for m, c, slot in td.probes], 1 + cb + nw_max)
    nw_max = max(c.nw for c in td.cores)
    hb = bits_index(max(1, d.host_width))
    pb = bits_index(max(1, len(td.probes)))
    pdw = max(td.dxw, d.vw)
    bw = max(1, td.bank_bits)
    ecw = bits_index(entries + 1)
    out = [
        f"// chip level: {len(td.cores)} cores; deliver walks {entries} axon entries, one per cycle",
        f"module {d.top} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire step,",
        "    output wire ready,",
        "    input  wire host_we,",
        f"    input  wire [{hb - 1}:0] host_addr,",
        f"    input  wire [{td.hw - 1}:0] host_data,",
        f"    input  wire [{pb - 1}:0] probe_addr,",
        f"    output reg  [{pdw - 1}:0] probe_data",
        ");",
        "    localparam [2:0] T_INIT = 3'd0, T_IDLE = 3'd1, T_DELIVER = 3'd2, T_START = 3'd3, T_WAIT = 3'd4;",
        "    reg [2:0] tst;",
        f"    reg [{d.tw - 1}:0] tick;",
        f"    reg [{bw - 1}:0] bank;",
        f"    reg [{ecw - 1}:0] e;",
        "    reg va, vb;",
        "    assign ready = (tst == T_IDLE);",
        f"    wire [{ew - 1}:0] entry;",
        f"    nmc_rom #(.W({ew}), .D({max(1, entries)}), .AW({ecw}), .INIT(\"{deliver_file}\")) deliver_table "
        "(.clk(clk), .raddr(e), .rdata(entry));",
        "    // entry: {host 0 / neuron 1, source core, source index, destination core, axon, delay}",
        f"    wire e_kind = entry[{ew - 1}];",
        f"    wire [{cb - 1}:0] e_src_core = entry[{ew - 2}:{sb + cb + ab + db}];",
        f"    wire [{sb - 1}:0] e_src = entry[{sb + cb + ab + db - 1}:{cb + ab + db}];",
        "    // the deliver pipeline's last stage: the entry's value is on the memories' read ports",
        "    reg b_kind;",
        f"    reg [{cb - 1}:0] b_src_core, b_dst;",
        f"    reg [{ab - 1}:0] b_axon;",
        f"    reg [{db - 1}:0] b_delay;",
        "    // verilator lint_off WIDTH",
        f"    wire [{bw - 1}:0] w_bank = bank + b_delay;  // modulo the bank count, a power of two",
        "    // verilator lint_on WIDTH",
        "    // probe table: {membrane?, core, slot} per probe address (outputs, then decoded membranes)",
        f"    wire [{1 + cb + nw_max - 1}:0] probe_entry;",
        f"    nmc_rom #(.W({1 + cb + nw_max}), .D({max(1, len(td.probes))}), .AW({pb}), .INIT(\"{probe_file}\")) probe_table "
        "(.clk(clk), .raddr(probe_addr), .rdata(probe_entry));",
        f"    wire probe_kind = probe_entry[{cb + nw_max}];",
        f"    wire [{cb - 1}:0] probe_core = probe_entry[{cb + nw_max - 1}:{nw_max}];",
        f"    wire [{nw_max - 1}:0] probe_slot = probe_entry[{nw_max - 1}:0];",
        "    reg probe_kind_q;",
        f"    reg [{cb - 1}:0] probe_core_q;",
        f"    wire [{nw_max - 1}:0] out_raddr = (tst == T_DELIVER) ? e_src[{nw_max - 1}:0] : probe_slot;",
        "    wire core_start = (tst == T_START);",
        f"    wire [{td.dxw - 1}:0] host_value;",
    ]
    if d.host_width:
        out += [
            f"    wire [{td.hw - 1}:0] host_rdata;",
            f"    nmc_ram #(.W({td.hw}), .D({d.host_width}), .AW({hb})) host_mem (.clk(clk), .we(host_we), "
            f".waddr(host_addr), .wdata(host_data), .raddr(e_src[{hb - 1}:0]), .rdata(host_rdata));",
            f"    assign host_value = {_extend('host_rdata', td.hw, td.dxw, True)};",
        ]
    else:
        out += [
            "    // no host inputs",
            "    // verilator lint_off UNUSEDSIGNAL",
            "    wire unused_host = host_we ^ (^host_addr) ^ (^host_data);",
            "    // verilator lint_on UNUSEDSIGNAL",
            f"    assign host_value = {td.dxw}'d0;",
        ]
    idle = []
    for c in td.cores:
        k = c.index
        idle.append(f"core{k}_idle")
        axw = c.bank_bits + c.aiw
        waddr = f"{{w_bank[{c.bank_bits - 1}:0], b_axon[{c.aiw - 1}:0]}}" if c.bank_bits else f"b_axon[{c.aiw - 1}:0]"
        out += [
            f"    wire core{k}_idle;",
            f"    wire [{c.ow - 1}:0] core{k}_out;",
            f"    wire [{d.vw - 1}:0] core{k}_v;",
            f"    wire [{axw - 1}:0] core{k}_waddr = {waddr};",
            f"    {d.top}_core{k} core{k} (.clk(clk), .rst(rst), .start(core_start), .idle(core{k}_idle), .tick(tick), "
            f".bank(bank[{max(1, c.bank_bits) - 1}:0]), .ax_we(vb && b_dst == {cb}'d{k}), .ax_waddr(core{k}_waddr), "
            f".ax_wdata(value[{c.xw - 1}:0]), .out_raddr(out_raddr[{c.nw - 1}:0]), .out_rdata(core{k}_out), "
            f".probe_addr(probe_slot[{c.nw - 1}:0]), .probe_v(core{k}_v));",
        ]
    out.insert(out.index("    wire core_start = (tst == T_START);") + 1, f"    reg [{td.dxw - 1}:0] value;")
    out += [
        "    // the value of the entry in the last stage: a host input or the source core's output",
        "    always @* begin",
        "        value = host_value;",
        "        if (b_kind) begin",
        "            case (b_src_core)",
        *[
            f"                {cb}'d{c.index}: value = {_extend(f'core{c.index}_out', c.ow, td.dxw, c.ow > 1)};"
            for c in td.cores
        ],
        f"                default: value = {td.dxw}'d0;",
        "            endcase",
        "        end",
        "    end",
        "    always @* begin",
        f"        probe_data = {pdw}'d0;",
        "        case (probe_core_q)",
        *[
            f"            {cb}'d{c.index}: probe_data = probe_kind_q ? {_extend(f'core{c.index}_v', d.vw, pdw, True)} "
            f": {_extend(f'core{c.index}_out', c.ow, pdw, c.ow > 1)};"
            for c in td.cores
        ],
        f"            default: probe_data = {pdw}'d0;",
        "        endcase",
        "    end",
        f"    wire all_idle = {' && '.join(idle)};",
        "    always @(posedge clk) begin",
        "        probe_kind_q <= probe_kind;",
        "        probe_core_q <= probe_core;",
        "        if (rst) begin",
        "            tst <= T_INIT;",
        f"            tick <= {d.tw}'d0;",
        f"            bank <= {bw}'d0;",
        f"            e <= {ecw}'d0;",
        "            va <= 1'b0;",
        "            vb <= 1'b0;",
        "            b_kind <= 1'b0;",
        f"            b_src_core <= {cb}'d0;",
        f"            b_dst <= {cb}'d0;",
        f"            b_axon <= {ab}'d0;",
        f"            b_delay <= {db}'d0;",
        "        end else begin",
        "            case (tst)",
        "                T_INIT: if (all_idle) tst <= T_IDLE;",
        f"                T_IDLE: if (step) begin tst <= {'T_DELIVER' if entries else 'T_START'}; e <= {ecw}'d0; end",
        "                T_DELIVER: begin",
        f"                    va <= (e != {ecw}'d{entries});",
        f"                    if (e != {ecw}'d{entries}) e <= e + 1'b1;",
        "                    vb <= va;",
        "                    b_kind <= e_kind;",
        "                    b_src_core <= e_src_core;",
        f"                    b_dst <= entry[{cb + ab + db - 1}:{ab + db}];",
        f"                    b_axon <= entry[{ab + db - 1}:{db}];",
        f"                    b_delay <= entry[{db - 1}:0];",
        f"                    if (e == {ecw}'d{entries} && !va && !vb) tst <= T_START;",
        "                end",
        "                T_START: tst <= T_WAIT;",
        "                T_WAIT: if (all_idle) begin",
        "                    tst <= T_IDLE;",
        f"                    if (tick != {{{d.tw}{{1'b1}}}}) tick <= tick + 1'b1;",
        "                    bank <= bank + 1'b1;",
        "                end",
        "                default: tst <= T_IDLE;",
        "            endcase",
        "        end",
        "    end",
            "endmodule",
        "",
    ]
    return out


def _extend(signal: str, width: int, to: int, signed: bool) -> str:
    """`signal` widened to `to` bits: sign-extended when signed, else zero-extended."""
    if width == to:
        return signal
    if signed:
        return f"{{{{{to - width}{{{signal}[{width - 1}]}}}}, {signal}}}"
    return f"{{{to - width}'d0, {signal}}}"


def emit_tm_rtl(image: ChipImage, td: TmDesign) -> dict[str, str]:
    """`<top>.v` (core wrappers and the chip level) and each core's synapse and configuration memory files."""
    d = td.base
    files: dict[str, str] = {}
    n = sum(c.neurons for c in td.cores)
    lines = [
        f"// Generated by nmc from network '{image.meta['name']}' mapped on chip '{image.meta['chip']}' "
        f"({len(td.cores)} cores, {n} neurons, {sum(c.synapses for c in td.cores)} synapses), time-multiplexed style.",
        f"// One chip tick = {td.cycles_per_tick} clock cycles: deliver {len(td.deliver)} axon values, then every core "
        "walks its neurons (synapses + 5 cycles per neuron).",
        "// Primitives: nmc_tm_primitives.v. Memories: <top>_core<k>_{syn,cfg}.hex, <top>_deliver.hex.",
        "`default_nettype none",
        "// verilator lint_off DECLFILENAME",
        "",
    ]
    for core in td.cores:
        lines += _core_module(td, core, files)
    lines += _top_module(td, files)
    lines.append("`default_nettype wire")
    files[f"{d.top}.v"] = "\n".join(lines) + "\n"
    return files


# --------------------------------------------------------------------------- testbench


def emit_tm_testbench(td: TmDesign, trace: dict[str, np.ndarray]) -> dict[str, str]:
    """`tb_<top>.v` and its data: writes each tick's host inputs into the input memory, steps the chip,
    reads every output (and at the end every membrane) through the probe port and compares it with the
    simulator's, and checks that each tick takes the cycles the generator states."""
    d = td.base
    host, outs, v = trace["host"], trace["out"], trace["v"]
    ticks, batch = host.shape[0], host.shape[1]
    tb = f"tb_{d.top}"
    n_out, n_mem = d.outputs.size, d.membranes.size
    per_sample = lambda arr: arr.transpose(1, 0, 2).reshape(batch * ticks, -1)  # noqa: E731
    files = {
        f"{tb}_in.hex": hex_rows(per_sample(host) if d.host_width else np.zeros((batch * ticks, 1), np.int64), td.hw),
        f"{tb}_expect.hex": hex_rows(per_sample(outs[:, :, d.outputs]) if n_out else np.zeros((batch * ticks, 1)), d.xw),
        f"{tb}_membranes.hex": hex_rows(v[:, d.membranes] if n_mem else np.zeros((batch, 1)), d.vw),
    }
    hb = bits_index(max(1, d.host_width))
    pb = bits_index(max(1, len(td.probes)))
    pdw = max(td.dxw, d.vw)
    hwid, owid = max(1, d.host_width) * td.hw, max(1, n_out) * d.xw
    ids = "\n".join(f"        ids[{k}] = {i};" for k, i in enumerate(d.outputs.tolist())) or "        ids[0] = 0;"
    text = f"""// Generated by nmc: writes the simulator's input values tick by tick into {d.top}'s input memory, runs
// the tick, and compares every output neuron (and after the last tick every decoded membrane) read through
// the probe port with the simulator's. Run in this folder:
//   iverilog -g2012 -o {tb} *.v && vvp {tb}
`timescale 1ns/1ps
module {tb};
    localparam integer SAMPLES = {batch};
    localparam integer TICKS = {ticks};
    localparam integer NOUT = {n_out};
    localparam integer NMEM = {n_mem};
    localparam integer HOST = {d.host_width};
    localparam integer CYCLES = {td.cycles_per_tick};
    reg clk = 1'b0, rst = 1'b1, step = 1'b0, host_we = 1'b0;
    reg [{hb - 1}:0] host_addr = {hb}'d0;
    reg [{td.hw - 1}:0] host_data = {td.hw}'d0;
    reg [{pb - 1}:0] probe_addr = {pb}'d0;
    wire [{pdw - 1}:0] probe_data;
    wire ready;
    reg [{hwid - 1}:0] stimulus [0:SAMPLES*TICKS-1];
    reg [{owid - 1}:0] expected [0:SAMPLES*TICKS-1];
    reg [{max(1, n_mem) * d.vw - 1}:0] expect_v [0:SAMPLES-1];
    integer ids [0:{max(1, n_out) - 1}];
    integer s, t, i, cycles;
    reg signed [63:0] got, want;
    {d.top} dut (.clk(clk), .rst(rst), .step(step), .ready(ready), .host_we(host_we), .host_addr(host_addr),
        .host_data(host_data), .probe_addr(probe_addr), .probe_data(probe_data));
    always #5 clk = ~clk;
    initial begin
        $readmemh("{tb}_in.hex", stimulus);
        $readmemh("{tb}_expect.hex", expected);
        $readmemh("{tb}_membranes.hex", expect_v);
{ids}
        for (s = 0; s < SAMPLES; s = s + 1) begin
            rst = 1'b1;
            @(negedge clk); @(negedge clk);
            rst = 1'b0;
            @(negedge clk);
            while (!ready) @(negedge clk);
            for (t = 0; t < TICKS; t = t + 1) begin
                for (i = 0; i < HOST; i = i + 1) begin
                    host_we = 1'b1;
                    host_addr = i;
                    host_data = stimulus[s*TICKS + t][i*{td.hw} +: {td.hw}];
                    @(negedge clk);
                end
                host_we = 1'b0;
                step = 1'b1;
                @(negedge clk);
                step = 1'b0;
                cycles = 1;
                while (!ready) begin
                    @(negedge clk);
                    cycles = cycles + 1;
                end
                if (cycles != CYCLES + 1) begin
                    $display("FAIL: sample %0d tick %0d took %0d cycles, the generator states %0d", s, t, cycles - 1, CYCLES);
                    $finish;
                end
                for (i = 0; i < NOUT; i = i + 1) begin
                    probe_addr = i;
                    @(negedge clk); @(negedge clk);
                    got = $signed(probe_data);
                    want = $signed(expected[s*TICKS + t][i*{d.xw} +: {d.xw}]);
                    if (got !== want) begin
                        $display("FAIL: sample %0d tick %0d output %0d (chip neuron %0d): rtl %0d, simulator %0d", s, t, i,
                                 ids[i], got, want);
                        $finish;
                    end
                end
            end
            for (i = 0; i < NMEM; i = i + 1) begin
                probe_addr = NOUT + i;
                @(negedge clk); @(negedge clk);
                got = $signed(probe_data[{d.vw - 1}:0]);
                want = $signed(expect_v[s][i*{d.vw} +: {d.vw}]);
                if (got !== want) begin
                    $display("FAIL: sample %0d after the last tick, membrane %0d: rtl %0d, simulator %0d", s, i, got, want);
                    $finish;
                end
            end
        end
        $display("PASS: %0d samples x %0d ticks, %0d outputs identical to the simulator, %0d cycles per tick", SAMPLES,
                 TICKS, NOUT, CYCLES);
        $finish;
    end
endmodule
"""
    files[f"{tb}.v"] = text
    return files


def tm_verilog_files(
    image: ChipImage, trace: dict[str, np.ndarray] | None, memories: str = "arrays"
) -> tuple[dict[str, str], TmDesign]:
    """Every file of `--target verilog` in the time-multiplexed style: primitives, memories (behavioural
    arrays, or with `memories="macros"` black boxes for SRAM macros), RTL, memory contents and (given the
    simulator's trace of a run) the testbench."""
    td = tm_plan(image)
    memory_file = TM_MEMORIES if memories == "arrays" else TM_MACROS
    files = {name: LIBRARY.joinpath(name).read_text() for name in (TM_PRIMITIVES, memory_file)}
    files.update(emit_tm_rtl(image, td))
    if trace is not None:
        files.update(emit_tm_testbench(td, trace))
    return files, td


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
