// RUN: nmc-opt %s -p 'decompose-fan-out{max-fan-out=2}' | filecheck %s
// RUN: nmc-opt %s -p 'decompose-fan-out{max-fan-out=3}' | filecheck %s --check-prefix=NOOP

// Each of the 2 inputs reaches 3 neurons. With a fan-out of 2 the input is copied by
// ceil(3 / 2) = 2 spiking relays (weight 1, threshold 1, reset to zero); the synapses of
// each input neuron go to relay 0, relay 1, relay 0 in turn, and the group reads both.

core.network @n ticks = 3 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "fc" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1]> : tensor<6xi32> post = dense<[0, 0, 1, 1, 2, 2]> : tensor<6xi32> weight = dense<[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]> : tensor<6xf64> threshold = dense<1.0> : tensor<3xf64> bias = dense<0.0> : tensor<3xf64> v_init = dense<0.0> : tensor<3xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<3>
  %o = core.decode count %h latency = 0 : !core.spikes<3> -> tensor<3xf32>
  core.output %o : tensor<3xf32>
}

// CHECK:      [[IN:%.*]] = core.input rate
// CHECK-NEXT: [[R0:%.*]] = core.neurons "in/relay0" spike([[IN]]) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 1]> : tensor<2xi32> weight = dense<1.000000e+00> : tensor<2xf64> threshold = dense<1.000000e+00> : tensor<2xf64> bias = dense<0.000000e+00> : tensor<2xf64> v_init = dense<0.000000e+00> : tensor<2xf64> beta = 1.000000e+00 reset = zero compare = ge
// CHECK-NEXT: [[R1:%.*]] = core.neurons "in/relay1" spike([[IN]])
// CHECK-NEXT: core.neurons "fc" spike([[R0]], [[R1]]) delays = [0, 0] pre = dense<[0, 1, 2, 3, 0, 1]> : tensor<6xi32> post = dense<[0, 0, 1, 1, 2, 2]> : tensor<6xi32> weight = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 5.000000e+00, 6.000000e+00]>
// CHECK-SAME:   : (!core.spikes<2>, !core.spikes<2>) -> !core.spikes<3>
// CHECK-NEXT: core.decode count {{%.*}} latency = 1

// NOOP:     core.neurons "fc" spike(%in)
// NOOP-NOT: relay
