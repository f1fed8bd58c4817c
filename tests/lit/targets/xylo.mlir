// RUN: nmc-opt %s -t xylo | filecheck %s

// A recurrent current-based population of 3 on 2 input channels, read out by 2 neurons, as a Xylo configuration
// (docs/xylo.md). Weights are divided by alpha (Xylo adds the input before the current's decay): 1 / 0.75 for the
// input and readout, -0.5 / 0.75 for the loop; per neuron the largest weight (4/3) maps to 127 << shift, so the
// loop's -2/3 is -63.5 -> -64 (round half to even). The shift is the largest that keeps the threshold within 2^13:
// floor(log2(8192 * (4/3) / (127 * 2))) = 5, so the threshold 2 becomes 2 * 127 * 2^5 / (4/3) = 6096.
snn.network @loop ticks = 8 dt = 1.000000e-03 {
^bb0(%x: tensor<2xf32>):
  %in = snn.encode_spikes %x : tensor<2xf32> -> !snn.spikes<2>
  %prev = snn.delay %s ticks = 1 : !snn.spikes<3> -> !snn.spikes<3>
  %ff = snn.dense %in weights = dense<1.000000e+00> : tensor<3x2xf32> : !snn.spikes<2> -> !snn.current<3>
  %rec = snn.dense %prev weights = dense<-5.000000e-01> : tensor<3x3xf32> : !snn.spikes<3> -> !snn.current<3>
  %sum = snn.add %ff, %rec scales = [1.000000e+00, 1.000000e+00] : !snn.current<3>, !snn.current<3> -> !snn.current<3>
  %s = snn.cuba_lif %sum alpha = 7.500000e-01 beta = 8.750000e-01 threshold = 2.000000e+00 reset = subtract compare = ge v_init = 0.000000e+00 max_spikes = 31 : !snn.current<3> -> !snn.spikes<3>
  %o_in = snn.dense %s weights = dense<1.000000e+00> : tensor<2x3xf32> : !snn.spikes<3> -> !snn.current<2>
  %o = snn.cuba_lif %o_in alpha = 7.500000e-01 beta = 8.750000e-01 threshold = 1.000000e+00 reset = subtract compare = ge v_init = 0.000000e+00 : !snn.current<2> -> !snn.spikes<2>
  %c = snn.decode_count %o : !snn.spikes<2> -> tensor<2xf32>
  snn.output %c : tensor<2xf32>
}

// CHECK: {"format":"nmc-xylo","version":1,"name":"network","shape":[2,3,2],"dt":0.001,"latency":1,
// CHECK-SAME: "shift_in":5,"shift_rec":5,
// CHECK-SAME: "w_in":[{{\[}}[127,0],[127,0],[127,0]],{{\[}}[127,0],[127,0],[127,0]]]
// CHECK-SAME: "w_rec":[{{\[}}[-64,0],[-64,0],[-64,0]],
// CHECK-SAME: "threshold":[6096,6096,6096]
// CHECK-SAME: "dash_mem":[3,3,3],"dash_syn":[2,2,2]
