"""Boards of chips (docs/boards.md): two-level placement and the load of every chip-to-chip link.

A board's mesh is its grid of cores (every chip's mesh side by side), so partitioning, routing, the
binary and the simulator treat it as one system; what differs is where chips meet. Placement is two
levels: the partition's cores are first split into chips so that the packets crossing between chips
are fewest (candidates: METIS k-way on the core traffic graph repaired to the chip's core count,
contiguous runs of cores, the chips a boundary-blind placement uses; each refined by greedy moves and
swaps; the one that cuts least kept), the parts are laid on the board's grid by annealing the sum of
traffic x chip hops, and then each part's cores are annealed on its chip's mesh. Chip-to-chip links
join neighbouring chips; XY routes cross them in order, and each link's load is the packets per tick
of every route through it.
"""

from __future__ import annotations

import math

import numpy as np

from nmc.chips.description import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import map as map_d
from nmc.dialects.ir_arrays import to_numpy
from nmc.dialects.map_layout import assignment, group_rates, net_view, traffic_pairs
from nmc.passes.placement import anneal, link_loads, serpentine, symmetric_traffic


def _cut(sym, part: np.ndarray) -> float:
    coo = sym.tocoo()
    return float(coo.data[part[coo.row] != part[coo.col]].sum()) / 2


def _repair(sym, part: np.ndarray, parts: int, capacity: int) -> np.ndarray:
    """Move cores out of overfull parts (METIS's imbalance) into the part they talk to most that has room."""
    part = part.copy()
    sizes = np.bincount(part, minlength=parts)
    indptr, indices, data = sym.indptr, sym.indices, sym.data
    for p in np.argsort(-sizes, kind="stable"):
        while sizes[p] > capacity:
            members = np.flatnonzero(part == p)
            # the member least tied to its own part leaves first
            own = np.array(
                [data[indptr[c] : indptr[c + 1]][part[indices[indptr[c] : indptr[c + 1]]] == p].sum() for c in members]
            )
            core = int(members[np.argmin(own)])
            pull = np.zeros(parts)
            np.add.at(pull, part[indices[indptr[core] : indptr[core + 1]]], data[indptr[core] : indptr[core + 1]])
            pull[sizes >= capacity] = -np.inf
            target = int(np.argmax(pull))
            part[core], sizes[p], sizes[target] = target, sizes[p] - 1, sizes[target] + 1
    return part


def _refine(sym, part: np.ndarray, parts: int, capacity: int) -> np.ndarray:
    """Greedy Kernighan-Lin passes: move a core to the part it talks to most when that part has room, or swap it
    with that part's core least tied to its own, while the packets between parts drop."""
    part = part.copy()
    indptr, indices, data = sym.indptr, sym.indices, sym.data
    n = part.size

    def pull(core: int) -> np.ndarray:
        out = np.zeros(parts)
        np.add.at(out, part[indices[indptr[core] : indptr[core + 1]]], data[indptr[core] : indptr[core + 1]])
        return out

    for _ in range(8):
        improved = False
        sizes = np.bincount(part, minlength=parts)
        for a in range(n):
            pa = pull(a)
            own = part[a]
            gain = pa - pa[own]
            gain[own] = 0
            target = int(np.argmax(gain))
            if gain[target] <= 1e-12:
                continue
            if sizes[target] < capacity:
                part[a], sizes[own], sizes[target] = target, sizes[own] - 1, sizes[target] + 1
                improved = True
                continue
            members = np.flatnonzero(part == target)
            best, best_gain = -1, 1e-12
            for b in members:
                pb = pull(int(b))
                tie = float(data[indptr[a] : indptr[a + 1]][indices[indptr[a] : indptr[a + 1]] == b].sum())
                g = gain[target] + (pb[own] - pb[target]) - 2 * tie
                if g > best_gain:
                    best, best_gain = int(b), g
            if best >= 0:
                part[a], part[best] = target, own
                improved = True
        if not improved:
            break
    return part


def chip_parts(sym, n_cores: int, capacity: int, parts: int, seed: int, more: tuple = ()) -> np.ndarray:
    """The part (chip) of every core, fewest packets between parts: METIS's k-way split (repaired to the
    capacity), contiguous runs of cores and any `more` candidates, each refined, the best kept."""
    contiguous = np.arange(n_cores) // capacity
    if parts < 2 or sym.nnz == 0:
        return contiguous
    import pymetis

    csr = sym.tocsr()
    weights = np.maximum(1, np.round(csr.data * 1000 / max(csr.data.max(), 1e-12))).astype(np.int64)
    adjacency = pymetis.CSRAdjacency(csr.indptr.tolist(), csr.indices.tolist())
    _, membership = pymetis.part_graph(parts, adjacency, eweights=weights.tolist(), options=pymetis.Options(seed=seed))
    metis = _repair(sym, np.asarray(membership, np.int64), parts, capacity)
    candidates = [_refine(csr, p, parts, capacity) for p in (metis, contiguous, *more)]
    return min(candidates, key=lambda p: _cut(sym, p))


def board_placement(sym, chip: Chip, n_cores: int, iterations: int, seed: int) -> np.ndarray:
    """Mesh positions (x, y) of the cores on the board: parts into chips, parts onto the grid, cores onto chips.
    The chips of a placement that ignores boundaries (annealing on the board's mesh) are one more candidate split,
    so the chips-first placement never crosses chips more than it."""
    cw, ch = chip.chip_mesh
    capacity = cw * ch
    parts = math.ceil(n_cores / capacity)
    slots = serpentine(*chip.mesh)
    blind = slots[anneal(sym, slots, n_cores, iterations, seed)]
    used = np.unique(chip.chip_of(blind[:, 0], blind[:, 1]), return_inverse=True)[1]
    more = (used,) if used.max(initial=0) < parts else ()  # as many chips as the fewest needed
    part = chip_parts(sym, n_cores, capacity, parts, seed, more)
    # parts onto chip positions of the board's grid (annealing Σ traffic x chip hops)
    coo = sym.tocoo()
    part_traffic = symmetric_traffic(parts, part[coo.row], part[coo.col], coo.data / 2)
    grid = serpentine(chip.board["chips_x"], chip.board["chips_y"])
    spot = grid[anneal(part_traffic, grid, parts, iterations, seed)]
    xy = np.zeros((n_cores, 2), np.int64)
    block = serpentine(cw, ch)
    for p in range(parts):
        members = np.flatnonzero(part == p)
        inner = sym[members][:, members]
        where = anneal(inner.tocsr(), block, members.size, iterations, seed)
        xy[members] = block[where] + spot[p] * np.array([cw, ch])
    return xy


def chip_link_loads(x1, y1, x2, y2, w, chip: Chip) -> dict[str, np.ndarray]:
    """Packets per tick on every directed chip-to-chip link under XY routing, over the board's chip grid:
    east[j, i] from chip (i, j) to (i + 1, j), west[j, i] back; north[j, i] from (i, j) to (i, j + 1), south back."""
    loads = link_loads(x1, y1, x2, y2, w, *chip.mesh)  # [direction, y, x]: the mesh link from x (or y) onward
    cw, ch = chip.chip_mesh
    gx, gy = chip.board["chips_x"], chip.board["chips_y"]
    cols = np.arange(cw - 1, chip.mesh[0] - 1, cw)  # mesh links between column c and c + 1 that leave a chip
    rows = np.arange(ch - 1, chip.mesh[1] - 1, ch)
    out = {}
    for k, name in ((0, "east"), (1, "west")):
        out[name] = loads[k][:, cols].reshape(gy, ch, gx - 1).sum(axis=1)
    for k, name in ((2, "north"), (3, "south")):
        out[name] = loads[k][rows, :].reshape(gy - 1, gx, cw).sum(axis=2)
    return out


def chip_hops(x1, y1, x2, y2, chip: Chip) -> np.ndarray:
    """Chip-to-chip links an XY route from core (x1, y1) to (x2, y2) crosses."""
    cw, ch = chip.chip_mesh
    return np.abs(x1 // cw - x2 // cw) + np.abs(y1 // ch - y2 // ch)


def inter_chip_packets(x1, y1, x2, y2, w, chip: Chip) -> float:
    """Packets per tick summed over chip-to-chip links (a packet crossing two links counts twice)."""
    return float((w * chip_hops(x1, y1, x2, y2, chip)).sum())


DIRECTIONS = {"east": (1, 0), "west": (-1, 0), "north": (0, 1), "south": (0, -1)}


def link_list(loads: dict[str, np.ndarray]) -> list[dict]:
    """Every chip-to-chip link with its load: {'from': [i, j], 'to': [i, j], 'packets_per_tick': p}."""
    out = []
    for name, arr in loads.items():
        dx, dy = DIRECTIONS[name]
        for (j, i), packets in np.ndenumerate(arr):
            a = (i, j) if name in ("east", "north") else (i + (dx < 0), j + (dy < 0))
            b = (a[0] + dx, a[1] + dy)
            out.append({"from": list(map(int, a)), "to": list(map(int, b)), "packets_per_tick": round(float(packets), 6)})
    return sorted(out, key=lambda e: (e["from"], e["to"]))


def check_bandwidth(loads: dict[str, np.ndarray], chip: Chip) -> None:
    """Refuse a mapping whose busiest chip-to-chip link carries more packets per tick than the board allows."""
    links = link_list(loads)
    if not links:
        return
    worst = max(links, key=lambda e: e["packets_per_tick"])
    limit = chip.board["link_bandwidth"]
    if worst["packets_per_tick"] > limit:
        raise NmcError(
            f"the chip-to-chip link from chip {tuple(worst['from'])} to chip {tuple(worst['to'])} of board '{chip.name}' "
            f"carries {worst['packets_per_tick']:g} packets per tick, the board allows {limit} (board.link_bandwidth): "
            "use a board with faster links, fewer chips' worth of traffic (a smaller network), or a larger chip"
        )


def board_report(net, chip: Chip, lower_bound_cores: int, iterations: int = 20000, seed: int = 0) -> dict:
    """report.json's `mapping.board`: chips used and their lower bound, every chip-to-chip link's load against the
    board's bandwidth, and the packets crossing chips beside those of a placement that ignores chip boundaries
    (place-cores' single-mesh annealing on the same cores), computed here in the same run."""
    view = net_view(net)
    cores, _ = assignment(net, view)
    n_cores = int(cores.max(initial=-1)) + 1
    src, dst, w = traffic_pairs(view, cores, group_rates(view))
    mesh = next(op for op in net.body.block.ops if isinstance(op, map_d.MeshOp))
    xy = np.stack([to_numpy(mesh.x), to_numpy(mesh.y)], axis=1).astype(np.int64)
    slots = serpentine(*chip.mesh)
    ignoring = slots[anneal(symmetric_traffic(n_cores, src, dst, w), slots, n_cores, iterations, seed)]
    ends = (xy[src, 0], xy[src, 1], xy[dst, 0], xy[dst, 1])
    hops = chip_hops(*ends, chip)
    placed = float((w * hops).sum())  # inter_chip_packets of the placement
    blind = inter_chip_packets(ignoring[src, 0], ignoring[src, 1], ignoring[dst, 0], ignoring[dst, 1], w, chip)
    links = link_list(chip_link_loads(*ends, w, chip))
    cw, ch = chip.chip_mesh
    b = chip.board
    return {
        "chips": chip.chips,
        "grid": [b["chips_x"], b["chips_y"]],
        "chip_mesh": list(chip.chip_mesh),
        "chips_used": int(np.unique(chip.chip_of(xy[:, 0], xy[:, 1])).size),
        "chips_lower_bound": math.ceil(lower_bound_cores / (cw * ch)),
        "inter_chip_packets_per_tick": round(placed, 6),
        "inter_chip_packets_ignoring_chips": round(blind, 6),
        "reduction": round(blind / placed, 3) if placed else None,
        "links": links,
        "peak_link_load": max((e["packets_per_tick"] for e in links), default=0.0),
        "link_bandwidth": b["link_bandwidth"],
        "tick_extra_cycles": int(hops.max(initial=0)) * b["link_latency_cycles"],
        "link_energy_pj_per_tick": round(placed * b["link_energy_pj"], 3),
    }
