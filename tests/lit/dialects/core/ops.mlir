// RUN: NMC_ROUNDTRIP
// RUN: NMC_GENERIC_ROUNDTRIP

core.network @net ticks = 4 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<1x2x2xf32>, %y: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<1x2x2xf32> -> !core.spikes<4>
  %cur = core.input direct %y scale = 5.000000e-01 seed = 0 levels = 127 : tensor<2xf32> -> !core.graded<2>
  %p = core.neurons "h/psum1" psum(%in) delays = [0] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<[0, 0, 1, 1]> : tensor<4xi32> weight = dense<[1, -2, 3, 4]> : tensor<4xi8> threshold = dense<1> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = none compare = ge : (!core.spikes<4>) -> !core.graded<2>
  %h = core.neurons "h" spike(%p, %cur) delays = [0, 1] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<[0, 0, 0, 0]> : tensor<4xi32> weight = dense<[1, 1, 5, -5]> : tensor<4xi8> threshold = dense<20> : tensor<1xi32> bias = dense<-1> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> decay_shift = 2 reset = subtract compare = ge {weight_error = 1.000000e-02 : f64} : (!core.graded<2>, !core.graded<2>) -> !core.spikes<1>
  %m = core.neurons "m" spike(%in) delays = [0] pre = dense<[0, 1]> : tensor<2xi32> post = dense<[0, 0]> : tensor<2xi32> weight = dense<[3, 4]> : tensor<2xi8> threshold = dense<9> : tensor<1xi32> bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> decay_shift = 8 decay_mult = 26 reset = subtract compare = ge : (!core.spikes<4>) -> !core.spikes<1>
  %f = core.neurons "f" integrate(%h) delays = [0] pre = dense<0> : tensor<1xi64> post = dense<0> : tensor<1xi64> weight = dense<2.500000e-01> : tensor<1xf64> threshold = dense<1.000000e+00> : tensor<1xf64> bias = dense<0.000000e+00> : tensor<1xf64> v_init = dense<0.000000e+00> : tensor<1xf64> beta = 9.000000e-01 reset = none compare = gt : (!core.spikes<1>) -> !core.spikes<1>
  %count = core.decode count %h latency = 1 : !core.spikes<1> -> tensor<1xf32>
  %first = core.decode first_spike %in latency = 0 : !core.spikes<4> -> tensor<1x2x2xf32>
  %mem = core.decode membrane %f latency = 2 scale = dense<5.000000e-01> : tensor<1xf64> : !core.spikes<1> -> tensor<1xf32>
  core.output %count, %first, %mem : tensor<1xf32>, tensor<1x2x2xf32>, tensor<1xf32>
}

// CHECK:      core.network @net ticks = 4 dt = 1.000000e-03 chip = #core.chip<"tiny", "{{[0-9a-f]+}}", "chip \22tiny\22 {\0A  mesh 4 x 4\0A  core {{.*}}"> {
// CHECK-NEXT: ^bb0(%x: tensor<1x2x2xf32>, %y: tensor<2xf32>):
// CHECK-NEXT:   [[IN:%.*]] = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<1x2x2xf32> -> !core.spikes<4>
// CHECK-NEXT:   [[CUR:%.*]] = core.input direct %y scale = 5.000000e-01 seed = 0 levels = 127 : tensor<2xf32> -> !core.graded<2>
// CHECK-NEXT:   [[P:%.*]] = core.neurons "h/psum1" psum([[IN]]) delays = [0] pre = dense<[0, 1, 2, 3]> : tensor<4xi32> post = dense<[0, 0, 1, 1]> : tensor<4xi32> weight = dense<[1, -2, 3, 4]> : tensor<4xi8> threshold = dense<1> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = none compare = ge : (!core.spikes<4>) -> !core.graded<2>
// CHECK-NEXT:   [[H:%.*]] = core.neurons "h" spike([[P]], [[CUR]]) delays = [0, 1] {{.*}} decay_shift = 2 reset = subtract compare = ge {weight_error = 1.000000e-02 : f64} : (!core.graded<2>, !core.graded<2>) -> !core.spikes<1>
// CHECK-NEXT:   {{%.*}} = core.neurons "m" spike([[IN]]) delays = [0] {{.*}} decay_shift = 8 decay_mult = 26 reset = subtract compare = ge : (!core.spikes<4>) -> !core.spikes<1>
// CHECK-NEXT:   [[F:%.*]] = core.neurons "f" integrate([[H]]) delays = [0] {{.*}} beta = 9.000000e-01 reset = none compare = gt : (!core.spikes<1>) -> !core.spikes<1>
// CHECK-NEXT:   [[COUNT:%.*]] = core.decode count [[H]] latency = 1 : !core.spikes<1> -> tensor<1xf32>
// CHECK-NEXT:   [[FIRST:%.*]] = core.decode first_spike [[IN]] latency = 0 : !core.spikes<4> -> tensor<1x2x2xf32>
// CHECK-NEXT:   [[MEM:%.*]] = core.decode membrane [[F]] latency = 2 scale = dense<5.000000e-01> : tensor<1xf64> : !core.spikes<1> -> tensor<1xf32>
// CHECK-NEXT:   core.output [[COUNT]], [[FIRST]], [[MEM]] : tensor<1xf32>, tensor<1x2x2xf32>, tensor<1xf32>

// CHECK-GENERIC: "core.network"() <{sym_name = "net", ticks = 4 : i64, dt = 1.000000e-03 : f64, chip = #core.chip<"tiny", "{{[0-9a-f]+}}", {{.*}}>}>
// CHECK-GENERIC: "core.input"(%x) <{encoding = #core<encoding rate>, scale = 1.000000e+00 : f64, seed = 0 : i64}>
// CHECK-GENERIC: "core.neurons"({{.*}}) <{layer = "h/psum1", mode = #core<mode psum>, delays = array<i64: 0>,
// CHECK-GENERIC: "core.decode"({{.*}}) <{kind = #core<decoding membrane>, latency = 2 : i64, scale = dense<5.000000e-01> : tensor<1xf64>}>

// A recurrent current-based group: it reads its own spikes one model tick late (lags = [0, 1]), and its synaptic
// current decays I -= (I * 3) >> 4.
core.network @rec ticks = 4 dt = 1.000000e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.000000e+00 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %h = core.neurons "h" spike(%in, %h) delays = [0, 0] lags = [0, 1] pre = dense<[0, 3]> : tensor<2xi32> post = dense<[0, 1]> : tensor<2xi32> weight = dense<[5, -3]> : tensor<2xi8> threshold = dense<9> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 3 current_shift = 4 current_mult = 3 reset = zero compare = ge : (!core.spikes<2>, !core.spikes<2>) -> !core.spikes<2>
  %count = core.decode count %h latency = 0 : !core.spikes<2> -> tensor<2xf32>
  core.output %count : tensor<2xf32>
}

// CHECK:      core.network @rec ticks = 4
// CHECK:        [[H:%.*]] = core.neurons "h" spike({{%.*}}, [[H]]) delays = [0, 0] lags = [0, 1] {{.*}} decay_shift = 3 current_shift = 4 current_mult = 3 reset = zero compare = ge : (!core.spikes<2>, !core.spikes<2>) -> !core.spikes<2>
