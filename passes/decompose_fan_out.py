"""decompose-fan-out: give every neuron at most `max-fan-out` outgoing synapses.

A source (a group or a host input) with a neuron over the limit is copied by R
relay groups, R = ceil(widest fan-out / limit); each synapse leaving a neuron
is handed to one of its R relays in turn. A spiking relay is an IF neuron with
weight 1, threshold 1 and reset to zero (it repeats its input one tick later);
graded sources use partial-sum relays. Exact, one tick later on every path
out of the source (`rebalance` records it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Block, SSAValue
from xdsl.passes import ModulePass

from nmc.chips.errors import NmcError
from nmc.dialects import core
from nmc.dialects.core_ir import build_neurons, core_networks, fan_out, read_group, rebalance, relay_group, replace_group


def _source_name(value: SSAValue) -> str:
    owner = value.owner
    return owner.layer.data if isinstance(owner, core.NeuronsOp) else (value.name_hint or "input")


def _loop_fan_out(value: SSAValue) -> tuple[np.ndarray, set[int]]:
    """The synapses per neuron of `value` on loops (a recurrent group reading itself), and the ids of those users."""
    n = core.size_of(value.type)
    total, users = np.zeros(n, np.int64), set()
    for use in value.uses:
        user = use.operation
        if isinstance(user, core.NeuronsOp) and use.index in core.back_edges(user):
            g = read_group(user)
            off = g.offsets()[use.index]
            sel = (g.pre >= off) & (g.pre < off + n)
            total += np.bincount(g.pre[sel] - off, minlength=n)
            users.add(id(user))
    return total, users


def _split(value: SSAValue, limit: int, chip_name: str, psums: bool, block: Block) -> None:
    # a loop (a recurrent group reading itself) keeps its direct synapses: through a relay it would take two ticks
    # per turn where the model waits one; the relays share what room the loop leaves
    loop, loop_users = _loop_fan_out(value)
    room = limit - int(loop.max(initial=0))
    widest = int((fan_out(value) - loop).max(initial=0))
    if room < 1:
        raise NmcError(f"layer '{_source_name(value)}': its recurrent synapses alone give a neuron fan-out "
                       f"{int(loop.max())}, max_fan_out is {limit}: a loop must close in one tick, so they cannot go "
                       "through relays; use a sparser recurrent layer or a chip with a larger max_fan_out")  # fmt: skip
    copies = min(-(-widest // limit), room)  # more than `room` copies: a tree, one level per pass round
    graded = isinstance(value.type, core.GradedType)
    if graded and not psums:
        raise NmcError(
            f"layer '{_source_name(value)}': graded values with fan-out {widest} > {limit} need partial-sum relays, "
            f"which chip '{chip_name}' lacks; use a spike encoding (--encoding rate)"
        )
    users = list(dict.fromkeys(u.operation for u in value.uses if isinstance(u.operation, core.NeuronsOp)))
    integer = any(u.quantized for u in users)
    users = [u for u in users if id(u) not in loop_users]
    relays = [build_neurons(relay_group(f"{_source_name(value)}/relay{r}", value, integer, graded)) for r in range(copies)]
    anchor = value.owner.next_op if isinstance(value.owner, core.InputOp | core.NeuronsOp) else None
    for r in relays:
        if anchor is None:
            block.add_op(r)
        else:
            block.insert_op_before(r, anchor)
    n = core.size_of(value.type)
    seen = np.zeros(n, np.int64)  # synapses handed out so far per source neuron, across users
    for user in users:
        g = read_group(user)
        offsets = g.offsets()
        inputs, pre, lags = [], g.pre.copy(), []
        old_lags = g.lags or [0] * len(g.inputs)
        new_offset = 0
        for k, v in enumerate(g.inputs):
            lo, hi = offsets[k], offsets[k + 1]
            sel = (g.pre >= lo) & (g.pre < hi)
            if v is not value:
                pre[sel] = g.pre[sel] - lo + new_offset
                inputs.append(v)
                lags.append(old_lags[k])
                new_offset += hi - lo
                continue
            local = g.pre[sel] - lo
            order = np.argsort(local, kind="stable")
            first = np.searchsorted(local[order], local[order], side="left")
            rank = np.empty_like(local)
            rank[order] = np.arange(local.size) - first
            rank += seen[local]  # continue the round-robin where earlier users left off
            seen += np.bincount(local, minlength=n)
            pre[sel] = new_offset + (rank % copies) * n + local
            inputs.extend(r.output for r in relays)
            lags.extend([old_lags[k]] * len(relays))  # a relay copy is read as late as the source was
            new_offset += copies * n
        replace_group(user, [build_neurons(replace(g, inputs=inputs, pre=pre, lags=lags if any(lags) else None))])


@dataclass(frozen=True)
class DecomposeFanOutPass(ModulePass):
    """Relay sources whose neurons exceed `max_fan_out` synapses (default: the chip's core.max_fan_out)."""

    name = "decompose-fan-out"
    max_fan_out: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for net in core_networks(op, "decompose-fan-out"):
            chip = net.chip.data
            limit = self.max_fan_out or chip.core["max_fan_out"]
            if limit < 2:
                raise NmcError(f"decompose-fan-out: max-fan-out must be at least 2, got {limit}")
            block = net.body.block
            changed = True
            while changed:
                changed = False
                for value in [o.output for o in block.ops if isinstance(o, core.InputOp | core.NeuronsOp)]:
                    if int(fan_out(value).max(initial=0)) > limit:
                        _split(value, limit, chip.name, chip.core["partial_sums"], block)
                        changed = True
                rebalance(block)
