"""decompose-fan-in: give every neuron at most `max-fan-in` synapses.

On a chip with partial-sum units a group whose widest neuron has too many
inputs becomes a tree: partial-sum groups each add up at most `max-fan-in`
inputs and forward the sum, and the neuron adds those sums with weight 1.
Integer and float sums are exact, and every neuron of the group goes through
the same number of levels, so the output spikes are the same, later by that
many ticks (`rebalance` records it in delays and decoder latencies).

Without partial sums the pass refuses, unless `approximate=true`: then each
chunk feeds a pair of spiking relays (positive and negative part, threshold =
the neuron's threshold) whose spikes the neuron weighs by ±threshold. That is
an approximation; nmc-compile measures and reports its spike agreement.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass

from nmc.chips.errors import NmcError
from nmc.dialects import core
from nmc.dialects.core_ir import Group, build_neurons, core_networks, psum_group, read_group, rebalance, replace_group


def input_ranges(pre: np.ndarray, post: np.ndarray, fan_in: int, size: int) -> np.ndarray | None:
    """Cut the input index space into as few ranges as leave every neuron <= `fan_in` synapses in each.

    With k ranges a neuron needs at most k partial-sum units, and k starts at the lower bound
    ceil(widest fan-in / fan_in). Boundaries are quantiles of the synapses' input indices, so each
    range carries about the same load; on a conv layer whose input is channel-major they fall on
    channel boundaries when k divides the channels, and the units of neighbouring output neurons
    read the same channels of overlapping windows (they share a core's axons). None when no k up
    to 4x the bound works (very uneven neurons): the caller then splits each neuron on its own.
    """
    widest = int(np.bincount(post, minlength=size).max(initial=0))
    first = -(-widest // fan_in)
    for k in range(first, 4 * first + 1):
        bounds = np.unique(np.quantile(pre, np.arange(1, k) / k, method="higher").astype(np.int64))
        chunk = np.searchsorted(bounds, pre, side="right")
        load = np.bincount(post * (bounds.size + 1) + chunk, minlength=size * (bounds.size + 1))
        if load.max(initial=0) <= fan_in:
            return chunk
    return None


def _chunks(
    pre: np.ndarray, post: np.ndarray, fan_in: int, by_chunk_first: bool, packing: str = "ranges"
) -> tuple[np.ndarray, int]:
    """Index of the unit each synapse goes to, at most `fan_in` synapses per unit.

    First level: one unit per (input range, neuron), ordered by range so that units sharing
    inputs sit together (they can share a core's axons); `packing="ranges"` takes the fewest
    balanced ranges (`input_ranges`), `"blocks"` fixed ranges of `fan_in` input indices (one unit
    per block a neuron touches: a conv neuron then gets one per input channel). Later levels:
    consecutive runs of `fan_in` synapses of each neuron.
    """
    chunk = None
    if by_chunk_first:
        size = int(post.max(initial=-1)) + 1
        chunk = input_ranges(pre, post, fan_in, size) if packing == "ranges" else pre // fan_in
    if chunk is None:
        order = np.lexsort((pre, post))
        starts = np.searchsorted(post[order], post[order], side="left")
        rank = np.empty_like(pre)
        rank[order] = np.arange(pre.size) - starts
        chunk = rank // fan_in
    major, minor = (chunk, post) if by_chunk_first else (post, chunk)
    # units numbered in sorted (major, minor) order, as np.unique(axis=1) would, by one 1-D sort of
    # packed keys (the axis=1 unique took half a second on a 784x512 layer)
    packed = major.astype(np.int64) * (int(minor.max(initial=0)) + 1) + minor
    order = np.argsort(packed, kind="stable")
    first = np.ones(packed.size, bool)
    first[1:] = packed[order[1:]] != packed[order[:-1]]
    unit = np.empty(packed.size, np.int64)
    unit[order] = np.cumsum(first) - 1
    return unit, int(unit.max(initial=-1)) + 1


def partial_sum_tree(g: Group, fan_in: int, packing: str = "ranges") -> list[Group]:
    """The partial-sum groups and the rewired neuron group, in dependency order."""
    out: list[Group] = []
    inputs, pre, weight = g.inputs, g.pre, g.weight
    lags = g.lags  # the model's own delays stay on the reads of the original inputs (the first level)
    level = 0
    while True:
        unit, n_units = _chunks(pre, g.post, fan_in, by_chunk_first=level == 0, packing=packing)
        level += 1
        unit_post = np.zeros(n_units, np.int64)
        unit_post[unit] = g.post
        psum = replace(psum_group(f"{g.layer}/psum{level}", inputs, n_units, pre, unit, weight, g.integer), lags=lags)
        out.append(psum)
        inputs, pre, lags = [psum], np.arange(n_units, dtype=np.int64), None
        weight = np.ones(n_units, weight.dtype)
        g = replace(g, post=unit_post)
        if np.bincount(unit_post, minlength=g.size).max(initial=0) <= fan_in:
            break
    out.append(replace(g, inputs=inputs, pre=pre, weight=weight, lags=None))
    return out


def _operands_synapses(pre: np.ndarray, offsets: list[int], operands: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The synapses that read `operands`, and their indices with those operands laid end to end from 0."""
    mask, moved, start = np.zeros(pre.size, bool), np.zeros(pre.size, np.int64), 0
    for i in operands:
        sel = (pre >= offsets[i]) & (pre < offsets[i + 1])
        mask |= sel
        moved[sel] = pre[sel] - offsets[i] + start
        start += offsets[i + 1] - offsets[i]
    return mask, moved


def recurrent_tree(g: Group, loops: list[int], fan_in: int, packing: str, partial_sums: bool) -> list[Group]:
    """A recurrent group's tree: its loop synapses stay on the neuron (a loop through a partial-sum unit would take two
    ticks per turn where the model waits one), the rest go through partial sums into the room they leave."""
    where = f"layer '{g.layer}'"
    offsets = g.offsets()
    in_loop, loop_pre = _operands_synapses(g.pre, offsets, loops)
    loop_fan_in = np.bincount(g.post[in_loop], minlength=g.size)
    room = fan_in - int(loop_fan_in.max(initial=0))
    if room < 1:
        raise NmcError(f"{where}: its recurrent synapses alone give a neuron {int(loop_fan_in.max())} inputs, max_fan_in is "
                       f"{fan_in}: a loop must close in one tick, so they cannot go through partial sums; use fewer "
                       "recurrent connections per neuron (a sparser or smaller recurrent layer) or a chip with a larger "
                       "max_fan_in")  # fmt: skip
    if not partial_sums:
        raise NmcError(f"{where}: fan-in {int(g.fan_in().max())} exceeds max_fan_in {fan_in} and the chip has no "
                       "partial-sum units; a recurrent layer cannot use the relay approximation (its loop must close "
                       "in one tick)")  # fmt: skip
    keep = [i for i in range(len(g.inputs)) if i not in loops]
    fwd, fwd_pre = _operands_synapses(g.pre, offsets, keep)
    lags = [g.lags[i] for i in keep] if g.lags is not None else None
    forward = replace(g, inputs=[g.inputs[i] for i in keep], pre=fwd_pre[fwd], post=g.post[fwd], weight=g.weight[fwd],
                      lags=lags)  # fmt: skip
    tree = partial_sum_tree(forward, min(fan_in, room), packing)
    root = tree[-1]
    # the root reads its partial sums, then the loop inputs unchanged, after them
    width = sum(core.size_of(v.type) if not isinstance(v, Group) else v.size for v in root.inputs)
    root_lags = [0] * len(root.inputs) + [g.lags[i] if g.lags is not None else 0 for i in loops]
    tree[-1] = replace(root, inputs=[*root.inputs, *(g.inputs[i] for i in loops)],
                       pre=np.concatenate([root.pre, loop_pre[in_loop] + width]),
                       post=np.concatenate([root.post, g.post[in_loop]]),
                       weight=np.concatenate([root.weight, g.weight[in_loop]]), lags=root_lags)  # fmt: skip
    return tree


def relay_approximation(g: Group, fan_in: int) -> list[Group]:
    """Spiking relays per (neuron, sign, run of `fan_in` synapses), weighed by ±threshold at the neuron.

    A relay sees only excitatory or only inhibitory inputs (as magnitudes), so its membrane
    tracks that part of the neuron's input and each of its spikes carries one threshold of it.
    """
    negative = (g.weight < 0).astype(np.int64)
    key = g.post * 2 + negative
    order = np.lexsort((g.pre, key))
    first = np.searchsorted(key[order], key[order], side="left")
    rank = np.empty_like(g.pre)
    rank[order] = np.arange(g.pre.size) - first
    _, unit = np.unique(np.stack([g.post, negative, rank // fan_in]), axis=1, return_inverse=True)
    unit = unit.ravel()
    n = int(unit.max(initial=-1)) + 1
    unit_post = np.zeros(n, np.int64)
    unit_post[unit] = g.post
    unit_sign = np.ones(n, g.weight.dtype)
    unit_sign[unit[negative == 1]] = -1
    theta = g.threshold[unit_post]
    zeros = np.zeros(n, g.weight.dtype)
    relays = Group(
        f"{g.layer}/relay",
        "spike",
        g.inputs,
        n,
        g.pre,
        unit,
        np.abs(g.weight),
        theta,
        zeros,
        zeros,
        reset="subtract",
        compare="ge",
        beta=None if g.integer else 1.0,
        decay_shift=0 if g.integer else None,
        attributes={"approximation": StringAttr("relay")},
        lags=g.lags,
    )
    neuron = replace(g, inputs=[relays], pre=np.arange(n, dtype=np.int64), post=unit_post, weight=theta * unit_sign, lags=None)
    return [relays, neuron]


@dataclass(frozen=True)
class DecomposeFanInPass(ModulePass):
    """Split neurons with more than `max_fan_in` inputs (default: the chip's core.max_fan_in)."""

    name = "decompose-fan-in"
    max_fan_in: int | None = None
    approximate: bool = False
    packing: str = "ranges"  # or "blocks": fixed input blocks of max-fan-in indices (the earlier scheme)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if self.packing not in ("ranges", "blocks"):
            raise NmcError(f"decompose-fan-in: packing must be 'ranges' or 'blocks', got {self.packing!r}")
        for net in core_networks(op, "decompose-fan-in"):
            chip = net.chip.data
            fan_in = self.max_fan_in or chip.core["max_fan_in"]
            if fan_in < 2:
                raise NmcError(f"decompose-fan-in: max-fan-in must be at least 2, got {fan_in}")
            block = net.body.block
            changed = False
            work = [o for o in block.ops if isinstance(o, core.NeuronsOp)]
            while work:
                group_op = work.pop(0)
                g = read_group(group_op)
                widest = int(g.fan_in().max(initial=0))
                if widest <= fan_in:
                    continue
                loops = core.back_edges(group_op)
                if loops:  # a recurrent group: its loop closes in one tick only if it reads itself directly
                    parts = recurrent_tree(g, loops, fan_in, self.packing, chip.core["partial_sums"])
                elif chip.core["partial_sums"]:
                    parts = partial_sum_tree(g, fan_in, self.packing)
                elif self.approximate:
                    parts = relay_approximation(g, fan_in)
                else:
                    raise NmcError(
                        f"layer '{g.layer}': fan-in {widest} exceeds max_fan_in {fan_in} and chip '{chip.name}' has no "
                        "partial-sum units; allow the relay approximation with decompose-fan-in{approximate=true} "
                        "(nmc-compile --approximate-fan-in)"
                    )
                if int(np.bincount(parts[-1].post, minlength=g.size).max(initial=0)) >= widest:
                    raise NmcError(f"layer '{g.layer}': max-fan-in {fan_in} is too small for the relay approximation")
                new_ops = build_parts(parts)
                replace_group(group_op, new_ops)
                work.insert(0, new_ops[-1])  # relays may leave the neuron itself too wide: another level
                changed = True
            if changed:
                rebalance(block)


def build_parts(parts: list[Group]) -> list[core.NeuronsOp]:
    """Build groups in order; an input that is a `Group` of the same list reads that group's op."""
    built: dict[int, core.NeuronsOp] = {}
    ops = []
    for part in parts:
        inputs = [built[id(v)].output if isinstance(v, Group) else v for v in part.inputs]
        op = build_neurons(replace(part, inputs=inputs))
        built[id(part)] = op
        ops.append(op)
    return ops
