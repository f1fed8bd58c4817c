// RUN: nmc-opt %S/../passes/Inputs/two-groups.mlir -p 'partition-cores{strategy=sequential},place-cores{strategy=sequential},route' -t chip-dump | filecheck %s

// CHECK:      network two ticks 2 chip tiny mesh 4x4 cores 3 neurons 22 axons 24 synapses 60
// CHECK-NEXT: input 0: rate shape [2] scale 1 seed 0
// CHECK-NEXT: core 0 at (0, 0): 16 neurons, 2 axons, 32 synapses, 16 routes
// CHECK-NEXT:   axon 0 <- input 0 delay 0
// CHECK-NEXT:   axon 1 <- input 1 delay 0
// CHECK-NEXT:   neuron 0: spike threshold 1 bias 0 v_init 0 shift 0 reset zero compare ge start 0
// CHECK:        synapse axon 0 -> neuron 0 weight 1
// CHECK:        route neuron 0 -> cores 1
// CHECK:        route neuron 15 -> cores 2
// CHECK-NEXT: core 1 at (1, 0): 5 neurons, 12 axons, 18 synapses, 4 routes
// CHECK:        axon 2 <- neuron 0 delay 0
// CHECK:        neuron 4: spike threshold 5 bias 0 v_init 0 shift 0 reset subtract compare ge start 1
// CHECK:        route neuron 0 -> cores 2
// CHECK:      core 2 at (2, 0): 1 neurons, 10 axons, 10 synapses, 0 routes
// CHECK:      output 0: count latency 1 shape [2] neurons 20, 21
