"""The `core` dialect: neuron groups in the form a neuromorphic core executes.

Every group is a flat vector of neurons with an explicit synapse list (COO:
`pre`, `post`, `weight`, sorted by post then pre). Its inputs are the outputs of
other groups or of host-side encoders, concatenated in operand order to form
the presynaptic index space. The chip is synchronous: a group reads the
previous tick's output of another group (one tick per hop), plus any axon
delay, and the current tick's value of a host input. docs/chip-model.md gives
the exact arithmetic; `nmc.runtime.core_interp` executes it.

Groups are float (f32 weights, straight out of `snn-to-core`) or integer (after
`reduce-precision`); the arithmetic follows the element type. Chip limits are
checked by `check-constraints` (nmc.passes.check_constraints), not by the
verifiers, so that IR may break a limit between the passes that fix it.
"""

from __future__ import annotations

import math
from typing import cast

from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    SymbolNameConstraint,
    TensorType,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    Operation,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
)
from xdsl.irdl import (
    AnyAttr,
    IRDLOperation,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_prop_def,
    prop_def,
    region_def,
    result_def,
    traits_def,
    var_operand_def,
)
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects.core_types import ChipAttr, FlatType, GradedType, Signal, SpikesType
from nmc.dialects.dataflow import check_dataflow_order
from nmc.dialects.ir_arrays import to_numpy
from nmc.dialects.snn import CompareAttr, ResetModeAttr


class Mode(StrEnum):
    """What a neuron does with its integrated input."""

    SPIKE = "spike"  # integrate, leak, fire, reset
    PSUM = "psum"  # stateless: forward the tick's weighted sum as a graded packet
    INTEGRATE = "integrate"  # integrate and leak, never fire (read out by a membrane decoder)


@irdl_attr_definition
class ModeAttr(EnumAttribute[Mode], SpacedOpaqueSyntaxAttribute):
    name = "core.mode"


class Decoding(StrEnum):
    COUNT = "count"
    FIRST_SPIKE = "first_spike"
    MEMBRANE = "membrane"


@irdl_attr_definition
class DecodingAttr(EnumAttribute[Decoding], SpacedOpaqueSyntaxAttribute):
    name = "core.decoding"


class Encoding(StrEnum):
    DIRECT = "direct"
    RATE = "rate"
    POISSON = "poisson"
    SPIKES = "spikes"  # the input is a spike train: its array has a time axis (snn.encode_spikes)


@irdl_attr_definition
class EncodingAttr(EnumAttribute[Encoding], SpacedOpaqueSyntaxAttribute):
    name = "core.encoding"


def chip_of(op: IRDLOperation) -> Chip:
    """The chip of the core.network enclosing (or being) `op`."""
    net = op if isinstance(op, NetworkOp) else op.parent_op()
    while net is not None and not isinstance(net, NetworkOp):
        net = net.parent_op()
    if net is None:
        raise NmcError(f"{op.name} is not inside a core.network, so it has no chip")
    return net.chip.data


def size_of(t: Attribute) -> int:
    return cast(FlatType, t).n


def _len(attr: DenseIntOrFPElementsAttr) -> int:
    return math.prod(attr.get_shape())


def is_integer(attr: DenseIntOrFPElementsAttr) -> bool:
    return isinstance(attr.get_element_type(), IntegerType)


@irdl_op_definition
class NetworkOp(IRDLOperation):
    """A network of core groups run for `ticks` input ticks on the chip `chip` (held in the IR)."""

    name = "core.network"
    sym_name = prop_def(SymbolNameConstraint())
    ticks = prop_def(IntegerAttr[I64])
    dt = prop_def(FloatAttr[Float64Type])
    # Any attribute in the constraint, so the format prints `#core.chip<...>` in full (a unique
    # base would print the bare parameters); verify_ checks the kind.
    chip = prop_def(AnyAttr())
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface())
    assembly_format = "$sym_name `ticks` `=` $ticks `dt` `=` $dt `chip` `=` $chip attr-dict-with-keyword $body"

    def verify_(self) -> None:
        if not isinstance(self.chip, ChipAttr):
            raise VerifyException(f"core.network: 'chip' must be a #core.chip attribute, got {self.chip}")
        if self.ticks.value.data < 1:
            raise VerifyException(f"core.network: 'ticks' must be at least 1, got {self.ticks.value.data}")
        if not isinstance(self.body.block.last_op, OutputOp):
            raise VerifyException("core.network: body must end with core.output")
        check_dataflow_order(self.body.block, lagged_operand)
        verify_timing(self)


@irdl_op_definition
class InputOp(IRDLOperation):
    """A host-side encoder feeding the chip each tick (same code as the snn encoders).

    `direct` sends graded values `clip(round(scale * x * levels), -levels, levels)` when
    `levels` is set (integer chips), else `scale * x`; `rate`/`poisson` send spikes; `spikes`
    forwards a given spike train (`x` per tick, `x != 0`).
    """

    name = "core.input"
    input = operand_def(TensorType)
    encoding = prop_def(EncodingAttr)
    scale = prop_def(FloatAttr[Float64Type])
    seed = prop_def(IntegerAttr[I64])
    levels = opt_prop_def(IntegerAttr[I64])
    output = result_def(Signal)
    assembly_format = (
        "$encoding $input `scale` `=` $scale `seed` `=` $seed (`levels` `=` $levels^)? attr-dict"
        " `:` type($input) `->` type($output)"
    )

    def verify_(self) -> None:
        n = math.prod(cast(TensorType, self.input.type).get_shape())
        if size_of(self.output.type) != n:
            raise VerifyException(f"core.input: {size_of(self.output.type)} outputs for {n} input values")
        graded = self.encoding.data == Encoding.DIRECT
        if graded != isinstance(self.output.type, GradedType):
            raise VerifyException(
                f"core.input: '{self.encoding.data}' encoding must produce {'graded values' if graded else 'spikes'}"
            )
        if self.levels is not None and (not graded or self.levels.value.data < 1):
            raise VerifyException(f"core.input: 'levels' needs direct encoding and >= 1, got {self.levels.value.data}")


@irdl_op_definition
class NeuronsOp(IRDLOperation):
    """A group of neurons with one synapse list, named after its source `layer`.

    Per tick (docs/chip-model.md): `V = decay(V) + Σ w·x[pre] + bias`, saturate,
    then by `mode`: fire/reset (spike), forward the sum and keep no state (psum),
    or only keep V (integrate). A current-based group (`alpha` when float,
    `current_shift` when integer; docs/neuron-families.md) first filters the sum through
    its synaptic current, `I = decay_I(I) + Σ w·x[pre] + bias`, and adds `I` to V instead.
    An operand may be the group's own output (or a later group's) read with a lag of at
    least one tick: a recurrent input. `delays[i]` postpones operand i by that many ticks.
    `lags[i]` (default 0) is the part of it that is the model's own (a NIR `Delay`, `snn.delay`):
    operand i is read `lags[i]` model ticks late; the rest of `delays` only aligns the pipeline.
    """

    name = "core.neurons"
    inputs = var_operand_def(Signal)
    layer = prop_def(StringAttr)
    mode = prop_def(ModeAttr)
    delays = prop_def(DenseArrayBase[I64])
    lags = opt_prop_def(DenseArrayBase[I64])
    pre = prop_def(DenseIntOrFPElementsAttr)
    post = prop_def(DenseIntOrFPElementsAttr)
    weight = prop_def(DenseIntOrFPElementsAttr)
    threshold = prop_def(DenseIntOrFPElementsAttr)
    bias = prop_def(DenseIntOrFPElementsAttr)
    v_init = prop_def(DenseIntOrFPElementsAttr)
    beta = opt_prop_def(FloatAttr[Float64Type])
    decay_shift = opt_prop_def(IntegerAttr[I64])
    decay_mult = opt_prop_def(IntegerAttr[I64])
    alpha = opt_prop_def(FloatAttr[Float64Type])
    current_shift = opt_prop_def(IntegerAttr[I64])
    current_mult = opt_prop_def(IntegerAttr[I64])
    reset = prop_def(ResetModeAttr)
    compare = prop_def(CompareAttr)
    output = result_def(Signal)
    assembly_format = (
        "$layer $mode `(` $inputs `)` `delays` `=` $delays (`lags` `=` $lags^)? `pre` `=` $pre `post` `=` $post"
        " `weight` `=` $weight `threshold` `=` $threshold `bias` `=` $bias `v_init` `=` $v_init (`beta` `=` $beta^)?"
        " (`decay_shift` `=` $decay_shift^)? (`decay_mult` `=` $decay_mult^)? (`alpha` `=` $alpha^)?"
        " (`current_shift` `=` $current_shift^)? (`current_mult` `=` $current_mult^)?"
        " `reset` `=` $reset `compare` `=` $compare attr-dict"
        " `:` functional-type($inputs, $output)"
    )

    @property
    def size(self) -> int:
        return size_of(self.output.type)

    @property
    def lag_values(self) -> tuple[int, ...]:
        return tuple(self.lags.get_values()) if self.lags is not None else (0,) * len(self.inputs)

    @property
    def fan_in_space(self) -> int:
        return sum(size_of(v.type) for v in self.inputs)

    @property
    def quantized(self) -> bool:
        return is_integer(self.weight)

    def verify_(self) -> None:
        where = f"core.neurons '{self.layer.data}'"
        n, k = self.size, _len(self.pre)
        if _len(self.post) != k or _len(self.weight) != k:
            raise VerifyException(f"{where}: pre/post/weight lengths differ ({k}, {_len(self.post)}, {_len(self.weight)})")
        for prop in ("threshold", "bias", "v_init"):
            if _len(getattr(self, prop)) != n:
                raise VerifyException(f"{where}: '{prop}' has {_len(getattr(self, prop))} entries for {n} neurons")
        if len(self.delays.get_values()) != len(self.inputs) or min(self.delays.get_values(), default=0) < 0:
            raise VerifyException(f"{where}: 'delays' needs one value >= 0 per input, got {list(self.delays.get_values())}")
        if self.lags is not None and (
            len(self.lags.get_values()) != len(self.inputs) or min(self.lags.get_values(), default=0) < 0
        ):
            raise VerifyException(f"{where}: 'lags' needs one value >= 0 per input, got {list(self.lags.get_values())}")
        integer = self.quantized
        for prop in ("threshold", "bias", "v_init"):
            if is_integer(getattr(self, prop)) != integer:
                raise VerifyException(f"{where}: '{prop}' must be {'integer' if integer else 'float'} like the weights")
        if not is_integer(self.pre) or not is_integer(self.post):
            raise VerifyException(f"{where}: 'pre' and 'post' must be integer indices")
        if integer and self.beta is not None:
            raise VerifyException(f"{where}: an integer group decays by 'decay_shift', not 'beta'")
        if not integer and self.decay_shift is not None:
            raise VerifyException(f"{where}: a float group decays by 'beta', not 'decay_shift'")
        if self.beta is not None and not 0.0 <= self.beta.value.data <= 1.0:
            raise VerifyException(f"{where}: 'beta' must be in [0, 1], got {self.beta.value.data}")
        if self.decay_shift is not None and self.decay_shift.value.data < 0:
            raise VerifyException(f"{where}: 'decay_shift' must be >= 0, got {self.decay_shift.value.data}")
        if self.decay_mult is not None:
            s, m = (self.decay_shift.value.data if self.decay_shift is not None else 0), self.decay_mult.value.data
            if s < 1 or not 1 <= m <= 1 << min(s, 62):
                raise VerifyException(
                    f"{where}: 'decay_mult' (V -= (V * m) >> s) needs 'decay_shift' s >= 1 and 1 <= m <= 2^s, got m = {m}, "
                    f"s = {s}"
                )
        self._verify_current(where, integer)
        psum = self.mode.data == Mode.PSUM
        if psum != isinstance(self.output.type, GradedType):
            raise VerifyException(f"{where}: a {self.mode.data} group must produce {'graded' if psum else 'spikes'} values")
        self._verify_indices(where, n)

    @property
    def current_based(self) -> bool:
        return self.alpha is not None or self.current_shift is not None

    def _verify_current(self, where: str, integer: bool) -> None:
        if integer and self.alpha is not None:
            raise VerifyException(f"{where}: an integer group's current decays by 'current_shift', not 'alpha'")
        if not integer and (self.current_shift is not None or self.current_mult is not None):
            raise VerifyException(f"{where}: a float group's current decays by 'alpha', not 'current_shift'")
        if self.alpha is not None and not 0.0 <= self.alpha.value.data <= 1.0:
            raise VerifyException(f"{where}: 'alpha' must be in [0, 1], got {self.alpha.value.data}")
        if self.current_based and self.mode.data == Mode.PSUM:
            raise VerifyException(f"{where}: a partial-sum group keeps no state, so it has no synaptic current")
        if self.current_mult is not None:
            s, m = (self.current_shift.value.data if self.current_shift is not None else 0), self.current_mult.value.data
            if s < 1 or not 1 <= m <= 1 << min(s, 62):
                raise VerifyException(f"{where}: 'current_mult' (I -= (I * m) >> s) needs 'current_shift' s >= 1 and "
                                      f"1 <= m <= 2^s, got m = {m}, s = {s}")  # fmt: skip
        elif self.current_shift is not None and self.current_shift.value.data < 0:
            raise VerifyException(f"{where}: 'current_shift' must be >= 0, got {self.current_shift.value.data}")

    def _verify_indices(self, where: str, n: int) -> None:

        pre, post = to_numpy(self.pre), to_numpy(self.post)
        if pre.size == 0:
            return
        if pre.min() < 0 or pre.max() >= self.fan_in_space:
            raise VerifyException(
                f"{where}: presynaptic index {int(pre.max() if pre.max() >= 0 else pre.min())} "
                f"outside the {self.fan_in_space} inputs"
            )
        if post.min() < 0 or post.max() >= n:
            raise VerifyException(f"{where}: postsynaptic index outside the {n} neurons")
        order = post.astype("i8") * self.fan_in_space + pre
        if (order[1:] <= order[:-1]).any():
            raise VerifyException(f"{where}: synapses must be sorted by (post, pre) without duplicates")


@irdl_op_definition
class DecodeOp(IRDLOperation):
    """Host-side decoder of a group's output over ticks [latency, latency + ticks).

    `latency` is the number of ticks the group lags the source model (one per hop
    and per partial-sum level, plus delays); `scale` maps integer membranes back.
    """

    name = "core.decode"
    input = operand_def(Signal)
    kind = prop_def(DecodingAttr)
    latency = prop_def(IntegerAttr[I64])
    scale = opt_prop_def(DenseIntOrFPElementsAttr)
    output = result_def(TensorType)
    assembly_format = "$kind $input `latency` `=` $latency (`scale` `=` $scale^)? attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        n = size_of(self.input.type)
        if math.prod(cast(TensorType, self.output.type).get_shape()) != n:
            raise VerifyException(f"core.decode: result holds {math.prod(self.output.type.get_shape())} values for {n} neurons")
        src = self.input.owner
        membrane = self.kind.data == Decoding.MEMBRANE
        integrates = isinstance(src, NeuronsOp) and src.mode.data == Mode.INTEGRATE
        if membrane != integrates:
            raise VerifyException("core.decode: 'membrane' decoding reads exactly the integrate-mode groups")
        if self.scale is not None and _len(self.scale) != n:
            raise VerifyException(f"core.decode: 'scale' has {_len(self.scale)} entries for {n} neurons")


@irdl_op_definition
class OutputOp(IRDLOperation):
    """The decoded results of a core network."""

    name = "core.output"
    outputs = var_operand_def(TensorType)
    traits = traits_def(IsTerminator(), HasParent(NetworkOp))
    assembly_format = "($outputs^ `:` type($outputs))? attr-dict"


def lagged_operand(op: Operation, i: int) -> bool:
    """A back edge of the core level: an operand the model itself reads at least one tick late (a recurrent input)."""
    return isinstance(op, NeuronsOp) and op.lag_values[i] >= 1


def back_edges(op: NeuronsOp) -> list[int]:
    """The operands of `op` that read a group defined at or after it (its own output, for a recurrent group).

    Only a lagged operand can be one (the verifier refuses any other use before its definition), so an op without
    lags costs nothing; a lagged operand is a back edge when its group is `op` or follows it in the block.
    """
    lagged = [i for i, lag in enumerate(op.lag_values) if lag >= 1]
    if not lagged:
        return []
    later: set[Operation] = set()
    o = op
    while o is not None:
        later.add(o)
        o = o.next_op
    return [i for i in lagged if op.inputs[i].owner in later]


def back_edge_map(block: Block) -> dict[NeuronsOp, list[int]]:
    """`back_edges` of every group of a body, in one pass (the timing checks run after every pass)."""
    defined: set[SSAValue] = set(block.args)
    found: dict[NeuronsOp, list[int]] = {}
    for op in block.ops:
        if isinstance(op, NeuronsOp):
            loops = [i for i, v in enumerate(op.inputs) if v not in defined]
            if loops:
                found[op] = loops
        defined.update(op.results)
    return found


def arrivals(block: Block) -> dict[SSAValue, int]:
    """The tick offset at which a consumer sees each value of a network body, in one pass.

    Host inputs arrive at 0; a group's output one tick after its latest (delayed) input.
    Block order is the only order: a back edge (an operand defined later, read with a lag:
    a recurrent input) does not set the arrival, `verify_timing` checks that it agrees; any
    other use before the definition is a verification error, never a recursion.
    """
    ticks: dict[SSAValue, int] = {}
    for op in block.ops:
        if isinstance(op, InputOp):
            ticks[op.output] = 0
        elif isinstance(op, NeuronsOp):
            latest = 0
            for i, (v, d, lag) in enumerate(zip(op.inputs, op.delays.get_values(), op.lag_values, strict=False)):
                if v not in ticks and lag >= 1:
                    continue  # a back edge: checked against the others by verify_timing
                if v not in ticks:
                    raise VerifyException(
                        f"core.neurons '{op.layer.data}': operand #{i} is used before it is defined "
                        "(groups must be listed in dataflow order; a cycle has no such order)"
                    )
                latest = max(latest, ticks[v] + d - lag)
            ticks[op.output] = latest + 1
    return ticks


def depth(value: SSAValue) -> int:
    """Ticks by which `value` lags the source model's tick (0 for host inputs)."""
    block = value.owner.parent_block() if isinstance(value.owner, Operation) else None
    if not isinstance(value.owner, NeuronsOp) or block is None:
        return 0
    return arrivals(block)[value] - 1


def verify_timing(net: NetworkOp) -> None:
    """Every group's inputs arrive together; every decoder's latency is its source's lag."""
    block = net.body.block
    ticks = arrivals(block)
    loop_map = back_edge_map(block)
    for op in block.ops:
        if isinstance(op, NeuronsOp):
            seen = [ticks[v] + d - lag for v, d, lag in zip(op.inputs, op.delays.get_values(), op.lag_values, strict=False)]
            loops = loop_map.get(op, [])
            forward = [t for i, t in enumerate(seen) if i not in loops]
            for i in loops:
                if forward and seen[i] != forward[0]:
                    src = op.inputs[i].owner
                    name = src.layer.data if isinstance(src, NeuronsOp) else "?"
                    turn = op.lag_values[i] + seen[i] - forward[0]
                    raise VerifyException(
                        f"core.neurons '{op.layer.data}': the loop back from '{name}' takes {turn} "
                        f"chip tick(s) per turn but the model waits {op.lag_values[i]}: a loop closes on the chip only "
                        "where it takes no more ticks than the model's delay (a group reading itself: one tick)"
                    )
            if len(set(seen)) > 1:
                raise VerifyException(
                    f"core.neurons '{op.layer.data}': inputs arrive at different ticks {seen}; balance them with 'delays'"
                )
            for v in op.inputs:
                if isinstance(v.owner, NeuronsOp) and v.owner.mode.data == Mode.INTEGRATE:
                    raise VerifyException(
                        f"core.neurons '{op.layer.data}': reads integrate-mode group '{v.owner.layer.data}', which "
                        "never fires (its membrane is read only by a 'membrane' decoder); use a spike or psum group"
                    )
        elif isinstance(op, DecodeOp) and op.input in ticks:
            expected = ticks[op.input] - (0 if isinstance(op.input.owner, InputOp) else 1)
            if op.latency.value.data != expected:
                raise VerifyException(f"core.decode: 'latency' is {op.latency.value.data}, the group lags by {expected}")


CORE = Dialect(
    "core",
    [NetworkOp, InputOp, NeuronsOp, DecodeOp, OutputOp],
    [SpikesType, GradedType, ModeAttr, DecodingAttr, EncodingAttr, ChipAttr],
)
