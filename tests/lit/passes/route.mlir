// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{strategy=sequential},route' | filecheck %s

// Cores 0, 1, 2 at (0,0), (1,0), (2,0). a[0..9] (core 0) feed b[0] (core 1): 10 packets,
// 1 hop; a[10..15] (core 0) feed b[1] (core 2): 6 packets, 2 hops; a[16..19] (core 1) feed
// b[1]: 4 packets, 1 hop. One table entry per neuron with a remote target: 16, 4, 0.
// Traffic 20 packets per spike-tick, mean hops 26 / 20 = 1.3; the link (0,0)->(1,0)
// carries 10 + 6 = 16, the link (1,0)->(2,0) 6 + 4 = 10.

// CHECK: map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
