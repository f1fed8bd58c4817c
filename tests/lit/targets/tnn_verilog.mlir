// RUN: nmc-opt %s -p 'snn-to-core{chip=tnn16},partition-cores,place-cores{strategy=sequential},route' -t verilog | filecheck %s
// RUN: nmc-opt %s -p 'snn-to-core{chip=tnn16},partition-cores,place-cores{strategy=sequential},route' -t chip-dump | filecheck %s --check-prefix=DUMP

// A two-layer TNN (tests/lit/dialects/tnn/ops.mlir's): two RNL columns of 1 synapse x 2 neurons over the
// encoder's 2 lines, then one SNL 2-WTA column of 4 synapses x 2 neurons over their outputs.

tnn.network @two time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 7 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %l0 = tnn.layer %t fields = dense<[[0], [1]]> : tensor<2x1xi64> weights = dense<[[[7], [3]], [[5], [1]]]> : tensor<2x2x1xi8> theta = dense<2> : tensor<2x2xi64> k = 1 response = "rnl" rng_state = dense<[1, 2]> : tensor<2xi64> layer = "layer0" : !tnn.times<2> -> !tnn.times<4>
  %l1 = tnn.layer %l0 fields = dense<[[0, 1, 2, 3]]> : tensor<1x4xi64> weights = dense<[[[7, 0, 7, 0], [0, 7, 0, 7]]]> : tensor<1x2x4xi8> theta = dense<4> : tensor<1x2xi64> k = 2 response = "snl" rng_state = dense<3> : tensor<1xi64> layer = "layer1" : !tnn.times<4> -> !tnn.times<2>
  tnn.output %l1 : !tnn.times<2>
}

// 8 unit times per gamma cycle, two gamma cycles (two layers), then the STDP cycle: 1 + 2 x 9 + 1 = 20.
// CHECK:      one sample = 20 cycles (go, 2 x (start + 8 unit times), STDP)
// Column 0: weights 7 (neuron 0) and 3 (neuron 1), 3 bits each from bit 0: 0b011_111 = 0x1f; its
// xorshift starts at its rng_state 1; RNL steps are 1 bit wide.
// CHECK:      module two_col0 (
// CHECK:        localparam integer P = 1, Q = 2, B = 3, WB = 3, SW = 1;
// CHECK-NEXT:   localparam [Q*P*WB-1:0] W_INIT = 6'h1f;
// CHECK-NEXT:   localparam [Q*32-1:0] THETA = 64'h0000000200000002;
// CHECK:        nmc_tnn_xorshift #(.INIT(32'd1)) rng
// CHECK:        nmc_tnn_synapse #({{.*}}.RNL(1), .LEARN(1)
// CHECK:        nmc_tnn_stdp #({{.*}}.U_CAPTURE(640), .U_MINUS(1024), .U_SEARCH(2), .U_BACKOFF(952), .STAB(0)
// CHECK:        nmc_tnn_wta #(.Q(Q), .K(1), .B(B))
// Column 2: SNL steps are whole weights (3 bits); 2-WTA; neuron 0's weights 7,0,7,0 in bits 0..11 (0x1c7),
// neuron 1's 0,7,0,7 in bits 12..23 (0xe38).
// CHECK:      module two_col2 (
// CHECK:        localparam integer P = 4, Q = 2, B = 3, WB = 3, SW = 3;
// CHECK-NEXT:   localparam [Q*P*WB-1:0] W_INIT = 24'he381c7;
// CHECK:        nmc_tnn_synapse #({{.*}}.RNL(0), .LEARN(1)
// CHECK:        nmc_tnn_wta #(.Q(Q), .K(2), .B(B))
// The top level: layer 0 in gamma cycle 0 on the encoder lines, layer 1 in cycle 1 on their outputs.
// CHECK:      module two (
// CHECK:        nmc_tnn_gamma_ctrl #(.B(3), .DEPTH(2), .LEARN(1))
// CHECK:        assign col0_x = {x_in[3:0]};
// CHECK-NEXT:   two_col0 col0 ({{.*}}.start(start[0]), .run(run[0])
// CHECK:        assign col1_x = {x_in[7:4]};
// CHECK:        assign col2_x = {col1_y[7:4], col1_y[3:0], col0_y[7:4], col0_y[3:0]};
// CHECK-NEXT:   two_col2 col2 ({{.*}}.start(start[1]), .run(run[1])
// CHECK:        assign y_out = {col2_y[7:4], col2_y[3:0]};

// DUMP: tnn network two chip tnn16
// DUMP: column 0 at (0, 0): 1 x 2 k 1 rnl
// DUMP: column 2 at (2, 0): 4 x 2 k 2 snl
