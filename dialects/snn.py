"""The `snn` dialect: spiking networks with explicit time semantics.

A network (`snn.network`) is a single-block region evaluated once per tick for
`ticks` ticks. Values flowing between ops are per-tick tensors of one sample
(the batch dimension is implicit): `!snn.spikes<...>` holds binary spikes,
`!snn.current<...>` real-valued input current, and builtin `tensor<...xf32>`
the real-valued data entering (encoders) and leaving (decoders) the network.

Within one tick ops run in program order and a spike reaches the next
population in the same tick (zero synaptic delay, as in snnTorch and nmc.nn).
Stateful ops (neurons, encoders, decoders) keep their state across ticks.
The exact arithmetic is in docs/snn-dialect.md; `nmc.runtime.snn_interp` is
the executable reference.

Each population is one op over a vector type: never one op per neuron.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from xdsl.dialects.builtin import (
    I64,
    DenseArrayBase,
    DenseIntOrFPElementsAttr,
    Float32Type,
    Float64Type,
    FloatAttr,
    IntegerAttr,
    SymbolNameConstraint,
    TensorType,
    i64,
)
from xdsl.dialects.utils import EnumAttribute
from xdsl.ir import (
    Attribute,
    Block,
    Dialect,
    ParametrizedAttribute,
    SpacedOpaqueSyntaxAttribute,
    SSAValue,
    TypeAttribute,
)
from xdsl.irdl import (
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
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import HasParent, IsolatedFromAbove, IsTerminator, SymbolOpInterface
from xdsl.utils.exceptions import VerifyException
from xdsl.utils.str_enum import StrEnum

from nmc.dialects.dataflow import check_dataflow_order

Shape = tuple[int, ...]


# --------------------------------------------------------------------------- types


class _ShapedActivation(ParametrizedAttribute, TypeAttribute):
    """Common base of per-tick activation types: a static shape, written `<1x8x8>`."""

    shape: DenseArrayBase

    def __init__(self, shape: Sequence[int]):
        super().__init__(DenseArrayBase.from_list(i64, list(shape)))

    @property
    def dims(self) -> Shape:
        return tuple(int(d) for d in self.shape.get_values())

    @property
    def size(self) -> int:
        return math.prod(self.dims)

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_dimension_list()
        return (DenseArrayBase.from_list(i64, dims),)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string("x".join(str(d) for d in self.dims))

    def verify(self) -> None:
        if not self.dims or any(d <= 0 for d in self.dims):
            raise VerifyException(f"{self.name} needs a static positive shape, got {list(self.dims)}")


@irdl_attr_definition
class SpikesType(_ShapedActivation):
    """Binary spikes of a population during one tick: `!snn.spikes<128>`."""

    name = "snn.spikes"


@irdl_attr_definition
class CurrentType(_ShapedActivation):
    """Real-valued input current during one tick: `!snn.current<10>`."""

    name = "snn.current"


Activation = SpikesType | CurrentType


def shape_of(t: Attribute) -> Shape:
    """Static shape of an activation or builtin tensor type."""
    if isinstance(t, _ShapedActivation):
        return t.dims
    if isinstance(t, TensorType):
        return tuple(int(d) for d in t.get_shape())
    raise TypeError(f"not a shaped type: {t}")


# --------------------------------------------------------------------------- enums


class ResetMode(StrEnum):
    """What a neuron's membrane does after it fires."""

    ZERO = "zero"
    SUBTRACT = "subtract"
    NONE = "none"


class Compare(StrEnum):
    """How the membrane is compared with the threshold."""

    GE = "ge"
    GT = "gt"


class PoolKind(StrEnum):
    AVG = "avg"
    SUM = "sum"


@irdl_attr_definition
class ResetModeAttr(EnumAttribute[ResetMode], SpacedOpaqueSyntaxAttribute):
    name = "snn.reset"


@irdl_attr_definition
class CompareAttr(EnumAttribute[Compare], SpacedOpaqueSyntaxAttribute):
    name = "snn.compare"


@irdl_attr_definition
class PoolKindAttr(EnumAttribute[PoolKind], SpacedOpaqueSyntaxAttribute):
    name = "snn.pool"


F64Attr = FloatAttr[Float64Type]
F32Tensor = TensorType[Float32Type]


def f64(value: float) -> FloatAttr[Float64Type]:
    return FloatAttr(float(value), Float64Type())


def _fail(op: IRDLOperation, prop: str, message: str) -> VerifyException:
    return VerifyException(f"{op.name}: '{prop}' {message}")


def _check_same_shape(op: IRDLOperation, a: Attribute, b: Attribute) -> None:
    if shape_of(a) != shape_of(b):
        raise VerifyException(f"{op.name}: result shape {list(shape_of(b))} differs from input shape {list(shape_of(a))}")


def _ints(arr: DenseArrayBase) -> tuple[int, ...]:
    return tuple(int(v) for v in arr.get_values())


# --------------------------------------------------------------------------- network


@irdl_op_definition
class NetworkOp(IRDLOperation):
    """A spiking network run for `ticks` ticks of `dt` seconds each.

    The block arguments are the network inputs (builtin f32 tensors, constant
    over the run); `snn.output` names the decoded results.
    """

    name = "snn.network"
    sym_name = prop_def(SymbolNameConstraint())
    ticks = prop_def(IntegerAttr[I64])
    dt = prop_def(F64Attr)
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface())
    assembly_format = "$sym_name `ticks` `=` $ticks `dt` `=` $dt attr-dict-with-keyword $body"

    def verify_(self) -> None:
        if self.ticks.value.data < 1:
            raise _fail(self, "ticks", f"must be at least 1, got {self.ticks.value.data}")
        if not self.dt.value.data > 0:
            raise _fail(self, "dt", f"must be positive seconds per tick, got {self.dt.value.data}")
        block = self.body.block
        for arg in block.args:
            if not isinstance(arg.type, TensorType):
                raise VerifyException(f"snn.network: input #{arg.index} must be a tensor, got {arg.type}")
        if not isinstance(block.last_op, OutputOp):
            raise VerifyException("snn.network: body must end with snn.output")
        check_dataflow_order(block, lambda op, i: isinstance(op, DelayOp))


@irdl_op_definition
class OutputOp(IRDLOperation):
    """The decoded results of a network."""

    name = "snn.output"
    outputs = var_operand_def(F32Tensor)
    traits = traits_def(IsTerminator(), HasParent(NetworkOp))
    assembly_format = "($outputs^ `:` type($outputs))? attr-dict"


# --------------------------------------------------------------------------- encoders


class _EncoderOp(IRDLOperation):
    input = operand_def(F32Tensor)
    scale = prop_def(F64Attr)

    def verify_(self) -> None:
        _check_same_shape(self, self.input.type, self.results[0].type)
        if not math.isfinite(self.scale.value.data) or self.scale.value.data <= 0:
            raise _fail(self, "scale", f"must be a positive finite number, got {self.scale.value.data}")


@irdl_op_definition
class EncodeDirectOp(_EncoderOp):
    """Current injection: every tick each input neuron receives `scale * x`."""

    name = "snn.encode_direct"
    output = result_def(CurrentType)
    assembly_format = "$input `scale` `=` $scale attr-dict `:` type($input) `->` type($output)"


@irdl_op_definition
class EncodeRateOp(_EncoderOp):
    """Deterministic rate code: an integrate-and-fire encoder per input.

    `u += scale * x; spike = u >= 1; u -= spike` with `u` starting at 0, so an
    input of `1/scale` spikes every tick and the rate is clipped to [0, 1].
    """

    name = "snn.encode_rate"
    output = result_def(SpikesType)
    assembly_format = "$input `scale` `=` $scale attr-dict `:` type($input) `->` type($output)"


@irdl_op_definition
class EncodePoissonOp(_EncoderOp):
    """Seeded Bernoulli/Poisson code: spike with probability `clip(scale * x, 0, 1)` per tick.

    Uniform draws come from numpy's `default_rng(seed)`, one array of the input's
    batched shape per tick, in tick order; the same seed gives the same spikes.
    """

    name = "snn.encode_poisson"
    seed = prop_def(IntegerAttr[I64])
    output = result_def(SpikesType)
    assembly_format = "$input `scale` `=` $scale `seed` `=` $seed attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        super().verify_()
        if self.seed.value.data < 0:
            raise _fail(self, "seed", f"must be non-negative, got {self.seed.value.data}")


@irdl_op_definition
class EncodeSpikesOp(IRDLOperation):
    """Spike-train input (NIR graphs, event data): `%x` is given per tick.

    The run's array for `%x` has a time axis, `[batch, ticks, *shape]`; at tick `t`
    input neuron `i` spikes iff `x[t, i] != 0`. The run lasts as many ticks as the input.
    """

    name = "snn.encode_spikes"
    input = operand_def(F32Tensor)
    output = result_def(SpikesType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        _check_same_shape(self, self.input.type, self.output.type)


def spike_coded(block: Block) -> set[SSAValue]:
    """The network inputs given as spike trains (read by `snn.encode_spikes`): one more axis, time."""
    return {op.input for op in block.ops if isinstance(op, EncodeSpikesOp)}


# --------------------------------------------------------------------------- projections


@irdl_op_definition
class DenseOp(IRDLOperation):
    """All-to-all projection: `out = weights @ in + bias` each tick (weights: out x in)."""

    name = "snn.dense"
    input = operand_def(Activation)
    weights = prop_def(DenseIntOrFPElementsAttr)
    bias = opt_prop_def(DenseIntOrFPElementsAttr)
    output = result_def(CurrentType)
    assembly_format = "$input `weights` `=` $weights (`bias` `=` $bias^)? attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        (n_in,) = _rank(self, self.input.type, 1)
        (n_out,) = _rank(self, self.output.type, 1)
        w = self.weights.get_shape()
        if tuple(w) != (n_out, n_in):
            raise _fail(self, "weights", f"has shape {list(w)}, expected [{n_out}, {n_in}] (out x in)")
        if self.bias is not None and tuple(self.bias.get_shape()) != (n_out,):
            raise _fail(self, "bias", f"has shape {list(self.bias.get_shape())}, expected [{n_out}]")


def _rank(op: IRDLOperation, t: Attribute, rank: int) -> Shape:
    shape = shape_of(t)
    if len(shape) != rank:
        raise VerifyException(f"{op.name}: expected a rank-{rank} value, got shape {list(shape)}")
    return shape


def conv_output_hw(hw: Shape, kernel: Shape, stride: Shape, padding: Shape) -> Shape:
    return tuple((hw[i] + 2 * padding[i] - kernel[i]) // stride[i] + 1 for i in range(2))


def _check_window(op: IRDLOperation, kernel: Shape, stride: Shape, padding: Shape) -> None:
    for prop, vals, low in (("kernel", kernel, 1), ("stride", stride, 1), ("padding", padding, 0)):
        if len(vals) != 2 or any(v < low for v in vals):
            raise _fail(op, prop, f"must be two integers >= {low}, got {list(vals)}")


@irdl_op_definition
class Conv2dOp(IRDLOperation):
    """2-D convolution of a CxHxW activation with OxCxKhxKw weights, zero padding."""

    name = "snn.conv2d"
    input = operand_def(Activation)
    weights = prop_def(DenseIntOrFPElementsAttr)
    bias = opt_prop_def(DenseIntOrFPElementsAttr)
    stride = prop_def(DenseArrayBase[I64])
    padding = prop_def(DenseArrayBase[I64])
    output = result_def(CurrentType)
    assembly_format = (
        "$input `weights` `=` $weights (`bias` `=` $bias^)? `stride` `=` $stride `padding` `=` $padding"
        " attr-dict `:` type($input) `->` type($output)"
    )

    def verify_(self) -> None:
        c, h, w = _rank(self, self.input.type, 3)
        w_shape = tuple(self.weights.get_shape())
        if len(w_shape) != 4 or w_shape[1] != c:
            raise _fail(self, "weights", f"has shape {list(self.weights.get_shape())}, expected [O, {c}, Kh, Kw]")
        o, _, kh, kw = w_shape
        stride, padding = _ints(self.stride), _ints(self.padding)
        _check_window(self, (kh, kw), stride, padding)
        expected = (o, *conv_output_hw((h, w), (kh, kw), stride, padding))
        if expected[1] < 1 or expected[2] < 1:
            raise _fail(self, "weights", f"kernel {kh}x{kw} does not fit the {h}x{w} input")
        if shape_of(self.output.type) != expected:
            raise VerifyException(f"{self.name}: result shape {list(shape_of(self.output.type))}, expected {list(expected)}")
        if self.bias is not None and tuple(self.bias.get_shape()) != (o,):
            raise _fail(self, "bias", f"has shape {list(self.bias.get_shape())}, expected [{o}]")


@irdl_op_definition
class Pool2dOp(IRDLOperation):
    """Average or sum pooling over a CxHxW activation (no padding)."""

    name = "snn.pool2d"
    input = operand_def(Activation)
    kind = prop_def(PoolKindAttr)
    kernel = prop_def(DenseArrayBase[I64])
    stride = prop_def(DenseArrayBase[I64])
    output = result_def(CurrentType)
    assembly_format = "$kind $input `kernel` `=` $kernel `stride` `=` $stride attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        c, h, w = _rank(self, self.input.type, 3)
        kernel, stride = _ints(self.kernel), _ints(self.stride)
        _check_window(self, kernel, stride, (0, 0))
        expected = (c, *conv_output_hw((h, w), kernel, stride, (0, 0)))
        if shape_of(self.output.type) != expected:
            raise VerifyException(f"{self.name}: result shape {list(shape_of(self.output.type))}, expected {list(expected)}")


class _RelabelOp(IRDLOperation):
    """A row-major reshape: the same values in the same order, spikes stay spikes, currents currents."""

    input = operand_def(Activation)
    output = result_def(Activation)
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        if type(self.input.type) is not type(self.output.type):
            raise VerifyException(f"{self.name}: result kind {self.output.type} differs from input kind")
        n = cast(_ShapedActivation, self.input.type).size
        m = cast(_ShapedActivation, self.output.type).size
        if n != m:
            raise VerifyException(f"{self.name}: result has {m} elements, the input {n}")


@irdl_op_definition
class FlattenOp(_RelabelOp):
    """Row-major reshape to one dimension."""

    name = "snn.flatten"

    def verify_(self) -> None:
        n = cast(_ShapedActivation, self.input.type).size
        if isinstance(self.output.type, _ShapedActivation) and shape_of(self.output.type) != (n,):
            raise VerifyException(f"{self.name}: result shape {list(shape_of(self.output.type))}, expected [{n}]")
        super().verify_()


@irdl_op_definition
class ReshapeOp(_RelabelOp):
    """Row-major reshape to any shape of the same size (e.g. [C, L] -> [C, 1, L] for 1-D layers)."""

    name = "snn.reshape"


@irdl_op_definition
class DelayOp(IRDLOperation):
    """Spikes `ticks` ticks late: `out[t] = in[t - ticks]`, no spikes before (a NIR `Delay`).

    The one back edge of the snn level: its input may be defined later in the block (a
    population's own spikes, for a recurrent projection), which closes a loop one tick
    late at least, so every loop is causal (docs/snn-dialect.md, recurrence).
    """

    name = "snn.delay"
    input = operand_def(SpikesType)
    ticks = prop_def(IntegerAttr[I64])
    output = result_def(SpikesType)
    assembly_format = "$input `ticks` `=` $ticks attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        _check_same_shape(self, self.input.type, self.output.type)
        if self.ticks.value.data < 1:
            raise _fail(self, "ticks", f"must be at least 1, got {self.ticks.value.data}")


def back_edge_delays(block: Block) -> set[DelayOp]:
    """The snn.delay ops whose input is defined later in the block (they close loops)."""
    seen: set[SSAValue] = set(block.args)
    late: set[DelayOp] = set()
    for op in block.ops:
        if isinstance(op, DelayOp) and op.input not in seen:
            late.add(op)
        seen.update(op.results)
    return late


@irdl_op_definition
class AddOp(IRDLOperation):
    """Elementwise sum of activations (residual connections): `out = Σ scales[i] * in[i]`."""

    name = "snn.add"
    inputs = var_operand_def(Activation)
    scales = prop_def(DenseArrayBase[Float64Type])
    output = result_def(CurrentType)
    assembly_format = "$inputs `scales` `=` $scales attr-dict `:` type($inputs) `->` type($output)"

    def verify_(self) -> None:
        if len(self.inputs) < 2:
            raise VerifyException(f"{self.name}: needs at least two inputs, got {len(self.inputs)}")
        if len(self.scales.get_values()) != len(self.inputs):
            raise _fail(self, "scales", f"has {len(self.scales.get_values())} entries for {len(self.inputs)} inputs")
        for v in self.inputs:
            _check_same_shape(self, v.type, self.output.type)


# --------------------------------------------------------------------------- neurons


class _NeuronOp(IRDLOperation):
    input = operand_def(Activation)
    threshold = prop_def(F64Attr)
    reset = prop_def(ResetModeAttr)
    compare = prop_def(CompareAttr)
    v_init = prop_def(F64Attr)
    # spikes per tick (default 1): above 1 the population fires while v passes the threshold, subtracting it each
    # time, up to this many (Xylo's hidden neurons: 31); its output is that count
    max_spikes = opt_prop_def(IntegerAttr[I64])
    output = result_def(SpikesType)

    @property
    def spikes_per_tick(self) -> int:
        return 1 if self.max_spikes is None else self.max_spikes.value.data

    def verify_(self) -> None:
        _check_same_shape(self, self.input.type, self.output.type)
        th = self.threshold.value.data
        if not math.isfinite(th) or th <= 0:
            raise _fail(self, "threshold", f"must be a positive finite number, got {th}")
        if not math.isfinite(self.v_init.value.data):
            raise _fail(self, "v_init", f"must be finite, got {self.v_init.value.data}")
        if self.max_spikes is not None and not 1 <= self.max_spikes.value.data <= 255:
            raise _fail(self, "max_spikes", f"must be in [1, 255], got {self.max_spikes.value.data}")
        if self.spikes_per_tick > 1 and self.reset.data != ResetMode.SUBTRACT:
            raise _fail(self, "max_spikes", f"above 1 needs reset = subtract (each spike subtracts the threshold), got "
                        f"reset = {self.reset.data.value}")  # fmt: skip


_NEURON_FORMAT = (
    "`threshold` `=` $threshold `reset` `=` $reset `compare` `=` $compare `v_init` `=` $v_init"
    " (`max_spikes` `=` $max_spikes^)? attr-dict `:` type($input) `->` type($output)"
)


@irdl_op_definition
class IFOp(_NeuronOp):
    """Integrate-and-fire population.

    Per tick: `v += I`; `s = v >= threshold` (or `>`); then reset: `zero` sets
    fired neurons to 0, `subtract` removes `threshold`, `none` leaves `v`.
    """

    name = "snn.if"
    assembly_format = "$input " + _NEURON_FORMAT


@irdl_op_definition
class LIFOp(_NeuronOp):
    """Leaky integrate-and-fire population (discrete time, decay `beta` per tick).

    Per tick: `v = beta * v + I`, then fire and reset as `snn.if`. For a
    membrane time constant `tau` and tick `dt`, `beta = exp(-dt / tau)`.
    """

    name = "snn.lif"
    beta = prop_def(F64Attr)
    assembly_format = "$input `beta` `=` $beta " + _NEURON_FORMAT

    def verify_(self) -> None:
        super().verify_()
        beta = self.beta.value.data
        if not 0.0 <= beta <= 1.0:
            raise _fail(self, "beta", f"must be in [0, 1], got {beta}")


@irdl_op_definition
class CubaLIFOp(_NeuronOp):
    """Current-based leaky integrate-and-fire population (docs/neuron-families.md): a synaptic current with its
    own decay `alpha` feeds the membrane.

    Per tick: `i = alpha * i + I`, then `v = beta * v + i` (the new current), then fire and reset `v` as
    `snn.if` (the current is not reset). snnTorch's `Synaptic` and NIR's `CubaLIF` (forward Euler, unit
    gains) compute the same.
    """

    name = "snn.cuba_lif"
    alpha = prop_def(F64Attr)
    beta = prop_def(F64Attr)
    assembly_format = "$input `alpha` `=` $alpha `beta` `=` $beta " + _NEURON_FORMAT

    def verify_(self) -> None:
        super().verify_()
        for prop in ("alpha", "beta"):
            value = getattr(self, prop).value.data
            if not 0.0 <= value <= 1.0:
                raise _fail(self, prop, f"must be in [0, 1], got {value}")


# --------------------------------------------------------------------------- decoders


class _DecoderOp(IRDLOperation):
    output = result_def(F32Tensor)

    def verify_(self) -> None:
        _check_same_shape(self, self.operands[0].type, self.output.type)


@irdl_op_definition
class DecodeCountOp(_DecoderOp):
    """Number of spikes each neuron emitted over the run."""

    name = "snn.decode_count"
    input = operand_def(SpikesType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"


@irdl_op_definition
class DecodeFirstSpikeOp(_DecoderOp):
    """Tick of each neuron's first spike (0-based); `ticks` if it never fired."""

    name = "snn.decode_first_spike"
    input = operand_def(SpikesType)
    assembly_format = "$input attr-dict `:` type($input) `->` type($output)"


@irdl_op_definition
class DecodeMembraneOp(_DecoderOp):
    """Final potential of a non-spiking integrator: `v = beta * v + I` each tick, from 0. With `alpha`, a
    current-based one (NIR's CubaLI): `i = alpha * i + I`, then `v = beta * v + i`."""

    name = "snn.decode_membrane"
    input = operand_def(Activation)
    beta = prop_def(F64Attr)
    alpha = opt_prop_def(F64Attr)
    assembly_format = "$input (`alpha` `=` $alpha^)? `beta` `=` $beta attr-dict `:` type($input) `->` type($output)"

    def verify_(self) -> None:
        super().verify_()
        for what in ("alpha", "beta"):
            attr = getattr(self, what)
            if attr is not None and not 0.0 <= attr.value.data <= 1.0:
                raise _fail(self, what, f"must be in [0, 1], got {attr.value.data}")


NEURON_OPS = (IFOp, LIFOp, CubaLIFOp)
ENCODER_OPS = (EncodeDirectOp, EncodeRateOp, EncodePoissonOp, EncodeSpikesOp)
DECODER_OPS = (DecodeCountOp, DecodeFirstSpikeOp, DecodeMembraneOp)

SNN = Dialect(
    "snn",
    [
        NetworkOp,
        OutputOp,
        *ENCODER_OPS,
        DenseOp,
        Conv2dOp,
        Pool2dOp,
        FlattenOp,
        ReshapeOp,
        DelayOp,
        AddOp,
        *NEURON_OPS,
        *DECODER_OPS,
    ],
    [SpikesType, CurrentType, ResetModeAttr, CompareAttr, PoolKindAttr],
)
