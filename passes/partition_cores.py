"""partition-cores: assign every network's units to cores, each network by its core kind.

A crossbar network's neurons are packed into cores under every per-core limit (strategies
sequential, metis, tiles, hypergraph, auto: passes/crossbar_partition.py); a TNN network puts one
column on each core (passes/tnn_columns.py). Partitioning adds the mapping to the IR and changes no
neuron, so it cannot change a spike.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nmc.passes.kind_mapping import lowered_networks


@dataclass(frozen=True)
class PartitionCoresPass(ModulePass):
    """Assign neurons to cores (`strategy` = auto | tiles | hypergraph | metis | sequential), one map.assign per group."""

    name = "partition-cores"
    strategy: str = "auto"
    seed: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for facet, net in lowered_networks(op, self.name):
            facet.partition(net, self.strategy, self.seed)
