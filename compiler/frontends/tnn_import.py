"""A trained `nmc.tnn.TNN` as a `tnn.network` (snn level): encoder, layers, STDP rule and random state."""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import Float32Type, Float64Type, IntegerAttr, IntegerType, ModuleOp, StringAttr, TensorType, i64
from xdsl.ir import Block, Region

from nmc.chips.tnn_format import STDP_CASES
from nmc.dialects import tnn
from nmc.dialects.ir_arrays import from_numpy
from nmc.tnn import TNN

I64T = IntegerType(64)


def _i(v: int) -> IntegerAttr:
    return IntegerAttr(int(v), i64)


def import_tnn(model: TNN, name: str = "net") -> ModuleOp:
    enc = model.encoder
    block = Block(arg_types=[TensorType(Float32Type(), [1, *enc.input_shape])])
    proj = enc.projection if enc.projection is not None else np.zeros((0, 0))
    encode = tnn.EncodeOp.build(
        operands=[block.args[0]],
        result_types=[tnn.TimesType(enc.lines)],
        properties={
            "kind": StringAttr(enc.kind), "fields": _i(enc.fields), "znorm": _i(enc.znorm),
            "lo": from_numpy(enc.lo, Float64Type()), "hi": from_numpy(enc.hi, Float64Type()),
            "projection": from_numpy(proj, Float64Type()),
        },
    )  # fmt: skip
    encode.results[0].name_hint = "spikes"
    block.add_op(encode)
    value, first = encode.results[0], 0
    for i, layer in enumerate(model.layers):
        c = layer.columns
        op = tnn.LayerOp.build(
            operands=[value],
            result_types=[tnn.TimesType(c * layer.neurons)],
            properties={
                "fields": from_numpy(layer.fields.cpu().numpy(), I64T),
                "weights": from_numpy(layer.weight.cpu().numpy(), IntegerType(8)),
                "theta": from_numpy(layer.theta.cpu().numpy(), I64T),
                "k": _i(layer.k),
                "response": StringAttr(layer.response),
                "rng_state": from_numpy(model.rng_state[first : first + c].cpu().numpy(), I64T),
                "layer": StringAttr(f"layer{i}"),
            },
        )
        op.results[0].name_hint = f"layer{i}"
        block.add_op(op)
        value, first = op.results[0], first + c
    block.add_op(tnn.OutputOp.build(operands=[[value]]))
    net = tnn.NetworkOp.build(
        properties={
            "sym_name": StringAttr(name),
            "time_bits": _i(model.time_bits),
            "weight_bits": _i(model.weight_bits),
            "stdp": from_numpy(np.array([model.probabilities[c] for c in STDP_CASES]), I64T),
            "stabilise": _i(model.stabilise),
            "seed": _i(model.seed),
        },
        regions=[Region(block)],
    )
    return ModuleOp([net])
