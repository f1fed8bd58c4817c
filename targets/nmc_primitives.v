// nmc primitive library: the reference core of docs/chip-model.md as synthesizable Verilog-2005.
//
// One chip tick takes several clock cycles, sequenced by nmc_tick_ctrl:
//   deliver   (HOPS cycles)  spikes and partial sums of the previous tick move one mesh hop per cycle
//   start, integrate (S + 2 cycles) each core's synapse engine walks its synapse list, one synapse per cycle
//   update    (1 cycle)      every neuron leaks, saturates, fires, resets; delay lines shift
// Generated top levels (nmc --target verilog) instantiate and wire these modules per the mapping.

`default_nettype none
// verilator lint_off DECLFILENAME
// (a library: several modules per file by design)

// Tick sequencer: a `step` pulse runs one chip tick; `ready` is high between ticks.
module nmc_tick_ctrl #(
    parameter integer DELIVER = 0,    // cycles of the deliver phase (the longest route, in hops)
    parameter integer INTEGRATE = 1,  // cycles of the integrate phase (longest synapse list + 1)
    parameter integer TW = 8          // width of the tick counter
) (
    input  wire          clk,
    input  wire          rst,
    input  wire          step,
    output wire          ready,
    output wire          hop,        // deliver phase: links shift
    output wire          syn_start,  // start of the integrate phase
    output wire          update,     // the neuron update cycle, last of the tick
    output reg  [TW-1:0] tick        // ticks completed since reset (saturates)
);
    localparam integer LAST = DELIVER + INTEGRATE + 1;
    localparam integer CW = $clog2(LAST + 1);
    reg          running;
    reg [CW-1:0] phase;

    assign ready     = !running;
    assign hop       = running && (phase < DELIVER[CW-1:0]);
    assign syn_start = running && (phase == DELIVER[CW-1:0]);
    assign update    = running && (phase == LAST[CW-1:0]);

    always @(posedge clk) begin
        if (rst) begin
            running <= 1'b0;
            phase   <= {CW{1'b0}};
            tick    <= {TW{1'b0}};
        end else if (!running) begin
            running <= step;
            phase   <= {CW{1'b0}};
        end else if (update) begin
            running <= 1'b0;
            if (tick != {TW{1'b1}}) tick <= tick + 1'b1;
        end else begin
            phase <= phase + 1'b1;
        end
    end
endmodule

// Synapse engine of one core: walks the synapse list (axon, slot, weight), sorted by axon, and
// broadcasts weight * axon value to the core's neurons, one synapse per cycle.
// The list is the core's synapse memory, initialised from the mapping (a $readmemh file).
module nmc_synapse_engine #(
    parameter integer S = 1,      // synapses of this core
    parameter integer A = 1,      // axons of this core
    parameter integer AW = 1,     // axon index bits
    parameter integer SW = 1,     // neuron slot bits
    parameter integer WW = 8,     // weight bits (signed)
    parameter integer XW = 2,     // axon value bits (signed)
    parameter integer IW = 16,    // accumulator bits (signed)
    parameter MEMFILE = "synapses.hex"
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 start,
    input  wire [A*XW-1:0]      axons,
    output reg                  acc_en,
    output reg  [SW-1:0]        acc_slot,
    output reg  signed [IW-1:0] acc_val
);
    localparam integer EW = AW + SW + WW;
    localparam integer CW = (S > 1) ? $clog2(S) : 1;
    reg [EW-1:0] memory [0:S-1];
    initial $readmemh(MEMFILE, memory);

    reg          running;
    reg [CW-1:0] index;
    wire [EW-1:0]         entry  = memory[index];
    wire [AW-1:0]         axon   = entry[EW-1 -: AW];
    wire [SW-1:0]         slot   = entry[SW+WW-1 -: SW];
    wire signed [WW-1:0]  weight = entry[WW-1:0];
    wire signed [XW-1:0]  value  = axons[axon*XW +: XW];
    wire signed [WW+XW-1:0] product = weight * value;

    always @(posedge clk) begin
        if (rst) begin
            running  <= 1'b0;
            index    <= {CW{1'b0}};
            acc_en   <= 1'b0;
            acc_slot <= {SW{1'b0}};
            acc_val  <= {IW{1'b0}};
        end else if (start) begin
            running <= 1'b1;
            index   <= {CW{1'b0}};
            acc_en  <= 1'b0;
        end else if (running) begin
            acc_en   <= 1'b1;
            acc_slot <= slot;
            acc_val  <= {{(IW-WW-XW){product[WW+XW-1]}}, product};
            if (index == S[CW-1:0] - 1'b1) running <= 1'b0;
            else index <= index + 1'b1;
        end else begin
            acc_en <= 1'b0;
        end
    end
endmodule

// One neuron: accumulator, membrane state and output register with the chip's integer semantics
// (integrate -> leak -> saturate -> fire -> reset), in spike, partial-sum or integrate mode; a current-based
// neuron first passes the tick's input through its synaptic current register.
module nmc_neuron #(
    parameter integer ID = 0,         // slot on its core
    parameter integer MODE = 0,       // 0 spike, 1 partial sum, 2 integrate
    parameter integer RESET = 0,      // 0 zero, 1 subtract, 2 none
    parameter integer COMPARE = 0,    // 0: V >= threshold, 1: V > threshold
    parameter integer SHIFT = 0,      // leak: V - ((V * MULT) >>> SHIFT); 0 = no leak
    parameter integer MULT = 1,       // the multiply leak's factor (1: the shift leak)
    parameter integer MW = 1,         // bits of MULT (unsigned)
    parameter integer CURRENT = 0,    // 1: current-based: a synaptic current I = I - ((I * CMULT) >>> CSHIFT) + input
    parameter integer CSHIFT = 0,     //    (saturated to VW bits) is what V integrates (docs/neuron-families.md)
    parameter integer CMULT = 1,
    parameter integer CMW = 1,        // bits of CMULT (unsigned)
    parameter integer THRESHOLD = 1,
    parameter integer BIAS = 0,
    parameter integer V_INIT = 0,
    parameter integer START = 0,      // first tick the neuron computes (its depth)
    parameter integer SW = 1,         // slot bits
    parameter integer IW = 16,        // accumulator bits
    parameter integer VW = 24,        // membrane bits
    parameter integer PW = 16,        // partial-sum bits
    parameter integer OW = 2,         // output value bits
    parameter integer TW = 8          // tick counter bits
) (
    input  wire                 clk,
    input  wire                 rst,
    input  wire                 acc_en,
    input  wire [SW-1:0]        acc_slot,
    input  wire signed [IW-1:0] acc_val,
    input  wire                 update,
    input  wire [TW-1:0]        tick,
    output reg  signed [OW-1:0] out,
    output reg  signed [VW-1:0] v
);
    localparam integer EW = ((VW > IW) ? VW : IW) + 2;
    localparam integer QW = ((PW > IW) ? PW : IW) + 1;
    // 32-bit integer parameters sized to the datapath; the generator checks that the values fit.
    // verilator lint_off WIDTH
    localparam signed [EW-1:0] TH = THRESHOLD;
    localparam signed [IW-1:0] B = BIAS;
    localparam signed [VW-1:0] V0 = V_INIT;
    localparam signed [EW-1:0] VMAX = {{(EW-VW+1){1'b0}}, {(VW-1){1'b1}}};
    localparam signed [EW-1:0] VMIN = {{(EW-VW+1){1'b1}}, {(VW-1){1'b0}}};
    localparam signed [QW-1:0] PMAX = {{(QW-PW+1){1'b0}}, {(PW-1){1'b1}}};
    localparam signed [QW-1:0] PMIN = {{(QW-PW+1){1'b1}}, {(PW-1){1'b0}}};
    localparam [TW-1:0] T0 = START;
    // verilator lint_on WIDTH

    reg signed [IW-1:0] acc;
    wire signed [IW-1:0] current = acc + B;
    // the leak's product V * MULT is held at its full width (VW + MW + 1 bits) before the arithmetic shift
    // verilator lint_off WIDTH
    localparam signed [MW:0] M = MULT;
    // verilator lint_on WIDTH
    wire signed [VW+MW:0] leak_product = v * M;
    // |V * MULT >> SHIFT| <= |V| (MULT <= 2^SHIFT): only its low VW bits are used
    // verilator lint_off UNUSEDSIGNAL
    wire signed [VW+MW:0] leak_shifted = leak_product >>> SHIFT;
    // verilator lint_on UNUSEDSIGNAL
    wire signed [VW-1:0] decayed = (SHIFT > 0) ? v - leak_shifted[VW-1:0] : v;
    // the synaptic current (CURRENT = 1): decay as the membrane does, add the tick's input, saturate to VW bits
    reg signed [VW-1:0] isyn;
    // verilator lint_off WIDTH
    localparam signed [CMW:0] CM = CMULT;
    // verilator lint_on WIDTH
    // verilator lint_off UNUSEDSIGNAL
    wire signed [VW+CMW:0] c_product = isyn * CM;
    wire signed [VW+CMW:0] c_shifted = c_product >>> CSHIFT;
    // verilator lint_on UNUSEDSIGNAL
    wire signed [VW-1:0] c_decayed = (CSHIFT > 0) ? isyn - c_shifted[VW-1:0] : isyn;
    wire signed [EW-1:0] c_total = $signed({{(EW-VW){c_decayed[VW-1]}}, c_decayed}) + $signed({{(EW-IW){current[IW-1]}}, current});
    wire signed [EW-1:0] c_clipped = (c_total > VMAX) ? VMAX : ((c_total < VMIN) ? VMIN : c_total);
    wire signed [EW-1:0] drive = (CURRENT == 1) ? c_clipped : $signed({{(EW-IW){current[IW-1]}}, current});
    wire signed [EW-1:0] total = $signed({{(EW-VW){decayed[VW-1]}}, decayed}) + drive;
    wire signed [EW-1:0] clipped = (total > VMAX) ? VMAX : ((total < VMIN) ? VMIN : total);
    wire fire = (MODE == 0) && ((COMPARE == 1) ? (clipped > TH) : (clipped >= TH));
    // only the low VW / OW bits of `after` and `psum` are stored: the values are saturated to fit
    // verilator lint_off UNUSEDSIGNAL
    wire signed [EW-1:0] after = !fire ? clipped : ((RESET == 1) ? clipped - TH : ((RESET == 0) ? {EW{1'b0}} : clipped));
    wire signed [QW-1:0] wide = $signed({{(QW-IW){current[IW-1]}}, current});
    wire signed [QW-1:0] psum = (wide > PMAX) ? PMAX : ((wide < PMIN) ? PMIN : wide);
    // verilator lint_on UNUSEDSIGNAL
    // verilator lint_off UNSIGNED
    wire active = tick >= T0;  // constant for START = 0
    // verilator lint_on UNSIGNED

    always @(posedge clk) begin
        if (rst) begin
            acc  <= {IW{1'b0}};
            v    <= V0;
            isyn <= {VW{1'b0}};
            out  <= {OW{1'b0}};
        end else if (update) begin
            acc <= {IW{1'b0}};
            if (active && MODE != 1) v <= after[VW-1:0];
            if (active && CURRENT == 1) isyn <= c_clipped[VW-1:0];
            if (!active) out <= {OW{1'b0}};
            else if (MODE == 1) out <= psum[OW-1:0];
            else out <= {{(OW-1){1'b0}}, fire};
        end else if (acc_en && acc_slot == ID[SW-1:0]) begin
            acc <= acc + acc_val;
        end
    end
endmodule

// A route between two cores: HOPS router stages, each a register that moves its bundle one hop
// per deliver cycle (XY routing on the mesh): a delay line clocked by `hop` instead of the tick.
module nmc_link #(
    parameter integer W = 1,
    parameter integer HOPS = 1
) (
    input  wire         clk,
    input  wire         rst,
    input  wire         hop,
    input  wire [W-1:0] in,
    output wire [W-1:0] out
);
    nmc_delay #(.W(W), .D(HOPS)) stages (.clk(clk), .rst(rst), .shift(hop), .in(in), .out(out));
endmodule

// An axon delay line: D ticks of delay, shifted once per tick at the update cycle.
module nmc_delay #(
    parameter integer W = 1,
    parameter integer D = 1
) (
    input  wire         clk,
    input  wire         rst,
    input  wire         shift,
    input  wire [W-1:0] in,
    output wire [W-1:0] out
);
    reg [W-1:0] stage [0:D-1];
    integer i;
    always @(posedge clk) begin
        if (rst) begin
            for (i = 0; i < D; i = i + 1) stage[i] <= {W{1'b0}};
        end else if (shift) begin
            stage[0] <= in;
            for (i = 1; i < D; i = i + 1) stage[i] <= stage[i-1];
        end
    end
    assign out = stage[D-1];
endmodule

`default_nettype wire
