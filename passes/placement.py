"""Mesh placement and XY routing as plain functions: serpentine order, seeded simulated annealing of
Σ traffic * hops (place-cores, for every core kind), and the load of every directed link (route)."""

from __future__ import annotations

import math

import numpy as np


def serpentine(width: int, height: int) -> np.ndarray:
    """Mesh positions (x, y) in boustrophedon order, so consecutive cores are neighbours."""
    pos = []
    for y in range(height):
        xs = range(width) if y % 2 == 0 else range(width - 1, -1, -1)
        pos.extend((x, y) for x in xs)
    return np.array(pos, np.int64)


def placement_cost(sym, x: np.ndarray, y: np.ndarray) -> float:
    coo = sym.tocoo()
    return float((coo.data * (np.abs(x[coo.row] - x[coo.col]) + np.abs(y[coo.row] - y[coo.col]))).sum()) / 2


def anneal(sym, slots_xy: np.ndarray, n_cores: int, iterations: int, seed: int) -> np.ndarray:
    """Assign cores to mesh slots (row index into slots_xy) by simulated annealing over swaps."""
    rng = np.random.default_rng(seed)
    n_slots = slots_xy.shape[0]
    where = np.arange(n_cores)  # slot of each core
    occupant = np.full(n_slots, -1, np.int64)
    occupant[:n_cores] = np.arange(n_cores)
    indptr, indices, data = sym.indptr, sym.indices, sym.data
    sx, sy = slots_xy[:, 0], slots_xy[:, 1]

    def pull(core: int, slot: int, other: int) -> float:
        nb, w = indices[indptr[core] : indptr[core + 1]], data[indptr[core] : indptr[core + 1]]
        keep = nb != other
        nb, w = nb[keep], w[keep]
        s = where[nb]
        return float((w * (np.abs(sx[s] - sx[slot]) + np.abs(sy[s] - sy[slot]))).sum())

    if n_cores < 2 or sym.nnz == 0:
        return where
    temperature = float(data.mean()) * 0.5
    cooling = (1e-3) ** (1 / max(iterations, 1))
    cost = best_cost = 0.0  # relative to the start
    best = where.copy()
    for _ in range(iterations):
        a = int(rng.integers(n_cores))
        slot_b = int(rng.integers(n_slots))
        slot_a = int(where[a])
        if slot_b == slot_a:
            continue
        b = int(occupant[slot_b])
        delta = pull(a, slot_b, b) - pull(a, slot_a, b)
        if b >= 0:
            delta += pull(b, slot_a, a) - pull(b, slot_b, a)
        if delta <= 0 or rng.random() < math.exp(-delta / max(temperature, 1e-12)):
            where[a], occupant[slot_b], occupant[slot_a] = slot_b, a, b
            if b >= 0:
                where[b] = slot_a
            cost += delta
            if cost < best_cost - 1e-9:
                best_cost, best = cost, where.copy()
        temperature *= cooling
    return best


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


def symmetric_traffic(n_cores: int, src: np.ndarray, dst: np.ndarray, w: np.ndarray):
    """The traffic between cores as a symmetric CSR matrix (each direction counted)."""
    from scipy import sparse

    t = sparse.coo_matrix((w, (src, dst)), shape=(n_cores, n_cores)).tocsr()
    return (t + t.T).tocsr()
