"""Helpers shared by the passes that build and rewrite `core` IR.

A `Group` is the numpy view of one `core.neurons` op; `build_neurons` writes one
back. `rebalance` recomputes every operand delay and decoder latency after a pass
changed the depth of some group.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from xdsl.dialects.builtin import (
    DenseArrayBase,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    i64,
)
from xdsl.ir import Block, SSAValue

from nmc.chips.errors import NmcError
from nmc.dialects import core, snn
from nmc.dialects.ir_arrays import from_numpy, ir_name, to_numpy


@dataclass
class Group:
    """A neuron group as arrays. `weight` etc. are float64 (float group) or int64 (integer group)."""

    layer: str
    mode: str
    inputs: list[SSAValue]
    size: int
    pre: np.ndarray
    post: np.ndarray
    weight: np.ndarray
    threshold: np.ndarray
    bias: np.ndarray
    v_init: np.ndarray
    reset: str = "subtract"
    compare: str = "ge"
    beta: float | None = None
    decay_shift: int | None = None
    decay_mult: int | None = None  # multiply leak: V -= (V * m) >> decay_shift (None: m = 1, the shift leak)
    alpha: float | None = None  # a current-based group's synaptic current decay (float groups)
    current_shift: int | None = None  # ... and its integer form: I -= (I * current_mult) >> current_shift
    current_mult: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    lags: list[int] | None = None  # per input, the model's own delay in ticks (None: all 0); see core.neurons

    @property
    def current_based(self) -> bool:
        return self.alpha is not None or self.current_shift is not None

    @property
    def integer(self) -> bool:
        return self.weight.dtype.kind == "i"

    def fan_in(self) -> np.ndarray:
        return np.bincount(self.post, minlength=self.size)

    def offsets(self) -> list[int]:
        """Start of each operand in the presynaptic index space."""
        sizes = [core.size_of(v.type) for v in self.inputs]
        return [0, *np.cumsum(sizes).tolist()]


def read_group(op: core.NeuronsOp) -> Group:
    integer = op.quantized
    dtype = np.int64 if integer else np.float64
    return Group(
        layer=op.layer.data,
        mode=op.mode.data.value,
        inputs=list(op.inputs),
        size=op.size,
        pre=to_numpy(op.pre).astype(np.int64),
        post=to_numpy(op.post).astype(np.int64),
        weight=to_numpy(op.weight).astype(dtype),
        threshold=to_numpy(op.threshold).astype(dtype),
        bias=to_numpy(op.bias).astype(dtype),
        v_init=to_numpy(op.v_init).astype(dtype),
        reset=op.reset.data.value,
        compare=op.compare.data.value,
        beta=None if op.beta is None else op.beta.value.data,
        decay_shift=None if op.decay_shift is None else op.decay_shift.value.data,
        decay_mult=None if op.decay_mult is None else op.decay_mult.value.data,
        alpha=None if op.alpha is None else op.alpha.value.data,
        current_shift=None if op.current_shift is None else op.current_shift.value.data,
        current_mult=None if op.current_mult is None else op.current_mult.value.data,
        attributes=dict(op.attributes),
        lags=list(op.lag_values) if op.lags is not None else None,
    )


def int_type_for(values: np.ndarray, at_least: int = 8) -> IntegerType:
    peak = int(np.abs(values).max(initial=0))
    for width in (8, 16, 32):
        if width >= at_least and peak < (1 << (width - 1)):
            return IntegerType(width)
    return IntegerType(64)


def _index_attr(values: np.ndarray) -> Any:
    return from_numpy(values, IntegerType(32 if values.size == 0 or values.max(initial=0) < 2**31 else 64))


def build_neurons(g: Group) -> core.NeuronsOp:
    """The `core.neurons` op for a group, with synapses sorted by (post, pre) and delays of zero."""
    order = np.lexsort((g.pre, g.post))
    pre, post, weight = g.pre[order], g.post[order], g.weight[order]
    if g.integer:
        values = (weight, g.threshold, g.bias, g.v_init)
        wt = int_type_for(weight)
        st = int_type_for(np.concatenate([g.threshold, g.bias, g.v_init]), at_least=32)
        attrs = [from_numpy(weight, wt), *(from_numpy(v, st) for v in values[1:])]
    else:
        attrs = [from_numpy(v, Float64Type()) for v in (weight, g.threshold, g.bias, g.v_init)]
    props: dict[str, Any] = {
        "layer": StringAttr(g.layer),
        "mode": core.ModeAttr(core.Mode(g.mode)),
        "delays": DenseArrayBase.from_list(i64, [0] * len(g.inputs)),
        "pre": _index_attr(pre),
        "post": _index_attr(post),
        "weight": attrs[0],
        "threshold": attrs[1],
        "bias": attrs[2],
        "v_init": attrs[3],
        "reset": snn.ResetModeAttr(snn.ResetMode(g.reset)),
        "compare": snn.CompareAttr(snn.Compare(g.compare)),
    }
    if g.beta is not None:
        props["beta"] = FloatAttr(g.beta, Float64Type())
    if g.decay_shift is not None:
        props["decay_shift"] = IntegerAttr(g.decay_shift, i64)
    if g.decay_mult is not None and g.decay_mult != 1:
        props["decay_mult"] = IntegerAttr(g.decay_mult, i64)
    if g.alpha is not None:
        props["alpha"] = FloatAttr(g.alpha, Float64Type())
    if g.current_shift is not None:
        props["current_shift"] = IntegerAttr(g.current_shift, i64)
    if g.current_mult is not None and g.current_mult != 1:
        props["current_mult"] = IntegerAttr(g.current_mult, i64)
    if g.lags is not None and any(g.lags):
        if len(g.lags) != len(g.inputs):
            raise ValueError(f"group '{g.layer}': {len(g.lags)} lags for {len(g.inputs)} inputs")
        props["lags"] = DenseArrayBase.from_list(i64, list(g.lags))
        props["delays"] = DenseArrayBase.from_list(i64, list(g.lags))  # until rebalance() aligns the pipeline
    result = core.GradedType(g.size) if g.mode == "psum" else core.SpikesType(g.size)
    op = core.NeuronsOp.build(operands=[list(g.inputs)], result_types=[result], properties=props)
    op.attributes.update(g.attributes)

    op.output.name_hint = ir_name(g.layer)
    return op


def psum_group(layer: str, inputs: list[SSAValue], size: int, pre, post, weight, integer: bool) -> Group:
    """A stateless partial-sum group (no bias, no threshold)."""
    dtype = np.int64 if integer else np.float64
    zeros = np.zeros(size, dtype)
    return Group(
        layer,
        "psum",
        inputs,
        size,
        pre,
        post,
        weight.astype(dtype),
        zeros + 1,
        zeros,
        zeros,
        reset="none",
        beta=None if integer else 1.0,
        decay_shift=0 if integer else None,
    )


def relay_group(layer: str, source: SSAValue, integer: bool, graded: bool, read: np.ndarray | None = None) -> Group:
    """An exact one-tick relay of `source` (of its neurons `read` only, relay neuron i repeating read[i], when
    given): spiking IF (threshold 1, weight 1) for spikes, psum for graded."""
    pre = np.arange(core.size_of(source.type), dtype=np.int64) if read is None else np.asarray(read, np.int64)
    n = pre.size
    post = np.arange(n, dtype=np.int64)
    ones = np.ones(n, np.int64 if integer else np.float64)
    if graded:
        return psum_group(layer, [source], n, pre, post, ones, integer)
    return Group(
        layer,
        "spike",
        [source],
        n,
        pre,
        post,
        ones,
        ones.copy(),
        ones * 0,
        ones * 0,
        reset="zero",
        compare="ge",
        beta=None if integer else 1.0,
        decay_shift=0 if integer else None,
    )


def replace_group(old: core.NeuronsOp, new_ops: Sequence[core.NeuronsOp]) -> None:
    """Put `new_ops` before `old`, route its uses to the last of them, and erase it (xDSL's Rewriter)."""
    from xdsl.rewriter import Rewriter

    Rewriter.replace_op(old, list(new_ops), [new_ops[-1].output])


def networks(module: Any) -> list[core.NetworkOp]:
    return [op for op in module.walk() if isinstance(op, core.NetworkOp)]


MAP_PIPELINE = "snn-to-core,decompose-fan-in,decompose-fan-out,delay-relays,reduce-precision,partition-cores,place-cores,route"


def pipeline_up_to(name: str) -> str:
    """The passes up to `name` of the usual pipeline (for "run this first" hints)."""
    steps = MAP_PIPELINE.split(",")
    return ",".join(steps[: steps.index(name) + 1]) if name in steps else f"snn-to-core,{name}"


def core_networks(module: Any, who: str, pipeline: str | None = None) -> list[core.NetworkOp]:
    """The module's core.network ops; none is an error that says what to run first."""

    found = networks(module)
    if found:
        return found
    if any(isinstance(op, snn.NetworkOp) for op in module.walk()):
        raise NmcError(
            f"{who} works on core IR and this module is at the snn level: run snn-to-core first "
            f"(nmc-opt FILE -p '{pipeline or pipeline_up_to(who)}')"
        )
    raise NmcError(f"{who}: the module holds no core.network")


def rebalance(block: Block) -> None:
    """Set operand delays so every group's inputs arrive together, and decoder latencies to match."""
    arrival: dict[SSAValue, int] = {}
    depths: dict[core.NeuronsOp, int] = {}
    for op in block.ops:
        if isinstance(op, core.InputOp):
            arrival[op.output] = 0
        elif isinstance(op, core.NeuronsOp):
            # operand i is read lags[i] model ticks late: it must arrive at depth + lags[i]; a back edge (a loop, its
            # source not placed yet) is set below, once its source's arrival is known
            ticks = [arrival[v] - lag if v in arrival else None for v, lag in zip(op.inputs, op.lag_values, strict=True)]
            depth = max([t for t in ticks if t is not None] + [0])  # never ahead of the model's tick (as core.arrivals)
            op.delays = DenseArrayBase.from_list(i64, [0 if t is None else depth - t for t in ticks])
            arrival[op.output] = depth + 1
            depths[op] = depth
        elif isinstance(op, core.DecodeOp):
            lag = arrival[op.input] - (0 if isinstance(op.input.owner, core.InputOp) else 1)
            op.latency = IntegerAttr(lag, i64)
    loop_map = core.back_edge_map(block)
    for op, depth in depths.items():  # a loop's delay: what its turn lacks of the model's lag (< 0: it cannot close)
        loops = loop_map.get(op, [])
        if loops:
            delays = list(op.delays.get_values())
            for i in loops:
                delays[i] = max(0, depth + op.lag_values[i] - arrival[op.inputs[i]])
            op.delays = DenseArrayBase.from_list(i64, delays)


def with_inputs(g: Group, inputs: list[SSAValue], pre: np.ndarray) -> Group:
    return replace(g, inputs=inputs, pre=pre)


def fan_out(value: SSAValue) -> np.ndarray:
    """Outgoing synapses of each neuron of `value`, over all groups that read it."""
    n = core.size_of(value.type)
    total = np.zeros(n, np.int64)
    for use in value.uses:
        user = use.operation
        if isinstance(user, core.NeuronsOp):
            g = read_group(user)
            off = g.offsets()[use.index]
            sel = (g.pre >= off) & (g.pre < off + n)
            total += np.bincount(g.pre[sel] - off, minlength=n)
    return total
