// RUN: nmc-opt %s -p 'delay-relays{max-axon-delay=0}' | filecheck %s
// RUN: nmc-opt %s -p 'delay-relays{max-axon-delay=1}' | filecheck %s --check-prefix=NOOP
// RUN: nmc-opt %s -p 'delay-relays{max-axon-delay=0},reduce-precision,check-constraints' | filecheck %s --check-prefix=FITS

// "h" reads input neuron 1 directly and "a" (one tick deeper), so the input's axons wait 1 tick.
// On axons that hold no delay, the input neuron "h" reads (only neuron 1) is repeated by one spiking
// relay (weight 1, threshold 1, reset to zero) and "h" reads the relay: both operands arrive together.

core.network @n ticks = 3 dt = 1.000000e-03 chip = #core.chip<"truenorth4"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 1.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %h = core.neurons "h" spike(%in, %a) delays = [1, 0] pre = dense<[1, 2]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[2.0, 3.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>, !core.spikes<1>) -> !core.spikes<1>
  %o = core.decode count %h latency = 1 : !core.spikes<1> -> tensor<1xf32>
  core.output %o : tensor<1xf32>
}

// CHECK:      [[IN:%.*]] = core.input rate
// CHECK-NEXT: [[A:%.*]] = core.neurons "a" spike([[IN]]) delays = [0]
// CHECK-NEXT: [[R:%.*]] = core.neurons "h/delay0.0" spike([[IN]]) delays = [0] pre = dense<1> : tensor<1xi32> post = dense<0> : tensor<1xi32> weight = dense<1.000000e+00> : tensor<1xf64> threshold = dense<1.000000e+00> : tensor<1xf64> bias = dense<0.000000e+00> : tensor<1xf64> v_init = dense<0.000000e+00> : tensor<1xf64> beta = 1.000000e+00 reset = zero compare = ge
// CHECK-NEXT: core.neurons "h" spike([[R]], [[A]]) delays = [0, 0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<0> : tensor<2xi32> weight = dense<[2.000000e+00, 3.000000e+00]>
// CHECK-SAME:   : (!core.spikes<1>, !core.spikes<1>) -> !core.spikes<1>
// CHECK-NEXT: core.decode count {{%.*}} latency = 1

// NOOP:     core.neurons "h" spike(%in, %a) delays = [1, 0]
// NOOP-NOT: delay0

// FITS: core.neurons "h" spike
