// nmc time-multiplexed core library (docs/verilog.md, "time-multiplexed style"): neuron state, synapses,
// axon values and per-neuron configuration live in memories; one shared update datapath per core walks
// its neurons each tick. The integer semantics are docs/chip-model.md's, computed by nmc_neuron_update,
// the one copy of the neuron arithmetic that both RTL styles instantiate.
//
// The memories, nmc_rom and nmc_ram, are in nmc_tm_memories.v (behavioural arrays for simulation) or,
// with --verilog-memories macros, black boxes with the same ports for a foundry SRAM macro's wrapper.

`default_nettype none
// verilator lint_off DECLFILENAME

// The neuron arithmetic of docs/chip-model.md, combinational: one tick of one neuron from its state, the
// tick's synaptic sum and its configuration (integrate -> leak -> saturate -> fire -> reset; spike,
// partial-sum or integrate mode; the optional synaptic current of a current-based neuron).
// Configuration inputs tied to constants fold away in synthesis.
module nmc_neuron_update #(
    parameter integer IW = 16,   // accumulator bits
    parameter integer VW = 24,   // membrane bits
    parameter integer PW = 16,   // partial-sum bits
    parameter integer OW = 2,    // output value bits
    parameter integer MW = 1,    // bits of the leak multiplier (unsigned)
    parameter integer CMW = 1,   // bits of the current's multiplier (unsigned)
    parameter integer TW = 8     // tick counter bits
) (
    input  wire signed [VW-1:0] v,          // membrane before this tick
    input  wire signed [VW-1:0] isyn,       // synaptic current before this tick (current-based neurons)
    input  wire signed [IW-1:0] acc,        // the tick's synaptic sum
    input  wire [1:0]           mode,       // 0 spike, 1 partial sum, 2 integrate
    input  wire [1:0]           reset_kind, // 0 zero, 1 subtract, 2 none
    input  wire                 compare,    // 0: V >= threshold, 1: V > threshold
    input  wire [4:0]           shift,      // leak: V - ((V * mult) >>> shift); 0 = no leak
    input  wire [MW-1:0]        mult,
    input  wire                 current,    // 1: current-based
    input  wire [4:0]           cshift,
    input  wire [CMW-1:0]       cmult,
    // verilator lint_off UNUSEDSIGNAL
    input  wire signed [31:0]   threshold,  // only the low EW / IW bits are read (the generator checks they fit)
    input  wire signed [31:0]   bias,
    // verilator lint_on UNUSEDSIGNAL
    input  wire [TW-1:0]        start,      // first tick the neuron computes
    input  wire [TW-1:0]        tick,
    output wire signed [VW-1:0] v_next,
    output wire signed [VW-1:0] isyn_next,
    output wire signed [OW-1:0] out
);
    localparam integer EW = ((VW > IW) ? VW : IW) + 2;
    localparam integer QW = ((PW > IW) ? PW : IW) + 1;
    localparam signed [EW-1:0] VMAX = {{(EW-VW+1){1'b0}}, {(VW-1){1'b1}}};
    localparam signed [EW-1:0] VMIN = {{(EW-VW+1){1'b1}}, {(VW-1){1'b0}}};
    localparam signed [QW-1:0] PMAX = {{(QW-PW+1){1'b0}}, {(PW-1){1'b1}}};
    localparam signed [QW-1:0] PMIN = {{(QW-PW+1){1'b1}}, {(PW-1){1'b0}}};
    // sign-extended or truncated: the generator checks that threshold and bias fit EW and IW bits
    // verilator lint_off WIDTH
    wire signed [EW-1:0] th = threshold;
    wire signed [IW-1:0] b = bias;
    // verilator lint_on WIDTH
    wire signed [IW-1:0] drive_in = acc + b;
    // the leak's product V * mult at full width (VW + MW + 1 bits) before the arithmetic shift;
    // |(V * mult) >>> shift| <= |V| (mult <= 2^shift): only its low VW bits are used
    // verilator lint_off UNUSEDSIGNAL
    wire signed [VW+MW:0] leak_product = v * $signed({1'b0, mult});
    wire signed [VW+MW:0] leak_shifted = leak_product >>> shift;
    wire signed [VW+CMW:0] c_product = isyn * $signed({1'b0, cmult});
    wire signed [VW+CMW:0] c_shifted = c_product >>> cshift;
    // verilator lint_on UNUSEDSIGNAL
    wire signed [VW-1:0] decayed = (shift != 5'd0) ? v - leak_shifted[VW-1:0] : v;
    wire signed [VW-1:0] c_decayed = (cshift != 5'd0) ? isyn - c_shifted[VW-1:0] : isyn;
    wire signed [EW-1:0] c_total = $signed({{(EW-VW){c_decayed[VW-1]}}, c_decayed})
                                 + $signed({{(EW-IW){drive_in[IW-1]}}, drive_in});
    wire signed [EW-1:0] c_clipped = (c_total > VMAX) ? VMAX : ((c_total < VMIN) ? VMIN : c_total);
    wire signed [EW-1:0] drive = current ? c_clipped : $signed({{(EW-IW){drive_in[IW-1]}}, drive_in});
    wire signed [EW-1:0] total = $signed({{(EW-VW){decayed[VW-1]}}, decayed}) + drive;
    wire signed [EW-1:0] clipped = (total > VMAX) ? VMAX : ((total < VMIN) ? VMIN : total);
    wire fire = (mode == 2'd0) && (compare ? (clipped > th) : (clipped >= th));
    // only the low VW / OW bits of `after` and `psum` are kept: the values are saturated to fit
    // verilator lint_off UNUSEDSIGNAL
    wire signed [EW-1:0] after = !fire ? clipped : ((reset_kind == 2'd1) ? clipped - th
                                                   : ((reset_kind == 2'd0) ? {EW{1'b0}} : clipped));
    wire signed [QW-1:0] wide = $signed({{(QW-IW){drive_in[IW-1]}}, drive_in});
    wire signed [QW-1:0] psum = (wide > PMAX) ? PMAX : ((wide < PMIN) ? PMIN : wide);
    // verilator lint_on UNUSEDSIGNAL
    wire active = tick >= start;
    assign v_next = (active && mode != 2'd1) ? after[VW-1:0] : v;
    assign isyn_next = (active && current) ? c_clipped[VW-1:0] : isyn;
    assign out = !active ? {OW{1'b0}} : ((mode == 2'd1) ? psum[OW-1:0] : {{(OW-1){1'b0}}, fire});
endmodule

// One time-multiplexed core. After reset it clears its memories (INIT_CYCLES cycles, `idle` low); then
// each `start` pulse runs one tick: for neuron n = 0 .. N-1, walk its synapses (one per cycle, pipelined:
// synapse word -> axon value -> multiply-accumulate), then update it through nmc_neuron_update and
// write its state and output. The per-neuron configuration comes in through the cfg_* ports, which the
// generated wrapper ties to constants (a field equal across the core) or to slices of `cfg`, the word of
// the configuration memory for the neuron being read.
module nmc_tm_core #(
    parameter integer N = 1,      // neurons
    parameter integer NW = 1,     // neuron index bits
    parameter integer S = 1,      // synapse words (sorted by neuron)
    parameter integer SPW = 1,    // synapse pointer bits
    parameter integer KW = 1,     // bits of a neuron's synapse count
    parameter integer AD = 1,     // axon memory words (delay banks x axon slots)
    parameter integer AXW = 1,    // axon memory address bits
    parameter integer AIW = 1,    // axon index bits (within a bank)
    parameter integer BW = 0,     // delay bank bits (0: no axon delays)
    parameter integer WW = 8,     // weight bits (signed)
    parameter integer XW = 1,     // axon value bits
    parameter integer XS = 0,     // 1: axon values are signed; 0: spikes (one unsigned bit)
    parameter integer OW = 1,     // output value bits (1 for spikes, else signed)
    parameter integer IW = 16,
    parameter integer VW = 24,
    parameter integer PW = 16,
    parameter integer MW = 1,
    parameter integer CMW = 1,
    parameter integer CUR = 0,    // 1: some neuron is current-based (the state word holds its current)
    parameter integer TW = 8,
    parameter integer CFGW = 1,   // configuration word bits
    parameter SYNFILE = "syn.hex",  // {axon, weight} per synapse
    parameter CFGFILE = "cfg.hex"   // the configuration word per neuron
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 start,
    output wire                 idle,
    input  wire [TW-1:0]        tick,
    // verilator lint_off UNUSEDSIGNAL
    input  wire [(BW>0?BW:1)-1:0] bank,   // the delay bank this tick reads (unused without delays)
    // verilator lint_on UNUSEDSIGNAL
    // axon memory write port (the chip's deliver phase)
    input  wire                 ax_we,
    input  wire [AXW-1:0]       ax_waddr,
    input  wire [XW-1:0]        ax_wdata,
    // output memory read port (deliver and the host's probe) and membrane probe
    input  wire [NW-1:0]        out_raddr,
    output wire [OW-1:0]        out_rdata,
    input  wire [NW-1:0]        probe_addr,
    output wire signed [VW-1:0] probe_v,
    // configuration
    output wire [CFGW-1:0]      cfg,
    input  wire [KW-1:0]        cfg_count,
    input  wire [1:0]           cfg_mode,
    input  wire [1:0]           cfg_reset,
    input  wire                 cfg_compare,
    input  wire [4:0]           cfg_shift,
    input  wire [MW-1:0]        cfg_mult,
    input  wire                 cfg_current,
    input  wire [4:0]           cfg_cshift,
    input  wire [CMW-1:0]       cfg_cmult,
    input  wire signed [31:0]   cfg_threshold,
    input  wire signed [31:0]   cfg_bias,
    // verilator lint_off UNUSEDSIGNAL
    input  wire signed [31:0]   cfg_v_init,  // its low VW bits
    // verilator lint_on UNUSEDSIGNAL
    input  wire [TW-1:0]        cfg_start
);
    localparam integer SW_STATE = (CUR != 0) ? 2 * VW : VW;
    localparam integer SYNW = AIW + WW;
    localparam integer LAST_INIT = (N > AD) ? N : AD;
    localparam integer IXW = $clog2(LAST_INIT + 1);
    // verilator lint_off WIDTH
    localparam [IXW-1:0] N_IX = N;    // N, AD <= LAST_INIT < 2^IXW
    localparam [IXW-1:0] AD_IX = AD;
    // verilator lint_on WIDTH
    localparam [2:0] ST_INIT = 3'd0, ST_IDLE = 3'd1, ST_LOAD = 3'd2, ST_ACC = 3'd3, ST_UPD = 3'd4;

    reg  [2:0]     st;
    reg  [IXW-1:0] ix;          // init walk index
    reg            ix_phase;    // init: 0 read the configuration, 1 write
    reg  [NW-1:0]  n;           // neuron being processed
    reg  [SPW-1:0] ptr;         // next synapse word
    reg  [KW-1:0]  rem;         // synapses of neuron n not yet read
    reg            v1, v2;      // pipeline: synapse word valid, axon value valid
    reg  signed [WW-1:0] w1;
    reg  signed [IW-1:0] acc;

    assign idle = (st == ST_IDLE);
    wire last_n = (n == N[NW-1:0] - 1'b1);
    // verilator lint_off WIDTH
    wire [NW-1:0] n_read = (st == ST_INIT) ? ix[NW-1:0]
                         : (idle ? (start ? {NW{1'b0}} : probe_addr) : ((st == ST_UPD) ? n + 1'b1 : n));
    // verilator lint_on WIDTH

    // memories
    wire [SYNW-1:0] syn;
    wire [SW_STATE-1:0] state;
    wire [XW-1:0] ax_value;
    nmc_rom #(.W(SYNW), .D(S), .AW(SPW), .INIT(SYNFILE)) syn_mem (.clk(clk), .raddr(ptr), .rdata(syn));
    nmc_rom #(.W(CFGW), .D(N), .AW(NW), .INIT(CFGFILE)) cfg_mem (.clk(clk), .raddr(n_read), .rdata(cfg));
    wire signed [VW-1:0] v_next, isyn_next;
    wire signed [OW-1:0] out_next;
    wire init_write = (st == ST_INIT) && ix_phase;
    // verilator lint_off WIDTH
    wire [SW_STATE-1:0] state_init = (CUR != 0) ? {{VW{1'b0}}, cfg_v_init[VW-1:0]} : cfg_v_init[VW-1:0];
    wire [SW_STATE-1:0] state_next = (CUR != 0) ? {isyn_next, v_next} : v_next;
    // verilator lint_on WIDTH
    nmc_ram #(.W(SW_STATE), .D(N), .AW(NW)) state_mem (
        .clk(clk), .we((init_write && ix < N_IX) || st == ST_UPD), .waddr(init_write ? ix[NW-1:0] : n),
        .wdata(init_write ? state_init : state_next), .raddr(n_read), .rdata(state));
    nmc_ram #(.W(OW), .D(N), .AW(NW)) out_mem (
        .clk(clk), .we((init_write && ix < N_IX) || st == ST_UPD), .waddr(init_write ? ix[NW-1:0] : n),
        .wdata(init_write ? {OW{1'b0}} : out_next), .raddr(out_raddr), .rdata(out_rdata));
    wire [AIW-1:0] axon = syn[SYNW-1 -: AIW];
    wire [AXW-1:0] ax_raddr;
    generate
        if (BW > 0) begin : g_banks
            assign ax_raddr = {bank, axon};
        end else begin : g_flat
            assign ax_raddr = axon;
        end
    endgenerate
    nmc_ram #(.W(XW), .D(AD), .AW(AXW)) ax_mem (
        .clk(clk), .we((init_write && ix < AD_IX) || ax_we), .waddr(init_write ? ix[AXW-1:0] : ax_waddr),
        .wdata(init_write ? {XW{1'b0}} : ax_wdata), .raddr(ax_raddr), .rdata(ax_value));

    // multiply-accumulate: a spike selects the weight, a graded value multiplies it
    wire signed [WW+XW:0] product;
    generate
        if (XS != 0) begin : g_signed
            assign product = w1 * $signed(ax_value);
        end else begin : g_spike
            assign product = ax_value[0] ? {{(XW+1){w1[WW-1]}}, w1} : {(WW+XW+1){1'b0}};
        end
    endgenerate

    wire signed [VW-1:0] v_now = state[VW-1:0];
    wire signed [VW-1:0] isyn_now;
    generate
        if (CUR != 0) begin : g_cur
            assign isyn_now = state[SW_STATE-1 -: VW];
        end else begin : g_nocur
            assign isyn_now = {VW{1'b0}};
        end
    endgenerate
    assign probe_v = v_now;
    nmc_neuron_update #(.IW(IW), .VW(VW), .PW(PW), .OW(OW), .MW(MW), .CMW(CMW), .TW(TW)) update (
        .v(v_now), .isyn(isyn_now), .acc(acc), .mode(cfg_mode), .reset_kind(cfg_reset), .compare(cfg_compare),
        .shift(cfg_shift), .mult(cfg_mult), .current(cfg_current), .cshift(cfg_cshift), .cmult(cfg_cmult),
        .threshold(cfg_threshold), .bias(cfg_bias), .start(cfg_start), .tick(tick),
        .v_next(v_next), .isyn_next(isyn_next), .out(out_next));

    wire v0 = (st == ST_ACC) && (rem != {KW{1'b0}});
    always @(posedge clk) begin
        if (rst) begin
            st <= ST_INIT;
            ix <= {IXW{1'b0}};
            ix_phase <= 1'b0;
            n <= {NW{1'b0}};
            ptr <= {SPW{1'b0}};
            rem <= {KW{1'b0}};
            v1 <= 1'b0;
            v2 <= 1'b0;
            w1 <= {WW{1'b0}};
            acc <= {IW{1'b0}};
        end else begin
            case (st)
                ST_INIT: begin
                    ix_phase <= !ix_phase;
                    if (ix_phase) begin
                        // verilator lint_off WIDTH
                        if (ix == LAST_INIT - 1) st <= ST_IDLE;
                        // verilator lint_on WIDTH
                        ix <= ix + 1'b1;
                    end
                end
                ST_IDLE: if (start) begin
                    st <= ST_LOAD;
                    n <= {NW{1'b0}};
                    ptr <= {SPW{1'b0}};
                end
                ST_LOAD: begin  // cfg and state of neuron n are on the read ports
                    rem <= cfg_count;
                    acc <= {IW{1'b0}};
                    st <= ST_ACC;
                end
                ST_ACC: begin
                    if (v0) begin
                        ptr <= ptr + 1'b1;
                        rem <= rem - 1'b1;
                    end
                    v1 <= v0;
                    v2 <= v1;
                    if (v1) w1 <= syn[WW-1:0];
                    // verilator lint_off WIDTH
                    if (v2) acc <= acc + product;
                    // verilator lint_on WIDTH
                    if (!v0 && !v1 && !v2) st <= ST_UPD;
                end
                default: begin  // ST_UPD: state and output of n written by the memories' ports
                    n <= n + 1'b1;
                    st <= last_n ? ST_IDLE : ST_LOAD;
                end
            endcase
        end
    end
endmodule

`default_nettype wire
