"""delay-relays: make every axon delay fit `max-axon-delay` by relaying the early spikes instead.

Paths of unequal depth meet at a group (a residual add, a max-pool tree, a join): `rebalance`
delays the operand that arrives first by the difference, on the axons that read it. A chip
whose axons hold shorter delays (TrueNorth-style presets have none) gets, for each such operand,
a chain of E = delay - limit spiking relays (IF, weight 1, threshold 1, reset to zero: each
repeats its input one tick later), over only the source neurons the group reads; the group then
reads the chain's last relay, which arrives E ticks later, so `rebalance` gives the operand
delay - E = limit. Exact: a relay's spike train is its input's, shifted by one tick, and
`rebalance` re-aligns the pipeline as for any relay (decompose-fan-out's argument). The source
loses the group's synapses and gains one per neuron read, so no fan-out grows; an operand the group
holds no synapse from (a fan-out relay dealt none of its synapses) is dropped instead. Graded host
inputs need partial-sum relays, which a chip without partial sums lacks: refused, naming them.
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
from nmc.dialects.core_ir import build_neurons, core_networks, read_group, rebalance, relay_group, replace_group


def _source_name(value: SSAValue) -> str:
    owner = value.owner
    return owner.layer.data if isinstance(owner, core.NeuronsOp) else (value.name_hint or "input")


def _relay_operands(user: core.NeuronsOp, limit: int, psums: bool, chip_name: str, block: Block) -> None:
    g = read_group(user)
    delays = list(user.delays.get_values())
    offsets = g.offsets()
    old_lags = g.lags or [0] * len(g.inputs)
    inputs, lags, pre, new_offset = [], [], g.pre.copy(), 0
    for k, v in enumerate(g.inputs):
        lo, hi = offsets[k], offsets[k + 1]
        sel = (g.pre >= lo) & (g.pre < hi)
        extra = delays[k] - limit
        if extra > 0 and not sel.any():
            continue  # an operand without a synapse (a fan-out relay dealt none of them) is dropped, not relayed
        lags.append(old_lags[k])
        if extra <= 0:
            pre[sel] = g.pre[sel] - lo + new_offset
            inputs.append(v)
            new_offset += hi - lo
            continue
        graded = isinstance(v.type, core.GradedType)
        if graded and not psums:
            raise NmcError(
                f"layer '{g.layer}': graded input '{_source_name(v)}' must wait {delays[k]} tick{'s' * (delays[k] != 1)}, "
                f"chip '{chip_name}' axons hold {limit} and it has no partial sums to relay graded values; use --encoding rate"
            )
        read = np.unique(g.pre[sel] - lo)
        src, index = v, read  # the first relay picks the neurons read; the rest repeat all of the one before
        for step in range(extra):
            relay = build_neurons(relay_group(f"{g.layer}/delay{k}.{step}", src, g.integer, graded, index))
            block.insert_op_before(relay, user)
            src, index = relay.output, None
        pre[sel] = new_offset + np.searchsorted(read, g.pre[sel] - lo)
        inputs.append(src)
        new_offset += len(read)
    replace_group(user, [build_neurons(replace(g, inputs=inputs, pre=pre, lags=lags if any(lags) else None))])


@dataclass(frozen=True)
class DelayRelaysPass(ModulePass):
    """Relay operands whose axon delay exceeds `max_axon_delay` (default: the chip's core.max_axon_delay)."""

    name = "delay-relays"
    max_axon_delay: int | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        for net in core_networks(op, "delay-relays"):
            chip = net.chip.data
            limit = chip.core["max_axon_delay"] if self.max_axon_delay is None else self.max_axon_delay
            if limit < 0:
                raise NmcError(f"delay-relays: max-axon-delay must be >= 0, got {limit}")
            block = net.body.block
            rebalance(block)
            users = [o for o in block.ops if isinstance(o, core.NeuronsOp) and max(o.delays.get_values(), default=0) > limit]
            for user in users:
                _relay_operands(user, limit, chip.core["partial_sums"], chip.name, block)
            rebalance(block)
