// RUN: NMC_ROUNDTRIP
// RUN: NMC_GENERIC_ROUNDTRIP

// Every snn op in its custom syntax; the generic form must parse back to the same text.

snn.network @convnet ticks = 8 dt = 1.000000e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %in = snn.encode_rate %x scale = 1.000000e+00 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %conv = snn.conv2d %in weights = dense<5.000000e-01> : tensor<2x1x3x3xf32> bias = dense<[1.000000e-01, 2.000000e-01]> : tensor<2xf32> stride = [1, 1] padding = [1, 1] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
  %lif = snn.lif %conv beta = 9.000000e-01 threshold = 1.000000e+00 reset = subtract compare = ge v_init = 0.000000e+00 : !snn.current<2x4x4> -> !snn.spikes<2x4x4>
  %pool = snn.pool2d avg %lif kernel = [2, 2] stride = [2, 2] : !snn.spikes<2x4x4> -> !snn.current<2x2x2>
  %sum = snn.pool2d sum %lif kernel = [2, 2] stride = [2, 2] : !snn.spikes<2x4x4> -> !snn.current<2x2x2>
  %if = snn.if %pool threshold = 5.000000e-01 reset = zero compare = gt v_init = 2.500000e-01 : !snn.current<2x2x2> -> !snn.spikes<2x2x2>
  %flat = snn.flatten %if : !snn.spikes<2x2x2> -> !snn.spikes<8>
  %re = snn.reshape %flat : !snn.spikes<8> -> !snn.spikes<2x1x4>
  %fc = snn.dense %flat weights = dense<1.000000e+00> : tensor<3x8xf32> : !snn.spikes<8> -> !snn.current<3>
  %res = snn.add %fc, %fc scales = [1.000000e+00, 5.000000e-01] : !snn.current<3>, !snn.current<3> -> !snn.current<3>
  %out = snn.if %res threshold = 2.000000e+00 reset = none compare = ge v_init = 0.000000e+00 : !snn.current<3> -> !snn.spikes<3>
  %cuba = snn.cuba_lif %res alpha = 7.500000e-01 beta = 8.750000e-01 threshold = 1.000000e+00 reset = zero compare = gt v_init = 0.000000e+00 : !snn.current<3> -> !snn.spikes<3>
  %count = snn.decode_count %out : !snn.spikes<3> -> tensor<3xf32>
  %first = snn.decode_first_spike %out : !snn.spikes<3> -> tensor<3xf32>
  %mem = snn.decode_membrane %res beta = 1.000000e+00 : !snn.current<3> -> tensor<3xf32>
  snn.output %count, %first, %mem : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
}

// CHECK:      snn.network @convnet ticks = 8 dt = 1.000000e-03 {
// CHECK-NEXT: ^bb0(%x: tensor<1x4x4xf32>):
// CHECK-NEXT:   [[IN:%.*]] = snn.encode_rate %x scale = 1.000000e+00 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
// CHECK-NEXT:   [[CONV:%.*]] = snn.conv2d [[IN]] weights = dense<5.000000e-01> : tensor<2x1x3x3xf32> bias = dense<[1.000000e-01, 2.000000e-01]> : tensor<2xf32> stride = [1, 1] padding = [1, 1] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
// CHECK-NEXT:   [[LIF:%.*]] = snn.lif [[CONV]] beta = 9.000000e-01 threshold = 1.000000e+00 reset = subtract compare = ge v_init = 0.000000e+00 : !snn.current<2x4x4> -> !snn.spikes<2x4x4>
// CHECK-NEXT:   [[POOL:%.*]] = snn.pool2d avg [[LIF]] kernel = [2, 2] stride = [2, 2] : !snn.spikes<2x4x4> -> !snn.current<2x2x2>
// CHECK-NEXT:   {{%.*}} = snn.pool2d sum [[LIF]] kernel = [2, 2] stride = [2, 2] : !snn.spikes<2x4x4> -> !snn.current<2x2x2>
// CHECK-NEXT:   [[IF:%.*]] = snn.if [[POOL]] threshold = 5.000000e-01 reset = zero compare = gt v_init = 2.500000e-01 : !snn.current<2x2x2> -> !snn.spikes<2x2x2>
// CHECK-NEXT:   [[FLAT:%.*]] = snn.flatten [[IF]] : !snn.spikes<2x2x2> -> !snn.spikes<8>
// CHECK-NEXT:   {{%.*}} = snn.reshape [[FLAT]] : !snn.spikes<8> -> !snn.spikes<2x1x4>
// CHECK-NEXT:   [[FC:%.*]] = snn.dense [[FLAT]] weights = dense<1.000000e+00> : tensor<3x8xf32> : !snn.spikes<8> -> !snn.current<3>
// CHECK-NEXT:   [[RES:%.*]] = snn.add [[FC]], [[FC]] scales = [1.000000e+00, 5.000000e-01] : !snn.current<3>, !snn.current<3> -> !snn.current<3>
// CHECK-NEXT:   [[OUT:%.*]] = snn.if [[RES]] threshold = 2.000000e+00 reset = none compare = ge v_init = 0.000000e+00 : !snn.current<3> -> !snn.spikes<3>
// CHECK-NEXT:   {{%.*}} = snn.cuba_lif [[RES]] alpha = 7.500000e-01 beta = 8.750000e-01 threshold = 1.000000e+00 reset = zero compare = gt v_init = 0.000000e+00 : !snn.current<3> -> !snn.spikes<3>
// CHECK-NEXT:   [[COUNT:%.*]] = snn.decode_count [[OUT]] : !snn.spikes<3> -> tensor<3xf32>
// CHECK-NEXT:   [[FIRST:%.*]] = snn.decode_first_spike [[OUT]] : !snn.spikes<3> -> tensor<3xf32>
// CHECK-NEXT:   [[MEM:%.*]] = snn.decode_membrane [[RES]] beta = 1.000000e+00 : !snn.current<3> -> tensor<3xf32>
// CHECK-NEXT:   snn.output [[COUNT]], [[FIRST]], [[MEM]] : tensor<3xf32>, tensor<3xf32>, tensor<3xf32>
// CHECK-NEXT: }

// CHECK-GENERIC:      "snn.network"() <{sym_name = "convnet", ticks = 8 : i64, dt = 1.000000e-03 : f64}> ({
// CHECK-GENERIC:      "snn.encode_rate"(%x) <{scale = 1.000000e+00 : f64}> : (tensor<1x4x4xf32>) -> !snn.spikes<1x4x4>
// CHECK-GENERIC:      "snn.conv2d"({{%.*}}) <{weights = dense<5.000000e-01> : tensor<2x1x3x3xf32>, bias = dense<[1.000000e-01, 2.000000e-01]> : tensor<2xf32>, stride = array<i64: 1, 1>, padding = array<i64: 1, 1>}>
// CHECK-GENERIC:      "snn.lif"({{%.*}}) <{beta = 9.000000e-01 : f64, threshold = 1.000000e+00 : f64, reset = #snn<reset subtract>, compare = #snn<compare ge>, v_init = 0.000000e+00 : f64}>
// CHECK-GENERIC:      "snn.pool2d"({{%.*}}) <{kind = #snn<pool avg>, kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>}>
// CHECK-GENERIC:      "snn.pool2d"({{%.*}}) <{kind = #snn<pool sum>,
// CHECK-GENERIC:      "snn.if"({{%.*}}) <{threshold = 5.000000e-01 : f64, reset = #snn<reset zero>, compare = #snn<compare gt>, v_init = 2.500000e-01 : f64}>
// CHECK-GENERIC:      "snn.flatten"({{%.*}}) : (!snn.spikes<2x2x2>) -> !snn.spikes<8>
// CHECK-GENERIC:      "snn.reshape"({{%.*}}) : (!snn.spikes<8>) -> !snn.spikes<2x1x4>
// CHECK-GENERIC:      "snn.dense"({{%.*}}) <{weights = dense<1.000000e+00> : tensor<3x8xf32>}>
// CHECK-GENERIC:      "snn.add"({{%.*}}, {{%.*}}) <{scales = array<f64: 1.000000e+00, 5.000000e-01>}>
// CHECK-GENERIC:      "snn.if"({{%.*}}) <{threshold = 2.000000e+00 : f64, reset = #snn<reset none>,
// CHECK-GENERIC:      "snn.decode_count"({{%.*}}) : (!snn.spikes<3>) -> tensor<3xf32>
// CHECK-GENERIC:      "snn.decode_first_spike"({{%.*}}) : (!snn.spikes<3>) -> tensor<3xf32>
// CHECK-GENERIC:      "snn.decode_membrane"({{%.*}}) <{beta = 1.000000e+00 : f64}>
// CHECK-GENERIC:      "snn.output"({{%.*}}, {{%.*}}, {{%.*}}) : (tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> ()

// -----

// Direct and Poisson encoders, an LIF fed by a dense layer with a bias.

snn.network @mlp ticks = 4 dt = 5.000000e-04 {
^bb0(%x: tensor<2xf32>):
  %cur = snn.encode_direct %x scale = 2.000000e+00 : tensor<2xf32> -> !snn.current<2>
  %poi = snn.encode_poisson %x scale = 1.000000e+00 seed = 7 : tensor<2xf32> -> !snn.spikes<2>
  %fc = snn.dense %poi weights = dense<[[1.000000e+00, -1.000000e+00]]> : tensor<1x2xf32> bias = dense<5.000000e-01> : tensor<1xf32> : !snn.spikes<2> -> !snn.current<1>
  %m = snn.decode_membrane %cur beta = 5.000000e-01 : !snn.current<2> -> tensor<2xf32>
  %n = snn.decode_membrane %fc beta = 1.000000e+00 : !snn.current<1> -> tensor<1xf32>
  snn.output %m, %n : tensor<2xf32>, tensor<1xf32>
}

// CHECK:      snn.network @mlp ticks = 4 dt = 5.000000e-04 {
// CHECK:        [[CUR:%.*]] = snn.encode_direct %x scale = 2.000000e+00 : tensor<2xf32> -> !snn.current<2>
// CHECK-NEXT:   [[POI:%.*]] = snn.encode_poisson %x scale = 1.000000e+00 seed = 7 : tensor<2xf32> -> !snn.spikes<2>
// CHECK-NEXT:   {{%.*}} = snn.dense [[POI]] weights = dense<{{\[\[}}1.000000e+00, -1.000000e+00]]> : tensor<1x2xf32> bias = dense<5.000000e-01> : tensor<1xf32> : !snn.spikes<2> -> !snn.current<1>
// CHECK-NEXT:   {{%.*}} = snn.decode_membrane [[CUR]] beta = 5.000000e-01 : !snn.current<2> -> tensor<2xf32>

// CHECK-GENERIC: "snn.encode_poisson"(%x) <{scale = 1.000000e+00 : f64, seed = 7 : i64}> : (tensor<2xf32>) -> !snn.spikes<2>

snn.network @trains ticks = 16 dt = 1.000000e-04 {
^bb0(%x: tensor<2x3xf32>):
  %s = snn.encode_spikes %x : tensor<2x3xf32> -> !snn.spikes<2x3>
  %late = snn.delay %s ticks = 3 : !snn.spikes<2x3> -> !snn.spikes<2x3>
  %c = snn.decode_count %s : !snn.spikes<2x3> -> tensor<2x3xf32>
  snn.output %c : tensor<2x3xf32>
}

// CHECK:      snn.network @trains ticks = 16 dt = 1.000000e-04 {
// CHECK-NEXT: ^bb0(%x: tensor<2x3xf32>):
// CHECK-NEXT:   [[S:%.*]] = snn.encode_spikes %x : tensor<2x3xf32> -> !snn.spikes<2x3>
// CHECK-NEXT:   {{%.*}} = snn.delay [[S]] ticks = 3 : !snn.spikes<2x3> -> !snn.spikes<2x3>
// CHECK-GENERIC: "snn.encode_spikes"(%x) : (tensor<2x3xf32>) -> !snn.spikes<2x3>
// CHECK-GENERIC: "snn.delay"({{%.*}}) <{ticks = 3 : i64}> : (!snn.spikes<2x3>) -> !snn.spikes<2x3>

// A recurrent population: snn.delay reads %s, defined after it (the back edge that closes the loop a tick late).
snn.network @loop ticks = 8 dt = 1.000000e-03 {
^bb0(%x: tensor<2xf32>):
  %in = snn.encode_spikes %x : tensor<2xf32> -> !snn.spikes<2>
  %prev = snn.delay %s ticks = 1 : !snn.spikes<3> -> !snn.spikes<3>
  %ff = snn.dense %in weights = dense<1.000000e+00> : tensor<3x2xf32> : !snn.spikes<2> -> !snn.current<3>
  %rec = snn.dense %prev weights = dense<-5.000000e-01> : tensor<3x3xf32> : !snn.spikes<3> -> !snn.current<3>
  %sum = snn.add %ff, %rec scales = [1.000000e+00, 1.000000e+00] : !snn.current<3>, !snn.current<3> -> !snn.current<3>
  %s = snn.cuba_lif %sum alpha = 7.500000e-01 beta = 8.750000e-01 threshold = 1.000000e+00 reset = zero compare = gt v_init = 0.000000e+00 : !snn.current<3> -> !snn.spikes<3>
  %c = snn.decode_count %s : !snn.spikes<3> -> tensor<3xf32>
  snn.output %c : tensor<3xf32>
}

// CHECK:      snn.network @loop ticks = 8 dt = 1.000000e-03 {
// CHECK:        [[PREV:%.*]] = snn.delay [[S:%.*]] ticks = 1 : !snn.spikes<3> -> !snn.spikes<3>
// CHECK:        {{%.*}} = snn.dense [[PREV]] weights
// CHECK:        [[S]] = snn.cuba_lif

