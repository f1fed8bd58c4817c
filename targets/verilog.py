"""Structural Verilog of a mapped network (docs/verilog.md): one module per core, a top level, a testbench.

The input is the chip image (the content of the binary), so the RTL follows exactly what the
simulator runs. The primitives (targets/nmc_primitives.v) carry the chip's integer semantics; this
module only sizes and wires them: per core a synapse engine with its synapse memory (a $readmemh
file) and one neuron instance per slot; per (source core, destination core) route a link of as
many router stages as the route has hops; per delayed axon a delay line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.chips.errors import NmcError

PRIMITIVES = "nmc_primitives.v"
MAX_SYNAPSES = 200_000
MAX_NEURONS = 20_000
INT32 = (-(1 << 31), (1 << 31) - 1)


def primitives_source() -> str:
    return resources.files("nmc.targets").joinpath(PRIMITIVES).read_text()


def identifier(name: str) -> str:
    """A Verilog identifier for a network name."""
    ident = re.sub(r"\W", "_", name)
    return ident if re.match(r"[A-Za-z_]", ident) else f"n_{ident}"


def bits_signed(lo: int, hi: int) -> int:
    """Bits of a two's-complement number holding every value in [lo, hi]."""
    return max(int(hi).bit_length(), int(-lo - 1).bit_length() if lo < 0 else 0) + 1


def bits_index(count: int) -> int:
    return max(1, int(count - 1).bit_length())


@dataclass
class Design:
    """The sizes every generated file agrees on."""

    top: str
    xw: int  # axon / output value bits
    ww: int  # weight bits
    iw: int  # accumulator bits
    vw: int  # membrane bits
    pw: int  # partial-sum bits
    tw: int  # tick counter bits
    hops: int  # deliver phase, cycles
    integrate: int  # integrate phase, cycles
    host_width: int  # host input elements
    outputs: np.ndarray  # binary neuron id of each observed output, in OUT order
    membranes: np.ndarray  # binary neuron ids whose final membrane is read (membrane decoders)
    total_ticks: int
    acc_bound: np.ndarray | None = None  # per binary neuron: the largest |synaptic sum + bias| of a tick

    @property
    def cycles_per_tick(self) -> int:
        return self.hops + self.integrate + 2


class _Image:
    """Arrays of a chip image, per core."""

    def __init__(self, image: ChipImage):
        self.meta = image.meta
        self.nrn, self.ax, self.syn, self.rt = (image.arrays[t] for t in ("NRN ", "AXON", "SYN ", "ROUT"))
        self.x, self.y = image.a("CORE", "x").astype(np.int64), image.a("CORE", "y").astype(np.int64)
        self.cores = self.x.size
        self.n = self.nrn["core"].size
        counts = np.bincount(self.nrn["core"], minlength=self.cores)
        self.base = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.out_arrays = image.arrays["OUT "]

    def neurons(self, c: int) -> range:
        return range(int(self.base[c]), int(self.base[c + 1]))

    def axons(self, c: int) -> range:
        return range(int(self.ax["offsets"][c]), int(self.ax["offsets"][c + 1]))

    def synapses(self, c: int) -> range:
        return range(int(self.syn["offsets"][c]), int(self.syn["offsets"][c + 1]))


def check_size(
    image: ChipImage, max_synapses: int = MAX_SYNAPSES, max_neurons: int = MAX_NEURONS, style: str = "per-neuron"
) -> None:
    synapses, neurons = image.a("SYN ", "weight").size, image.a("NRN ", "core").size
    if synapses > max_synapses or neurons > max_neurons:
        why = (
            "one instance per neuron, one memory word per synapse"
            if style == "per-neuron"
            else "the testbench simulates every synapse of every tick in Icarus"
        )
        raise NmcError(
            f"network '{image.meta['name']}' has {neurons} neurons and {synapses} synapses; --target verilog emits at most "
            f"{max_neurons} neurons and {max_synapses} synapses ({why}): "
            f"emit a smaller network, or raise the limit with --verilog-max-synapses / --verilog-max-neurons"
        )


def plan(image: ChipImage) -> Design:
    """Widths and phase lengths from the image: exact bounds, so no value can overflow."""
    im = _Image(image)
    m, nrn, ax, syn = im.meta, im.nrn, im.ax, im.syn
    for key in ("threshold", "bias", "v_init"):
        arr = nrn[key]
        if arr.size and (arr.min() < INT32[0] or arr.max() > INT32[1]):
            raise NmcError(f"neuron {key} {int(np.abs(arr).max())} does not fit a 32-bit Verilog parameter")
    spiking = nrn["mode"] == 0
    if (nrn["threshold"][spiking] < 0).any():
        raise NmcError("a spiking neuron has a negative threshold; the Verilog neuron needs thresholds >= 0")
    psum = (nrn["mode"] == 1).any()
    pw = int(m["partial_sum_bits"])
    xmax_host = 1
    for spec in m["inputs"]:
        if spec["encoding"] == "direct":
            if spec["levels"] is None:
                raise NmcError("a float (unquantized) direct input cannot be emitted as Verilog: run reduce-precision")
            xmax_host = max(xmax_host, int(spec["levels"]))
    xw = max(2, bits_signed(-xmax_host, xmax_host), pw if psum else 0)
    # largest magnitude an axon can carry: host inputs, spikes (1) or saturated partial sums
    src_mode = np.where(ax["kind"] == 1, nrn["mode"][np.where(ax["kind"] == 1, ax["src"], 0)], 0)
    ax_max = np.where(ax["kind"] == 0, xmax_host, np.where(src_mode == 1, 1 << (pw - 1), 1))
    weights = syn["weight"].astype(np.int64)
    syn_core = np.repeat(np.arange(im.cores), np.diff(syn["offsets"]))
    ax_global = ax["offsets"][syn_core] + syn["axon"]
    post = im.base[syn_core] + syn["slot"]
    bound = np.bincount(post, weights=np.abs(weights) * ax_max[ax_global], minlength=im.n) + np.abs(nrn["bias"])
    ww = bits_signed(int(weights.min(initial=0)), int(weights.max(initial=0)))
    iw = max(bits_signed(-int(bound.max(initial=0)), int(bound.max(initial=0))), ww + xw)
    syn_per_core = np.diff(syn["offsets"])
    src_core = nrn["core"][ax["src"][ax["kind"] == 1]].astype(np.int64)
    dst_core = np.repeat(np.arange(im.cores), np.diff(ax["offsets"]))[ax["kind"] == 1]
    hops = np.abs(im.x[src_core] - im.x[dst_core]) + np.abs(im.y[src_core] - im.y[dst_core])
    outputs = np.concatenate([im.out_arrays[f"neurons{i}"] for i in range(len(m["outputs"]))] or [np.zeros(0, np.int64)])
    membranes = np.concatenate(
        [im.out_arrays[f"neurons{i}"] for i, o in enumerate(m["outputs"]) if o["kind"] == "membrane"] or [np.zeros(0, np.int64)]
    )
    latency = max((o["latency"] for o in m["outputs"]), default=0)
    total = int(m["ticks"]) + int(latency)
    return Design(
        top=identifier(m["name"]),
        xw=xw,
        ww=ww,
        iw=iw,
        vw=int(m["membrane_bits"]),
        pw=pw,
        tw=max(1, total.bit_length()),
        hops=int(hops.max(initial=0)),
        integrate=int(syn_per_core.max(initial=0)) + 1,
        host_width=sum(int(np.prod(s["shape"])) for s in m["inputs"]),
        outputs=outputs.astype(np.int64),
        membranes=np.unique(membranes).astype(np.int64),
        total_ticks=total,
        acc_bound=bound.astype(np.int64),
    )


# --------------------------------------------------------------------------- RTL


def emit_rtl(image: ChipImage, design: Design) -> dict[str, str]:
    """`<top>.v` (core modules and top level) and one synapse-memory file per core."""
    im = _Image(image)
    d = design
    files: dict[str, str] = {}
    lines = [
        f"// Generated by nmc from network '{im.meta['name']}' mapped on chip '{im.meta['chip']}' "
        f"({im.cores} cores, {im.n} neurons, {im.syn['weight'].size} synapses).",
        f"// One chip tick = {d.cycles_per_tick} clock cycles: deliver {d.hops}, start 1, integrate {d.integrate}, update 1.",
        "// Primitives: nmc_primitives.v. Synapse memories: <top>_core<k>_syn.hex (axon, slot, weight per word).",
        "`default_nettype none",
        "// verilator lint_off DECLFILENAME",
        "",
    ]
    membrane_set = set(d.membranes.tolist())
    for c in range(im.cores):
        lines += _core_module(im, d, c, membrane_set, files)
    lines += _top_module(im, d, membrane_set)
    lines.append("`default_nettype wire")
    files[f"{d.top}.v"] = "\n".join(lines) + "\n"
    return files


def _core_ports(im: _Image, d: Design, c: int, membrane_set: set[int]) -> tuple[int, int, list[int]]:
    n_axons = max(1, len(im.axons(c)))
    n_neurons = len(im.neurons(c))
    mem = [i for i in im.neurons(c) if i in membrane_set]
    return n_axons, n_neurons, mem


def _core_module(im: _Image, d: Design, c: int, membrane_set: set[int], files: dict[str, str]) -> list[str]:
    n_axons, n_neurons, mem = _core_ports(im, d, c, membrane_set)
    sw = bits_index(n_neurons)
    aw = bits_index(n_axons)
    syn = im.synapses(c)
    name = f"{d.top}_core{c}"
    out = [
        f"// core {c} at ({im.x[c]}, {im.y[c]}): {n_neurons} neurons, {len(im.axons(c))} axons, {len(syn)} synapses",
        f"module {name} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire syn_start,",
        "    input  wire update,",
        f"    input  wire [{d.tw - 1}:0] tick,",
        f"    input  wire [{n_axons * d.xw - 1}:0] axons,",
        f"    output wire [{n_neurons * d.xw - 1}:0] outs{',' if mem else ''}",
    ]
    if mem:
        out.append(f"    output wire [{len(mem) * d.vw - 1}:0] vmem")
    out += [
        ");",
        "    wire acc_en;",
        f"    wire [{sw - 1}:0] acc_slot;",
        f"    wire signed [{d.iw - 1}:0] acc_val;",
        f"    wire [{n_neurons * d.vw - 1}:0] unused_v;  // membranes nobody reads",
    ]
    if len(syn):
        memfile = f"{name}_syn.hex"
        ew = aw + sw + d.ww
        words = (
            (im.syn["axon"][syn.start : syn.stop].astype(object) << (sw + d.ww))
            | (im.syn["slot"][syn.start : syn.stop].astype(object) << d.ww)
            | (im.syn["weight"][syn.start : syn.stop].astype(object) & ((1 << d.ww) - 1))
        )
        digits = (ew + 3) // 4
        files[memfile] = "".join(f"{int(w):0{digits}x}\n" for w in words)
        out.append(
            f"    nmc_synapse_engine #(.S({len(syn)}), .A({n_axons}), .AW({aw}), .SW({sw}), .WW({d.ww}), .XW({d.xw}), "
            f'.IW({d.iw}), .MEMFILE("{memfile}")) engine (.clk(clk), .rst(rst), .start(syn_start), .axons(axons), '
            ".acc_en(acc_en), .acc_slot(acc_slot), .acc_val(acc_val));"
        )
    else:
        out += ["    assign acc_en = 1'b0;", f"    assign acc_slot = {sw}'d0;", f"    assign acc_val = {d.iw}'sd0;"]
    nrn = im.nrn
    for i in im.neurons(c):
        slot = int(nrn["slot"][i])
        v_port = bus_slice("vmem", mem.index(i), d.vw) if i in membrane_set else bus_slice("unused_v", slot, d.vw)
        out.append(
            f"    nmc_neuron #(.ID({slot}), .MODE({nrn['mode'][i]}), .RESET({nrn['reset'][i]}), .COMPARE({nrn['compare'][i]}), "
            f".SHIFT({nrn['shift'][i]}), .MULT({nrn['mult'][i]}), .MW({max(1, int(nrn['mult'][i]).bit_length())}), "
            + (
                f".CURRENT(1), .CSHIFT({nrn['cshift'][i]}), .CMULT({nrn['cmult'][i]}), "
                f".CMW({max(1, int(nrn['cmult'][i]).bit_length())}), "
                if nrn["cmult"][i] > 0
                else ""
            )
            + f".THRESHOLD({nrn['threshold'][i]}), .BIAS({nrn['bias'][i]}), "
            f".V_INIT({nrn['v_init'][i]}), "
            f".START({nrn['start'][i]}), .SW({sw}), .IW({d.iw}), .VW({d.vw}), .PW({d.pw}), .OW({d.xw}), .TW({d.tw})) "
            f"n{slot} (.clk(clk), .rst(rst), .acc_en(acc_en), .acc_slot(acc_slot), .acc_val(acc_val), .update(update), "
            f".tick(tick), .out(outs[{slot * d.xw + d.xw - 1}:{slot * d.xw}]), .v({v_port}));"
        )
    if not len(im.axons(c)):
        out.append("    // this core has no axons: its neurons integrate their bias only")
    out += ["endmodule", ""]
    return out


def _links(im: _Image) -> dict[tuple[int, int], list[int]]:
    """Per (source core, destination core) route of the routing tables: the source neurons it carries."""
    rt = im.rt
    entry_core = np.repeat(np.arange(im.cores), np.diff(rt["offsets"]))
    entry_neuron = im.base[entry_core] + rt["slot"]
    dest_entry = np.repeat(np.arange(rt["slot"].size), np.diff(rt["dest_offsets"]))
    links: dict[tuple[int, int], list[int]] = {}
    for e, dst in zip(dest_entry.tolist(), rt["dest"].tolist(), strict=True):
        links.setdefault((int(entry_core[e]), int(dst)), []).append(int(entry_neuron[e]))
    return dict(sorted(links.items()))


def _top_module(im: _Image, d: Design, membrane_set: set[int]) -> list[str]:
    nrn, ax = im.nrn, im.ax
    n_out, n_mem = d.outputs.size, d.membranes.size
    host_bits = max(1, d.host_width) * d.xw
    out = [
        f"// top level: {im.cores} cores on a {im.meta['mesh'][0]}x{im.meta['mesh'][1]} mesh; host inputs in, output neurons out",
        f"module {d.top} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire step,",
        "    output wire ready,",
        f"    input  wire [{host_bits - 1}:0] host_in,",
        f"    output wire [{max(1, n_out) * d.xw - 1}:0] out_values{',' if n_mem else ''}",
    ]
    if n_mem:
        out.append(f"    output wire [{n_mem * d.vw - 1}:0] out_membranes")
    out += [
        ");",
        "    wire hop, syn_start, update;",
        f"    wire [{d.tw - 1}:0] tick;",
        f"    nmc_tick_ctrl #(.DELIVER({d.hops}), .INTEGRATE({d.integrate}), .TW({d.tw})) ctrl (.clk(clk), .rst(rst), "
        ".step(step), .ready(ready), .hop(hop), .syn_start(syn_start), .update(update), .tick(tick));",
    ]
    if not d.host_width:
        out.append("    // no host inputs")
    for c in range(im.cores):
        n_axons, n_neurons, mem = _core_ports(im, d, c, membrane_set)
        out.append(f"    wire [{n_neurons * d.xw - 1}:0] core{c}_outs;")
        out.append(f"    wire [{n_axons * d.xw - 1}:0] core{c}_axons;")
        if mem:
            out.append(f"    wire [{len(mem) * d.vw - 1}:0] core{c}_vmem;")
    links = _links(im)
    position: dict[tuple[int, int], int] = {}
    for (src, dst), carried in links.items():
        hops = int(abs(im.x[src] - im.x[dst]) + abs(im.y[src] - im.y[dst]))
        w = len(carried) * d.xw
        parts = ", ".join(bus_slice(f"core{src}_outs", int(nrn["slot"][i]), d.xw) for i in reversed(carried))
        out.append(f"    wire [{w - 1}:0] link_{src}_{dst};")
        out.append(
            f"    nmc_link #(.W({w}), .HOPS({hops})) route_{src}_to_{dst} (.clk(clk), .rst(rst), .hop(hop), "
            f".in({{{parts}}}), .out(link_{src}_{dst}));"
        )
        for k, i in enumerate(carried):
            position[(i, dst)] = k
    for c in range(im.cores):
        for j, a in enumerate(im.axons(c)):
            src, delay = int(ax["src"][a]), int(ax["delay"][a])
            if ax["kind"][a] == 0:
                value = bus_slice("host_in", src, d.xw)
            elif int(nrn["core"][src]) == c:
                value = bus_slice(f"core{c}_outs", int(nrn["slot"][src]), d.xw)
            else:
                value = bus_slice(f"link_{int(nrn['core'][src])}_{c}", position[(src, c)], d.xw)
            target = bus_slice(f"core{c}_axons", j, d.xw)
            if delay:
                out.append(
                    f"    nmc_delay #(.W({d.xw}), .D({delay})) delay_{c}_{j} (.clk(clk), .rst(rst), .shift(update), "
                    f".in({value}), .out({target}));"
                )
            else:
                out.append(f"    assign {target} = {value};")
        if not len(im.axons(c)):
            out.append(f"    assign core{c}_axons = {d.xw}'d0;")
        _, _, mem = _core_ports(im, d, c, membrane_set)
        vmem = f", .vmem(core{c}_vmem)" if mem else ""
        out.append(
            f"    {d.top}_core{c} core{c} (.clk(clk), .rst(rst), .syn_start(syn_start), .update(update), .tick(tick), "
            f".axons(core{c}_axons), .outs(core{c}_outs){vmem});"
        )
    for k, i in enumerate(d.outputs.tolist()):
        c = int(nrn["core"][i])
        out.append(f"    assign {bus_slice('out_values', k, d.xw)} = {bus_slice(f'core{c}_outs', int(nrn['slot'][i]), d.xw)};")
    if not n_out:
        out.append(f"    assign out_values = {d.xw}'d0;")
    for k, i in enumerate(d.membranes.tolist()):
        c = int(nrn["core"][i])
        _, _, mem = _core_ports(im, d, c, membrane_set)
        out.append(f"    assign {bus_slice('out_membranes', k, d.vw)} = {bus_slice(f'core{c}_vmem', mem.index(i), d.vw)};")
    out += ["endmodule", ""]
    return out


def bus_slice(bus: str, index: int, width: int) -> str:
    """Element `index` of a bus of `width`-bit elements, as a Verilog part-select."""
    return f"{bus}[{index * width + width - 1}:{index * width}]"


# --------------------------------------------------------------------------- testbench


def emit_testbench(design: Design, trace: dict[str, np.ndarray]) -> dict[str, str]:
    """`tb_<top>.v` and its data: the simulator's host inputs and expected outputs, tick by tick."""
    d = design
    host, outs, v = trace["host"], trace["out"], trace["v"]  # [ticks, batch, ...], [batch, neurons]
    ticks, batch = host.shape[0], host.shape[1]
    tb = f"tb_{d.top}"
    n_out, n_mem = max(1, d.outputs.size), d.membranes.size
    host_bits, out_bits = max(1, d.host_width) * d.xw, n_out * d.xw
    per_sample = lambda arr: arr.transpose(1, 0, 2).reshape(batch * ticks, -1)  # noqa: E731
    files = {
        f"{tb}_in.hex": hex_rows(per_sample(host) if d.host_width else np.zeros((batch * ticks, 1), np.int64), d.xw),
        f"{tb}_expect.hex": hex_rows(per_sample(outs[:, :, d.outputs]) if d.outputs.size else np.zeros((batch * ticks, 1)), d.xw),
    }
    if n_mem:
        files[f"{tb}_membranes.hex"] = hex_rows(v[:, d.membranes], d.vw)
    ids = "\n".join(f"        ids[{k}] = {i};" for k, i in enumerate(d.outputs.tolist())) or "        ids[0] = 0;"
    mem_decl = mem_check = ""
    if n_mem:
        mem_decl = (
            f"    wire [{n_mem * d.vw - 1}:0] out_membranes;\n"
            f"    reg  [{n_mem * d.vw - 1}:0] expect_v [0:SAMPLES-1];\n"
            f'    initial $readmemh("{tb}_membranes.hex", expect_v);\n'
        )
        mem_check = f"""            if (out_membranes !== expect_v[s]) begin
                for (i = {n_mem - 1}; i >= 0; i = i - 1)
                    if (out_membranes[i*{d.vw} +: {d.vw}] !== expect_v[s][i*{d.vw} +: {d.vw}]) bad = i;
                $display("FAIL: sample %0d after the last tick, membrane %0d: rtl %0d, simulator %0d", s, bad,
                         $signed(out_membranes[bad*{d.vw} +: {d.vw}]), $signed(expect_v[s][bad*{d.vw} +: {d.vw}]));
                $finish;
            end
"""
    text = f"""// Generated by nmc: drives the simulator's input values tick by tick into {d.top} and compares
// the output neurons with the simulator's on the same stimulus. Run in this folder:
//   iverilog -g2012 -o {tb} *.v && vvp {tb}
`timescale 1ns/1ps
module {tb};
    localparam integer SAMPLES = {batch};
    localparam integer TICKS = {ticks};
    localparam integer NOUT = {n_out};
    reg clk = 1'b0, rst = 1'b1, step = 1'b0;
    reg  [{host_bits - 1}:0] host_in = {host_bits}'d0;
    wire ready;
    wire [{out_bits - 1}:0] out_values;
    reg  [{host_bits - 1}:0] stimulus [0:SAMPLES*TICKS-1];
    reg  [{out_bits - 1}:0] expected [0:SAMPLES*TICKS-1];
    integer ids [0:NOUT-1];
{mem_decl}    integer s, t, i, bad;
    {d.top} dut (.clk(clk), .rst(rst), .step(step), .ready(ready), .host_in(host_in), .out_values(out_values){
        ", .out_membranes(out_membranes)" if n_mem else ""
    });
    always #5 clk = ~clk;
    initial begin
        $readmemh("{tb}_in.hex", stimulus);
        $readmemh("{tb}_expect.hex", expected);
{ids}
        bad = 0;
        for (s = 0; s < SAMPLES; s = s + 1) begin
            rst = 1'b1;
            @(negedge clk); @(negedge clk);
            rst = 1'b0;
            for (t = 0; t < TICKS; t = t + 1) begin
                host_in = stimulus[s*TICKS + t];
                step = 1'b1;
                @(negedge clk);
                step = 1'b0;
                @(negedge clk);
                while (!ready) @(negedge clk);
                if (out_values !== expected[s*TICKS + t]) begin
                    for (i = NOUT - 1; i >= 0; i = i - 1)
                        if (out_values[i*{d.xw} +: {d.xw}] !== expected[s*TICKS + t][i*{d.xw} +: {d.xw}]) bad = i;
                    $display("FAIL: sample %0d tick %0d output %0d (chip neuron %0d): rtl %0d, simulator %0d", s, t, bad,
                             ids[bad], $signed(out_values[bad*{d.xw} +: {d.xw}]), $signed(expected[s*TICKS + t][bad*{d.xw} +: {
        d.xw
    }]));
                    $finish;
                end
            end
{mem_check}        end
        $display("PASS: %0d samples x %0d ticks, %0d outputs identical to the simulator", SAMPLES, TICKS, NOUT);
        $finish;
    end
endmodule
"""
    files[f"{tb}.v"] = text
    return files


def pack_bits(values, width: int) -> int:
    """One integer holding element k in bits [k*width +: width], two's complement (a Verilog bus or parameter)."""
    mask = (1 << width) - 1
    word = 0
    for k, value in enumerate(values):
        word |= (int(value) & mask) << (k * width)
    return word


def hex_rows(values: np.ndarray, width: int) -> str:
    """One line per row ($readmemh): element k of the row in bits [k*width +: width], two's complement."""
    digits = max(1, (values.shape[1] * width + 3) // 4)
    return "".join(f"{pack_bits(row, width):0{digits}x}\n" for row in np.asarray(values, dtype=np.int64).tolist())


# --------------------------------------------------------------------------- entry points


def verilog_files(
    image: ChipImage,
    trace: dict[str, np.ndarray] | None,
    *,
    max_synapses: int = MAX_SYNAPSES,
    max_neurons: int = MAX_NEURONS,
) -> tuple[dict[str, str], Design]:
    """Every file of `--target verilog`: primitives, RTL, synapse memories, and (given a trace) the testbench.

    `trace` is the simulator's record of a run (`Chip(image).run(x, trace=True).trace`): the
    testbench replays its host inputs and expects its outputs. The caller runs the simulator,
    so that targets never depend on the runtime.
    """
    check_size(image, max_synapses, max_neurons)
    design = plan(image)
    files = {PRIMITIVES: primitives_source(), **emit_rtl(image, design)}
    if trace is not None:
        files.update(emit_testbench(design, trace))
    return files, design


def rtl_text(image: ChipImage) -> str:
    """The generated modules alone (no primitives or memory files), as `nmc-opt -t verilog` prints them."""
    check_size(image)
    return emit_rtl(image, plan(image))[f"{identifier(image.meta['name'])}.v"]
