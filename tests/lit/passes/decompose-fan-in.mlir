// RUN: nmc-opt %s -p 'decompose-fan-in{max-fan-in=2}' | filecheck %s
// RUN: nmc-opt %s -p 'decompose-fan-in{max-fan-in=2 packing=blocks}' | filecheck %s --check-prefix=BLOCKS
// RUN: not nmc-opt %s -p 'decompose-fan-in{max-fan-in=2 packing=rows}' 2>&1 | filecheck %s --check-prefix=BADPACK
// RUN: nmc-opt %s -p 'decompose-fan-in{max-fan-in=8}' | filecheck %s --check-prefix=NOOP
// RUN: sed 's/core.chip<"tiny">/core.chip<"truenorth4">/' %s | not nmc-opt -p 'decompose-fan-in{max-fan-in=2}' 2>&1 | filecheck %s --check-prefix=NOPSUM
// RUN: sed 's/core.chip<"tiny">/core.chip<"truenorth4">/' %s | nmc-opt -p 'decompose-fan-in{max-fan-in=3 approximate=true}' | filecheck %s --check-prefix=RELAY

// Two neurons read five inputs each. With a fan-in of 2 the first level needs
// ceil(5 / 2) = 3 input ranges; their bounds are quantiles of the inputs read, {0}, {1,2},
// {3,4}, giving 3 units per neuron. The second level pairs those sums,
// (units 0,2 and unit 4 for the first neuron; 1,3 and 5 for the second), and each neuron
// adds its two remaining sums with weight 1: two levels, latency + 2.

core.network @n ticks = 3 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<5xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<5xf32> -> !core.spikes<5>
  %h = core.neurons "fc" spike(%in) delays = [0] pre = dense<[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]> : tensor<10xi32> post = dense<[0, 0, 0, 0, 0, 1, 1, 1, 1, 1]> : tensor<10xi32> weight = dense<[1.0, 2.0, 3.0, 4.0, 5.0, -1.0, -2.0, -3.0, -4.0, -5.0]> : tensor<10xf64> threshold = dense<1.0> : tensor<2xf64> bias = dense<0.0> : tensor<2xf64> v_init = dense<0.0> : tensor<2xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<5>) -> !core.spikes<2>
  %o = core.decode count %h latency = 0 : !core.spikes<2> -> tensor<2xf32>
  core.output %o : tensor<2xf32>
}

// CHECK:      [[IN:%.*]] = core.input rate
// CHECK-NEXT: [[P1:%.*]] = core.neurons "fc/psum1" psum([[IN]]) delays = [0]
// CHECK-SAME:   pre = dense<[0, 0, 1, 2, 1, 2, 3, 4, 3, 4]> : tensor<10xi32> post = dense<[0, 1, 2, 2, 3, 3, 4, 4, 5, 5]> : tensor<10xi32>
// CHECK-SAME:   weight = dense<[1.000000e+00, -1.000000e+00, 2.000000e+00, 3.000000e+00, -2.000000e+00, -3.000000e+00, 4.000000e+00, 5.000000e+00, -4.000000e+00, -5.000000e+00]>
// CHECK-SAME:   : (!core.spikes<5>) -> !core.graded<6>
// CHECK-NEXT: [[P2:%.*]] = core.neurons "fc/psum2" psum([[P1]]) delays = [0] pre = dense<[0, 2, 4, 1, 3, 5]> : tensor<6xi32> post = dense<[0, 0, 1, 2, 2, 3]> : tensor<6xi32> weight = dense<1.000000e+00> : tensor<6xf64>
// CHECK-SAME:   : (!core.graded<6>) -> !core.graded<4>
// CHECK-NEXT: [[FC:%.*]] = core.neurons "fc" spike([[P2]]) delays = [0] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<[0, 0, 1, 1]> : tensor<4xi32> weight = dense<1.000000e+00> : tensor<4xf64>
// CHECK-SAME:   threshold = dense<1.000000e+00> : tensor<2xf64>
// CHECK-NEXT: core.decode count [[FC]] latency = 2

// packing=blocks (the earlier scheme): fixed blocks of 2 input indices, {0,1}, {2,3}, {4}.
// BLOCKS:      core.neurons "fc/psum1" psum(%in) delays = [0]
// BLOCKS-SAME:   pre = dense<[0, 1, 0, 1, 2, 3, 2, 3, 4, 4]> : tensor<10xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 5]> : tensor<10xi32>
// BLOCKS-SAME:   weight = dense<[1.000000e+00, 2.000000e+00, -1.000000e+00, -2.000000e+00, 3.000000e+00, 4.000000e+00, -3.000000e+00, -4.000000e+00, 5.000000e+00, -5.000000e+00]>
// BLOCKS:      core.decode count {{.*}} latency = 2

// BADPACK: nmc-opt: error: decompose-fan-in: packing must be 'ranges' or 'blocks', got 'rows'

// NOOP:     core.neurons "fc" spike(%in) delays = [0]
// NOOP-NOT: psum

// NOPSUM: nmc-opt: error: layer 'fc': fan-in 5 exceeds max_fan_in 2 and chip 'truenorth4' has no partial-sum units; allow the relay approximation with decompose-fan-in{approximate=true} (nmc-compile --approximate-fan-in)

// With a fan-in of 3 and no partial sums, each neuron's excitatory and inhibitory inputs
// go to spiking relays in runs of 3 (weights as magnitudes); the neuron weighs their spikes
// by +threshold or -threshold.
// RELAY:      [[R:%.*]] = core.neurons "fc/relay" spike(%in) delays = [0] pre = dense<[0, 1, 2, 3, 4, 0, 1, 2, 3, 4]> : tensor<10xi32> post = dense<[0, 0, 0, 1, 1, 2, 2, 2, 3, 3]>
// RELAY-SAME:   weight = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00]>
// RELAY-SAME:   reset = subtract compare = ge {approximation = "relay"} : (!core.spikes<5>) -> !core.spikes<4>
// RELAY-NEXT: core.neurons "fc" spike([[R]]) delays = [0] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<[0, 0, 1, 1]> : tensor<4xi32> weight = dense<[1.000000e+00, 1.000000e+00, -1.000000e+00, -1.000000e+00]>
