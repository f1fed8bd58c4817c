"""route: routing tables, traffic and link loads of every placed network, each by its core kind.

A crossbar network gets one multicast entry per neuron whose spikes reach another core (destination
cores as a set; packets follow X then Y), checked against `router.table_entries`, and a `map.routes`
op with per-core entries, traffic, mean hops and the peak link load (passes/crossbar_kind.py); a TNN
network one entry per output line read on another core (passes/tnn_columns.py). Routing adds
results to the IR and changes no neuron, so it cannot change a spike.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nmc.passes.kind_mapping import lowered_networks


@dataclass(frozen=True)
class RoutePass(ModulePass):
    """Compute routes and tables; fail if a core needs more routing-table entries than the chip has."""

    name = "route"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for facet, net in lowered_networks(op, self.name):
            facet.route(net)
