// RUN: not nmc-opt %s -p check-constraints 2>&1 | filecheck %s

// Every violation is listed, each with its layer, limit, value and fix. The chip "tiny"
// has 16 axons per core and 8-bit weights.

core.network @n ticks = 3 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<20xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<20xf32> -> !core.spikes<20>
  %h = core.neurons "fc1" spike(%in) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<0> : tensor<20xi32> weight = dense<0.5> : tensor<20xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<1>
  %g = core.neurons "fc2" spike(%h) delays = [0] pre = dense<[0]> : tensor<1xi32> post = dense<[0]> : tensor<1xi32> weight = dense<[300]> : tensor<1xi16> threshold = dense<0> : tensor<1xi32> bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> reset = subtract compare = gt : (!core.spikes<1>) -> !core.spikes<1>
  %o = core.decode count %g latency = 1 : !core.spikes<1> -> tensor<1xf32>
  core.output %o : tensor<1xf32>
}

// CHECK:      nmc-opt: error: the network does not fit chip 'tiny': 5 violation(s)
// CHECK-NEXT:   layer 'fc1': fan-in <= 16 (core.max_fan_in), got 20 on 1 of 1 neurons (fix: decompose-fan-in)
// CHECK-NEXT:   layer 'fc1': 8-bit integer weights, got float weights (fix: reduce-precision)
// CHECK-NEXT:   layer 'fc2': weights in [-127, 127] (core.weight_bits=8), got [300, 300] (fix: reduce-precision{weight-bits=8})
// CHECK-NEXT:   layer 'fc2': thresholds in [1, 1048575] (core.threshold_bits), got [0, 0] (fix: reduce-precision)
// CHECK-NEXT:   layer 'fc2': threshold comparison 'ge', got gt (fix: reduce-precision)
