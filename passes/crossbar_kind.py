"""The crossbar kind's MAPPING facet (nmc.chips.kinds): what snn-to-core, partition-cores, place-cores
and route do to a `core.network` of neuron groups.

Lowering: passes/crossbar_lowering.py. Partition: passes/crossbar_partition.py. Placement: the
generic annealing on the packets per tick between cores (one per spike per distinct remote core,
rate-weighted when groups carry a `spike_rate` profile), stored as a `map.mesh` op. Routing: XY
routes, one multicast entry per neuron whose spikes leave its core, checked against
`router.table_entries`; per-core entries, traffic, mean hops and the peak directed-link load
(unicast paths: shared multicast links are not credited) in a `map.routes` op.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from xdsl.dialects.builtin import Float64Type, FloatAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, i64

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import core, snn
from nmc.dialects import map as map_d
from nmc.dialects.ir_arrays import from_numpy, to_numpy
from nmc.dialects.map_layout import assignment, axon_table, group_rates, net_view, remote_destinations, traffic_pairs
from nmc.passes.board import check_bandwidth, chip_link_loads, inter_chip_packets
from nmc.passes.crossbar_lowering import lower_networks
from nmc.passes.crossbar_partition import partition_network
from nmc.passes.placement import link_loads, symmetric_traffic


@dataclass
class RouteStats:
    entries: np.ndarray
    traffic: float
    hops: float
    peak_link: float
    links: int
    sources: np.ndarray  # remote (source, destination core) pairs, sorted by source then core
    dests: np.ndarray
    chip_links: dict[str, np.ndarray] | None = None  # on a board: packets per tick of every chip-to-chip link
    inter_chip: float = 0.0  # on a board: packets per tick summed over chip-to-chip links


def route_stats(net, chip: Chip, rates: np.ndarray | None = None) -> RouteStats:
    view = net_view(net)
    cores, _ = assignment(net, view)
    mesh = next(op for op in net.body.block.ops if isinstance(op, map_d.MeshOp))
    x, y = to_numpy(mesh.x).astype(np.int64), to_numpy(mesh.y).astype(np.int64)
    src, home, dst = remote_destinations(view, cores)
    entries = np.bincount(home[np.unique(src, return_index=True)[1]] if src.size else np.zeros(0, np.int64), minlength=x.size)
    w = np.ones(src.size) if rates is None else rates[src]
    hops = np.abs(x[home] - x[dst]) + np.abs(y[home] - y[dst])
    loads = link_loads(x[home], y[home], x[dst], y[dst], w, *chip.mesh)
    total = float(w.sum())
    stats = RouteStats(
        entries, total, float((w * hops).sum() / total) if total else 0.0, float(loads.max(initial=0)), int((loads > 0).sum()),
        src, dst,
    )  # fmt: skip
    if chip.board:
        stats.chip_links = chip_link_loads(x[home], y[home], x[dst], y[dst], w, chip)
        stats.inter_chip = inter_chip_packets(x[home], y[home], x[dst], y[dst], w, chip)
    return stats


def traffic_matrix(net: core.NetworkOp, n_cores: int) -> Any:
    """The packets per tick between cores, symmetric CSR (what place-cores anneals on)."""
    _, src, dst, w = MAPPING.core_traffic(net)
    return symmetric_traffic(n_cores, src, dst, w)


class CrossbarMapping:
    """The crossbar kind's passes facet (see nmc.passes.kind_mapping.MappingFacet)."""

    def pending(self, module: ModuleOp) -> bool:
        return any(isinstance(op, snn.NetworkOp) for op in module.walk())

    def lower(self, module: ModuleOp, chip: Chip) -> None:
        lower_networks(module, chip)

    def networks(self, module: ModuleOp) -> list[core.NetworkOp]:
        return [op for op in module.walk() if isinstance(op, core.NetworkOp)]

    def partition(self, net: core.NetworkOp, strategy: str, seed: int) -> None:
        partition_network(net, strategy, seed)

    def core_traffic(self, net: core.NetworkOp) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        view = net_view(net)
        assigned = assignment(net, view)
        if assigned is None:
            raise NmcError("place-cores: the network has no map.assign ops: run partition-cores first")
        cores = assigned[0]
        src, dst, w = traffic_pairs(view, cores, group_rates(view))
        return int(cores.max(initial=-1)) + 1, src, dst, w

    def place(self, net: core.NetworkOp, xy: np.ndarray, strategy: str) -> None:
        block = net.body.block
        for old in [o for o in block.ops if isinstance(o, map_d.MeshOp | map_d.RoutesOp)]:
            old.detach()
            old.erase()
        i32 = IntegerType(32)
        mesh = map_d.MeshOp.build(
            properties={"x": from_numpy(xy[:, 0], i32), "y": from_numpy(xy[:, 1], i32), "strategy": StringAttr(strategy)}
        )
        block.insert_op_before(mesh, block.last_op)

    def route(self, net: core.NetworkOp) -> None:
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
        if stats.chip_links is not None:
            check_bandwidth(stats.chip_links, chip)
        for old in [o for o in net.body.block.ops if isinstance(o, map_d.RoutesOp)]:
            old.detach()
            old.erase()
        view = net_view(net)
        ax_offsets, ax_sources, ax_delays = axon_table(view, assignment(net, view)[0])
        sources, first = np.unique(stats.sources, return_index=True)
        i64t = IntegerType(64)
        routes = map_d.RoutesOp.build(
            properties={
                "entries": from_numpy(stats.entries, IntegerType(32)),
                "axon_offsets": from_numpy(ax_offsets, i64t),
                "axon_sources": from_numpy(ax_sources, i64t),
                "axon_delays": from_numpy(ax_delays, IntegerType(32)),
                "sources": from_numpy(sources, i64t),
                "dest_offsets": from_numpy(np.append(first, stats.dests.size).astype(np.int64), i64t),
                "dests": from_numpy(stats.dests, IntegerType(32)),
                "traffic": FloatAttr(round(stats.traffic, 6), Float64Type()),
                "hops": FloatAttr(round(stats.hops, 6), Float64Type()),
                "peak_link": FloatAttr(round(stats.peak_link, 6), Float64Type()),
                "links": IntegerAttr(stats.links, i64),
            }
        )
        net.body.block.insert_op_before(routes, net.body.block.last_op)


MAPPING = CrossbarMapping()
