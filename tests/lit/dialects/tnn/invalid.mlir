// RUN: NMC_VERIFY_DIAG

// One case per verifier message of the tnn dialect.
tnn.network @n time_bits = 9 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  tnn.output %t : !tnn.times<2>
}
// CHECK: tnn.network: time_bits must be in 1..8, got 9

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1025, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  tnn.output %t : !tnn.times<2>
}
// CHECK: tnn.network: stdp must be 4 probabilities (capture, minus, search, backoff) in 0..1024, got [640, 1025, 2, 952]

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "grf" fields = 2 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  tnn.output %t : !tnn.times<2>
}
// CHECK: tnn.encode 'tnn.encode': result has 2 lines, expected 2 features x 2 fields

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %l = tnn.layer %t fields = dense<[[0, 1]]> : tensor<1x2xi64> weights = dense<[[[8, 0]]]> : tensor<1x1x2xi8> theta = dense<1> : tensor<1x1xi64> k = 1 response = "rnl" rng_state = dense<1> : tensor<1xi64> layer = "l" : !tnn.times<2> -> !tnn.times<1>
  tnn.output %l : !tnn.times<1>
}
// CHECK: tnn.layer 'l': weights must be in 0..7 (3 bits), got 0..8

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %l = tnn.layer %t fields = dense<[[0, 2]]> : tensor<1x2xi64> weights = dense<1> : tensor<1x1x2xi8> theta = dense<1> : tensor<1x1xi64> k = 1 response = "rnl" rng_state = dense<1> : tensor<1xi64> layer = "l" : !tnn.times<2> -> !tnn.times<1>
  tnn.output %l : !tnn.times<1>
}
// CHECK: tnn.layer 'l': fields index lines 0..1 of the input, got 0..2

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %l = tnn.layer %t fields = dense<[[0, 1]]> : tensor<1x2xi64> weights = dense<1> : tensor<1x2x2xi8> theta = dense<1> : tensor<1x2xi64> k = 3 response = "rnl" rng_state = dense<1> : tensor<1xi64> layer = "l" : !tnn.times<2> -> !tnn.times<2>
  tnn.output %l : !tnn.times<2>
}
// CHECK: tnn.layer 'l': k must be in 1..2 (the column's neurons), got 3

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %c = tnn.column %t fields = dense<[0, 1]> : tensor<2xi64> weights = dense<1> : tensor<1x2xi8> theta = dense<1> : tensor<1xi64> k = 1 response = "rnl" column = 0 rng_state = 1 layer = "l/c0" : !tnn.times<2> -> !tnn.times<1>
  tnn.output %c : !tnn.times<1>
}
// CHECK: tnn.column 'l/c0': the tnn.network has no chip (tnn.column is core level)

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 chip = #core.chip<"tnn16"> {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  %c = tnn.column %t fields = dense<[0, 1]> : tensor<2xi64> weights = dense<1> : tensor<17x2xi8> theta = dense<1> : tensor<17xi64> k = 1 response = "rnl" column = 0 rng_state = 1 layer = "l/c0" : !tnn.times<2> -> !tnn.times<17>
  tnn.output %c : !tnn.times<17>
}
// CHECK: tnn.column 'l/c0': 17 neurons per column, chip 'tnn16' tnn_column.neurons is 16: k-WTA spans the whole column, so it cannot be split; use fewer clusters or a larger chip

// -----

tnn.network @n time_bits = 3 weight_bits = 3 stdp = dense<[640, 1024, 2, 952]> : tensor<4xi64> stabilise = 0 seed = 0 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<1x2xf32>):
  %t = tnn.encode %x kind = "latency" fields = 1 znorm = 0 lo = dense<0.0> : tensor<2xf64> hi = dense<1.0> : tensor<2xf64> projection = dense<> : tensor<0x0xf64> : tensor<1x2xf32> -> !tnn.times<2>
  tnn.output %t : !tnn.times<2>
}
// CHECK: tnn.network: chip 'tiny' has no tnn_column core kind
