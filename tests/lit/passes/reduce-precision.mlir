// RUN: nmc-opt %s -p 'reduce-precision{clip=max}' | filecheck %s
// RUN: nmc-opt %s -p 'reduce-precision{clip=max weight-bits=4}' | filecheck %s --check-prefix=INT4

// Direct input goes to the chip as round(x * 127) (8-bit graded inputs), so the neuron
// "fc" sees weights 0.5 / 127 and -0.25 / 127 per input level. The scale that fills 8-bit
// weights is 127 / (0.5 / 127) = 32258: weights 127 and round(-63.5) = -64 (to even),
// threshold 32258, + 1 because the chip compares with >= where the neuron fired on >,
// bias round(0.1 * 32258) = 3226; beta 0.875 = 1 - 2^-3 becomes the decay shift 3.
// The partial sum feeding the readout takes the readout's scale 127 / 2 = 63.5, and the
// membrane decoder divides by it (1 / 63.5 = 0.015748...).
// With 4-bit weights the scale is 7 * 127 / 0.5 = 1778: weights 7 and round(-3.5) = -4,
// threshold 1779.

core.network @n ticks = 3 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input direct %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.graded<2>
  %h = core.neurons "fc" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[0.5, -0.25]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.1> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 0.875 reset = subtract compare = gt : (!core.graded<2>) -> !core.spikes<1>
  %p = core.neurons "out/psum1" psum(%h) delays = [0] pre = dense<[0]> : tensor<1xi32> post = dense<[0]> : tensor<1xi32> weight = dense<[2.0]> : tensor<1xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = none compare = ge : (!core.spikes<1>) -> !core.graded<1>
  %r = core.neurons "out" integrate(%p) delays = [0] pre = dense<[0]> : tensor<1xi32> post = dense<[0]> : tensor<1xi32> weight = dense<[1.0]> : tensor<1xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = none compare = ge : (!core.graded<1>) -> !core.spikes<1>
  %o = core.decode membrane %r latency = 2 : !core.spikes<1> -> tensor<1xf32>
  core.output %o : tensor<1xf32>
}

// CHECK:      core.input direct %x scale = 1.000000e+00 seed = 0 levels = 127 : tensor<2xf32> -> !core.graded<2>
// CHECK-NEXT: core.neurons "fc" spike({{%.*}}) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<0> : tensor<2xi32> weight = dense<[127, -64]> : tensor<2xi8>
// CHECK-SAME:   threshold = dense<32259> : tensor<1xi32> bias = dense<3226> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> decay_shift = 3 reset = subtract compare = ge
// CHECK-NEXT: core.neurons "out/psum1" psum({{%.*}}) {{.*}} weight = dense<127> : tensor<1xi8>
// CHECK-NEXT: core.neurons "out" integrate({{%.*}}) {{.*}} weight = dense<1> : tensor<1xi8>
// CHECK-NEXT: core.decode membrane {{%.*}} latency = 2 scale = dense<0.015748031496062992> : tensor<1xf64>

// INT4: core.neurons "fc" spike({{%.*}}) {{.*}} weight = dense<[7, -4]> : tensor<2xi8> threshold = dense<1779> : tensor<1xi32>
