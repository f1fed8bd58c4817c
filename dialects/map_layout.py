"""The mapping model shared by the mapping passes, the `map` verifiers, the binary writer and reports.

Sources: every host input and every group of a core network, in block order, each a
range of the global source index space. Neurons: every group neuron, numbered
globally in block order. An axon of a core is one distinct (source index, delay)
pair that some synapse of a neuron on that core reads.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from xdsl.ir import SSAValue

from nmc.chips import Chip
from nmc.dialects import core
from nmc.dialects.core_ir import read_group
from nmc.dialects.ir_arrays import to_numpy


def unique_pairs(a: np.ndarray, b: np.ndarray, return_inverse: bool = False):
    """Sorted distinct (a, b) pairs of non-negative ints as two arrays (1-D sort: much faster than axis=1)."""
    span = int(b.max(initial=0)) + 1
    packed = a.astype(np.int64) * span + b
    if return_inverse:
        values, inverse = np.unique(packed, return_inverse=True)
        return values // span, values % span, inverse.ravel()
    # an explicit sort: numpy 2's hash-based np.unique is ~10x slower on tens of millions of int64 keys
    packed.sort()
    values = packed[np.concatenate([[True], packed[1:] != packed[:-1]])] if packed.size else packed
    return values // span, values % span


@dataclass
class NetView:
    """Arrays describing a core network's connectivity, independent of any mapping."""

    groups: list[core.NeuronsOp]
    sources: list[SSAValue]
    source_offset: dict[SSAValue, int]
    neuron_offset: dict[core.NeuronsOp, int]
    n_neurons: int
    n_sources: int
    # one entry per synapse, over all groups
    syn_post: np.ndarray  # global neuron index
    syn_key: np.ndarray  # global source index * 256 + delay
    syn_src: np.ndarray  # global source index
    syn_weight: np.ndarray
    neuron_source: np.ndarray  # global source index of each neuron's own output (its group's range)

    @cached_property
    def neuron_keys(self) -> tuple[np.ndarray, np.ndarray]:
        """CSR (indptr, keys) of the distinct axon keys each neuron reads, keys sorted per neuron."""
        if self.syn_post.size == 0:
            return np.zeros(self.n_neurons + 1, np.int64), np.zeros(0, np.int64)
        post, key = unique_pairs(self.syn_post, self.syn_key)
        return np.concatenate([[0], np.cumsum(np.bincount(post, minlength=self.n_neurons))]), key

    @cached_property
    def axon_targets(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct (axon key, target neuron) pairs, sorted by key: each axon's fan-out."""
        return unique_pairs(self.syn_key, self.syn_post)


# One view per network for as long as its groups stay as they are: partition, place, route, the map
# verifier, the binary writer and the report all read the same connectivity (mapping ops do not change it).
_VIEWS: weakref.WeakKeyDictionary[core.NetworkOp, tuple[tuple[Any, ...], NetView]] = weakref.WeakKeyDictionary()


def _connectivity_key(net: core.NetworkOp) -> tuple[Any, ...]:
    """What a view is computed from: the group and input ops, their operands and their synapse/delay attributes
    (xDSL attributes are immutable, so a pass that changes a group replaces these objects)."""
    key: list[Any] = []
    for op in net.body.block.ops:
        if isinstance(op, core.NeuronsOp):
            key += [op, *op.operands, *(op.properties.get(k) for k in ("pre", "post", "weight", "delays"))]
        elif isinstance(op, core.InputOp):
            key.append(op)
    return tuple(key)


def net_view(net: core.NetworkOp) -> NetView:
    """The network's connectivity arrays, built once per state of its groups (see _VIEWS)."""
    key = _connectivity_key(net)
    cached = _VIEWS.get(net)
    if cached is not None and len(cached[0]) == len(key) and all(a is b for a, b in zip(cached[0], key, strict=True)):
        return cached[1]
    view = _build_view(net)
    _VIEWS[net] = (key, view)
    return view


def _build_view(net: core.NetworkOp) -> NetView:

    groups = [op for op in net.body.block.ops if isinstance(op, core.NeuronsOp)]
    sources = [op.output for op in net.body.block.ops if isinstance(op, core.InputOp | core.NeuronsOp)]
    source_offset, total = {}, 0
    for v in sources:
        source_offset[v] = total
        total += core.size_of(v.type)
    neuron_offset, n = {}, 0
    for g in groups:
        neuron_offset[g] = n
        n += g.size
    posts, keys, srcs, weights = [], [], [], []
    for op in groups:
        g = read_group(op)
        offsets = g.offsets()
        operand = np.searchsorted(offsets, g.pre, side="right") - 1
        base = np.array([source_offset[v] - offsets[k] for k, v in enumerate(g.inputs)], np.int64)
        delay = np.array(list(op.delays.get_values()), np.int64)
        src = g.pre + base[operand]
        posts.append(g.post + neuron_offset[op])
        srcs.append(src)
        keys.append(src * 256 + delay[operand])
        weights.append(g.weight)
    neuron_source = np.concatenate([np.arange(g.size) + source_offset[g.output] for g in groups]) if groups else np.zeros(0)
    cat = lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt)  # noqa: E731
    return NetView(
        groups,
        sources,
        source_offset,
        neuron_offset,
        n,
        total,
        cat(posts, np.int64),
        cat(keys, np.int64),
        cat(srcs, np.int64),
        cat(weights, np.float64),
        neuron_source.astype(np.int64),
    )


def assignment(net: core.NetworkOp, view: NetView) -> tuple[np.ndarray, np.ndarray] | None:
    """Global (core, slot) arrays from the network's `map.assign` ops, or None if unmapped.

    Ops are matched by name: the map dialect's verifier calls into this module, so this module
    does not import the dialect (no import cycle)."""
    cores = np.full(view.n_neurons, -1, np.int64)
    slots = np.full(view.n_neurons, -1, np.int64)
    found = False
    for op in net.body.block.ops:
        if op.name == "map.assign" and isinstance(group := op.operands[0].owner, core.NeuronsOp):
            off = view.neuron_offset[group]
            n = group.size
            cores[off : off + n] = to_numpy(op.properties["core"])  # type: ignore[arg-type]
            slots[off : off + n] = to_numpy(op.properties["slot"])  # type: ignore[arg-type]
            found = True
    return (cores, slots) if found else None


def core_loads(view: NetView, cores: np.ndarray, n_cores: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neurons, distinct axons and synapses per core (kept on the view for its last assignment: the map
    verifier runs after every pass and the report reads them again; the axon count sorts every synapse)."""
    import hashlib

    key = (n_cores, hashlib.blake2b(np.ascontiguousarray(cores).tobytes(), digest_size=16).digest())
    cached = view.__dict__.get("_loads")
    if cached is not None and cached[0] == key:
        return cached[1]
    loads = _core_loads(view, cores, n_cores)
    view.__dict__["_loads"] = (key, loads)
    return loads


def _core_loads(view: NetView, cores: np.ndarray, n_cores: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    neurons = np.bincount(cores, minlength=n_cores)
    syn_core = cores[view.syn_post]
    synapses = np.bincount(syn_core, minlength=n_cores)
    axon_core, _ = unique_pairs(syn_core, view.syn_key)
    axons = np.bincount(axon_core, minlength=n_cores)
    return neurons, axons, synapses


def check_mapping(net: core.NetworkOp, chip: Chip | None = None) -> list[str]:
    """Every way the mapping breaks the chip: capacities per core, slots, coordinates (map ops by name, as in
    `assignment`)."""
    chip = chip or net.chip.data
    view = net_view(net)
    assigned = assignment(net, view)
    if assigned is None:
        return ["no map.assign ops: run partition-cores"]
    cores, slots = assigned
    problems = []
    if (cores < 0).any():
        problems.append(f"{int((cores < 0).sum())} neurons have no core")
        return problems
    mesh = next((op for op in net.body.block.ops if op.name == "map.mesh"), None)
    n_cores = int(cores.max(initial=-1)) + 1
    c = chip.core
    if (slots < 0).any() or (slots >= c["neurons"]).any():
        problems.append(f"slot {int(slots.max())} outside the {c['neurons']} neurons of a core")
    if np.unique(cores * c["neurons"] + slots).size != cores.size:
        problems.append("two neurons share a (core, slot)")
    neurons, axons, synapses = core_loads(view, cores, n_cores)
    for what, load, limit in (
        ("neurons", neurons, c["neurons"]),
        ("axons", axons, c["axons"]),
        ("synapses", synapses, c["synapse_memory"]),
    ):
        over = np.nonzero(load > limit)[0]
        if over.size:
            problems.append(f"core {int(over[0])} holds {int(load[over[0]])} {what}, limit {limit} ({over.size} cores over)")
    if mesh is not None:
        x = to_numpy(mesh.properties["x"]).astype(np.int64)  # type: ignore[arg-type]
        y = to_numpy(mesh.properties["y"]).astype(np.int64)  # type: ignore[arg-type]
        if x.size != n_cores:
            problems.append(f"{x.size} core coordinates for {n_cores} cores")
        elif ((x < 0) | (x >= chip.mesh[0]) | (y < 0) | (y >= chip.mesh[1])).any():
            bad = int(np.nonzero((x < 0) | (x >= chip.mesh[0]) | (y < 0) | (y >= chip.mesh[1]))[0][0])
            problems.append(f"core {bad} at ({int(x[bad])}, {int(y[bad])}) is outside the {chip.mesh[0]}x{chip.mesh[1]} mesh")
        elif np.unique(x * chip.mesh[1] + y).size != x.size:
            problems.append("two cores share a mesh position")
    return problems


def destinations(view: NetView, cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (source index, destination core) pairs: where each source's packets must go."""
    if view.syn_src.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return unique_pairs(view.syn_src, cores[view.syn_post])


def source_cores(view: NetView, cores: np.ndarray) -> np.ndarray:
    """Core of each source index; -1 for host inputs."""
    out = np.full(view.n_sources, -1, np.int64)
    out[view.neuron_source] = cores
    return out


def remote_destinations(view: NetView, cores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one routing rule: (source index, its home core, destination core) for every distinct pair where a
    neuron's spikes must leave its core (a target on another core; host inputs are injected, not routed),
    sorted by source then destination."""
    src, dst = destinations(view, cores)
    home = source_cores(view, cores)[src]
    remote = (home >= 0) & (home != dst)
    return src[remote], home[remote], dst[remote]


def axon_table(view: NetView, cores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-core axon tables: CSR offsets over cores, and each axon's (source index, delay), sorted per core."""
    n_cores = int(cores.max(initial=-1)) + 1
    ax_core, ax_key = unique_pairs(cores[view.syn_post], view.syn_key) if view.syn_post.size else (np.zeros(0, np.int64),) * 2
    offsets = np.concatenate([[0], np.cumsum(np.bincount(ax_core, minlength=n_cores))]).astype(np.int64)
    return offsets, ax_key // 256, ax_key % 256


def traffic_pairs(view: NetView, cores: np.ndarray, rates: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source core, destination core, packets per tick) over remote pairs; one packet per spike per remote core."""
    src, home, dst = remote_destinations(view, cores)
    weight = np.ones(src.size) if rates is None else rates[src]
    return home, dst, weight


def group_rates(view: NetView) -> np.ndarray | None:
    """Spike rate per source from `spike_rate` attributes of the groups (a profiling run), if all have one."""
    rates = np.ones(view.n_sources)
    found = False
    for g in view.groups:
        attr = g.attributes.get("spike_rate")
        if attr is not None:
            off = view.source_offset[g.output]
            rates[off : off + g.size] = to_numpy(attr)
            found = True
    return rates if found else None
