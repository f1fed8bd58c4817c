"""Reference semantics of the `core` dialect (docs/chip-model.md), vectorized over a batch.

Float groups compute in the interpreter's float type; integer groups in int64
with the chip's saturation. One tick: every group reads the previous tick's
outputs of the groups it listens to (after their axon delays) and the current
tick's host inputs, then all groups update at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from nmc.chips import Chip
from nmc.chips.errors import NmcError
from nmc.dialects import core
from nmc.dialects.core_ir import read_group
from nmc.dialects.ir_arrays import to_numpy
from nmc.runtime.encoders import Encoder
from nmc.runtime.int8 import fits_int8, int8_available, int8_matmul, int8_operand
from nmc.runtime.spike_counts import multi_spikes

CHUNK = 128


@dataclass
class CoreRun:
    outputs: list[np.ndarray]
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    """Spikes `[ticks, batch, n]` of every spiking group by layer name, aligned to the source model's ticks."""
    chip_ticks: int = 0
    synaptic_events: int = 0


def find_core_network(module: ModuleOp | core.NetworkOp) -> core.NetworkOp:
    if isinstance(module, core.NetworkOp):
        return module
    nets = [op for op in module.walk() if isinstance(op, core.NetworkOp)]
    if len(nets) != 1:
        raise NmcError(f"expected exactly one core.network in the module, found {len(nets)}")
    return nets[0]


class _GroupState:
    def __init__(self, op: core.NeuronsOp, chip: Chip, batch: int, dtype: Any):
        from scipy import sparse

        g = read_group(op)
        self.name = g.layer
        self.mode = g.mode
        self.integer = g.integer
        self.dtype = np.dtype(np.int64) if g.integer else np.dtype(dtype)
        self.matrix = sparse.csr_matrix((g.weight.astype(self.dtype), (g.post, g.pre)), shape=(g.size, op.fan_in_space))
        self.threshold = g.threshold.astype(self.dtype)
        self.bias = g.bias.astype(self.dtype)
        self.v = np.broadcast_to(g.v_init.astype(self.dtype), (batch, g.size)).copy()
        self.beta = g.beta
        self.shift = g.decay_shift or 0
        self.mult = g.decay_mult or 1
        # a current-based group's synaptic current (docs/neuron-families.md), in the membrane's type and range
        self.alpha = g.alpha
        self.current_based = g.current_based
        self.c_shift, self.c_mult = g.current_shift or 0, g.current_mult or 1
        self.i = np.zeros((batch, g.size), self.dtype) if g.current_based else None
        self.max_spikes = g.attributes["max_spikes"].value.data if "max_spikes" in g.attributes else 1
        self.greater = g.compare == "gt"
        self.reset = g.reset
        self.delays = list(op.delays.get_values())
        self.out_degree = np.bincount(g.pre, minlength=op.fan_in_space).astype(np.int64)
        self.lo, self.hi = Chip.signed_range(chip.core["membrane_bits"])
        self.psum_lo, self.psum_hi = Chip.signed_range(chip.core["partial_sum_bits"])
        # Integer groups multiply in float32/float64 when the products provably stay exact (every
        # partial sum below 2**24 / 2**53), through BLAS when the matrix is dense enough.
        self.row_abs = float(np.bincount(g.post, np.abs(g.weight).astype(np.float64), minlength=g.size).max(initial=0))
        self.dense = g.integer and g.pre.size >= 0.05 * g.size * op.fan_in_space
        self.exact: dict[Any, Any] = {}
        # with torch loaded, dense groups of 8-bit weights multiply 8-bit inputs (spikes) by int8 GEMMs
        fits = self.dense and fits_int8(g.weight.min(initial=0), g.weight.max(initial=0))
        self.int8_weights = int8_operand(self._exact_matrix(np.float32)) if fits and int8_available() else None

    def _exact_matrix(self, kind: Any) -> Any:
        if kind not in self.exact:
            m = self.matrix.astype(kind)
            self.exact[kind] = np.ascontiguousarray(m.toarray().T) if self.dense else m.T.tocsr()
        return self.exact[kind]

    def _current(self, x: np.ndarray) -> np.ndarray:
        if not self.integer:
            return (self.matrix @ x.T).T
        peak = max(float(x.max(initial=0)), -float(x.min(initial=0)))
        bound = self.row_abs * peak
        if bound >= 2**53:
            return (self.matrix @ x.astype(np.int64).T).T
        kind = np.float32 if bound < 2**24 else np.float64
        if kind == np.float32 and self.int8_weights is not None and peak <= 127:
            return int8_matmul(x, self.int8_weights).astype(np.int64)  # int32 sums, exact below 2**24 as well
        return np.asarray(x.astype(kind, copy=False) @ self._exact_matrix(kind)).astype(np.int64)

    def _leak_and_add(self, x: np.ndarray, current: np.ndarray, factor: float | None, shift: int, mult: int) -> np.ndarray:
        """decay(x) + current: x - ((x * mult) >> shift), saturated to the membrane's range (integer groups), or
        factor * x + current (float groups)."""
        if self.integer:
            if shift:
                x = x - ((x * mult) >> shift)
            return np.clip(x + current, self.lo, self.hi)
        return (self.dtype.type(factor) * x if factor not in (None, 1.0) else x) + current

    def step(self, x: np.ndarray) -> np.ndarray:
        current = self._current(x) + self.bias
        if self.mode == "psum":
            return np.clip(current, self.psum_lo, self.psum_hi) if self.integer else current
        if self.i is not None:  # the synaptic current, decayed as the membrane is; the membrane adds it
            self.i = current = self._leak_and_add(self.i, current, self.alpha, self.c_shift, self.c_mult)
        v = self._leak_and_add(self.v, current, self.beta, self.shift, self.mult)
        if self.mode == "integrate":
            self.v = v
            return v
        if self.max_spikes > 1 and not self.integer:  # several spikes per tick: the snn level's count
            s = multi_spikes(v, self.threshold, self.greater, self.max_spikes).astype(self.dtype)
            self.v = v - s * self.threshold
            return s
        fired = v > self.threshold if self.greater else v >= self.threshold
        s = fired.astype(self.dtype)
        if self.reset == "subtract":
            v = v - s * self.threshold
        elif self.reset == "zero":
            v = np.where(fired, self.dtype.type(0), v)
        self.v = v
        return s


def run_core(
    module: ModuleOp | core.NetworkOp,
    inputs: np.ndarray | Sequence[np.ndarray],
    *,
    dtype: Any = np.float32,
    record: bool = False,
    chip: Chip | None = None,
) -> CoreRun:
    """Run a core network on a batch for `ticks` + its latency chip ticks.

    Large batches run in chunks of `CHUNK` samples (smaller arrays, much faster) unless an input is
    Poisson-coded: its random stream depends on the whole batch's shape, so it runs in one piece.
    """
    net = find_core_network(module)
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    poisson = any(isinstance(op, core.InputOp) and op.encoding.data == core.Encoding.POISSON for op in net.body.block.ops)
    if arrays and len(arrays[0]) > CHUNK and not poisson:
        parts = [
            run_core(net, [a[i : i + CHUNK] for a in arrays], dtype=dtype, record=record, chip=chip)
            for i in range(0, len(arrays[0]), CHUNK)
        ]
        outputs = [np.concatenate(o) for o in zip(*(p.outputs for p in parts), strict=True)]
        traces = {k: np.concatenate([p.traces[k] for p in parts], axis=1) for k in parts[0].traces}
        return CoreRun(outputs, traces, parts[0].chip_ticks, sum(p.synaptic_events for p in parts))
    chip = chip or net.chip.data
    block = net.body.block
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if len(arrays) != len(block.args):
        raise NmcError(f"@{net.sym_name.data} takes {len(block.args)} input(s), got {len(arrays)}")
    args: dict[SSAValue, np.ndarray] = {}
    ticks = net.ticks.value.data
    trains = {op.input for op in block.ops if isinstance(op, core.InputOp) and op.encoding.data == core.Encoding.SPIKES}
    for arg, x in zip(block.args, arrays, strict=True):
        shape = tuple(arg.type.get_shape())
        x = np.asarray(x, dtype=dtype)
        if (x.shape[2:] if arg in trains else x.shape[1:]) != shape or x.ndim < 2:
            want = f"[ticks, {', '.join(map(str, shape))}] (a spike train)" if arg in trains else str(list(shape))
            raise NmcError(f"input #{arg.index} has shape {list(x.shape[1:])} per sample, expected {want}")
        if arg in trains:
            ticks = x.shape[1]  # a spike-train run lasts as long as its input
        args[arg] = x
    batch = arrays[0].shape[0]
    encoders: dict[SSAValue, Encoder] = {}
    groups: list[tuple[core.NeuronsOp, _GroupState]] = []
    decoders: list[core.DecodeOp] = []
    for op in block.ops:
        if isinstance(op, core.InputOp):
            levels = None if op.levels is None else op.levels.value.data
            encoders[op.output] = Encoder(
                op.encoding.data.value, args[op.input], op.scale.value.data, op.seed.value.data, levels, np.dtype(dtype)
            )
        elif isinstance(op, core.NeuronsOp):
            groups.append((op, _GroupState(op, chip, batch, dtype)))
        elif isinstance(op, core.DecodeOp):
            decoders.append(op)
    latency = max((d.latency.value.data for d in decoders), default=0)
    total = ticks + latency
    ring = 2 + max((max(st.delays, default=0) for _, st in groups), default=0)
    history: dict[SSAValue, list[np.ndarray | None]] = {v: [None] * ring for v in [*encoders, *(o.output for o, _ in groups)]}
    zero = {v: np.zeros((batch, core.size_of(v.type)), dtype=np.dtype(dtype)) for v in history}

    arrival = core.arrivals(block)
    depth = {op.output: arrival[op.output] - 1 for op, _ in groups}

    def read(v: SSAValue, tick: int) -> np.ndarray:
        if tick < 0:
            return zero[v]
        value = history[v][tick % ring]
        return zero[v] if value is None else value

    traces: dict[str, list[np.ndarray]] = {st.name: [] for op, st in groups if record and st.mode == "spike"}
    counts: dict[SSAValue, np.ndarray] = {}
    events = 0
    for tick in range(total):
        for v, enc in encoders.items():
            history[v][tick % ring] = enc.step() if tick < ticks else zero[v]
        outs = []
        for op, st in groups:
            if tick < depth[op.output]:
                continue  # a group starts at its depth, holding v_init until then
            parts = [
                read(v, tick - (1 if isinstance(v.owner, core.NeuronsOp) else 0) - d)
                for v, d in zip(op.inputs, st.delays, strict=True)
            ]
            x = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]
            if st.integer and x.dtype.kind == "f":
                x = np.trunc(x)  # host values reach integer groups as integers (the int64 cast truncated)
            events += int(np.count_nonzero(x, axis=0) @ st.out_degree)
            outs.append((op.output, st.step(x)))
        for v, out in outs:
            history[v][tick % ring] = out
        for op, st in groups:
            if st.name in traces and depth[op.output] <= tick < depth[op.output] + ticks:
                traces[st.name].append(history[op.output][tick % ring].astype(np.uint8))
        for d in decoders:
            counts[d.output] = _decode_step(d, read(d.input, tick), tick, ticks, counts.get(d.output))
    outputs = []
    states = {op.output: st for op, st in groups}
    for d in decoders:
        if d.kind.data == core.Decoding.MEMBRANE:
            v = states[d.input].v.astype(np.float64)
            value = v * (to_numpy(d.scale) if d.scale is not None else 1.0)
        else:
            value = counts[d.output]
        outputs.append(value.reshape((batch, *d.output.type.get_shape())).astype(np.float32))
    out_op = block.last_op
    assert isinstance(out_op, core.OutputOp)
    by_value = {d.output: o for d, o in zip(decoders, outputs, strict=True)}
    return CoreRun([by_value[v] for v in out_op.outputs], {k: np.stack(v) for k, v in traces.items() if v}, total, events)


def _decode_step(d: core.DecodeOp, x: np.ndarray, tick: int, ticks: int, acc: np.ndarray | None) -> np.ndarray:
    lag = d.latency.value.data
    t = tick - lag
    if d.kind.data == core.Decoding.COUNT:
        acc = np.zeros(x.shape, np.float64) if acc is None else acc
        return acc + x if 0 <= t < ticks else acc
    if d.kind.data == core.Decoding.FIRST_SPIKE:
        acc = np.full(x.shape, float(ticks)) if acc is None else acc
        if 0 <= t < ticks:
            acc = np.where((acc == ticks) & (x > 0), float(t), acc)
        return acc
    return np.zeros(0) if acc is None else acc
