"""A front-end-neutral builder of `snn` IR.

Front ends (torch, later NIR) describe a network layer by layer with numpy
arrays; the builder owns every detail of the IR (types, properties, names).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from xdsl.builder import Builder
from xdsl.dialects.builtin import (
    DenseArrayBase,
    Float32Type,
    Float64Type,
    IntegerAttr,
    ModuleOp,
    StringAttr,
    TensorType,
    i64,
)
from xdsl.ir import Block, Region, SSAValue
from xdsl.rewriter import InsertPoint

from nmc.dialects import snn
from nmc.dialects.ir_arrays import from_numpy, ir_name
from nmc.options import DECODINGS, ENCODINGS

if TYPE_CHECKING:
    import numpy as np


class NetworkBuilder:
    """Builds one `snn.network` op inside a module."""

    def __init__(
        self,
        name: str,
        input_shapes: Sequence[Sequence[int]],
        *,
        ticks: int,
        dt: float = 1e-3,
        input_names: Sequence[str] | None = None,
    ):
        types = [TensorType(Float32Type(), list(s)) for s in input_shapes]
        self._block = Block(arg_types=types)
        for arg, n in zip(self._block.args, input_names or ["x"] * len(types), strict=True):
            arg.name_hint = ir_name(n)
        self.network = snn.NetworkOp.build(
            properties={
                "sym_name": StringAttr(ir_name(name)),
                "ticks": IntegerAttr(ticks, i64),
                "dt": snn.f64(dt),
            },
            regions=[Region(self._block)],
        )
        self._b = Builder(InsertPoint.at_end(self._block))

    @property
    def inputs(self) -> tuple[SSAValue, ...]:
        return tuple(self._block.args)

    def _add(self, op: snn.IRDLOperation, name: str | None) -> SSAValue:
        self._b.insert(op)
        result = op.results[0]
        if name:
            result.name_hint = ir_name(name)
        return result

    # ---------------------------------------------------------------- encoders

    def encode(
        self, x: SSAValue, kind: str = "direct", *, scale: float = 1.0, seed: int = 0, name: str | None = None
    ) -> SSAValue:
        shape = snn.shape_of(x.type)
        props = {"scale": snn.f64(scale)}
        if kind == "direct":
            op = snn.EncodeDirectOp.build(operands=[x], result_types=[snn.CurrentType(shape)], properties=props)
        elif kind == "rate":
            op = snn.EncodeRateOp.build(operands=[x], result_types=[snn.SpikesType(shape)], properties=props)
        elif kind == "poisson":
            props["seed"] = IntegerAttr(seed, i64)
            op = snn.EncodePoissonOp.build(operands=[x], result_types=[snn.SpikesType(shape)], properties=props)
        elif kind == "spikes":
            op = snn.EncodeSpikesOp.build(operands=[x], result_types=[snn.SpikesType(shape)])
        else:
            raise ValueError(f"unknown encoding '{kind}' (expected one of {', '.join(ENCODINGS)})")
        return self._add(op, name or "input")

    # ---------------------------------------------------------------- projections

    def dense(self, x: SSAValue, weight: np.ndarray, bias: np.ndarray | None = None, name: str | None = None) -> SSAValue:
        props = {"weights": from_numpy(weight)}
        if bias is not None:
            props["bias"] = from_numpy(bias)
        op = snn.DenseOp.build(operands=[x], result_types=[snn.CurrentType([weight.shape[0]])], properties=props)
        return self._add(op, name)

    def conv2d(
        self,
        x: SSAValue,
        weight: np.ndarray,
        bias: np.ndarray | None,
        stride: Sequence[int],
        padding: Sequence[int],
        name: str | None = None,
    ) -> SSAValue:
        _, h, w = snn.shape_of(x.type)
        ho, wo = snn.conv_output_hw((h, w), tuple(weight.shape[2:]), tuple(stride), tuple(padding))
        props = {
            "weights": from_numpy(weight),
            "stride": DenseArrayBase.from_list(i64, list(stride)),
            "padding": DenseArrayBase.from_list(i64, list(padding)),
        }
        if bias is not None:
            props["bias"] = from_numpy(bias)
        out = snn.CurrentType([weight.shape[0], ho, wo])
        return self._add(snn.Conv2dOp.build(operands=[x], result_types=[out], properties=props), name)

    def pool2d(self, x: SSAValue, kind: str, kernel: Sequence[int], stride: Sequence[int], name: str | None = None) -> SSAValue:
        c, h, w = snn.shape_of(x.type)
        ho, wo = snn.conv_output_hw((h, w), tuple(kernel), tuple(stride), (0, 0))
        props = {
            "kind": snn.PoolKindAttr(snn.PoolKind(kind)),
            "kernel": DenseArrayBase.from_list(i64, list(kernel)),
            "stride": DenseArrayBase.from_list(i64, list(stride)),
        }
        out = snn.CurrentType([c, ho, wo])
        return self._add(snn.Pool2dOp.build(operands=[x], result_types=[out], properties=props), name)

    def flatten(self, x: SSAValue, name: str | None = None) -> SSAValue:
        t = x.type
        assert isinstance(t, snn.SpikesType | snn.CurrentType)
        if len(t.dims) == 1:
            return x
        return self._add(snn.FlattenOp.build(operands=[x], result_types=[type(t)([t.size])]), name)

    def reshape(self, x: SSAValue, shape: Sequence[int], name: str | None = None) -> SSAValue:
        t = x.type
        assert isinstance(t, snn.SpikesType | snn.CurrentType)
        if tuple(t.dims) == tuple(shape):
            return x
        return self._add(snn.ReshapeOp.build(operands=[x], result_types=[type(t)(list(shape))]), name)

    def delay(self, x: SSAValue, ticks: int, name: str | None = None) -> SSAValue:
        op = snn.DelayOp.build(operands=[x], result_types=[x.type], properties={"ticks": IntegerAttr(ticks, i64)})
        return self._add(op, name)

    def loop(self, shape: Sequence[int], ticks: int = 1, name: str | None = None) -> SSAValue:
        """The back edge of a loop: spikes of a population built later, `ticks` late. Close it with `close_loop`."""
        t = snn.SpikesType(list(shape))
        op = snn.DelayOp.build(operands=[self.inputs[0]], result_types=[t], properties={"ticks": IntegerAttr(ticks, i64)})
        value = self._add(op, name)
        op.operands = [value]  # a placeholder of the right type until close_loop
        return value

    def close_loop(self, loop: SSAValue, source: SSAValue) -> None:
        """Point the back edge `loop` at the population whose spikes it carries."""
        assert isinstance(loop.owner, snn.DelayOp)
        loop.owner.operands = [source]

    def add(self, xs: Sequence[SSAValue], scales: Sequence[float] | None = None, name: str | None = None) -> SSAValue:
        scales = list(scales) if scales is not None else [1.0] * len(xs)
        shape = snn.shape_of(xs[0].type)
        op = snn.AddOp.build(
            operands=[list(xs)],
            result_types=[snn.CurrentType(shape)],
            properties={"scales": DenseArrayBase.from_list(Float64Type(), scales)},
        )
        return self._add(op, name)

    # ---------------------------------------------------------------- neurons

    def neuron(
        self,
        x: SSAValue,
        *,
        threshold: float,
        beta: float | None = None,
        reset: str = "subtract",
        compare: str = "ge",
        v_init: float = 0.0,
        max_spikes: int = 1,
        name: str | None = None,
    ) -> SSAValue:
        """An IF population (`beta=None`) or a LIF population with decay `beta` per tick."""
        props = {
            "threshold": snn.f64(threshold),
            "reset": snn.ResetModeAttr(snn.ResetMode(reset)),
            "compare": snn.CompareAttr(snn.Compare(compare)),
            "v_init": snn.f64(v_init),
        }
        if max_spikes != 1:
            props["max_spikes"] = IntegerAttr(max_spikes, i64)
        result = [snn.SpikesType(snn.shape_of(x.type))]
        if beta is None:
            op = snn.IFOp.build(operands=[x], result_types=result, properties=props)
        else:
            op = snn.LIFOp.build(operands=[x], result_types=result, properties={**props, "beta": snn.f64(beta)})
        return self._add(op, name)

    def cuba_neuron(
        self, x: SSAValue, *, threshold: float, alpha: float, beta: float, reset: str = "zero", compare: str = "gt",
        v_init: float = 0.0, max_spikes: int = 1, name: str | None = None,
    ) -> SSAValue:  # fmt: skip
        """A current-based LIF population: synaptic current decay `alpha`, membrane decay `beta` per tick."""
        props = {
            "threshold": snn.f64(threshold),
            "reset": snn.ResetModeAttr(snn.ResetMode(reset)),
            "compare": snn.CompareAttr(snn.Compare(compare)),
            "v_init": snn.f64(v_init),
            "alpha": snn.f64(alpha),
            "beta": snn.f64(beta),
        }
        if max_spikes != 1:
            props["max_spikes"] = IntegerAttr(max_spikes, i64)
        op = snn.CubaLIFOp.build(operands=[x], result_types=[snn.SpikesType(snn.shape_of(x.type))], properties=props)
        return self._add(op, name)

    # ---------------------------------------------------------------- decoders

    def decode(
        self, x: SSAValue, kind: str = "count", *, beta: float = 1.0, alpha: float | None = None, name: str | None = None
    ) -> SSAValue:
        out = [TensorType(Float32Type(), list(snn.shape_of(x.type)))]
        if kind == "count":
            op = snn.DecodeCountOp.build(operands=[x], result_types=out)
        elif kind == "first-spike":
            op = snn.DecodeFirstSpikeOp.build(operands=[x], result_types=out)
        elif kind == "membrane":
            props = {"beta": snn.f64(beta)} | ({"alpha": snn.f64(alpha)} if alpha is not None else {})
            op = snn.DecodeMembraneOp.build(operands=[x], result_types=out, properties=props)
        else:
            raise ValueError(f"unknown decoding '{kind}' (expected one of {', '.join(DECODINGS)})")
        return self._add(op, name or "output")

    def finish(self, outputs: Sequence[SSAValue]) -> ModuleOp:
        """Close the network and return a verified module holding it."""
        self._b.insert(snn.OutputOp.build(operands=[list(outputs)]))
        module = ModuleOp([self.network])
        module.verify()
        return module
