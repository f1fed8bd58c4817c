// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential}' | filecheck %s
// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores' | filecheck %s --check-prefix=AUTO
// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=tiles}' | filecheck %s
// RUN: nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=hypergraph}' | filecheck %s --check-prefix=AUTO
// RUN: not nmc-opt %S/Inputs/two-groups.mlir -p 'partition-cores{strategy=greedy}' 2>&1 | filecheck %s --check-prefix=BAD
// RUN: nmc-opt %S/Inputs/no-synapses.mlir -p 'reduce-precision,partition-cores' | filecheck %s --check-prefix=EMPTY

// Group "a" (20 neurons, each reading the 2 inputs) and group "b" (2 neurons reading
// a[0..9] and a[10..19]) on "tiny" cores of 16 neurons and 16 axons. In order: a[0..15]
// fill core 0 (16 neurons); a[16..19] open core 1 (2 axons); b[0] joins it (2 + 10 = 12
// axons); b[1] would need 22 axons there, so it opens core 2.

// CHECK:      map.assign %a core = dense<[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]> : tensor<20xi32> slot = dense<[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3]> : tensor<20xi32> : !core.spikes<20>
// CHECK-NEXT: map.assign %b core = dense<[1, 2]> : tensor<2xi32> slot = dense<[4, 0]> : tensor<2xi32> : !core.spikes<2>
// CHECK-NEXT: core.output

// `tiles` keeps program order for these dense groups (every neuron reads the same inputs), so it
// assigns exactly as `sequential` above.

// AUTO: map.assign %a core
// AUTO: map.assign %b core

// BAD: nmc-opt: error: partition-cores: unknown strategy 'greedy' (expected auto, tiles, hypergraph, metis or sequential)

// A group without one synapse packs like any other: its 3 neurons on core 0.
// EMPTY: map.assign %fc core = dense<0> : tensor<3xi32> slot = dense<[0, 1, 2]> : tensor<3xi32>
