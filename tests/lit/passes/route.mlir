// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{strategy=sequential},route' | filecheck %s

// Cores 0, 1, 2 at (0,0), (1,0), (2,0). a[0..9] (core 0) feed b[0] (core 1): 10 packets,
// 1 hop; a[10..15] (core 0) feed b[1] (core 2): 6 packets, 2 hops; a[16..19] (core 1) feed
// b[1]: 4 packets, 1 hop. One table entry per neuron with a remote target: 16, 4, 0.
// Traffic 20 packets per spike-tick, mean hops 26 / 20 = 1.3; the link (0,0)->(1,0)
// carries 10 + 6 = 16, the link (1,0)->(2,0) 6 + 4 = 10.

// Sources: %in 0..1, %a 2..21, %b 22..23 (block order). Axon tables: core 0 holds a[0..15], which read
// in0, in1: sources [0, 1]; core 1 holds a[16..19] (in0, in1) and b[0] (a[0..9] = sources 2..11): 12
// axons; core 2 holds b[1] (a[10..19] = sources 12..21): 10 axons. Offsets 0, 2, 14, 24; no delays.
// Multicast: every a[i] (sources 2..21) has a remote target: a[0..9] -> core 1, a[10..19] -> core 2.

// CHECK: map.routes entries = dense<[16, 4, 0]> : tensor<3xi32>
// CHECK-SAME: axons = dense<[0, 2, 14, 24]> : tensor<4xi64>
// CHECK-SAME: sources = dense<[0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<24xi64>
// CHECK-SAME: delays = dense<0> : tensor<24xi32>
// CHECK-SAME: multicast = dense<[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21]> : tensor<20xi64>
// CHECK-SAME: to dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]> : tensor<21xi64>
// CHECK-SAME: dense<[1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]> : tensor<20xi32>
// CHECK-SAME: traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2
