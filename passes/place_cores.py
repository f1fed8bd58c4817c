"""place-cores: put the partition's cores on the W x H mesh, minimising Σ traffic * hops, for every kind.

Each network's core kind reports the traffic between its cores (a crossbar network: one packet per
spike per distinct remote destination core, rate-weighted when groups carry a `spike_rate` profile;
a TNN network: the lines one column reads from another) and stores the positions; hops are
Manhattan distances (XY routing). `sequential` lays cores along a
serpentine in index order (the baseline). `anneal` (default) starts from that
serpentine and improves it by seeded simulated annealing over swaps of two
positions (occupied or free), keeping the best placement seen, so it never
ends worse than its start: deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nmc.chips.errors import NmcError
from nmc.passes.kind_mapping import lowered_networks
from nmc.passes.placement import anneal, serpentine, symmetric_traffic


@dataclass(frozen=True)
class PlaceCoresPass(ModulePass):
    """Place cores on the mesh (`strategy` = anneal | sequential); the kind stores the positions (crossbar: map.mesh)."""

    name = "place-cores"
    strategy: str = "anneal"
    seed: int = 0
    iterations: int = 20000

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.strategy not in ("anneal", "sequential"):
            raise NmcError(f"place-cores: unknown strategy '{self.strategy}' (expected anneal or sequential)")
        for facet, net in lowered_networks(op, self.name):
            chip = net.chip.data
            n_cores, src, dst, w = facet.core_traffic(net)
            width, height = chip.mesh
            if n_cores > width * height:
                raise NmcError(
                    f"the network needs {n_cores} cores, chip '{chip.name}' has {width * height} ({width}x{height} mesh): "
                    "use a chip with a larger mesh"
                )
            slots_xy = serpentine(width, height)
            if self.strategy == "sequential":
                where = np.arange(n_cores)
            else:
                where = anneal(symmetric_traffic(n_cores, src, dst, w), slots_xy, n_cores, self.iterations, self.seed)
            facet.place(net, slots_xy[where], self.strategy)
