// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{strategy=sequential}' | filecheck %s
// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{seed=3}' | filecheck %s --check-prefix=ANNEAL
// RUN: nmc-opt %S/Inputs/two-groups-board.mlir -p 'partition-cores{strategy=sequential},place-cores' | filecheck %s --check-prefix=BOARD
// RUN: not nmc-opt %S/Inputs/two-groups-mesh2x1.mlir -p 'partition-cores{strategy=sequential},place-cores' 2>&1 | filecheck %s --check-prefix=SMALL

// Sequential placement lays cores 0, 1, 2 along the serpentine: (0,0), (1,0), (2,0).
// CHECK: map.mesh x = dense<[0, 1, 2]> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "sequential"

// Annealing keeps the chain 0 - 1 - 2 on neighbouring positions (any placement with
// traffic x hops above the serpentine's would be a regression).
// ANNEAL: map.mesh x = dense<[{{[0-9]+}}, {{[0-9]+}}, {{[0-9]+}}]> : tensor<3xi32> y = dense<{{.*}}> strategy = "anneal"

// On a board of two 2x1 chips (mesh 4 x 1, chips at x 0-1 and 2-3) the chain 0 - 1 - 2 needs both chips;
// placing chips first, two neighbours of the chain share a chip and the chain crosses between chips once.
// BOARD: map.mesh x = dense<{{\[[01], [01], [23]\]|\[[23], [23], [01]\]}}> : tensor<3xi32> y = dense<0> : tensor<3xi32> strategy = "anneal"

// SMALL: nmc-opt: error: the network needs 3 cores, chip 'mesh2x1' has 2 (2x1 mesh): use a chip with a larger mesh
