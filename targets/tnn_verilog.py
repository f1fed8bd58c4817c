"""Structural Verilog of a TNN chip image (docs/tnn-hardware.md): one module per column, a top level, a testbench.

The input is the TNN binary's content, so the RTL follows exactly what the simulator runs. The
primitives (targets/tnn_primitives.v) carry docs/tnn.md's arithmetic; this module sizes and wires
them: per column p x q synapses (weight register, response steps), q bodies, a k-WTA, and, when
the chip learns on chip, a random source and an STDP unit per synapse. The random constants and
the stabiliser tables come from chips/tnn_format.py, the one copy of the TNN formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.chips.errors import NmcError
from nmc.chips.tnn_binary import column_views
from nmc.chips.tnn_format import no_spike, stabiliser_tables, synapse_constants, wmax
from nmc.targets.verilog import bus_slice
from nmc.targets.verilog_tb import hex_rows, pack_bits

PRIMITIVES = "tnn_primitives.v"
MAX_SYNAPSES = 200_000


@dataclass
class TnnDesign:
    """What the generated files agree on."""

    top: str
    time_bits: int
    weight_bits: int
    learn: bool
    depth: int  # gamma cycles per sample
    encoder_lines: int
    outputs: np.ndarray  # column line of each output
    out_column: np.ndarray  # (column, neuron) of each output
    column_depth: list[int]
    synapses: int

    @property
    def cycles_per_sample(self) -> int:
        """go, then per depth a start cycle and T unit times, then the STDP cycle when learning."""
        return 1 + self.depth * (1 + (1 << self.time_bits)) + (1 if self.learn else 0)


def primitives_source() -> str:
    return resources.files("nmc.targets").joinpath(PRIMITIVES).read_text()


def _literal(values: np.ndarray, width: int) -> str:
    """A Verilog constant holding element k of `values` in bits [k*width +: width]."""
    bits = len(values) * width
    return f"{bits}'h{pack_bits(values, width):0{(bits + 3) // 4}x}"


class _Cols:
    """The image's columns (chips.tnn_binary.column_views) and where each column's output lines start."""

    def __init__(self, image: ChipImage):
        self.meta = image.meta
        self.views = column_views(image)
        self.n = len(self.views)
        self.line_start = np.array([v.first_line for v in self.views], np.int64)

    def column_of_line(self, line: int) -> tuple[int, int]:
        c = int(np.searchsorted(self.line_start, line, side="right") - 1)
        return c, int(line - self.line_start[c])


def plan(image: ChipImage, learn: bool, top: str) -> TnnDesign:
    cols = _Cols(image)
    synapses = sum(v.p * v.q for v in cols.views)
    if synapses > MAX_SYNAPSES:
        raise NmcError(
            f"TNN '{image.meta['name']}' has {synapses} synapses; --target verilog emits at most {MAX_SYNAPSES} "
            "(one synapse instance each): emit a smaller network"
        )
    depth: list[int] = []
    for c, v in enumerate(cols.views):
        feeders = {cols.column_of_line(int(i))[0] for k, i in zip(v.src_kind, v.src_index, strict=True) if k == 1}
        if any(f >= c for f in feeders):
            raise NmcError(f"TNN column {c} reads a column that is not before it: the Verilog runs columns in order")
        depth.append(1 + max((depth[f] for f in feeders), default=0))
    outputs = image.arrays["OUT "]["lines"].astype(np.int64)
    enc = image.meta["encoder"]
    encoder_lines = image.arrays["ENC "]["lo"].size * int(enc["fields"])
    return TnnDesign(
        top=top,
        time_bits=int(image.meta["time_bits"]),
        weight_bits=int(image.meta["weight_bits"]),
        learn=learn,
        depth=max(depth),
        encoder_lines=encoder_lines,
        outputs=outputs,
        out_column=np.array([cols.column_of_line(int(i)) for i in outputs], np.int64).reshape(-1, 2),
        column_depth=depth,
        synapses=synapses,
    )


def _column_module(cols: _Cols, d: TnnDesign, c: int) -> list[str]:
    m = cols.meta
    b, wb = d.time_bits, d.weight_bits
    v = cols.views[c]
    p, q, k = v.p, v.q, v.k
    rnl = v.response == "rnl"
    sw = 1 if rnl else wb
    aw = max(1, int(p * wmax(wb)).bit_length())
    w = v.weights
    name = f"{d.top}_col{c}"
    lines = [
        f"// column {c}: {p} synapses x {q} neurons, {v.response.upper()}, {k}-WTA{', on-chip STDP' if d.learn else ''}",
        f"module {name} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire start,",
        "    input  wire run,",
        f"    input  wire [{b - 1}:0] tick,",
        "    input  wire stdp,",
        f"    input  wire [{p * (b + 1) - 1}:0] x,",
        f"    output wire [{q * (b + 1) - 1}:0] y,",
        f"    output wire [{q * p * wb - 1}:0] weights  // synapse m = j * p + i at [m*{wb} +: {wb}]",
        ");",
        f"    localparam integer P = {p}, Q = {q}, B = {b}, WB = {wb}, SW = {sw};",
        f"    localparam [Q*P*WB-1:0] W_INIT = {_literal(w.reshape(-1), wb)};",
        f"    localparam [Q*32-1:0] THETA = {_literal(v.theta, 32)};",
    ]
    if d.learn:
        consts = synapse_constants(int(m["seed"]), v.index, p * q)
        up, down = stabiliser_tables(wb)
        u = dict(zip(m["stdp_cases"], m["stdp"], strict=True))
        lines += [
            f"    localparam [Q*P*32-1:0] CONSTS = {_literal(consts, 32)};",
            f"    localparam [10*(1<<WB)-1:0] UP = {_literal(up, 10)}, DOWN = {_literal(down, 10)};",
            "    wire [31:0] random;",
            f"    nmc_tnn_xorshift #(.INIT(32'd{v.state})) rng (.clk(clk), .rst(rst), .stdp(stdp), .next(random));",
        ]
    lines += [
        "    wire [Q*P*SW-1:0] steps;",
        "    wire [Q-1:0] fire;",
        "    genvar i, j;",
        "    for (j = 0; j < Q; j = j + 1) begin : neuron",
        "        for (i = 0; i < P; i = i + 1) begin : synapse",
        "            wire [WB-1:0] w_next;",
        f"            nmc_tnn_synapse #(.B(B), .WB(WB), .SW(SW), .RNL({int(rnl)}), .LEARN({int(d.learn)}), "
        ".W_INIT(W_INIT[(j*P+i)*WB +: WB])) s (.clk(clk), .rst(rst), .x(x[i*(B+1) +: B+1]), .tick(tick), .run(run), "
        ".stdp(stdp), .w_next(w_next), .w(weights[(j*P+i)*WB +: WB]), .step(steps[(j*P+i)*SW +: SW]));",
    ]
    if d.learn:
        lines.append(
            f"            nmc_tnn_stdp #(.B(B), .WB(WB), .CONST(CONSTS[(j*P+i)*32 +: 32]), .U_CAPTURE({u['capture']}), "
            f".U_MINUS({u['minus']}), .U_SEARCH({u['search']}), .U_BACKOFF({u['backoff']}), .STAB({int(bool(m['stabilise']))}), "
            ".UP(UP), .DOWN(DOWN)) learn (.x(x[i*(B+1) +: B+1]), .y(y[j*(B+1) +: B+1]), .w(weights[(j*P+i)*WB +: WB]), "
            ".random(random), .w_next(w_next));"
        )
    else:
        lines.append("            assign w_next = weights[(j*P+i)*WB +: WB];  // no learning: weights are constants")
    lines += [
        "        end",
        f"        nmc_tnn_body #(.P(P), .SW(SW), .AW({aw}), .THETA(THETA[j*32 +: 32])) body (.clk(clk), .rst(rst), "
        ".start(start), .run(run), .steps(steps[j*P*SW +: P*SW]), .fire(fire[j]));",
        "    end",
        f"    nmc_tnn_wta #(.Q(Q), .K({k}), .B(B)) wta (.clk(clk), .rst(rst), .start(start), .run(run), .tick(tick), "
        ".fire(fire), .y(y));",
        "endmodule",
        "",
    ]
    return lines


def _top_module(cols: _Cols, d: TnnDesign) -> list[str]:
    tw = d.time_bits + 1
    lines = [
        f"// top level: {cols.n} column(s), {d.depth} gamma cycle(s) per sample; encoder spike times in, output times out",
        f"module {d.top} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire go,      // start a sample: x_in is held until ready",
        "    input  wire learn,   // with go: apply STDP at the end of this sample",
        "    output wire ready,",
        f"    input  wire [{d.encoder_lines * tw - 1}:0] x_in,",
        f"    output wire [{d.outputs.size * tw - 1}:0] y_out",
        ");",
        f"    wire [{d.depth - 1}:0] start, run;",
        f"    wire [{d.time_bits - 1}:0] tick;",
        "    wire stdp;",
        f"    nmc_tnn_gamma_ctrl #(.B({d.time_bits}), .DEPTH({d.depth}), .LEARN({int(d.learn)})) ctrl (.clk(clk), .rst(rst), "
        ".go(go), .learn(learn), .ready(ready), .start(start), .run(run), .tick(tick), .stdp(stdp));",
    ]
    for c, v in enumerate(cols.views):
        q, p = v.q, v.p
        lines += [f"    wire [{q * tw - 1}:0] col{c}_y;", f"    wire [{p * tw - 1}:0] col{c}_x;"]
        lines.append(f"    wire [{q * p * d.weight_bits - 1}:0] col{c}_w;  // read by the testbench after learning")
    for c, v in enumerate(cols.views):
        parts = []
        for kd, i in zip(v.src_kind.tolist(), v.src_index.tolist(), strict=True):
            if kd == 0:
                parts.append(bus_slice("x_in", int(i), tw))
            else:
                src, line = cols.column_of_line(int(i))
                parts.append(bus_slice(f"col{src}_y", line, tw))
        lines.append(f"    assign col{c}_x = {{{', '.join(reversed(parts))}}};")
        s = d.column_depth[c] - 1
        lines.append(
            f"    {d.top}_col{c} col{c} (.clk(clk), .rst(rst), .start(start[{s}]), .run(run[{s}]), .tick(tick), "
            f".stdp(stdp), .x(col{c}_x), .y(col{c}_y), .weights(col{c}_w));"
        )
    outs = [bus_slice(f"col{c}_y", j, tw) for c, j in d.out_column.tolist()]
    lines += [f"    assign y_out = {{{', '.join(reversed(outs))}}};", "endmodule", ""]
    return lines


def emit_rtl(image: ChipImage, design: TnnDesign) -> str:
    cols = _Cols(image)
    d = design
    lines = [
        f"// Generated by nmc from TNN '{image.meta['name']}' on chip '{image.meta['chip']}' ({cols.n} columns, "
        f"{d.synapses} synapses, {d.time_bits} time bits, {d.weight_bits} weight bits).",
        f"// One clock cycle = one unit time; one sample = {d.cycles_per_sample} cycles "
        f"(go, {d.depth} x (start + {1 << d.time_bits} unit times){', STDP' if d.learn else ''}).",
        "// Primitives: tnn_primitives.v. Semantics: docs/tnn.md; this hardware: docs/tnn-hardware.md.",
        "`default_nettype none",
        "",
    ]
    for c in range(cols.n):
        lines += _column_module(cols, d, c)
    lines += _top_module(cols, d)
    lines.append("`default_nettype wire")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- testbench


def emit_testbench(image: ChipImage, d: TnnDesign, trace: dict[str, np.ndarray]) -> dict[str, str]:
    """`tb_<top>.v` and its data: encoder spike times in; the simulator's output times (inference, then
    learning) and, after learning, every weight expected."""
    cols = _Cols(image)
    tb, tw, wb = f"tb_{d.top}", d.time_bits + 1, d.weight_bits
    times, inference = trace["times"], trace["inference"]
    n, n_out = times.shape[0], d.outputs.size
    files = {f"{tb}_in.hex": hex_rows(times, tw), f"{tb}_inference.hex": hex_rows(inference, tw)}
    learn_decl = learn_run = ""
    if d.learn:
        files[f"{tb}_learning.hex"] = hex_rows(trace["learning"], tw)
        flat = np.concatenate([w.reshape(-1) for w in trace["weights"]])
        files[f"{tb}_weights.hex"] = "".join(f"{int(v):x}\n" for v in flat)
        learn_decl = (
            f"    reg  [{n_out * tw - 1}:0] expect_learning [0:SAMPLES-1];\n    reg  [{wb - 1}:0] expect_w [0:{flat.size - 1}];\n"
        )
        checks = []
        base = 0
        for c, v in enumerate(cols.views):
            p, q = v.p, v.q
            checks.append(
                f"""        for (m = 0; m < {p * q}; m = m + 1)
            if (dut.col{c}_w[m*{wb} +: {wb}] !== expect_w[{base} + m]) begin
                $display("FAIL: after learning, column {c} neuron %0d synapse %0d: rtl weight %0d, simulator %0d",
                         m / {p}, m % {p}, dut.col{c}_w[m*{wb} +: {wb}], expect_w[{base} + m]);
                $finish;
            end"""
            )
            base += p * q
        learn_run = f"""        $readmemh("{tb}_learning.hex", expect_learning);
        $readmemh("{tb}_weights.hex", expect_w);
        for (s = 0; s < SAMPLES; s = s + 1) begin
            sample(stimulus[s], 1'b1);
            if (y_out !== expect_learning[s]) report("learning", s, y_out, expect_learning[s]);
        end
{chr(10).join(checks)}
        $display("PASS: %0d samples of inference and %0d of STDP learning,", SAMPLES, SAMPLES,
                 " spike times and {flat.size} weights identical to the simulator");
"""
    else:
        learn_run = '        $display("PASS: %0d samples of inference, spike times identical to the simulator", SAMPLES);\n'
    ids = "\n".join(f"        column[{k}] = {c}; neuron[{k}] = {j};" for k, (c, j) in enumerate(d.out_column.tolist()))
    files[f"{tb}.v"] = f"""// Generated by nmc: replays encoded samples into {d.top} and compares its output spike times with the
// simulator's every sample, first without learning, then{
        " with STDP, and every weight after it" if d.learn else " (no learning)"
    }.
// Run in this folder:  iverilog -g2012 -o {tb} *.v && vvp {tb}
`timescale 1ns/1ps
module {tb};
    localparam integer SAMPLES = {n};
    localparam integer NOUT = {n_out};
    localparam integer TW = {tw};
    reg clk = 1'b0, rst = 1'b1, go = 1'b0, learn = 1'b0;
    reg  [{d.encoder_lines * tw - 1}:0] x_in = 0;
    wire ready;
    wire [{n_out * tw - 1}:0] y_out;
    reg  [{d.encoder_lines * tw - 1}:0] stimulus [0:SAMPLES-1];
    reg  [{n_out * tw - 1}:0] expect_inference [0:SAMPLES-1];
{learn_decl}    integer column [0:NOUT-1];
    integer neuron [0:NOUT-1];
    integer s, m;
    {d.top} dut (.clk(clk), .rst(rst), .go(go), .learn(learn), .ready(ready), .x_in(x_in), .y_out(y_out));
    always #5 clk = ~clk;

    task sample(input [{d.encoder_lines * tw - 1}:0] x, input l);
        begin
            x_in = x; learn = l; go = 1'b1;
            @(negedge clk);
            go = 1'b0;
            @(negedge clk);
            while (!ready) @(negedge clk);
        end
    endtask

    task report(input [8*9-1:0] phase, input integer s, input [{n_out * tw - 1}:0] got, input [{n_out * tw - 1}:0] want);
        integer o, bad;
        begin
            bad = 0;
            for (o = NOUT - 1; o >= 0; o = o - 1) if (got[o*TW +: TW] !== want[o*TW +: TW]) bad = o;
            $display("FAIL: %0s sample %0d, output %0d (column %0d neuron %0d):", phase, s, bad, column[bad], neuron[bad],
                     " rtl spike time %0d, simulator %0d (%0d = no spike)", got[bad*TW +: TW], want[bad*TW +: TW],
                     {no_spike(d.time_bits)});
            $finish;
        end
    endtask

    initial begin
        $readmemh("{tb}_in.hex", stimulus);
        $readmemh("{tb}_inference.hex", expect_inference);
{ids}
        @(negedge clk); @(negedge clk);
        rst = 1'b0;
        for (s = 0; s < SAMPLES; s = s + 1) begin
            sample(stimulus[s], 1'b0);
            if (y_out !== expect_inference[s]) report("inference", s, y_out, expect_inference[s]);
        end
{learn_run}        $finish;
    end
endmodule
"""
    return files


def tnn_verilog_files(
    image: ChipImage, trace: dict[str, np.ndarray] | None, top: str, learn: bool
) -> tuple[dict[str, str], TnnDesign]:
    """Every file of `--target verilog` for a TNN: primitives, RTL and (given a trace) the testbench.

    `trace` (from the caller, who runs the simulator, so targets never depend on the runtime):
    `times` (N, encoder lines) encoded samples, `inference` (N, outputs) their output times with
    the binary's weights, and when the chip learns `learning` (N, outputs) the output times of the
    same samples run in order with STDP and `weights` (per column (q, p)) after them. `learn`: the
    chip's TNN cores learn on chip (its tnn_column says stdp true), so the RTL holds STDP units.
    """
    design = plan(image, learn, top)
    files = {PRIMITIVES: primitives_source(), f"{top}.v": emit_rtl(image, design)}
    if trace is not None:
        files.update(emit_testbench(image, design, trace))
    return files, design
