"""place-cores: put the partition's cores on the W x H mesh, minimising Σ traffic * hops.

Traffic between two cores counts one packet per spike per distinct remote
destination core (rate-weighted when groups carry a `spike_rate` profile); hops
are Manhattan distances (XY routing). `sequential` lays cores along a
serpentine in index order (the baseline). `anneal` (default) starts from that
serpentine and improves it by seeded simulated annealing over swaps of two
positions (occupied or free), keeping the best placement seen, so it never
ends worse than its start: deterministic for a given seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, StringAttr
from xdsl.passes import ModulePass

from nmc.chips.errors import NmcError
from nmc.dialects import map as map_d
from nmc.dialects.core_ir import core_networks
from nmc.dialects.ir_arrays import from_numpy
from nmc.dialects.map_layout import assignment, net_view, traffic_pairs
from nmc.passes.placement import anneal, serpentine


def traffic_matrix(net, n_cores: int):
    from scipy import sparse

    from nmc.dialects.map_layout import group_rates

    view = net_view(net)
    cores, _ = assignment(net, view)
    src, dst, w = traffic_pairs(view, cores, group_rates(view))
    t = sparse.coo_matrix((w, (src, dst)), shape=(n_cores, n_cores)).tocsr()
    return (t + t.T).tocsr()


@dataclass(frozen=True)
class PlaceCoresPass(ModulePass):
    """Place cores on the mesh (`strategy` = anneal | sequential), adding a map.mesh op."""

    name = "place-cores"
    strategy: str = "anneal"
    seed: int = 0
    iterations: int = 20000

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from nmc.dialects.core_ir import networks
        from nmc.passes.tnn_columns import place, tnn_networks

        if self.strategy not in ("anneal", "sequential"):
            raise NmcError(f"place-cores: unknown strategy '{self.strategy}' (expected anneal or sequential)")
        tnn_nets = tnn_networks(op)
        for tnn_net in tnn_nets:
            place(tnn_net, self.strategy, self.seed, self.iterations)
        for net in core_networks(op, "place-cores") if networks(op) or not tnn_nets else []:
            chip = net.chip.data
            view = net_view(net)
            assigned = assignment(net, view)
            if assigned is None:
                raise NmcError("place-cores: the network has no map.assign ops: run partition-cores first")
            n_cores = int(assigned[0].max(initial=-1)) + 1
            w, h = chip.mesh
            if n_cores > w * h:
                raise NmcError(
                    f"the network needs {n_cores} cores, chip '{chip.name}' has {w * h} ({w}x{h} mesh): "
                    "use a chip with a larger mesh"
                )
            slots_xy = serpentine(w, h)
            if self.strategy == "sequential":
                where = np.arange(n_cores)
            elif self.strategy == "anneal":
                where = anneal(traffic_matrix(net, n_cores), slots_xy, n_cores, self.iterations, self.seed)
            else:
                raise NmcError(f"place-cores: unknown strategy '{self.strategy}' (expected anneal or sequential)")
            block = net.body.block
            for old in [o for o in block.ops if isinstance(o, map_d.MeshOp | map_d.RoutesOp)]:
                old.detach()
                old.erase()
            i32 = IntegerType(32)
            mesh = map_d.MeshOp.build(
                properties={
                    "x": from_numpy(slots_xy[where, 0], i32),
                    "y": from_numpy(slots_xy[where, 1], i32),
                    "strategy": StringAttr(self.strategy),
                }
            )
            block.insert_op_before(mesh, block.last_op)
