// nmc TNN primitive library: the columns of docs/tnn.md as synthesizable Verilog-2005.
//
// One clock cycle is one unit of time. A sample takes one gamma cycle per network depth, each of
// 1 + T cycles (T = 2^B unit times), then, when learning, one STDP cycle:
//   start   (1 cycle)   the columns of this depth clear their potentials, WTA counts and outputs
//   run     (T cycles)  tick 0 .. T-1: synapses emit their response steps, bodies accumulate and
//                       compare, k-WTA passes the first k spikes (lowest index first on ties)
//   learn   (1 cycle)   every synapse applies STDP to its weight; every column steps its xorshift
// nmc_tnn_gamma_ctrl derives the per-depth gamma strobes from the unit-time clock, so the whole
// design is one clock domain. Spike times are B+1 bits: 0 .. T-1, and T for "no spike".
// Generated top levels (nmc-compile of a TNN with --target verilog) wire these per column.

`default_nettype none
// verilator lint_off DECLFILENAME
// (a library: several modules per file by design)

// Sequencer: `go` starts a sample; ready is high between samples.
module nmc_tnn_gamma_ctrl #(
    parameter integer B = 3,      // time bits: T = 2^B unit times per gamma cycle
    parameter integer DEPTH = 1,  // gamma cycles per sample (the network's layers)
    parameter integer LEARN = 0   // 1: an STDP cycle ends each sample when learn is high
) (
    input  wire               clk,
    input  wire               rst,
    input  wire               go,
    input  wire               learn,     // sampled with go
    output wire               ready,
    output wire [DEPTH-1:0]   start,     // start strobe of each depth's gamma cycle
    output wire [DEPTH-1:0]   run,       // each depth's T unit times
    output wire [B-1:0]       tick,      // unit time within the gamma cycle
    output wire               stdp       // the learning cycle
);
    localparam integer T = 1 << B;
    localparam integer DW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
    reg          busy, learning, in_learn, in_start;
    reg [DW-1:0] depth;
    reg [B:0]    t;
    genvar d;

    assign ready = !busy;
    assign tick  = t[B-1:0];
    assign stdp  = busy && in_learn;
    for (d = 0; d < DEPTH; d = d + 1) begin : strobes
        assign start[d] = busy && in_start && (depth == d);
        assign run[d]   = busy && !in_start && !in_learn && (depth == d);
    end

    always @(posedge clk) begin
        if (rst) begin
            busy <= 1'b0; learning <= 1'b0; in_learn <= 1'b0; in_start <= 1'b0;
            depth <= {DW{1'b0}}; t <= {(B+1){1'b0}};
        end else if (!busy) begin
            if (go) begin
                busy <= 1'b1; learning <= (LEARN != 0) && learn; in_start <= 1'b1; in_learn <= 1'b0;
                depth <= {DW{1'b0}}; t <= {(B+1){1'b0}};
            end
        end else if (in_learn) begin
            busy <= 1'b0; in_learn <= 1'b0;
        end else if (in_start) begin
            in_start <= 1'b0;
        end else if (t == T - 1) begin
            t <= {(B+1){1'b0}};
            if (depth == DEPTH - 1) begin
                if (learning) in_learn <= 1'b1;
                else busy <= 1'b0;
            end else begin
                depth <= depth + 1'b1; in_start <= 1'b1;
            end
        end else begin
            t <= t + 1'b1;
        end
    end
endmodule

// Synapse: the weight register and the response as steps. RNL: one unit step per unit time for
// w unit times from the input spike (a ramp of slope 1 saturating at w, in unary); SNL: one step
// of w at the input spike. The body adds the steps, so the potential at tick tau is the sum of
// the responses rho(tau - x).
module nmc_tnn_synapse #(
    parameter integer B = 3,
    parameter integer WB = 3,
    parameter integer SW = 1,          // step width: 1 for RNL, WB for SNL
    parameter integer RNL = 1,
    parameter integer LEARN = 0,       // 0: the weight is the constant W_INIT
    parameter [WB-1:0] W_INIT = 0
) (
    input  wire          clk,
    input  wire          rst,
    input  wire [B:0]    x,            // input spike time (2^B = none)
    input  wire [B-1:0]  tick,
    input  wire          run,
    input  wire          stdp,         // learning cycle: take w_next
    input  wire [WB-1:0] w_next,
    output wire [WB-1:0] w,
    output wire [SW-1:0] step
);
    wire fired = !x[B] && (x[B-1:0] <= tick);
    wire [B:0] since = {1'b0, tick} - x;  // tick - x when fired (no wrap: x <= tick)
    if (LEARN != 0) begin : learning
        reg [WB-1:0] weight;
        always @(posedge clk) begin
            if (rst) weight <= W_INIT;
            else if (stdp) weight <= w_next;
        end
        assign w = weight;
    end else begin : fixed
        assign w = W_INIT;
    end
    if (RNL != 0) begin : ramp
        assign step = run && fired && (since < w);  // both unsigned, zero-extended to the wider
    end else begin : stepped
        assign step = (run && !x[B] && (x[B-1:0] == tick)) ? w : {SW{1'b0}};
    end
endmodule

// Balanced adder tree: the sum of N unsigned W-bit values in OW bits, depth ceil(log2 N) (a
// for-loop sum would synthesize as a chain whose delay grows with N).
module nmc_tnn_sum #(
    parameter integer N = 1,
    parameter integer W = 1,
    parameter integer OW = 8
) (
    input  wire [N*W-1:0] in,
    output wire [OW-1:0]  sum
);
    if (N == 1) begin : leaf
        assign sum = in;  // zero-extended
    end else begin : split
        localparam integer H = N / 2;
        wire [OW-1:0] a, b;
        nmc_tnn_sum #(.N(H), .W(W), .OW(OW)) low (.in(in[H*W-1:0]), .sum(a));
        nmc_tnn_sum #(.N(N-H), .W(W), .OW(OW)) high (.in(in[N*W-1:H*W]), .sum(b));
        assign sum = a + b;
    end
endmodule

// Neuron body: a parallel accumulative counter over the P synapse steps (an adder tree and the
// potential register) and the threshold compare. fire is high in the first unit time whose
// potential reaches THETA (the body then stays quiet until the next start).
module nmc_tnn_body #(
    parameter integer P = 1,
    parameter integer SW = 1,
    parameter integer AW = 8,          // potential bits: holds P * wmax
    parameter integer THETA = 1
) (
    input  wire            clk,
    input  wire            rst,
    input  wire            start,
    input  wire            run,
    input  wire [P*SW-1:0] steps,
    output wire            fire
);
    reg  [AW-1:0] potential;
    reg           fired;
    wire [AW-1:0] sum;
    nmc_tnn_sum #(.N(P), .W(SW), .OW(AW)) tree (.in(steps), .sum(sum));
    wire [AW:0] next = {1'b0, potential} + {1'b0, sum};
    assign fire = run && !fired && (next >= THETA);
    always @(posedge clk) begin
        if (rst || start) begin
            potential <= {AW{1'b0}}; fired <= 1'b0;
        end else if (run) begin
            potential <= next[AW-1:0];
            if (fire) fired <= 1'b1;
        end
    end
endmodule

// k-WTA with lowest-index priority: in each unit time the firing neurons pass in index order while
// fewer than K spikes have passed in this gamma cycle; y holds each neuron's passed spike time.
// Neuron j passes iff it fires and (spikes passed so far + lower-index neurons firing now) < K:
// a lower one that fires but is blocked already puts that count at K or more.
module nmc_tnn_wta #(
    parameter integer Q = 1,
    parameter integer K = 1,
    parameter integer B = 3
) (
    input  wire           clk,
    input  wire           rst,
    input  wire           start,
    input  wire           run,
    input  wire [B-1:0]   tick,
    input  wire [Q-1:0]   fire,
    output wire [Q*(B+1)-1:0] y
);
    localparam integer CW = $clog2(Q + 1) + 1;
    localparam [B:0] NONE = 1 << B;
    reg  [CW-1:0]      passed;
    reg  [Q*(B+1)-1:0] times;
    wire [Q-1:0]       pass;
    wire [CW-1:0]      now;  // neurons firing in this unit time
    nmc_tnn_sum #(.N(Q), .W(1), .OW(CW)) count (.in(fire), .sum(now));
    genvar g;
    for (g = 0; g < Q; g = g + 1) begin : rank
        if (g == 0) begin : first
            assign pass[g] = fire[g] && (passed < K);
        end else begin : later
            wire [CW-1:0] below;
            nmc_tnn_sum #(.N(g), .W(1), .OW(CW)) lower (.in(fire[g-1:0]), .sum(below));
            assign pass[g] = fire[g] && (passed + below < K);
        end
        assign y[g*(B+1) +: (B+1)] = times[g*(B+1) +: (B+1)];
    end
    integer j;
    always @(posedge clk) begin
        if (rst || start) begin
            passed <= {CW{1'b0}};
            times <= {Q{NONE}};
        end else if (run) begin
            passed <= (passed + now > K) ? K[CW-1:0] : passed + now;  // saturates at K: no overflow
            for (j = 0; j < Q; j = j + 1) if (pass[j]) times[j*(B+1) +: (B+1)] <= {1'b0, tick};
        end
    end
endmodule

// The column's random source: xorshift32 (13, 17, 5), stepped in each learning cycle. `next` is the
// state the STDP units of this sample read (docs/tnn.md: the state is stepped, then used).
module nmc_tnn_xorshift #(
    parameter [31:0] INIT = 32'd1
) (
    input  wire        clk,
    input  wire        rst,
    input  wire        stdp,
    output wire [31:0] next
);
    reg [31:0] state;
    wire [31:0] a = state ^ (state << 13);
    wire [31:0] b = a ^ (a >> 17);
    assign next = b ^ (b << 5);
    always @(posedge clk) begin
        if (rst) state <= INIT;
        else if (stdp) state <= next;
    end
endmodule

// STDP unit of one synapse: the case from the input and output spike times, gated by the 10-bit
// draw (random ^ CONST)[9:0] against the case's probability in 1/1024; with STAB, also by
// (random ^ CONST)[19:10] against F(w) (UP / DOWN: the stabiliser tables, 10 bits per weight).
module nmc_tnn_stdp #(
    parameter integer B = 3,
    parameter integer WB = 3,
    parameter [31:0] CONST = 32'd0,
    parameter integer U_CAPTURE = 640,
    parameter integer U_MINUS = 1024,
    parameter integer U_SEARCH = 2,
    parameter integer U_BACKOFF = 952,
    parameter integer STAB = 0,
    parameter [10*(1<<WB)-1:0] UP = 0,
    parameter [10*(1<<WB)-1:0] DOWN = 0
) (
    input  wire [B:0]    x,
    input  wire [B:0]    y,
    input  wire [WB-1:0] w,
    input  wire [31:0]   random,
    output wire [WB-1:0] w_next
);
    wire [31:0] v = random ^ CONST;
    wire [10:0] r = {1'b0, v[9:0]};
    wire [9:0]  r2 = v[19:10];
    wire pre = !x[B], post = !y[B];
    wire capture = pre && post && (x <= y) && (r < U_CAPTURE);
    wire minus   = pre && post && (x > y) && (r < U_MINUS);
    wire search  = pre && !post && (r < U_SEARCH);
    wire backoff = !pre && post && (r < U_BACKOFF);
    wire [9:0] f_up = UP[w*10 +: 10], f_down = DOWN[w*10 +: 10];
    wire inc = (capture || search) && (STAB == 0 || r2 < f_up);
    wire dec = (minus || backoff) && (STAB == 0 || r2 < f_down);
    // inc and dec are exclusive cases; clamp to [0, wmax]
    assign w_next = (inc && !(&w)) ? w + 1'b1 : (dec && (|w)) ? w - 1'b1 : w;
endmodule

`default_nettype wire
