"""Interpreter of `tnn.network` IR at the snn level (tnn.layer) and the core level (tnn.column).

Values are evaluated op by op in program order with the reference arithmetic of
`nmc.runtime.tnn_ref`; with `learn`, samples run one at a time and every column applies STDP
after each, starting from the random states the IR holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from nmc.chips.errors import NmcError
from nmc.chips.tnn_format import synapse_constants
from nmc.dialects import tnn
from nmc.dialects.ir_arrays import to_numpy
from nmc.runtime.tnn_encode import Encoder, encode
from nmc.runtime.tnn_ref import Column, Stdp, column_times, stdp_update, winners


@dataclass
class TnnRun:
    outputs: np.ndarray  # (N, lines) output spike times of the network's result
    winners: np.ndarray  # (N,) cluster per sample, -1 where no output line spiked
    weights: dict[int, np.ndarray] = field(default_factory=dict)  # column index -> weights after the run
    traces: dict[str, np.ndarray] = field(default_factory=dict)  # value name -> times (with record)


def find_tnn_network(module: ModuleOp | tnn.NetworkOp) -> tnn.NetworkOp:
    if isinstance(module, tnn.NetworkOp):
        return module
    nets = [op for op in module.walk() if isinstance(op, tnn.NetworkOp)]
    if not nets:
        raise NmcError("the module holds no tnn.network")
    return nets[0]


def encoder_of(op: tnn.EncodeOp, time_bits: int) -> Encoder:
    proj = np.array(to_numpy(op.projection), np.float64)
    shape = tuple(op.input.type.get_shape()[1:])  # type: ignore[attr-defined]
    return Encoder(op.kind.data, time_bits, op.fields.value.data, np.array(to_numpy(op.lo), np.float64),
                   np.array(to_numpy(op.hi), np.float64), shape, proj if proj.size else None,
                   bool(op.znorm.value.data))  # fmt: skip


@dataclass
class _Unit:
    """One column of the network as the interpreter runs it."""

    index: int
    column: Column
    state: int
    constants: np.ndarray


def _units(op: tnn.LayerOp | tnn.ColumnOp, seed: int, first: int) -> list[_Unit]:
    fields, weights, theta = (np.array(to_numpy(a), np.int64) for a in (op.fields, op.weights, op.theta))
    if isinstance(op, tnn.ColumnOp):
        fields, weights, theta, states, first = (
            fields[None],
            weights[None],
            theta[None],
            [op.rng_state.value.data],
            op.column.value.data,
        )
    else:
        states = [int(s) for s in to_numpy(op.rng_state)]
    out = []
    for c in range(weights.shape[0]):
        col = Column(fields[c], weights[c].copy(), theta[c], op.k.value.data, op.response.data)
        out.append(_Unit(first + c, col, int(states[c]), synapse_constants(seed, first + c, weights[c].size)))
    return out


def run_tnn(module: ModuleOp | tnn.NetworkOp, x: np.ndarray, learn: bool = False, record: bool = False) -> TnnRun:
    """Output times and winners for raw samples x (N, *input_shape); `learn` applies STDP sample by sample."""
    net = find_tnn_network(module)
    b, bw, seed = net.time_bits.value.data, net.weight_bits.value.data, net.seed.value.data
    rule = Stdp(tnn.probabilities(net), bool(net.stabilise.value.data), seed)
    block = net.body.block
    plan: list[tuple[object, list[_Unit]]] = []
    first = 0
    for op in block.ops:
        units = _units(op, seed, first) if isinstance(op, tnn.LayerOp | tnn.ColumnOp) else []
        first += len(units) if isinstance(op, tnn.LayerOp) else 0
        plan.append((op, units))
    enc = next(op for op in block.ops if isinstance(op, tnn.EncodeOp))
    times = encode(encoder_of(enc, b), x)

    def evaluate(inp: np.ndarray, learning: bool) -> dict[SSAValue, np.ndarray]:
        values: dict[SSAValue, np.ndarray] = {}
        for op, units in plan:
            if isinstance(op, tnn.EncodeOp):
                values[op.output] = inp
            elif isinstance(op, tnn.ConcatOp):
                values[op.output] = np.concatenate([values[v] for v in op.inputs], axis=1)
            elif units:
                src = values[op.input]  # type: ignore[attr-defined]
                outs = []
                for u in units:
                    xin = src[:, u.column.fields]
                    y = column_times(xin, u.column, b)
                    if learning:
                        u.column.weights[...], u.state = stdp_update(
                            xin[0], y[0], u.column.weights, u.state, u.constants, rule, b, bw
                        )
                    outs.append(y)
                values[op.results[0]] = np.concatenate(outs, axis=1)
        return values

    out_op = block.last_op
    assert isinstance(out_op, tnn.OutputOp)
    if learn:
        per_sample = [evaluate(times[n : n + 1], True) for n in range(len(times))]
        values = {v: np.concatenate([s[v] for s in per_sample]) for v in per_sample[0]} if per_sample else {}
    else:
        values = evaluate(times, False)
    lines = out_op.outputs[0].type.lines  # type: ignore[attr-defined]
    result = values[out_op.outputs[0]] if len(times) else np.zeros((0, lines), np.int64)
    run = TnnRun(result, winners(result, b), {u.index: u.column.weights for _, us in plan for u in us})
    if record:
        run.traces = {v.name_hint or f"v{i}": t for i, (v, t) in enumerate(values.items())}
    return run
