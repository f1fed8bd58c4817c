// RUN: NMC_ROUNDTRIP
// RUN: nmc-opt %s -p 'snn-to-core{chip=tnn16},partition-cores,place-cores{strategy=sequential},route' | filecheck %s --check-prefix=MAP

// A two-layer TNN in the tnn dialect's syntax: 2 latency-coded values, two columns of 1 synapse x 2 neurons,
// then one column of 4 synapses x 2 neurons over both columns' outputs.

tnn.network @two time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 7 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %l0 = tnn.layer %t fields = dense<[[0], [1]]> : tensor<2x1xi64> weights = dense<[[[7], [3]], [[5], [1]]]> : tensor<2x2x1xi8> theta = dense<2> : tensor<2x2xi64> k = 1 response = "rnl" rng_state = dense<[1, 2]> : tensor<2xi64> layer = "layer0" : !tnn.times<2> -> !tnn.times<4>
  %l1 = tnn.layer %l0 fields = dense<[[0, 1, 2, 3]]> : tensor<1x4xi64> weights = dense<[[[7, 0, 7, 0], [0, 7, 0, 7]]]> : tensor<1x2x4xi8> theta = dense<4> : tensor<1x2xi64> k = 2 response = "snl" rng_state = dense<3> : tensor<1xi64> layer = "layer1" : !tnn.times<4> -> !tnn.times<2>
  tnn.output %l1 : !tnn.times<2>
}

// CHECK:      tnn.network @two time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 7 {
// CHECK:        %l0 = tnn.layer %t fields = dense<{{\[}}[0], [1]]> : tensor<2x1xi64>
// CHECK-SAME:   rng_state = dense<[1, 2]> : tensor<2xi64> layer = "layer0" : !tnn.times<2> -> !tnn.times<4>
// CHECK:        tnn.output %l1 : !tnn.times<2>

// snn-to-core: one tnn.column per column (network index and random state kept), joined by tnn.concat;
// the mapping puts each on its own core and routes layer 0's lines to layer 1's core.
// MAP:      tnn.network @two {{.*}} chip = #core.chip<"tnn16"
// MAP:      %layer0.c0 = tnn.column %t fields = dense<0> : tensor<1xi64> weights = dense<{{\[}}[7], [3]]> : tensor<2x1xi8> theta = dense<2> : tensor<2xi64> k = 1 response = "rnl" column = 0 rng_state = 1 layer = "layer0/c0" core = 0 x = 0 y = 0 dests = dense<2> : tensor<1xi64>
// MAP:      %layer0.c1 = tnn.column %t {{.*}} column = 1 rng_state = 2 layer = "layer0/c1" core = 1 x = 1 y = 0 dests = dense<2> : tensor<1xi64>
// MAP:      %layer0 = tnn.concat %layer0.c0, %layer0.c1 : !tnn.times<2>, !tnn.times<2> -> !tnn.times<4>
// MAP:      %layer1.c0 = tnn.column %layer0 {{.*}} k = 2 response = "snl" column = 2 rng_state = 3 layer = "layer1/c0" core = 2 x = 2 y = 0 dests = dense<> : tensor<0xi64>
// MAP:      tnn.output %layer1.c0 : !tnn.times<2>
