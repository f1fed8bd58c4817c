// RUN: NMC_VERIFY_DIAG

// One case per verifier message of the snn dialect.
snn.network @n ticks = 0 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  snn.output

}
// CHECK: snn.network: 'ticks' must be at least 1, got 0

// -----

snn.network @n ticks = 4 dt = 0.0 {
^bb0(%x: tensor<2xf32>):
  snn.output

}
// CHECK: snn.network: 'dt' must be positive seconds per tick, got 0.0

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: !snn.current<2>):
  snn.output

}
// CHECK: snn.network: input #0 must be a tensor, got !snn.current<2>

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<3>
  snn.output

}
// CHECK: snn.encode_direct: result shape [3] differs from input shape [2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_rate %x scale = -1.0 : tensor<2xf32> -> !snn.spikes<2>
  snn.output

}
// CHECK: snn.encode_rate: 'scale' must be a positive finite number, got -1.0

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_poisson %x scale = 1.0 seed = -3 : tensor<2xf32> -> !snn.spikes<2>
  snn.output

}
// CHECK: snn.encode_poisson: 'seed' must be non-negative, got -3

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<2xf32> -> !snn.spikes<2>
  %d = snn.dense %i weights = dense<1.0> : tensor<3x4xf32> : !snn.spikes<2> -> !snn.current<3>
  snn.output

}
// CHECK: snn.dense: 'weights' has shape [3, 4], expected [3, 2] (out x in)

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<2xf32> -> !snn.spikes<2>
  %d = snn.dense %i weights = dense<1.0> : tensor<3x2xf32> bias = dense<0.0> : tensor<2xf32> : !snn.spikes<2> -> !snn.current<3>
  snn.output

}
// CHECK: snn.dense: 'bias' has shape [2], expected [3]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %d = snn.dense %i weights = dense<1.0> : tensor<3x16xf32> : !snn.spikes<1x4x4> -> !snn.current<3>
  snn.output

}
// CHECK: snn.dense: expected a rank-1 value, got shape [1, 4, 4]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %c = snn.conv2d %i weights = dense<1.0> : tensor<2x3x3x3xf32> stride = [1, 1] padding = [1, 1] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
  snn.output

}
// CHECK: snn.conv2d: 'weights' has shape [2, 3, 3, 3], expected [O, 1, Kh, Kw]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %c = snn.conv2d %i weights = dense<1.0> : tensor<2x1x3x3xf32> stride = [0, 1] padding = [1, 1] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
  snn.output

}
// CHECK: snn.conv2d: 'stride' must be two integers >= 1, got [0, 1]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %c = snn.conv2d %i weights = dense<1.0> : tensor<2x1x3x3xf32> stride = [1, 1] padding = [-1, 1] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
  snn.output

}
// CHECK: snn.conv2d: 'padding' must be two integers >= 0, got [-1, 1]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %c = snn.conv2d %i weights = dense<1.0> : tensor<2x1x5x5xf32> stride = [1, 1] padding = [0, 0] : !snn.spikes<1x4x4> -> !snn.current<2x1x1>
  snn.output

}
// CHECK: snn.conv2d: 'weights' kernel 5x5 does not fit the 4x4 input

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %c = snn.conv2d %i weights = dense<1.0> : tensor<2x1x3x3xf32> stride = [1, 1] padding = [0, 0] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
  snn.output

}
// CHECK: snn.conv2d: result shape [2, 4, 4], expected [2, 2, 2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %c = snn.conv2d %i weights = dense<1.0> : tensor<2x1x3x3xf32> bias = dense<0.0> : tensor<3xf32> stride = [1, 1] padding = [1, 1] : !snn.spikes<1x4x4> -> !snn.current<2x4x4>
  snn.output

}
// CHECK: snn.conv2d: 'bias' has shape [3], expected [2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %p = snn.pool2d avg %i kernel = [2] stride = [2, 2] : !snn.spikes<1x4x4> -> !snn.current<1x2x2>
  snn.output

}
// CHECK: snn.pool2d: 'kernel' must be two integers >= 1, got [2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %p = snn.pool2d sum %i kernel = [2, 2] stride = [1, 1] : !snn.spikes<1x4x4> -> !snn.current<1x2x2>
  snn.output

}
// CHECK: snn.pool2d: result shape [1, 2, 2], expected [1, 3, 3]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %f = snn.flatten %i : !snn.spikes<1x4x4> -> !snn.current<16>
  snn.output

}
// CHECK: snn.flatten: result kind !snn.current<16> differs from input kind

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %f = snn.flatten %i : !snn.spikes<1x4x4> -> !snn.spikes<15>
  snn.output

}
// CHECK: snn.flatten: result shape [15], expected [16]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<1x4x4xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<1x4x4xf32> -> !snn.spikes<1x4x4>
  %r = snn.reshape %i : !snn.spikes<1x4x4> -> !snn.spikes<4x1x3>
  snn.output

}
// CHECK: snn.reshape: result has 12 elements, the input 16

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %a = snn.add %i scales = [1.0] : !snn.current<2> -> !snn.current<2>
  snn.output

}
// CHECK: snn.add: needs at least two inputs, got 1

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %a = snn.add %i, %i scales = [1.0] : !snn.current<2>, !snn.current<2> -> !snn.current<2>
  snn.output

}
// CHECK: snn.add: 'scales' has 1 entries for 2 inputs

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %a = snn.add %i, %i scales = [1.0, 1.0] : !snn.current<2>, !snn.current<2> -> !snn.current<3>
  snn.output

}
// CHECK: snn.add: result shape [3] differs from input shape [2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %s = snn.if %i threshold = 0.0 reset = zero compare = ge v_init = 0.0 : !snn.current<2> -> !snn.spikes<2>
  snn.output

}
// CHECK: snn.if: 'threshold' must be a positive finite number, got 0.0

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %s = snn.if %i threshold = 1.0 reset = zero compare = ge v_init = 0.0 : !snn.current<2> -> !snn.spikes<4>
  snn.output

}
// CHECK: snn.if: result shape [4] differs from input shape [2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %s = snn.lif %i beta = 1.5 threshold = 1.0 reset = subtract compare = gt v_init = 0.0 : !snn.current<2> -> !snn.spikes<2>
  snn.output

}
// CHECK: snn.lif: 'beta' must be in [0, 1], got 1.5

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_rate %x scale = 1.0 : tensor<2xf32> -> !snn.spikes<2>
  %o = snn.decode_count %i : !snn.spikes<2> -> tensor<5xf32>
  snn.output

}
// CHECK: snn.decode_count: result shape [5] differs from input shape [2]

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %o = snn.decode_membrane %i beta = -0.5 : !snn.current<2> -> tensor<2xf32>
  snn.output

}
// CHECK: snn.decode_membrane: 'beta' must be in [0, 1], got -0.5

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<4xf32>):
  %f = snn.dense %s weights = dense<1.0> : tensor<4x4xf32> : !snn.spikes<4> -> !snn.current<4>
  %s = snn.if %f threshold = 1.0 reset = zero compare = ge v_init = 0.0 : !snn.current<4> -> !snn.spikes<4>
  %o = snn.decode_count %s : !snn.spikes<4> -> tensor<4xf32>
  snn.output %o : tensor<4xf32>
}
// CHECK: snn.dense: instantaneous cycle snn.dense %f -> snn.if %s -> snn.dense %f: nothing in it waits a tick, so no tick can compute it; a loop needs a one-tick delay (snn.delay, NIR's recurrent edge into a neuron) on one of its edges

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %s = snn.encode_spikes %x : tensor<2xf32> -> !snn.spikes<2>
  %d = snn.delay %s ticks = 0 : !snn.spikes<2> -> !snn.spikes<2>
  snn.output
}
// CHECK: snn.delay: 'ticks' must be at least 1, got 0

// -----

snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>
  %s = snn.cuba_lif %i alpha = 1.25 beta = 0.5 threshold = 1.0 reset = zero compare = gt v_init = 0.0 : !snn.current<2> -> !snn.spikes<2>
  snn.output

}
// CHECK: snn.cuba_lif: 'alpha' must be in [0, 1], got 1.25
