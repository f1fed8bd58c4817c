"""place-cores: put the partition's cores on the W x H mesh, minimising Σ traffic * hops, for every kind.

Each network's core kind reports the traffic between its cores (a crossbar network: one packet per
spike per distinct remote destination core, rate-weighted when groups carry a `spike_rate` profile;
a TNN network: the lines one column reads from another) and stores the positions; hops are
Manhattan distances (XY routing). `sequential` lays cores along a
serpentine in index order (the baseline). `anneal` (default) starts from that
serpentine and improves it by seeded simulated annealing over swaps of two
positions (occupied or free), keeping the best placement seen, so it never
ends worse than its start: deterministic for a given seed. On a board (a chip description with a
`board` section) `anneal` places in two levels: cores into chips, fewest packets between chips first,
then cores within each chip (passes/board.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nmc.chips.boards import smallest_board
from nmc.chips.errors import NmcError
from nmc.passes.board import board_placement
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
                board = smallest_board(chip, n_cores)
                fix = f"the board '{board}' (--board {board}) or " if board else ""
                raise NmcError(
                    f"the network needs {n_cores} cores, chip '{chip.name}' has {width * height} ({width}x{height} mesh): "
                    f"use {fix}a chip with a larger mesh"
                )
            slots_xy = serpentine(width, height)
            sym = symmetric_traffic(n_cores, src, dst, w)
            if self.strategy == "sequential":
                xy = slots_xy[np.arange(n_cores)]
            elif chip.board:  # chips first, then cores within each chip (passes/board.py)
                xy = board_placement(sym, chip, n_cores, self.iterations, self.seed)
            else:
                xy = slots_xy[anneal(sym, slots_xy, n_cores, self.iterations, self.seed)]
            facet.place(net, xy, self.strategy)
