// Synthesis models of the time-multiplexed style's memories (read by the --synth script instead of
// nmc_tm_memories.v): each memory is an SRAM macro, kept as its own module so that its cells are counted
// apart from the logic. The macro's registered ports are flip-flops, so every logic path into a memory
// (address, write data) and out of one (read data) is timed by OpenSTA as a flop-to-flop path; the
// storage array is a black box (its bits are reported from the memory sizes, not as cells).

`default_nettype none
// verilator lint_off DECLFILENAME

(* keep_hierarchy *)
module nmc_rom #(
    parameter integer W = 1,
    parameter integer D = 1,
    parameter integer AW = 1,
    parameter INIT = "rom.hex"
) (
    input  wire          clk,
    input  wire [AW-1:0] raddr,
    output reg  [W-1:0]  rdata
);
    wire [W-1:0] q;
    nmc_sram_array #(.W(W), .D(D), .AW(AW)) array (.we(1'b0), .waddr({AW{1'b0}}), .wdata({W{1'b0}}), .raddr(raddr), .q(q));
    always @(posedge clk) rdata <= q;
endmodule

(* keep_hierarchy *)
module nmc_ram #(
    parameter integer W = 1,
    parameter integer D = 1,
    parameter integer AW = 1
) (
    input  wire          clk,
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [W-1:0]  wdata,
    input  wire [AW-1:0] raddr,
    output reg  [W-1:0]  rdata
);
    reg          we_q;
    reg [AW-1:0] waddr_q;
    reg [W-1:0]  wdata_q;
    wire [W-1:0] q;
    always @(posedge clk) begin
        we_q <= we;
        waddr_q <= waddr;
        wdata_q <= wdata;
        rdata <= q;
    end
    nmc_sram_array #(.W(W), .D(D), .AW(AW)) array (.we(we_q), .waddr(waddr_q), .wdata(wdata_q), .raddr(raddr), .q(q));
endmodule

(* blackbox *)
module nmc_sram_array #(
    parameter integer W = 1,
    parameter integer D = 1,
    parameter integer AW = 1
) (
    input  wire          we,
    input  wire [AW-1:0] waddr,
    input  wire [W-1:0]  wdata,
    input  wire [AW-1:0] raddr,
    output wire [W-1:0]  q
);
endmodule

`default_nettype wire
