"""partition-cores: assign every neuron to a core, honouring every hard limit.

Limits per core (from the chip): neurons, distinct input axons, synapse memory.
Every strategy ends in the same greedy filler, which opens a new core whenever
the next neuron would break a limit, so a partition never violates one.

* `sequential`: neurons in program order (the baseline).
* `metis`: pymetis splits the neuron graph (each source neuron linked to
  its targets, weighted by spike rate when the groups carry a `spike_rate`
  profile) into parts of about one core; METIS overfills parts, so each part is
  then re-packed by the filler (the repair step), part after part.

* `auto` (default): among the candidates that fit the mesh, the one with the least traffic, out of sequential and two METIS
  splits (about 90 % of a core per part, and as many parts as sequential needs cores; the
  second only up to 200k neurons).

The objective is inter-core spike traffic: each spike counts once per distinct
remote core that holds one of its targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp
from xdsl.passes import ModulePass

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import map as map_d
from nmc.dialects.core_ir import core_networks
from nmc.dialects.ir_arrays import from_numpy
from nmc.dialects.map_layout import NetView, group_rates, net_view, unique_pairs


def neuron_keys(view: NetView) -> tuple[np.ndarray, np.ndarray]:
    """CSR (indptr, keys) of the distinct axon keys each neuron reads."""
    if view.syn_post.size == 0:
        return np.zeros(view.n_neurons + 1, np.int64), np.zeros(0, np.int64)
    post, key = unique_pairs(view.syn_post, view.syn_key)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(post, minlength=view.n_neurons))])
    return indptr, key


def fill(order: np.ndarray, breaks: np.ndarray, view: NetView, chip: Chip) -> np.ndarray:
    """Greedy packing of neurons in `order` into cores; a new core also starts at every `breaks` position.

    Every limit grows with the prefix of neurons a core takes, so the greedy core is the longest
    prefix that fits; it is found by a binary search over prefix lengths (numpy, not one step per neuron).
    """
    c = chip.core
    n_max, a_max, s_max = c["neurons"], c["axons"], c["synapse_memory"]
    indptr, keys = neuron_keys(view)
    n = order.size
    lens = (indptr[order + 1] - indptr[order]).astype(np.int64)
    ocum = np.concatenate([[0], np.cumsum(lens)])
    gather = np.repeat(indptr[order] - ocum[:-1], lens) + np.arange(ocum[-1])
    okeys = keys[gather]
    syn = np.bincount(view.syn_post, minlength=view.n_neurons)[order]
    scum = np.concatenate([[0], np.cumsum(syn)])
    worst = int(np.argmax(np.maximum(lens - a_max, syn - s_max))) if n else 0
    if n and (lens[worst] > a_max or syn[worst] > s_max):
        raise NmcError(
            f"a neuron reads {int(lens[worst])} axons / {int(syn[worst])} synapses, more than one core holds "
            f"({a_max} / {s_max}): run decompose-fan-in first"
        )
    stops = np.append(np.unique(breaks[(breaks > 0) & (breaks < n)]), n)
    cores = np.empty(view.n_neurons, np.int64)

    def fits(pos: int, m: int) -> bool:
        if scum[pos + m] - scum[pos] > s_max:
            return False
        return np.unique(okeys[ocum[pos] : ocum[pos + m]]).size <= a_max

    pos, core_id = 0, 0
    while pos < n:
        limit = min(n_max, int(stops[np.searchsorted(stops, pos, side="right")]) - pos)
        if fits(pos, limit):
            m = limit
        else:
            lo, hi = 1, limit - 1  # lo always fits (checked above), limit does not
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if fits(pos, mid) else (lo, mid - 1)
            m = lo
        cores[order[pos : pos + m]] = core_id
        pos += m
        core_id += 1
    return cores


def metis_parts(view: NetView, chip: Chip, rates: np.ndarray | None, seed: int, parts: int | None = None) -> np.ndarray:
    """pymetis part of every neuron on the source-target graph (by default parts of about 90 % of a core)."""
    import pymetis

    n = view.n_neurons
    parts = parts or -(-n // max(1, int(chip.core["neurons"] * 0.9)))
    if parts <= 1 or view.syn_post.size == 0:
        return np.zeros(n, np.int64)
    owner = np.full(view.n_sources, -1, np.int64)
    owner[view.neuron_source] = np.arange(n)
    src_neuron = owner[view.syn_src]
    weight = np.ones(view.syn_src.size) if rates is None else rates[view.syn_src]
    # internal edges: source neuron -> target; host inputs: chain the targets of each input
    a, b, w = [src_neuron[src_neuron >= 0]], [view.syn_post[src_neuron >= 0]], [weight[src_neuron >= 0]]
    host = src_neuron < 0
    if host.any():
        order = np.lexsort((view.syn_post[host], view.syn_src[host]))
        s, t, ww = view.syn_src[host][order], view.syn_post[host][order], weight[host][order]
        same = s[1:] == s[:-1]
        a.append(t[:-1][same])
        b.append(t[1:][same])
        w.append(ww[1:][same])
    u, v, wt = np.concatenate(a), np.concatenate(b), np.concatenate(w)
    keep = u != v
    u, v, wt = u[keep], v[keep], wt[keep]
    from scipy import sparse

    m = sparse.coo_matrix((wt, (u, v)), shape=(n, n)).tocsr()
    m = (m + m.T).tocsr()
    m.sum_duplicates()
    scaled = np.maximum(1, np.rint(m.data * 100 / max(m.data.max(initial=1), 1e-12))).astype(np.int64)
    opts = pymetis.Options(seed=seed)
    adjacency = pymetis.CSRAdjacency(adj_starts=m.indptr, adjacent=m.indices)
    result = pymetis.part_graph(parts, adjacency, eweights=scaled, options=opts)
    return np.asarray(result.vertex_part, np.int64)


# Above this size `auto` runs METIS once (each run costs ~11 s per million neurons on 2 cores).
AUTO_SECOND_METIS_MAX = 200_000


def _repaired(parts: np.ndarray, view: NetView, chip: Chip) -> np.ndarray:
    order = np.lexsort((np.arange(view.n_neurons), parts))
    breaks = np.nonzero(np.diff(parts[order]))[0] + 1
    return fill(order, breaks, view, chip)


def partition(view: NetView, chip: Chip, strategy: str, rates: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Core of every neuron. `auto` keeps the best of sequential and METIS candidates (least traffic, then cores)."""
    from nmc.dialects.map_layout import traffic_pairs

    if strategy == "sequential":
        return fill(np.arange(view.n_neurons), np.zeros(0, np.int64), view, chip)
    if strategy == "metis":
        return _repaired(metis_parts(view, chip, rates, seed), view, chip)
    if strategy == "auto":
        sequential = fill(np.arange(view.n_neurons), np.zeros(0, np.int64), view, chip)
        n_seq = int(sequential.max(initial=-1)) + 1
        candidates = [sequential, _repaired(metis_parts(view, chip, rates, seed), view, chip)]
        if 1 < n_seq and view.n_neurons <= AUTO_SECOND_METIS_MAX:
            candidates.append(_repaired(metis_parts(view, chip, rates, seed, parts=n_seq), view, chip))

        def score(cores: np.ndarray) -> tuple[bool, float, int]:
            used = int(cores.max(initial=-1)) + 1
            return used > chip.cores, float(traffic_pairs(view, cores, rates)[2].sum()), used

        return min(candidates, key=score)  # candidates that fit the mesh first
    raise NmcError(f"partition-cores: unknown strategy '{strategy}' (expected auto, metis or sequential)")


@dataclass(frozen=True)
class PartitionCoresPass(ModulePass):
    """Assign neurons to cores (`strategy` = metis | sequential), adding one map.assign per group."""

    name = "partition-cores"
    strategy: str = "auto"
    seed: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for net in core_networks(op, "partition-cores"):
            chip = net.chip.data
            block = net.body.block
            for old in [o for o in block.ops if isinstance(o, map_d.AssignOp | map_d.MeshOp | map_d.RoutesOp)]:
                old.detach()
                old.erase()
            view = net_view(net)
            for g in view.groups:
                if not g.quantized:
                    raise NmcError(f"layer '{g.layer.data}': partition-cores needs integer groups: run reduce-precision first")
            # core ids follow the filler's order, so neighbouring parts get neighbouring ids (and serpentine places)
            cores = partition(view, chip, self.strategy, group_rates(view), self.seed)
            slots = _slots(cores)
            i32 = IntegerType(32)
            anchor = block.last_op
            for g in view.groups:
                off = view.neuron_offset[g]
                assign = map_d.AssignOp.build(
                    operands=[g.output],
                    properties={
                        "core": from_numpy(cores[off : off + g.size], i32),
                        "slot": from_numpy(slots[off : off + g.size], i32),
                    },
                )
                block.insert_op_before(assign, anchor)


def _slots(cores: np.ndarray) -> np.ndarray:
    order = np.argsort(cores, kind="stable")
    first = np.searchsorted(cores[order], cores[order], side="left")
    slots = np.empty_like(cores)
    slots[order] = np.arange(cores.size) - first
    return slots
