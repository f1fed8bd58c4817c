// RUN: nmc-opt %s -p 'snn-to-core{chip=tiny}' | filecheck %s

// A 2x2 convolution over a 3x3 image is unrolled into synapses: output (y, x) reads
// inputs (y..y+1, x..x+1), i.e. flat indices {0,1,3,4}, {1,2,4,5}, {3,4,6,7}, {4,5,7,8}
// with weights 1, 2, 3, 4. Average pooling folded into the dense layer after it gives
// every spike of the pooled window the weight 2 / 4 = 0.5.

snn.network @conv ticks = 5 dt = 1.000000e-03 {
^bb0(%x: tensor<1x3x3xf32>):
  %in = snn.encode_rate %x scale = 1.000000e+00 : tensor<1x3x3xf32> -> !snn.spikes<1x3x3>
  %conv = snn.conv2d %in weights = dense<[[[[1.0, 2.0], [3.0, 4.0]]]]> : tensor<1x1x2x2xf32> bias = dense<0.5> : tensor<1xf32> stride = [1, 1] padding = [0, 0] : !snn.spikes<1x3x3> -> !snn.current<1x2x2>
  %h = snn.if %conv threshold = 4.000000e+00 reset = zero compare = ge v_init = 0.000000e+00 : !snn.current<1x2x2> -> !snn.spikes<1x2x2>
  %pool = snn.pool2d avg %h kernel = [2, 2] stride = [2, 2] : !snn.spikes<1x2x2> -> !snn.current<1x1x1>
  %flat = snn.flatten %pool : !snn.current<1x1x1> -> !snn.current<1>
  %fc = snn.dense %flat weights = dense<2.0> : tensor<1x1xf32> : !snn.current<1> -> !snn.current<1>
  %out = snn.lif %fc beta = 5.000000e-01 threshold = 1.000000e+00 reset = subtract compare = gt v_init = 0.000000e+00 : !snn.current<1> -> !snn.spikes<1>
  %count = snn.decode_count %out : !snn.spikes<1> -> tensor<1xf32>
  %mem = snn.decode_membrane %fc beta = 1.000000e+00 : !snn.current<1> -> tensor<1xf32>
  snn.output %count, %mem : tensor<1xf32>, tensor<1xf32>
}

// CHECK:      core.network @conv ticks = 5 dt = 1.000000e-03 chip = #core.chip<"tiny", "{{[0-9a-f]+}}", {{.*}}> {
// CHECK-NEXT: ^bb0(%x: tensor<1x3x3xf32>):
// CHECK-NEXT:   [[IN:%.*]] = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<1x3x3xf32> -> !core.spikes<9>
// CHECK-NEXT:   [[H:%.*]] = core.neurons "h" spike([[IN]]) delays = [0]
// CHECK-SAME:     pre = dense<[0, 1, 3, 4, 1, 2, 4, 5, 3, 4, 6, 7, 4, 5, 7, 8]> : tensor<16xi32>
// CHECK-SAME:     post = dense<[0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]> : tensor<16xi32>
// CHECK-SAME:     weight = dense<[1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00, 1.000000e+00, 2.000000e+00, 3.000000e+00, 4.000000e+00]> : tensor<16xf64>
// CHECK-SAME:     threshold = dense<4.000000e+00> : tensor<4xf64> bias = dense<5.000000e-01> : tensor<4xf64> v_init = dense<0.000000e+00> : tensor<4xf64> beta = 1.000000e+00 reset = zero compare = ge : (!core.spikes<9>) -> !core.spikes<4>
// CHECK-NEXT:   [[OUT:%.*]] = core.neurons "out" spike([[H]]) delays = [0] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<0> : tensor<4xi32> weight = dense<5.000000e-01> : tensor<4xf64>
// CHECK-SAME:     beta = 5.000000e-01 reset = subtract compare = gt
// CHECK-NEXT:   [[COUNT:%.*]] = core.decode count [[OUT]] latency = 1 : !core.spikes<1> -> tensor<1xf32>
// CHECK-NEXT:   [[FC:%.*]] = core.neurons "fc" integrate([[H]]) delays = [0] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<0> : tensor<4xi32> weight = dense<5.000000e-01> : tensor<4xf64>
// CHECK-NEXT:   [[MEM:%.*]] = core.decode membrane [[FC]] latency = 1 : !core.spikes<1> -> tensor<1xf32>
// CHECK-NEXT:   core.output [[COUNT]], [[MEM]] : tensor<1xf32>, tensor<1xf32>

// A delay is the model's own: "o" reads h 3 and the input 1 model tick late (`lags`). h's spikes of
// model tick t-3 leave its core at chip tick t-2 and the input of t-1 arrives at t-1, so axon delays
// 2 and 1 bring both to chip tick t: "o" runs at depth 0, its decoder at latency 0.
snn.network @delayed ticks = 8 dt = 1.000000e-03 {
^bb0(%x: tensor<2xf32>):
  %s = snn.encode_spikes %x : tensor<2xf32> -> !snn.spikes<2>
  %i = snn.dense %s weights = dense<1.0> : tensor<2x2xf32> : !snn.spikes<2> -> !snn.current<2>
  %h = snn.if %i threshold = 1.0 reset = zero compare = gt v_init = 0.0 : !snn.current<2> -> !snn.spikes<2>
  %dh = snn.delay %h ticks = 3 : !snn.spikes<2> -> !snn.spikes<2>
  %ds = snn.delay %s ticks = 1 : !snn.spikes<2> -> !snn.spikes<2>
  %a = snn.dense %dh weights = dense<1.0> : tensor<1x2xf32> : !snn.spikes<2> -> !snn.current<1>
  %b = snn.dense %ds weights = dense<1.0> : tensor<1x2xf32> : !snn.spikes<2> -> !snn.current<1>
  %c = snn.add %a, %b scales = [1.0, 1.0] : !snn.current<1>, !snn.current<1> -> !snn.current<1>
  %o = snn.if %c threshold = 1.0 reset = zero compare = gt v_init = 0.0 : !snn.current<1> -> !snn.spikes<1>
  %n = snn.decode_count %o : !snn.spikes<1> -> tensor<1xf32>
  snn.output %n : tensor<1xf32>
}

// CHECK:      core.network @delayed
// CHECK:        [[DH:%.*]] = core.neurons "h" spike({{%.*}}) delays = [0] pre
// CHECK-NEXT:   [[DO:%.*]] = core.neurons "o" spike([[DH]], {{%.*}}) delays = [2, 1] lags = [3, 1] pre
// CHECK-NEXT:   {{%.*}} = core.decode count [[DO]] latency = 0

// A recurrent current-based population: the back edge (snn.delay of %h, defined after it) becomes an operand that
// reads the group's own output one model tick late (lags = [0, 1]), which one hop closes in exactly that tick
// (delays = [0, 0]); the recurrent weights -1 join the synapse list after the input's (neuron 0 reads pre 3 = h[1],
// neuron 1 reads pre 2 = h[0]); alpha carries over.
snn.network @loop ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %in = snn.encode_spikes %x : tensor<2xf32> -> !snn.spikes<2>
  %prev = snn.delay %h ticks = 1 : !snn.spikes<2> -> !snn.spikes<2>
  %ff = snn.dense %in weights = dense<[[1.0, 0.0], [0.0, 1.0]]> : tensor<2x2xf32> : !snn.spikes<2> -> !snn.current<2>
  %rec = snn.dense %prev weights = dense<[[0.0, -1.0], [-1.0, 0.0]]> : tensor<2x2xf32> : !snn.spikes<2> -> !snn.current<2>
  %sum = snn.add %ff, %rec scales = [1.0, 1.0] : !snn.current<2>, !snn.current<2> -> !snn.current<2>
  %h = snn.cuba_lif %sum alpha = 0.5 beta = 0.75 threshold = 1.0 reset = zero compare = gt v_init = 0.0 : !snn.current<2> -> !snn.spikes<2>
  %n = snn.decode_count %h : !snn.spikes<2> -> tensor<2xf32>
  snn.output %n : tensor<2xf32>
}

// CHECK:      core.network @loop
// CHECK:        [[H:%.*]] = core.neurons "h" spike({{%.*}}, [[H]]) delays = [0, 0] lags = [0, 1] pre = dense<[0, 3, 1, 2]> : tensor<4xi32> post = dense<[0, 0, 1, 1]> : tensor<4xi32> weight = dense<[1.000000e+00, -1.000000e+00, 1.000000e+00, -1.000000e+00]> : tensor<4xf64>
// CHECK-SAME:   beta = 7.500000e-01 alpha = 5.000000e-01 reset = zero compare = gt
// CHECK-NEXT:   {{%.*}} = core.decode count [[H]] latency = 0
