// Shared input of the mapping pass tests (not a test itself).
core.network @two ticks = 2 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1]> : tensor<40xi32> post = dense<[0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15, 16, 16, 17, 17, 18, 18, 19, 19]> : tensor<40xi32> weight = dense<1> : tensor<40xi8> threshold = dense<1> : tensor<20xi32> bias = dense<0> : tensor<20xi32> v_init = dense<0> : tensor<20xi32> decay_shift = 0 reset = zero compare = ge : (!core.spikes<2>) -> !core.spikes<20>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]> : tensor<20xi32> post = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]> : tensor<20xi32> weight = dense<1> : tensor<20xi8> threshold = dense<5> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<20>) -> !core.spikes<2>
  %o = core.decode count %b latency = 1 : !core.spikes<2> -> tensor<2xf32>
  core.output %o : tensor<2xf32>
}
