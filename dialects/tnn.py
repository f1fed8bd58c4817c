"""The `tnn` dialect: temporal neural networks (spike-time columns, k-WTA, STDP).

A `tnn.network` is evaluated once per sample (one gamma cycle of 2^b ticks). Values
`!tnn.times<N>` hold N lines' spike times 0..2^b-1, or 2^b for "no spike"
(`nmc.chips.tnn_format`). The same dialect serves two levels:

* snn level: `tnn.encode` then `tnn.layer`s (C columns each, over receptive fields);
* core level (after snn-to-core, the network carries `chip`): one `tnn.column` per
  column, each checked against the chip's `tnn_column` core kind, joined by `tnn.concat`;
  the mapping passes add `core`, `x`, `y` and `dests` to every column.

docs/tnn.md states the arithmetic; `nmc.runtime.tnn_ref` is the executable reference.
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
from xdsl.dialects.builtin import I64, DenseIntOrFPElementsAttr, IntegerAttr, StringAttr, SymbolNameConstraint, TensorType
from xdsl.ir import Attribute, Dialect
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

from nmc.chips.tnn_format import PROB_ONE, RESPONSES, STDP_CASES, no_spike, wmax
from nmc.dialects.core import ChipAttr, FlatType
from nmc.dialects.ir_arrays import to_numpy


@irdl_attr_definition
class TimesType(FlatType):
    """Spike times of `size` lines for one sample: `!tnn.times<64>`."""

    name = "tnn.times"
    UNIT: ClassVar[str] = "line"

    @property
    def lines(self) -> int:
        return self.n


def _fail(op: IRDLOperation, what: str, message: str) -> VerifyException:
    return VerifyException(f"{op.name} '{_label(op)}': {what} {message}")


def _label(op: IRDLOperation) -> str:
    layer = op.properties.get("layer")
    return layer.data if isinstance(layer, StringAttr) else op.name


def _lines(value: Attribute) -> int:
    assert isinstance(value, TimesType)
    return value.lines


@irdl_op_definition
class NetworkOp(IRDLOperation):
    """A TNN evaluated once per sample: b time bits, unsigned weights of `weight_bits`, one STDP rule.

    `stdp` = [capture, minus, search, backoff] probabilities in 1/1024 units; `stabilise` 0 or 1;
    `seed` fixes the columns' random constants. `chip` is present from the core level on.
    """

    name = "tnn.network"
    sym_name = prop_def(SymbolNameConstraint())
    time_bits = prop_def(IntegerAttr[I64])
    weight_bits = prop_def(IntegerAttr[I64])
    stdp = prop_def(DenseIntOrFPElementsAttr)
    stabilise = prop_def(IntegerAttr[I64])
    seed = prop_def(IntegerAttr[I64])
    # Any attribute in the constraint, so the format prints `#core.chip<...>` in full (as core.network does)
    chip = opt_prop_def(AnyAttr())
    body = region_def("single_block")
    traits = traits_def(IsolatedFromAbove(), SymbolOpInterface())
    assembly_format = (
        "$sym_name `time_bits` `=` $time_bits `weight_bits` `=` $weight_bits `stdp` `=` $stdp `stabilise` `=` $stabilise "
        "`seed` `=` $seed (`chip` `=` $chip^)? attr-dict-with-keyword $body"
    )

    def verify_(self) -> None:
        b, bw = self.time_bits.value.data, self.weight_bits.value.data
        if not 1 <= b <= 8:
            raise VerifyException(f"tnn.network: time_bits must be in 1..8, got {b}")
        if not 1 <= bw <= 8:
            raise VerifyException(f"tnn.network: weight_bits must be in 1..8, got {bw}")
        u = to_numpy(self.stdp)
        if u.shape != (len(STDP_CASES),) or (u < 0).any() or (u > PROB_ONE).any():
            raise VerifyException(
                f"tnn.network: stdp must be {len(STDP_CASES)} probabilities ({', '.join(STDP_CASES)}) in 0..{PROB_ONE}, "
                f"got {u.tolist()}"
            )
        if self.chip is not None:
            if not isinstance(self.chip, ChipAttr):
                raise VerifyException(f"tnn.network: 'chip' must be a #core.chip attribute, got {self.chip}")
            kind = self.chip.data.tnn_column
            if kind is None:
                raise VerifyException(f"tnn.network: chip '{self.chip.data.name}' has no tnn_column core kind")
            for key, value in (("time_bits", b), ("weight_bits", bw)):
                if value > kind[key]:
                    raise VerifyException(
                        f"tnn.network: {key} {value} exceeds chip '{self.chip.data.name}' tnn_column.{key} {kind[key]}"
                    )
        block = self.body.block
        if not isinstance(block.last_op, OutputOp):
            raise VerifyException("tnn.network: body must end with tnn.output")


def network_of(op: IRDLOperation) -> NetworkOp:
    parent = op.parent_op()
    if not isinstance(parent, NetworkOp):
        raise VerifyException(f"{op.name} must be inside a tnn.network")
    return parent


@irdl_op_definition
class OutputOp(IRDLOperation):
    """The network's result: output spike times (the cluster is the earliest line)."""

    name = "tnn.output"
    outputs = var_operand_def(TimesType)
    traits = traits_def(IsTerminator(), HasParent(NetworkOp))
    assembly_format = "$outputs attr-dict `:` type($outputs)"


@irdl_op_definition
class EncodeOp(IRDLOperation):
    """Values to spike times (`kind` = grf | latency): z-normalise, project, code each value on `fields` lines.

    lo/hi: each projected feature's range; projection: (D, d) or empty (docs/tnn.md, "Encoders").
    """

    name = "tnn.encode"
    input = operand_def(TensorType)
    kind = prop_def(StringAttr)
    fields = prop_def(IntegerAttr[I64])
    znorm = prop_def(IntegerAttr[I64])
    lo = prop_def(DenseIntOrFPElementsAttr)
    hi = prop_def(DenseIntOrFPElementsAttr)
    projection = prop_def(DenseIntOrFPElementsAttr)
    output = result_def(TimesType)
    assembly_format = (
        "$input `kind` `=` $kind `fields` `=` $fields `znorm` `=` $znorm `lo` `=` $lo `hi` `=` $hi "
        "`projection` `=` $projection attr-dict `:` type($input) `->` type($output)"
    )

    def verify_(self) -> None:
        kind, m = self.kind.data, self.fields.value.data
        if kind not in ("grf", "latency"):
            raise _fail(self, "kind", f"must be grf or latency, got '{kind}'")
        if m < 1 or (kind == "latency" and m != 1):
            raise _fail(self, "fields", f"must be >= 1 (1 for latency), got {m}")
        d = math.prod(self.lo.get_shape())
        if tuple(self.hi.get_shape()) != tuple(self.lo.get_shape()):
            raise _fail(self, "hi", f"has shape {list(self.hi.get_shape())}, lo {list(self.lo.get_shape())}")
        assert isinstance(self.input.type, TensorType)
        width = math.prod(self.input.type.get_shape()[1:])
        proj = tuple(self.projection.get_shape())
        if math.prod(proj) and proj != (width, d):
            raise _fail(self, "projection", f"has shape {list(proj)}, expected [{width}, {d}] (input values x features)")
        if not math.prod(proj) and d != width:
            raise _fail(self, "lo", f"has {d} features, the input has {width} values and no projection")
        if _lines(self.output.type) != d * m:
            raise _fail(self, "result", f"has {_lines(self.output.type)} lines, expected {d} features x {m} fields")


class _ColumnsOp(IRDLOperation):
    """Common checks of tnn.layer (C columns) and tnn.column (one): fields, weights, theta, k, response."""

    input = operand_def(TimesType)
    fields = prop_def(DenseIntOrFPElementsAttr)
    weights = prop_def(DenseIntOrFPElementsAttr)
    theta = prop_def(DenseIntOrFPElementsAttr)
    k = prop_def(IntegerAttr[I64])
    response = prop_def(StringAttr)
    layer = prop_def(StringAttr)
    output = result_def(TimesType)

    def check(self, batch: tuple[int, ...]) -> tuple[int, int]:
        w = tuple(self.weights.get_shape())
        if len(w) != len(batch) + 2 or w[: len(batch)] != batch:
            raise _fail(self, "weights", f"have shape {list(w)}, expected {list(batch)} + [q, p]")
        q, p = w[-2:]
        if tuple(self.fields.get_shape()) != (*batch, p):
            raise _fail(self, "fields", f"have shape {list(self.fields.get_shape())}, expected {[*batch, p]}")
        if tuple(self.theta.get_shape()) != (*batch, q):
            raise _fail(self, "theta", f"has shape {list(self.theta.get_shape())}, expected {[*batch, q]}")
        net = network_of(self)
        top = wmax(net.weight_bits.value.data)
        weights, fields = to_numpy(self.weights), to_numpy(self.fields)
        if weights.size and (weights.min() < 0 or weights.max() > top):
            raise _fail(
                self, "weights", f"must be in 0..{top} ({net.weight_bits.value.data} bits), got {weights.min()}..{weights.max()}"
            )
        n_in = _lines(self.input.type)
        if fields.size and (fields.min() < 0 or fields.max() >= n_in):
            raise _fail(self, "fields", f"index lines 0..{n_in - 1} of the input, got {fields.min()}..{fields.max()}")
        if (to_numpy(self.theta) < 0).any():
            raise _fail(self, "theta", "must be non-negative")
        if not 1 <= self.k.value.data <= q:
            raise _fail(self, "k", f"must be in 1..{q} (the column's neurons), got {self.k.value.data}")
        if self.response.data not in RESPONSES:
            raise _fail(self, "response", f"must be one of {', '.join(RESPONSES)}, got '{self.response.data}'")
        if _lines(self.output.type) != math.prod(batch) * q:
            raise _fail(self, "result", f"has {_lines(self.output.type)} lines, expected {math.prod(batch) * q}")
        return q, p


@irdl_op_definition
class LayerOp(_ColumnsOp):
    """C columns of p synapses x q neurons (weights C x q x p, fields C x p, theta C x q); output = columns in order.

    `rng_state`: each column's xorshift32 state (docs/tnn.md, "Random source").
    """

    name = "tnn.layer"
    rng_state = prop_def(DenseIntOrFPElementsAttr)
    assembly_format = (
        "$input `fields` `=` $fields `weights` `=` $weights `theta` `=` $theta `k` `=` $k `response` `=` $response "
        "`rng_state` `=` $rng_state `layer` `=` $layer attr-dict `:` type($input) `->` type($output)"
    )

    def verify_(self) -> None:
        columns = self.weights.get_shape()[0] if self.weights.get_shape() else 0
        self.check((columns,))
        if tuple(self.rng_state.get_shape()) != (columns,):
            raise _fail(self, "rng_state", f"has shape {list(self.rng_state.get_shape())}, expected [{columns}]")


@irdl_op_definition
class ColumnOp(_ColumnsOp):
    """One column on one TNN core (core level): checked against the chip's tnn_column limits.

    `column`: its index in the network (seeds its random constants); `rng_state`: its random state.
    After mapping: `core` (core index), `x`, `y` (mesh position), `dests` (cores its spikes reach).
    """

    name = "tnn.column"
    column = prop_def(IntegerAttr[I64])
    rng_state = prop_def(IntegerAttr[I64])
    core = opt_prop_def(IntegerAttr[I64])
    x = opt_prop_def(IntegerAttr[I64])
    y = opt_prop_def(IntegerAttr[I64])
    dests = opt_prop_def(DenseIntOrFPElementsAttr)
    assembly_format = (
        "$input `fields` `=` $fields `weights` `=` $weights `theta` `=` $theta `k` `=` $k `response` `=` $response "
        "`column` `=` $column `rng_state` `=` $rng_state `layer` `=` $layer (`core` `=` $core^)? (`x` `=` $x^)? "
        "(`y` `=` $y^)? (`dests` `=` $dests^)? attr-dict `:` type($input) `->` type($output)"
    )

    def verify_(self) -> None:
        q, p = self.check(())
        net = network_of(self)
        if net.chip is None:
            raise VerifyException(f"tnn.column '{self.layer.data}': the tnn.network has no chip (tnn.column is core level)")
        for problem in column_limits(self.layer.data, p, q, self.k.value.data, self.response.data,
                                     int(to_numpy(self.theta).max(initial=0)), net.chip.data):  # fmt: skip
            raise VerifyException(f"tnn.column {problem}")


def column_limits(layer: str, p: int, q: int, k: int, response: str, theta: int, chip) -> list[str]:
    """Each way a p x q column breaks the chip's tnn_column core kind, as 'layer: limit, value, fix'."""
    kind = chip.tnn_column
    if kind is None:
        return [f"'{layer}': chip '{chip.name}' has no tnn_column core kind: use a chip with a tnn_column section (e.g. tnn16)"]
    out = []
    if p > kind["synapses"]:
        out.append(f"'{layer}': {p} synapses per neuron, chip '{chip.name}' tnn_column.synapses is {kind['synapses']}: "
                   "use fewer encoder fields or --project, or smaller receptive fields")  # fmt: skip
    if q > kind["neurons"]:
        out.append(f"'{layer}': {q} neurons per column, chip '{chip.name}' tnn_column.neurons is {kind['neurons']}: "
                   "k-WTA spans the whole column, so it cannot be split; use fewer clusters or a larger chip")  # fmt: skip
    if k > kind["max_k"]:
        out.append(f"'{layer}': k = {k}, chip '{chip.name}' tnn_column.max_k is {kind['max_k']}")
    if response not in kind["response"]:
        out.append(f"'{layer}': response {response}, chip '{chip.name}' supports {', '.join(kind['response'])}")
    if theta >= 1 << kind["threshold_bits"]:
        out.append(f"'{layer}': threshold {theta}, chip '{chip.name}' tnn_column.threshold_bits {kind['threshold_bits']} "
                   f"holds at most {(1 << kind['threshold_bits']) - 1}")  # fmt: skip
    return out


@irdl_op_definition
class ConcatOp(IRDLOperation):
    """Lines of several values side by side, in operand order (a layer's columns)."""

    name = "tnn.concat"
    inputs = var_operand_def(TimesType)
    output = result_def(TimesType)
    assembly_format = "$inputs attr-dict `:` type($inputs) `->` type($output)"

    def verify_(self) -> None:
        total = sum(_lines(v.type) for v in self.inputs)
        if _lines(self.output.type) != total:
            raise VerifyException(f"tnn.concat: result has {_lines(self.output.type)} lines, the inputs {total}")


def none_code(op: IRDLOperation) -> int:
    net = op if isinstance(op, NetworkOp) else network_of(op)
    return no_spike(net.time_bits.value.data)


def probabilities(net: NetworkOp) -> dict[str, int]:
    return dict(zip(STDP_CASES, (int(v) for v in np.asarray(to_numpy(net.stdp))), strict=True))


TNN = Dialect("tnn", [NetworkOp, OutputOp, EncodeOp, LayerOp, ColumnOp, ConcatOp], [TimesType])
