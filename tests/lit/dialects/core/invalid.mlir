// RUN: NMC_VERIFY_DIAG

// One case per verifier message of the core dialect.
core.network @n ticks = 0 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  core.output
}
// CHECK: core.network: 'ticks' must be at least 1, got 0

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %g = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<3>
  core.output
}
// CHECK: core.input: 3 outputs for 2 input values

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %g = core.input direct %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  core.output
}
// CHECK: core.input: 'direct' encoding must produce graded values

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %g = core.input rate %x scale = 1.0 seed = 0 levels = 3 : tensor<2xf32> -> !core.spikes<2>
  core.output
}
// CHECK: core.input: 'levels' needs direct encoding and >= 1, got 3

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0]> : tensor<1xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': pre/post/weight lengths differ (2, 1, 2)

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<2xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': 'threshold' has 2 entries for 1 neurons

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0, 0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': 'delays' needs one value >= 0 per input, got [0, 0]

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1> : tensor<1xi32> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': 'threshold' must be float like the weights

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1, 2]> : tensor<2xi8> threshold = dense<1> : tensor<1xi32> bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': an integer group decays by 'decay_shift', not 'beta'

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> decay_shift = 1 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': a float group decays by 'beta', not 'decay_shift'

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.5 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': 'beta' must be in [0, 1], got 1.5

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" psum(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': a psum group must produce graded values

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 5]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': presynaptic index 5 outside the 2 inputs

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 1]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': postsynaptic index outside the 1 neurons

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[1, 0]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': synapses must be sorted by (post, pre) without duplicates

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %g = core.neurons "g" spike(%h, %in) delays = [0, 0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<1>, !core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'g': inputs arrive at different ticks [1, 0]; balance them with 'delays'

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %o = core.decode count %h latency = 1 : !core.spikes<1> -> tensor<3xf32>
  core.output
}
// CHECK: core.decode: result holds 3 values for 1 neurons

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %o = core.decode membrane %h latency = 1 : !core.spikes<1> -> tensor<1xf32>
  core.output
}
// CHECK: core.decode: 'membrane' decoding reads exactly the integrate-mode groups

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %o = core.decode count %h latency = 3 : !core.spikes<1> -> tensor<1xf32>
  core.output
}
// CHECK: core.decode: 'latency' is 3, the group lags by 0

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" integrate(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %o = core.decode membrane %h latency = 1 scale = dense<1.0> : tensor<2xf64> : !core.spikes<1> -> tensor<1xf32>
  core.output
}
// CHECK: core.decode: 'scale' has 2 entries for 1 neurons

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %o = core.decode count %h latency = 0 : !core.spikes<1> -> tensor<1xf32>
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 2.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output %o : tensor<1xf32>
}
// CHECK: core.decode: operand #0 (%h) is used before it is defined (ops must be listed in dataflow order; a loop closes only through a delayed back edge)

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1, 2]> : tensor<2xi8> threshold = dense<1> : tensor<1xi32> bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> decay_shift = 4 decay_mult = 17 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': 'decay_mult' (V -= (V * m) >> s) needs 'decay_shift' s >= 1 and 1 <= m <= 2^s, got m = 17, s = 4

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1, 2]> : tensor<2xi8> threshold = dense<1> : tensor<1xi32> bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> decay_shift = 0 decay_mult = 3 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  core.output
}
// CHECK: core.neurons 'h': 'decay_mult' (V -= (V * m) >> s) needs 'decay_shift' s >= 1 and 1 <= m <= 2^s, got m = 3, s = 0

// -----

// A loop over two groups: 'a' reads 'b' one model tick late, but the chip needs two ticks per turn (a -> b -> a).
core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in, %b) delays = [0, 0] lags = [0, 1] pre = dense<[0, 2]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[1.0, 1.0]> : tensor<2xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>, !core.spikes<1>) -> !core.spikes<1>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0]> : tensor<1xi32> post = dense<[0]> : tensor<1xi32> weight = dense<[1.0]> : tensor<1xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<1>) -> !core.spikes<1>
  %o = core.decode count %b latency = 1 : !core.spikes<1> -> tensor<1xf32>
  core.output %o : tensor<1xf32>
}
// CHECK: core.neurons 'a': the loop back from 'b' takes 2 chip tick(s) per turn but the model waits 1: a loop closes on the chip only where it takes no more ticks than the model's delay (a group reading itself: one tick)

// -----

core.network @n ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" psum(%in) delays = [0] pre = dense<[0]> : tensor<1xi32> post = dense<[0]> : tensor<1xi32> weight = dense<[1.0]> : tensor<1xf64> threshold = dense<1.0> : tensor<1xf64> bias = dense<0.0> : tensor<1xf64> v_init = dense<0.0> : tensor<1xf64> beta = 1.0 alpha = 0.5 reset = none compare = ge : (!core.spikes<2>) -> !core.graded<1>
  %o = core.decode count %a latency = 0 : !core.graded<1> -> tensor<1xf32>
  core.output %o : tensor<1xf32>
}
// CHECK: core.neurons 'a': a partial-sum group keeps no state, so it has no synaptic current
