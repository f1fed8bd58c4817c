"""The crossbar kind's partition (partition-cores): assign every neuron to a core, honouring every hard limit.

Limits per core (from the chip): neurons, distinct input axons, synapse memory.
Every strategy ends in the same greedy filler, which opens a new core whenever
the next neuron would break a limit, so a partition never violates one.

* `sequential`: neurons in program order (the baseline).
* `metis`: pymetis splits the neuron graph (each source neuron linked to
  its targets, weighted by spike rate when the groups carry a `spike_rate`
  profile) into parts of about one core; METIS overfills parts, so each part is
  then re-packed by the filler (the repair step), part after part.

* `tiles`: each layer in window order (`middle_axon`) where that packs it into fewer cores
  than program order — a conv layer fills cores with tiles of positions x channels whose
  input windows overlap, so they share axons.
* `hypergraph`: mt-kahypar with every axon a net over its targets (connectivity - 1 = axon
  copies), re-packed by the filler.
* `auto` (default): the candidates that fit the mesh and use at most 10 % more cores than the
  fewest, the one with the least traffic; candidates: sequential, two METIS splits (about 90 % of
  a core per part, and as many parts as sequential needs cores; the second only up to 200k neurons;
  none when `tiles` beats sequential, nor above 200k neurons when sequential is within 5 % of the lower
  bound), `tiles`, and `hypergraph` (up to 10k neurons, when the best is over 1.5x the lower bound).

Traffic counts each spike once per distinct remote core that holds one of its targets.
`lower_bound` gives the cores no partition can go below (reported with the mapping).
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import IntegerType

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import core
from nmc.dialects import map as map_d
from nmc.dialects.ir_arrays import from_numpy
from nmc.dialects.map_layout import NetView, group_rates, net_view, traffic_pairs


def fill(order: np.ndarray, breaks: np.ndarray, view: NetView, chip: Chip) -> np.ndarray:
    """Greedy packing of neurons in `order` into cores; a new core also starts at every `breaks` position.

    Every limit grows with the prefix of neurons a core takes, so the greedy core is the longest
    prefix that fits; it is found by a binary search over prefix lengths (numpy, not one step per neuron).
    """
    c = chip.core
    n_max, a_max, s_max = c["neurons"], c["axons"], c["synapse_memory"]
    indptr, keys = view.neuron_keys
    n = order.size
    lens = (indptr[order + 1] - indptr[order]).astype(np.int64)
    ocum = np.concatenate([[0], np.cumsum(lens)])
    gather = np.repeat(indptr[order] - ocum[:-1], lens) + np.arange(ocum[-1])
    okeys = keys[gather]
    # previous[i]: where okeys[i] last occurred before i (-1: never), so a window's distinct count is one compare
    by_key = np.argsort(okeys, kind="stable")
    repeat = np.r_[False, okeys[by_key][1:] == okeys[by_key][:-1]][: okeys.size]  # (no synapse at all: empty)
    previous = np.full(okeys.size, -1, np.int64)
    previous[by_key[repeat]] = by_key[np.flatnonzero(repeat) - 1]
    syn = np.bincount(view.syn_post, minlength=view.n_neurons)[order]
    scum = np.concatenate([[0], np.cumsum(syn)])
    worst = int(np.argmax(np.maximum(lens - a_max, syn - s_max))) if n else 0
    if n and (lens[worst] > a_max or syn[worst] > s_max):
        raise NmcError(
            f"a neuron reads {int(lens[worst])} axons / {int(syn[worst])} synapses, more than one core holds "
            f"({a_max} / {s_max}): run decompose-fan-in first"
        )
    stops = np.append(np.unique(breaks[(breaks > 0) & (breaks < n)]), n)
    cores = np.full(view.n_neurons, -1, np.int64)  # (neurons outside `order` keep -1)

    def fits(pos: int, m: int) -> bool:
        if scum[pos + m] - scum[pos] > s_max:
            return False
        a, b = ocum[pos], ocum[pos + m]  # distinct axons in the window: keys not seen earlier in it
        return int(np.count_nonzero(previous[a:b] < a)) <= a_max

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
# Up to this size `auto` also tries the hypergraph partitioner (mt-kahypar), when installed: its deterministic
# preset (the only one that gives the same parts every run) took 13 s for 16k neurons in 164 parts.
AUTO_HYPERGRAPH_MAX = 10_000


def middle_axon(view: NetView) -> np.ndarray:
    """Per neuron, the median of the axon keys it reads (neurons without inputs: -1).

    A conv neuron reads a window across channels; the median of its inputs is near the window's
    centre in a middle channel, the same for all output channels at one position. Sorting a layer
    by it lists the neurons position by position, all channels of a position together, so
    neighbours read overlapping windows and share a core's axons (a residual neuron's one extra
    input does not move it). Partial-sum units of one input range sort the same way, and the
    neurons of a dense layer all tie (their order is kept).
    """
    indptr, keys = view.neuron_keys  # keys sorted within each neuron
    lens = np.diff(indptr)
    middle = np.full(view.n_neurons, -1, np.int64)
    has = lens > 0
    middle[has] = keys[indptr[:-1][has] + lens[has] // 2]
    return middle


def tiled_order(view: NetView, chip: Chip) -> np.ndarray:
    """Neuron order for the filler, chosen per layer: program order or by window position (`middle_axon`),
    whichever packs the layer into fewer cores (ties keep program order)."""
    middle = middle_axon(view)
    pieces = []
    for g in view.groups:
        off = view.neuron_offset[g]
        program = np.arange(off, off + g.size)
        by_window = program[np.lexsort((program, middle[program]))]
        if np.array_equal(by_window, program):
            pieces.append(program)
            continue
        used = [int(fill(o, np.zeros(0, np.int64), view, chip).max(initial=-1)) + 1 for o in (program, by_window)]
        pieces.append(by_window if used[1] < used[0] else program)
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def hypergraph_parts(view: NetView, parts: int, seed: int) -> np.ndarray | None:
    """mt-kahypar part of every neuron: each axon is a net over the neurons it feeds, minimising
    connectivity - 1 (the axon copies, i.e. packets, beyond the first). None when mt-kahypar is absent."""
    try:
        import mtkahypar
    except ImportError:
        return None
    n = view.n_neurons
    if parts <= 1 or view.syn_post.size == 0:
        return np.zeros(n, np.int64)
    key, post = view.axon_targets
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    nets = [p.tolist() for p in np.split(post, starts[1:]) if p.size > 1]
    if not nets:
        return None
    mtkahypar.set_seed(seed)
    init = _mtkahypar_init(mtkahypar)
    context = init.context_from_preset(mtkahypar.PresetType.DETERMINISTIC)
    context.set_partitioning_parameters(parts, 0.03, mtkahypar.Objective.KM1)
    context.logging = False
    hypergraph = init.create_hypergraph(context, n, len(nets), nets)
    result = hypergraph.partition(context)
    return np.asarray([result.block_id(v) for v in range(n)], np.int64)


_INIT: list = []


def _mtkahypar_init(mtkahypar):  # mt-kahypar may be initialised once per process
    if not _INIT:
        _INIT.append(mtkahypar.initialize(1, False))
    return _INIT[0]


def _repaired(parts: np.ndarray, view: NetView, chip: Chip) -> np.ndarray:
    order = np.lexsort((np.arange(view.n_neurons), parts))
    breaks = np.nonzero(np.diff(parts[order]))[0] + 1
    return fill(order, breaks, view, chip)


def partition(view: NetView, chip: Chip, strategy: str, rates: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Core of every neuron. `auto` keeps the best candidate (fits the mesh, fewest cores, least traffic)."""

    if strategy == "sequential":
        return fill(np.arange(view.n_neurons), np.zeros(0, np.int64), view, chip)
    if strategy == "metis":
        return _repaired(metis_parts(view, chip, rates, seed), view, chip)
    none = np.zeros(0, np.int64)
    if strategy == "tiles":
        return fill(tiled_order(view, chip), none, view, chip)
    if strategy == "hypergraph":
        tiles = fill(tiled_order(view, chip), none, view, chip)
        hyper = _hypergraph(view, chip, int(tiles.max(initial=-1)) + 1, seed)
        if hyper is None:
            raise NmcError("partition-cores: strategy 'hypergraph' needs mt-kahypar (pip install mtkahypar)")
        return hyper
    if strategy in ("auto", "auto-graph"):  # auto-graph: the candidates before axon-aware ones (benchmarks)
        sequential = fill(np.arange(view.n_neurons), none, view, chip)
        n_seq = int(sequential.max(initial=-1)) + 1
        candidates = [sequential]
        tiles = fill(tiled_order(view, chip), none, view, chip) if strategy == "auto" else sequential
        # METIS splits the neuron graph blind to shared axons; where window order already packs a layer into
        # fewer cores (conv layers) it does not win on cores, and on 3M synapses it costs 15 s
        # above AUTO_SECOND_METIS_MAX neurons, METIS is skipped where window order is already within 5 % of the
        # lower bound on cores: measured on the scale networks (100k, 1M neurons) its repaired parts took 2.1x the
        # cores (so the 10 % rule below drops it) at 9 s of the 15 s a 1M-neuron partition took
        near_bound = view.n_neurons > AUTO_SECOND_METIS_MAX and n_seq <= 1.05 * max(lower_bound(view, chip).values())
        if int(tiles.max(initial=-1)) + 1 >= n_seq and not near_bound:
            candidates.append(_repaired(metis_parts(view, chip, rates, seed), view, chip))
            if 1 < n_seq and view.n_neurons <= AUTO_SECOND_METIS_MAX:
                candidates.append(_repaired(metis_parts(view, chip, rates, seed, parts=n_seq), view, chip))
        if strategy == "auto":
            candidates.append(tiles)
            fewest = min(int(c.max(initial=-1)) + 1 for c in candidates)
            # the hypergraph partitioner costs seconds: only where the best so far leaves room above the bound
            if 1 < n_seq and view.n_neurons <= AUTO_HYPERGRAPH_MAX and fewest > 1.5 * max(lower_bound(view, chip).values()):
                hyper = _hypergraph(view, chip, fewest, seed)
                if hyper is not None:
                    candidates.append(hyper)

        def used(cores: np.ndarray) -> int:
            return int(cores.max(initial=-1)) + 1

        # fit the mesh first; then the least traffic among the candidates within 10 % of the fewest cores (cores
        # cost static power and area, so a partition that halves the traffic with twice the cores loses)
        fitting = [c for c in candidates if used(c) <= chip.cores] or candidates
        fewest = min(used(c) for c in fitting)
        # (auto-graph keeps the earlier rule, least traffic among all that fit, as the benchmarks' baseline)
        close = [c for c in fitting if used(c) <= 1.1 * fewest or strategy == "auto-graph"]
        return min(close, key=lambda c: (float(traffic_pairs(view, c, rates)[2].sum()), used(c)))
    raise NmcError(f"partition-cores: unknown strategy '{strategy}' (expected auto, tiles, hypergraph, metis or sequential)")


def lower_bound(view: NetView, chip: Chip) -> dict[str, int]:
    """Cores no partition of this core network can go below, per limit (each valid alone; the bound is their max).

    (nmc.conversion.stats.cores_lower_bound is the cheaper snn-level bound checked before lowering; this one
    counts the core network as decomposed, and axons.)

    neurons: all neurons / neurons per core. synapses: all synapses / synapse memory per core.
    axons: a source whose targets are more than one core holds needs an axon copy on at least
    ceil(targets / neurons per core) cores; all copies / axons per core.
    """
    c = chip.core
    key, _ = view.axon_targets
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.zeros(0, np.int64)
    targets = np.diff(np.r_[starts, key.size])
    copies = int(np.sum(-(-targets // c["neurons"])))
    return {
        "neurons": -(-view.n_neurons // c["neurons"]),
        "synapses": -(-int(view.syn_post.size) // c["synapse_memory"]),
        "axons": -(-copies // c["axons"]),
    }


def _hypergraph(view: NetView, chip: Chip, parts: int, seed: int) -> np.ndarray | None:
    """mt-kahypar parts, each listed by window position and packed by the filler (which splits overfull parts)."""
    parts_of = hypergraph_parts(view, parts, seed)
    if parts_of is None:
        return None
    order = np.lexsort((np.arange(view.n_neurons), middle_axon(view), parts_of))
    breaks = np.nonzero(np.diff(parts_of[order]))[0] + 1
    return fill(order, breaks, view, chip)


def _slots(cores: np.ndarray) -> np.ndarray:
    order = np.argsort(cores, kind="stable")
    first = np.searchsorted(cores[order], cores[order], side="left")
    slots = np.empty_like(cores)
    slots[order] = np.arange(cores.size) - first
    return slots


def partition_network(net: core.NetworkOp, strategy: str, seed: int) -> None:
    """Assign every neuron of a core.network to a (core, slot): one map.assign per group, replacing any mapping."""
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
    cores = partition(view, chip, strategy, group_rates(view), seed)
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
