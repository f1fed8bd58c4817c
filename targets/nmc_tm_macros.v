// nmc memories of the time-multiplexed style as black boxes (--verilog-memories macros): the port lists
// an SRAM macro's wrapper implements (docs/verilog.md, "Memories"). Both are synchronous: rdata shows the
// word at raddr one clock after it is presented. Replace this file with wrappers around the foundry
// macros (W bits x D words; nmc_rom's contents are the INIT file, loaded at configuration time).

`default_nettype none
// verilator lint_off DECLFILENAME

(* blackbox *)
module nmc_rom #(
    parameter integer W = 1,
    parameter integer D = 1,
    parameter integer AW = 1,
    parameter INIT = "rom.hex"
) (
    input  wire          clk,
    input  wire [AW-1:0] raddr,
    output wire [W-1:0]  rdata
);
endmodule

(* blackbox *)
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
    output wire [W-1:0]  rdata
);
endmodule

`default_nettype wire
