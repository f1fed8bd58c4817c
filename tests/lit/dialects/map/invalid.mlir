// RUN: NMC_VERIFY_DIAG

// One case per verifier message of map.routes (the tables route writes; the input is passes/Inputs/two-groups.mlir
// mapped sequentially, whose correct tables tests/lit/passes/route.mlir derives).
core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
    map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
    map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
    map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
    map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> axons = dense<[0, 2, 14, 23]> : tensor<4xi64> sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64> delays = dense<0> : tensor<24xi32> multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64> to dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64> dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
  core.output %o : tensor<2xf32>
}
// CHECK: map.routes: axon offsets do not describe 3 rows of 24 entries

// -----

core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
    map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
    map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
    map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
    map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> axons = dense<[0, 2, 14, 24]> : tensor<4xi64> sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64> delays = dense<0> : tensor<23xi32> multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64> to dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64> dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
  core.output %o : tensor<2xf32>
}
// CHECK: map.routes: 23 axon delays for 24 axons

// -----

core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
    map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
    map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
    map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
    map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> axons = dense<[0, 2, 2, 24]> : tensor<4xi64> sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64> delays = dense<0> : tensor<24xi32> multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64> to dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64> dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
  core.output %o : tensor<2xf32>
}
// CHECK: map.routes: core 2 has 22 axons, chip 'tiny' has 16

// -----

core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
    map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
    map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
    map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
    map.routes entries = dense<[16, 3, 0]> : tensor<3xi32> axons = dense<[0, 2, 14, 24]> : tensor<4xi64> sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64> delays = dense<0> : tensor<24xi32> multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64> to dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64> dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
  core.output %o : tensor<2xf32>
}
// CHECK: map.routes: entries per core sum to 19, the multicast table has 20

// -----

core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
    map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
    map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
    map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
    map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> axons = dense<[0, 2, 14, 24]> : tensor<4xi64> sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64> delays = dense<0> : tensor<24xi32> multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64> to dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64> dense<[3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
  core.output %o : tensor<2xf32>
}
// CHECK: map.routes: a destination core outside 0..2

// -----

core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
    map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
    map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
    map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
    map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> axons = dense<[0, 2, 14, 24]> : tensor<4xi64> sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64> delays = dense<0> : tensor<24xi32> multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64> to dense<[1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64> dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
  core.output %o : tensor<2xf32>
}
// CHECK: map.routes: multicast destination offsets do not describe 20 rows of 20 entries
