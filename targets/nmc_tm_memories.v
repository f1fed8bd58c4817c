// nmc memories of the time-multiplexed style (docs/verilog.md, "Memories"): synchronous, read data one
// clock after the address. These port lists are the contract an SRAM macro's wrapper implements:
//   nmc_rom #(W, D, AW, INIT) (clk, raddr[AW], rdata[W])                          contents loaded from INIT
//   nmc_ram #(W, D, AW)       (clk, we, waddr[AW], wdata[W], raddr[AW], rdata[W])  one write, one read port
// The bodies below infer arrays (simulation, FPGA block RAM).

`default_nettype none
// verilator lint_off DECLFILENAME

// Read-only memory: rdata <= m[raddr] every clock.
module nmc_rom #(
    parameter integer W = 1,    // word bits
    parameter integer D = 1,    // words
    parameter integer AW = 1,   // address bits
    parameter INIT = "rom.hex"  // $readmemh contents
) (
    input  wire          clk,
    input  wire [AW-1:0] raddr,
    output reg  [W-1:0]  rdata
);
    reg [W-1:0] m [0:D-1];
    initial $readmemh(INIT, m);
    always @(posedge clk) rdata <= m[raddr];
endmodule

// Random-access memory: one write port (we, waddr, wdata) and one read port (rdata <= m[raddr]).
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
    reg [W-1:0] m [0:D-1];
    always @(posedge clk) begin
        if (we) m[waddr] <= wdata;
        rdata <= m[raddr];
    end
endmodule

`default_nettype wire
