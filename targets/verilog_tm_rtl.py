"""Writes the time-multiplexed style's RTL (docs/verilog.md): per core a wrapper around its lanes
(nmc_tm_core instances, their configuration tied to constants or to slices of the configuration word),
the chip level (deliver walker, delay banks, probe port) and the testbench. Sizes come from
targets/verilog_tm.py's plan.
"""

from __future__ import annotations

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.targets.verilog import bits_index, board_chips
from nmc.targets.verilog_tm import LIBRARY, TM_MACROS, TM_MEMORIES, TM_PRIMITIVES, TmCore, TmDesign, TmLane, tm_plan
from nmc.targets.verilog_tm_tb import emit_tm_testbench

# --------------------------------------------------------------------------- RTL


def _hex(words: list[int], width: int) -> str:
    digits = max(1, (width + 3) // 4)
    return "".join(f"{w:0{digits}x}\n" for w in words) if words else f"{0:0{digits}x}\n"


def _port_value(lane: TmLane, name: str, width: int, signed: bool) -> str:
    if name in lane.slices:
        lsb, w, sgn = lane.slices[name]
        part = f"cfg[{lsb + w - 1}:{lsb}]"
        if width == 32 and sgn:
            return f"{{{{{32 - w}{{cfg[{lsb + w - 1}]}}}}, {part}}}" if w < 32 else part
        return f"{{{width - w}'d0, {part}}}" if w < width else part
    value = lane.consts[name]
    if signed:
        return f"-32'sd{-value}" if value < 0 else f"32'sd{value}"
    return f"{width}'d{value}"


def _lane_instance(td: TmDesign, core: TmCore, k: int, files: dict[str, str]) -> list[str]:
    d, lane = td.base, core.lanes[k]
    name = f"{d.top}_core{core.index}" + (f"_lane{k}" if len(core.lanes) > 1 else "")
    syn_file, cfg_file = f"{name}_syn.hex", f"{name}_cfg.hex"
    files[syn_file] = _hex(lane.syn_words, core.aiw + d.ww)
    files[cfg_file] = _hex(lane.cfg_words, lane.cfg_bits)
    ports = {
        "count": _port_value(lane, "count", lane.count_bits, False),
        "mode": _port_value(lane, "mode", 2, False),
        "reset": _port_value(lane, "reset", 2, False),
        "compare": _port_value(lane, "compare", 1, False),
        "shift": _port_value(lane, "shift", 5, False),
        "mult": _port_value(lane, "mult", lane.mw, False),
        "current": _port_value(lane, "current", 1, False),
        "cshift": _port_value(lane, "cshift", 5, False),
        "cmult": _port_value(lane, "cmult", lane.cmw, False),
        "threshold": _port_value(lane, "threshold", 32, True),
        "bias": _port_value(lane, "bias", 32, True),
        "v_init": _port_value(lane, "v_init", 32, True),
        "start": _port_value(lane, "start", d.tw, False),
    }
    varying = ", ".join(sorted(lane.slices)) or "none"
    nw = lane.nw

    def local(bus: str) -> str:
        """The slot's index within the lane: its low bits (none when every lane holds one neuron)."""
        return f"{bus}[{nw - 1}:0]" if core.lane_bits else f"{nw}'d0"

    out = [
        f"    // lane {k}: slots {lane.first}..{lane.first + lane.neurons - 1}, {lane.synapses} synapses; "
        f"configuration per neuron: {varying}",
        "    // verilator lint_off UNUSEDSIGNAL",
        f"    wire [{lane.cfg_bits - 1}:0] cfg{k};  // the configuration word of the neuron being read",
        "    // verilator lint_on UNUSEDSIGNAL",
        f"    wire lane{k}_idle;",
        f"    wire [{core.ow - 1}:0] lane{k}_out;",
        f"    wire [{d.vw - 1}:0] lane{k}_v;",
        f"    nmc_tm_core #(.N({lane.neurons}), .NW({nw}), .S({max(1, lane.synapses)}), "
        f".SPW({bits_index(max(1, lane.synapses))}), .KW({lane.count_bits}), .AD({core.ax_words}), "
        f".AXW({core.bank_bits + core.aiw}), .AIW({core.aiw}), .BW({core.bank_bits}), .WW({d.ww}), .XW({core.xw}), "
        f".XS({int(core.signed_axons)}), .OW({core.ow}), .IW({lane.iw}), .VW({d.vw}), .PW({d.pw}), .MW({lane.mw}), "
        f".CMW({lane.cmw}), .CUR({int(lane.current)}), .TW({d.tw}), .CFGW({lane.cfg_bits}), "
        f'.SYNFILE("{syn_file}"), .CFGFILE("{cfg_file}")) lane{k} (',
        f"        .clk(clk), .rst(rst), .start(start), .idle(lane{k}_idle), .tick(tick), .bank(bank), .ax_we(ax_we), "
        ".ax_waddr(ax_waddr), .ax_wdata(ax_wdata),",
        f"        .out_raddr({local('out_raddr')}), .out_rdata(lane{k}_out), .probe_addr({local('probe_addr')}), "
        f".probe_v(lane{k}_v), .cfg(cfg{k}),",
        "        " + ", ".join(f".cfg_{p}({v.replace('cfg[', f'cfg{k}[')})" for p, v in ports.items()) + ");",
    ]
    return out


def _core_module(td: TmDesign, core: TmCore, files: dict[str, str]) -> list[str]:
    d = td.base
    name = f"{d.top}_core{core.index}"
    bw = max(1, core.bank_bits)
    axw = core.bank_bits + core.aiw
    lanes = len(core.lanes)
    out = [
        f"// core {core.index}: {core.neurons} neurons, {core.axons} axons, {core.synapses} synapses, "
        f"{lanes} update lane{'s' if lanes > 1 else ''}",
        "(* keep_hierarchy *)  // a core is a unit of the floor plan: synthesized and counted on its own",
        f"module {name} (",
        "    input  wire clk, rst, start,",
        "    output wire idle,",
        f"    input  wire [{d.tw - 1}:0] tick,",
        f"    input  wire [{bw - 1}:0] bank,",
        "    input  wire ax_we,",
        f"    input  wire [{axw - 1}:0] ax_waddr,",
        f"    input  wire [{core.xw - 1}:0] ax_wdata,",
        "    // verilator lint_off UNUSEDSIGNAL",
        f"    input  wire [{core.nw - 1}:0] out_raddr,  // unused bits: lanes of one neuron",
        f"    input  wire [{core.nw - 1}:0] probe_addr,",
        "    // verilator lint_on UNUSEDSIGNAL",
        f"    output wire [{core.ow - 1}:0] out_rdata,    output wire [{d.vw - 1}:0] probe_v",
        ");",
    ]
    for k in range(lanes):
        out += _lane_instance(td, core, k, files)
    if lanes == 1:
        out += ["    assign idle = lane0_idle;", "    assign out_rdata = lane0_out;", "    assign probe_v = lane0_v;"]
    else:
        lb, hi = core.lane_bits, core.nw - 1
        sel = max(1, core.nw - lb)
        out += [
            "    // a slot's lane is its high bits; the read data comes a clock after the address",
            f"    reg [{sel - 1}:0] out_lane, probe_lane;",
            f"    always @(posedge clk) begin out_lane <= out_raddr[{hi}:{lb}]; probe_lane <= probe_addr[{hi}:{lb}]; end",
            f"    assign idle = {' && '.join(f'lane{k}_idle' for k in range(lanes))};",
            "    assign out_rdata = "
            + "".join(f"(out_lane == {sel}'d{k}) ? lane{k}_out : " for k in range(lanes - 1))
            + f"lane{lanes - 1}_out;",
            "    assign probe_v = "
            + "".join(f"(probe_lane == {sel}'d{k}) ? lane{k}_v : " for k in range(lanes - 1))
            + f"lane{lanes - 1}_v;",
        ]
    out += ["endmodule", ""]
    return out


def _core_instance(td: TmDesign, c: TmCore, start: str) -> str:
    k = c.index
    return (
        f"    {td.top}_core{k} core{k} (.clk(clk), .rst(rst), .start({start}), .idle(core{k}_idle), .tick(tick), "
        f".bank(bank[{max(1, c.bank_bits) - 1}:0]), .ax_we(core{k}_we), .ax_waddr(core{k}_waddr), "
        f".ax_wdata(value[{c.xw - 1}:0]), .out_raddr(out_raddr[{c.nw - 1}:0]), .out_rdata(core{k}_out), "
        f".probe_addr(probe_slot[{c.nw - 1}:0]), .probe_v(core{k}_v));"
    )


def _chip_module(td: TmDesign, k: int, cores: list[int]) -> list[str]:
    """A chip of a board: its cores, under the board's deliver walker, tick controller and probe port."""
    d = td.base
    nw_max = max(c.nw for c in td.cores)
    out = [
        f"// chip {k} of the board: cores {', '.join(map(str, cores))}",
        f"module {d.top}_chip{k} (",
        "    input  wire clk, rst, start,",
        f"    input  wire [{d.tw - 1}:0] tick,",
        f"    input  wire [{max(1, td.bank_bits) - 1}:0] bank,",
        "    // verilator lint_off UNUSEDSIGNAL",
        f"    input  wire [{td.dxw - 1}:0] value,  // the delivered value; a core reads its axons' low bits",
        f"    input  wire [{nw_max - 1}:0] out_raddr,",
        f"    input  wire [{nw_max - 1}:0] probe_slot,",
        "    // verilator lint_on UNUSEDSIGNAL",
    ]
    ports = []
    for c in (td.cores[i] for i in cores):
        ports += [
            f"    input  wire core{c.index}_we,",
            f"    input  wire [{c.bank_bits + c.aiw - 1}:0] core{c.index}_waddr,",
            f"    output wire core{c.index}_idle,",
            f"    output wire [{c.ow - 1}:0] core{c.index}_out,",
            f"    output wire [{d.vw - 1}:0] core{c.index}_v,",
        ]
    ports[-1] = ports[-1].rstrip(",")
    out += ports + [");"] + [_core_instance(td, td.cores[i], "start") for i in cores] + ["endmodule", ""]
    return out


def _top_module(td: TmDesign, files: dict[str, str], chips: dict[int, list[int]] | None = None) -> list[str]:
    d = td.base
    cb, sb, ab, db = td.field_bits
    ew = td.entry_bits
    entries = len(td.deliver)
    shifts = (ew - 1, sb + cb + ab + db, cb + ab + db, ab + db, db, 0)  # kind, source core, source, core, axon, delay
    words = [sum(value << at for value, at in zip(entry, shifts, strict=True)) for entry in td.deliver]
    deliver_file = f"{d.top}_deliver.hex"
    files[deliver_file] = _hex(words, ew)
    nw_max = max(c.nw for c in td.cores)
    probe_file = f"{d.top}_probe.hex"
    files[probe_file] = _hex([(m << (cb + nw_max)) | (c << nw_max) | slot for m, c, slot in td.probes], td.probe_bits)
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
        f'    nmc_rom #(.W({ew}), .D({max(1, entries)}), .AW({ecw}), .INIT("{deliver_file}")) deliver_table '
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
        "    // verilator lint_off UNUSEDSIGNAL",
        f"    wire [{bw - 1}:0] w_bank = bank + b_delay;  // modulo the bank count, a power of two",
        "    // verilator lint_on UNUSEDSIGNAL",
        "    // verilator lint_on WIDTH",
        "    // probe table: {membrane?, core, slot} per probe address (outputs, then decoded membranes)",
        f"    wire [{1 + cb + nw_max - 1}:0] probe_entry;",
        f'    nmc_rom #(.W({1 + cb + nw_max}), .D({max(1, len(td.probes))}), .AW({pb}), .INIT("{probe_file}")) probe_table '
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
            f"    wire core{k}_we = vb && b_dst == {cb}'d{k};",
        ]
        if chips is None:
            out.append(_core_instance(td, c, "core_start"))
    for k, cores in (chips or {}).items():  # a board: the cores sit in chip modules (docs/boards.md)
        ports = ", ".join(f".core{c}_{p}(core{c}_{p})" for c in cores for p in ("we", "waddr", "idle", "out", "v"))
        out.append(
            f"    {d.top}_chip{k} chip{k} (.clk(clk), .rst(rst), .start(core_start), .tick(tick), .bank(bank), "
            f".value(value), .out_raddr(out_raddr), .probe_slot(probe_slot), {ports});"
        )
    at = out.index("    wire core_start = (tst == T_START);") + 1
    out[at:at] = [
        "    // verilator lint_off UNUSEDSIGNAL",
        f"    reg [{td.dxw - 1}:0] value;  // a core reads its axons' low bits",
        "    // verilator lint_on UNUSEDSIGNAL",
    ]
    out += [
        "    // the value of the entry in the last stage: a host input or the source core's output",
        "    always @* begin",
        "        value = host_value;",
        "        if (b_kind) begin",
        "            case (b_src_core)",
        *[f"                {cb}'d{c.index}: value = {_extend(f'core{c.index}_out', c.ow, td.dxw, c.ow > 1)};" for c in td.cores],
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


def emit_tm_rtl(image: ChipImage, td: TmDesign, chips: dict[int, list[int]] | None = None) -> dict[str, str]:
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
    for k, cores in (chips or {}).items():
        lines += _chip_module(td, k, cores)
    lines += _top_module(td, files, chips)
    lines.append("`default_nettype wire")
    files[f"{d.top}.v"] = "\n".join(lines) + "\n"
    return files


def tm_verilog_files(
    image: ChipImage, trace: dict[str, np.ndarray] | None, memories: str = "arrays", lanes: int = 1
) -> tuple[dict[str, str], TmDesign]:
    """Every file of `--target verilog` in the time-multiplexed style: primitives, memories (behavioural
    arrays, or with `memories="macros"` black boxes for SRAM macros), RTL, memory contents and (given the
    simulator's trace of a run) the testbench."""
    td = tm_plan(image, lanes)
    memory_file = TM_MEMORIES if memories == "arrays" else TM_MACROS
    files = {name: LIBRARY.joinpath(name).read_text() for name in (TM_PRIMITIVES, memory_file)}
    files.update(emit_tm_rtl(image, td, board_chips(image)))
    if trace is not None:
        files.update(emit_tm_testbench(td, trace))
    return files, td
