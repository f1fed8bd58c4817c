// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'profile-rates{input="%S/Inputs/two-groups-x.npy" samples=2}' | filecheck %s
// RUN: not nmc-opt %S/Inputs/two-groups.mlir -p 'profile-rates' 2>&1 | filecheck %s --check-prefix=NOFILE

// Inputs [[0.5, 0], [1, 1]], rate-coded over 2 ticks. Sample 0: input 0 spikes at tick 1 only,
// so every neuron of `a` (threshold 1) fires once in 2 ticks, and `b` (threshold 5, ten of a's
// spikes) fires once in its 2 ticks; sample 1: both inputs spike every tick and every neuron
// fires every tick. Mean spikes per tick per neuron: (0.5 + 1) / 2 = 0.75 for both groups.

// CHECK:      core.neurons "a"
// CHECK-SAME: {spike_rate = dense<7.500000e-01> : tensor<20xf64>}
// CHECK:      core.neurons "b"
// CHECK-SAME: {spike_rate = dense<7.500000e-01> : tensor<2xf64>}

// NOFILE: nmc-opt: error: profile-rates needs input=FILE.npy (the calibration data the rates are measured on)
