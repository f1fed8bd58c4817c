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
from nmc.targets.verilog_tb import emit_testbench

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


def board_chips(image: ChipImage) -> dict[int, list[int]] | None:
    """On a board image (META.board), the cores of each chip in use; None for one chip."""
    board = image.meta.get("board")
    if board is None:
        return None
    cw, ch = board["chip_mesh"]
    x, y = image.a("CORE", "x").astype(np.int64), image.a("CORE", "y").astype(np.int64)
    chip_of = (y // ch) * board["chips_x"] + x // cw
    return {int(k): np.flatnonzero(chip_of == k).tolist() for k in np.unique(chip_of)}


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


def top_header(d: Design, comment: str) -> list[str]:
    """The top level's ports (one chip or a board: the same, so the same testbench drives both) and its tick
    controller."""
    n_out, n_mem = d.outputs.size, d.membranes.size
    out = [
        f"// {comment}",
        f"module {d.top} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire step,",
        "    output wire ready,",
        f"    input  wire [{max(1, d.host_width) * d.xw - 1}:0] host_in,",
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
    return out


def link_lines(im: _Image, d: Design, src: int, dst: int, carried: list[int], note: str = "") -> list[str]:
    """The route from core `src` to core `dst`: a wire and an nmc_link of one stage per mesh hop."""
    hops = int(abs(im.x[src] - im.x[dst]) + abs(im.y[src] - im.y[dst]))
    w = len(carried) * d.xw
    parts = ", ".join(bus_slice(f"core{src}_outs", int(im.nrn["slot"][i]), d.xw) for i in reversed(carried))
    return [
        f"    wire [{w - 1}:0] link_{src}_{dst};{note}",
        f"    nmc_link #(.W({w}), .HOPS({hops})) route_{src}_to_{dst} (.clk(clk), .rst(rst), .hop(hop), "
        f".in({{{parts}}}), .out(link_{src}_{dst}));",
    ]


def link_positions(links: dict[tuple[int, int], list[int]]) -> dict[tuple[int, int], int]:
    """(source neuron, destination core) -> its place in that route's bundle."""
    return {(i, dst): k for (_, dst), carried in links.items() for k, i in enumerate(carried)}


def core_wiring(im: _Image, d: Design, c: int, position: dict, membrane_set: set[int]) -> list[str]:
    """Core `c`'s axons (a host input, its own output, or a route's, through a delay line when delayed) and the
    core's instance."""
    nrn, ax = im.nrn, im.ax
    out = []
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
    return out


def output_assigns(im: _Image, d: Design, membrane_set: set[int]) -> list[str]:
    """The top level's outputs: each observed neuron's value, each decoded membrane."""
    nrn = im.nrn
    out = []
    for k, i in enumerate(d.outputs.tolist()):
        c = int(nrn["core"][i])
        out.append(f"    assign {bus_slice('out_values', k, d.xw)} = {bus_slice(f'core{c}_outs', int(nrn['slot'][i]), d.xw)};")
    if not d.outputs.size:
        out.append(f"    assign out_values = {d.xw}'d0;")
    for k, i in enumerate(d.membranes.tolist()):
        c = int(nrn["core"][i])
        _, _, mem = _core_ports(im, d, c, membrane_set)
        out.append(f"    assign {bus_slice('out_membranes', k, d.vw)} = {bus_slice(f'core{c}_vmem', mem.index(i), d.vw)};")
    return out


def _top_module(im: _Image, d: Design, membrane_set: set[int]) -> list[str]:
    mesh = im.meta["mesh"]
    out = top_header(d, f"top level: {im.cores} cores on a {mesh[0]}x{mesh[1]} mesh; host inputs in, output neurons out")
    if not d.host_width:
        out.append("    // no host inputs")
    for c in range(im.cores):
        n_axons, n_neurons, mem = _core_ports(im, d, c, membrane_set)
        out.append(f"    wire [{n_neurons * d.xw - 1}:0] core{c}_outs;")
        out.append(f"    wire [{n_axons * d.xw - 1}:0] core{c}_axons;")
        if mem:
            out.append(f"    wire [{len(mem) * d.vw - 1}:0] core{c}_vmem;")
    links = _links(im)
    for (src, dst), carried in links.items():
        out += link_lines(im, d, src, dst, carried)
    position = link_positions(links)
    for c in range(im.cores):
        out += core_wiring(im, d, c, position, membrane_set)
    return out + output_assigns(im, d, membrane_set) + ["endmodule", ""]


def bus_slice(bus: str, index: int, width: int) -> str:
    """Element `index` of a bus of `width`-bit elements, as a Verilog part-select."""
    return f"{bus}[{index * width + width - 1}:{index * width}]"


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
