// A group that reads no synapse at all (found by fuzzing nmc-opt: it broke partition-cores' packing).
core.network @n ticks = 3 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "fc" spike(%in) delays = [0] pre = dense<> : tensor<0xi32> post = dense<> : tensor<0xi32> weight = dense<> : tensor<0xf64> threshold = dense<1.0> : tensor<3xf64> bias = dense<0.0> : tensor<3xf64> v_init = dense<0.0> : tensor<3xf64> beta = 1.0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<3>
  %o = core.decode count %h latency = 0 : !core.spikes<3> -> tensor<3xf32>
  core.output %o : tensor<3xf32>
}
