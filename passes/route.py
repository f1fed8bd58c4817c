"""route: XY routes, multicast routing tables and link loads for a placed network.

Every neuron whose spikes must reach another core gets one multicast entry in its
core's routing table (destination cores as a set; packets follow X then Y). Host
inputs are injected straight into the destination cores' axons. The pass checks
the table size against `router.table_entries`, then records per-core entries,
inter-core traffic (packets per tick: one per spike per remote destination core,
rate-weighted when groups carry a `spike_rate` profile), mean hops and the peak
directed-link load (unicast paths: shared multicast links are not credited).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float64Type, FloatAttr, IntegerAttr, IntegerType, ModuleOp, i64
from xdsl.passes import ModulePass

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import map as map_d
from nmc.dialects.core_ir import core_networks
from nmc.dialects.ir_arrays import from_numpy, to_numpy
from nmc.dialects.map_layout import assignment, destinations, net_view, source_cores


@dataclass
class RouteStats:
    entries: np.ndarray
    traffic: float
    hops: float
    peak_link: float
    links: int


def link_loads(x1, y1, x2, y2, w, width: int, height: int) -> np.ndarray:
    """Load of every directed mesh link under XY routing: [east, west, north, south] arrays of [H, W]."""
    loads = np.zeros((4, height + 1, width + 1))
    east, west = x2 > x1, x2 < x1
    for mask, k in ((east, 0), (west, 1)):
        lo, hi = np.minimum(x1, x2)[mask], np.maximum(x1, x2)[mask]
        np.add.at(loads[k], (y1[mask], lo), w[mask])
        np.add.at(loads[k], (y1[mask], hi), -w[mask])
    north, south = y2 > y1, y2 < y1
    for mask, k in ((north, 2), (south, 3)):
        lo, hi = np.minimum(y1, y2)[mask], np.maximum(y1, y2)[mask]
        np.add.at(loads[k], (lo, x2[mask]), w[mask])
        np.add.at(loads[k], (hi, x2[mask]), -w[mask])
    loads[:2] = np.cumsum(loads[:2], axis=2)
    loads[2:] = np.cumsum(loads[2:], axis=1)
    return loads[:, :height, :width]


def route_stats(net, chip: Chip, rates: np.ndarray | None = None) -> RouteStats:
    view = net_view(net)
    cores, _ = assignment(net, view)
    mesh = next(op for op in net.body.block.ops if isinstance(op, map_d.MeshOp))
    x, y = to_numpy(mesh.x).astype(np.int64), to_numpy(mesh.y).astype(np.int64)
    src, dst = destinations(view, cores)
    home = source_cores(view, cores)[src]
    remote = (home >= 0) & (home != dst)
    src, dst, home = src[remote], dst[remote], home[remote]
    entries = np.bincount(home[np.unique(src, return_index=True)[1]] if src.size else np.zeros(0, np.int64), minlength=x.size)
    w = np.ones(src.size) if rates is None else rates[src]
    hops = np.abs(x[home] - x[dst]) + np.abs(y[home] - y[dst])
    loads = link_loads(x[home], y[home], x[dst], y[dst], w, *chip.mesh)
    total = float(w.sum())
    return RouteStats(
        entries, total, float((w * hops).sum() / total) if total else 0.0, float(loads.max(initial=0)), int((loads > 0).sum())
    )


@dataclass(frozen=True)
class RoutePass(ModulePass):
    """Compute routes and tables; fail if a core needs more routing-table entries than the chip has."""

    name = "route"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        from nmc.dialects.core_ir import networks
        from nmc.dialects.map_layout import group_rates
        from nmc.passes.tnn_columns import route as route_columns
        from nmc.passes.tnn_columns import tnn_networks

        tnn_nets = tnn_networks(op)
        for tnn_net in tnn_nets:
            stats = route_columns(tnn_net)
            tnn_net.attributes["traffic"] = FloatAttr(round(stats["traffic"], 6), Float64Type())
            tnn_net.attributes["hops"] = FloatAttr(round(stats["hops"], 6), Float64Type())
        for net in core_networks(op, "route") if networks(op) or not tnn_nets else []:
            chip = net.chip.data
            if not any(isinstance(o, map_d.MeshOp) for o in net.body.block.ops):
                raise NmcError("route: the network has no map.mesh op: run place-cores first")
            stats = route_stats(net, chip, group_rates(net_view(net)))
            limit = chip.router["table_entries"]
            if stats.entries.max(initial=0) > limit:
                worst = int(stats.entries.argmax())
                raise NmcError(
                    f"core {worst} needs {int(stats.entries[worst])} routing-table entries, chip '{chip.name}' has "
                    f"{limit} (router.table_entries): use fewer neurons per core or a chip with larger tables"
                )
            for old in [o for o in net.body.block.ops if isinstance(o, map_d.RoutesOp)]:
                old.detach()
                old.erase()
            routes = map_d.RoutesOp.build(
                properties={
                    "entries": from_numpy(stats.entries, IntegerType(32)),
                    "traffic": FloatAttr(round(stats.traffic, 6), Float64Type()),
                    "hops": FloatAttr(round(stats.hops, 6), Float64Type()),
                    "peak_link": FloatAttr(round(stats.peak_link, 6), Float64Type()),
                    "links": IntegerAttr(stats.links, i64),
                }
            )
            net.body.block.insert_op_before(routes, net.body.block.last_op)
