// RUN: nmc-opt %S/../../passes/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{strategy=sequential},route' | nmc-opt --print-op-generic | nmc-opt | filecheck %s
// RUN: nmc-opt %S/../../passes/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{strategy=sequential},route' --print-op-generic | filecheck %s --check-prefix=CHECK-GENERIC

// CHECK:      map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]>
// CHECK-NEXT: map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
// CHECK-NEXT: map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"
// CHECK-NEXT: map.routes entries = dense<[16, 4, 0]> : tensor<3xi32> axons = dense<[0, 2, 14, 24]> : tensor<4xi64> sources =
// CHECK-SAME: multicast = dense<[2, 3, 4,
// CHECK-SAME: traffic = 2.000000e+01 hops = 1.300000e+00 peak_link = 1.600000e+01 links = 2

// CHECK-GENERIC: "map.assign"(%a) <{core = dense<
// CHECK-GENERIC: "map.mesh"() <{x = dense<[0, 1, 2]> : tensor<3xi32>, y = dense<0> : tensor<3xi32>, strategy = "sequential"}> : () -> ()
// CHECK-GENERIC: "map.routes"() <{entries = dense<[16, 4, 0]> : tensor<3xi32>,
