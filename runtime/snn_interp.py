"""Reference semantics of the `snn` dialect: a vectorized numpy interpreter.

Every op of a network becomes one kernel working on a whole batch; the tick
loop calls the kernels in program order. This is the executable form of
docs/snn-dialect.md and the "before" side of every differential test.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue

from nmc.chips.errors import NmcError
from nmc.dialects import snn
from nmc.dialects.ir_arrays import to_numpy
from nmc.runtime.spike_counts import multi_spikes


@dataclass
class SnnRun:
    """What a run produced: decoded outputs (batch first) and, if asked, spike trains."""

    outputs: list[np.ndarray]
    traces: dict[str, np.ndarray] = field(default_factory=dict)
    """Spike trains `[ticks, batch, *shape]` of every neuron population and spike encoder, by name."""

    def output_spikes(self, module: ModuleOp | snn.NetworkOp) -> list[np.ndarray | None]:
        """Per network output, the spike train `[batch, ticks, *shape]` its decoder read (None: a membrane)."""
        block = find_network(module).body.block
        ops = [op for op in block.ops if not isinstance(op, snn.OutputOp)]
        out = block.last_op
        assert isinstance(out, snn.OutputOp)
        trains: list[np.ndarray | None] = []
        for v in out.outputs:
            src = v.owner.operands[0] if isinstance(v.owner, snn.DecodeCountOp | snn.DecodeFirstSpikeOp) else None
            name = value_name(src, ops.index(src.owner)) if src is not None and src.owner in ops else None
            trains.append(np.moveaxis(self.traces[name], 0, 1) if name in self.traces else None)
        return trains


Kernel = Callable[[list[np.ndarray], int], np.ndarray]


def value_name(value: SSAValue, fallback: int) -> str:
    return value.name_hint or f"v{fallback}"


def find_network(module: ModuleOp | snn.NetworkOp, name: str | None = None) -> snn.NetworkOp:
    if isinstance(module, snn.NetworkOp):
        return module
    nets = [op for op in module.walk() if isinstance(op, snn.NetworkOp)]
    if name is not None:
        nets = [n for n in nets if n.sym_name.data == name]
    if len(nets) != 1:
        what = f"named @{name}" if name else "in the module"
        raise NmcError(f"expected exactly one snn.network {what}, found {len(nets)}")
    return nets[0]


def run_snn(
    module: ModuleOp | snn.NetworkOp,
    inputs: np.ndarray | Sequence[np.ndarray],
    *,
    ticks: int | None = None,
    dtype: Any = np.float32,
    record: bool = False,
    observe: Callable[[Operation, Any, list[np.ndarray], np.ndarray], None] | None = None,
) -> SnnRun:
    """Run a network on a batch. `inputs` holds one array `[batch, *shape]` per network input. `observe(op, kernel,
    inputs, output)` is called after every op of every tick (a neuron kernel's `state` holds its membranes)."""
    net = find_network(module)
    block = net.body.block
    arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
    if len(arrays) != len(block.args):
        raise NmcError(f"@{net.sym_name.data} takes {len(block.args)} input(s), got {len(arrays)}")
    batch = None
    env: dict[SSAValue, np.ndarray] = {}
    trains = snn.spike_coded(block)
    for arg, x in zip(block.args, arrays, strict=True):
        shape = snn.shape_of(arg.type)
        x = np.asarray(x, dtype=dtype)
        per_sample = x.shape[2:] if arg in trains else x.shape[1:]
        if per_sample != shape or (arg in trains and x.ndim < 2):
            want = f"[ticks, {', '.join(map(str, shape))}] (a spike train)" if arg in trains else str(list(shape))
            raise NmcError(
                f"input #{arg.index} of @{net.sym_name.data} has shape {list(x.shape[1:])} per sample, expected {want}"
            )
        if arg in trains:
            ticks = x.shape[1] if ticks is None else ticks  # a spike-train run lasts as long as its input
        batch = x.shape[0] if batch is None else batch
        env[arg] = x
    n_ticks = ticks if ticks is not None else net.ticks.value.data
    ops = [op for op in block.ops if not isinstance(op, snn.OutputOp)]
    # A back edge (snn.delay of a value defined later) finds that value's previous tick in env: its kernel waits a
    # tick less; before the first tick it reads zeros.
    later = snn.back_edge_delays(block)
    kernels = [
        _delay(op, np.dtype(dtype), n_ticks, already=1) if op in later else _make_kernel(op, np.dtype(dtype), n_ticks)
        for op in ops
    ]
    zeros = {op.operands[0]: np.zeros((batch or 0, *snn.shape_of(op.operands[0].type)), dtype=np.dtype(dtype)) for op in later}
    recorded = [
        (i, value_name(op.results[0], i)) for i, op in enumerate(ops) if record and isinstance(op.results[0].type, snn.SpikesType)
    ]
    traces = {name: [] for _, name in recorded}
    for t in range(n_ticks):
        for op, kernel in zip(ops, kernels, strict=True):
            args = [env[v] if v in env else zeros[v] for v in op.operands]
            env[op.results[0]] = kernel(args, t)
            if observe is not None:
                observe(op, kernel, args, env[op.results[0]])
        for i, name in recorded:
            traces[name].append(env[ops[i].results[0]].astype(np.uint8))
    out_op = block.last_op
    assert isinstance(out_op, snn.OutputOp)
    outputs = [np.array(env[v]) for v in out_op.outputs]
    return SnnRun(outputs, {k: np.stack(v) for k, v in traces.items()})


# --------------------------------------------------------------------------- kernels


def _make_kernel(op: Operation, dtype: np.dtype, ticks: int) -> Kernel:
    maker = _KERNELS.get(type(op))
    if maker is None:
        raise NmcError(f"the snn interpreter cannot run '{op.name}'")
    return maker(op, dtype, ticks)


def _scalar(attr: Any) -> float:
    return float(attr.value.data)


def _encode_direct(op: snn.EncodeDirectOp, dtype: np.dtype, ticks: int) -> Kernel:
    scale = dtype.type(_scalar(op.scale))
    return lambda args, t: args[0] * scale


def _encode_rate(op: snn.EncodeRateOp, dtype: np.dtype, ticks: int) -> Kernel:
    scale = dtype.type(_scalar(op.scale))
    state: dict[str, np.ndarray] = {}

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        u = state.get("u", np.zeros_like(args[0])) + args[0] * scale
        s = (u >= 1).astype(dtype)
        state["u"] = u - s
        return s

    return step


def _encode_poisson(op: snn.EncodePoissonOp, dtype: np.dtype, ticks: int) -> Kernel:
    rng = np.random.default_rng(op.seed.value.data)
    scale = _scalar(op.scale)

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        p = np.clip(args[0].astype(np.float64) * scale, 0.0, 1.0)
        return (rng.random(p.shape) < p).astype(dtype)

    return step


def _encode_spikes(op: snn.EncodeSpikesOp, dtype: np.dtype, ticks: int) -> Kernel:
    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        x = args[0]
        return (x[:, t] != 0).astype(dtype) if t < x.shape[1] else np.zeros((x.shape[0], *x.shape[2:]), dtype)

    return step


def _dense(op: snn.DenseOp, dtype: np.dtype, ticks: int) -> Kernel:
    w = np.ascontiguousarray(to_numpy(op.weights).astype(dtype).T)
    b = None if op.bias is None else to_numpy(op.bias).astype(dtype)

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        y = args[0].reshape(args[0].shape[0], -1) @ w
        return y if b is None else y + b

    return step


def windows(x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...]) -> np.ndarray:
    """Sliding windows `[B, C, Ho, Wo, Kh, Kw]` of a `[B, C, H, W]` array (a view)."""
    win = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(2, 3))
    return win[:, :, :: stride[0], :: stride[1]]


def _conv2d(op: snn.Conv2dOp, dtype: np.dtype, ticks: int) -> Kernel:
    w = to_numpy(op.weights).astype(dtype)
    b = None if op.bias is None else to_numpy(op.bias).astype(dtype)
    stride = tuple(int(v) for v in op.stride.get_values())
    ph, pw = (int(v) for v in op.padding.get_values())
    kernel = w.shape[2:]

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        x = args[0]
        if ph or pw:
            x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        win = windows(x, kernel, stride)
        y = np.einsum("bchwij,ocij->bohw", win, w, optimize=True)
        return y if b is None else y + b[None, :, None, None]

    return step


def _pool2d(op: snn.Pool2dOp, dtype: np.dtype, ticks: int) -> Kernel:
    kernel = tuple(int(v) for v in op.kernel.get_values())
    stride = tuple(int(v) for v in op.stride.get_values())
    average = op.kind.data == snn.PoolKind.AVG

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        win = windows(args[0], kernel, stride)
        return win.mean(axis=(4, 5), dtype=dtype) if average else win.sum(axis=(4, 5), dtype=dtype)

    return step


def _flatten(op: snn.FlattenOp, dtype: np.dtype, ticks: int) -> Kernel:
    return lambda args, t: args[0].reshape(args[0].shape[0], -1)


def _reshape(op: snn.ReshapeOp, dtype: np.dtype, ticks: int) -> Kernel:
    shape = snn.shape_of(op.output.type)
    return lambda args, t: args[0].reshape(args[0].shape[0], *shape)


def _delay(op: snn.DelayOp, dtype: np.dtype, ticks: int, already: int = 0) -> Kernel:
    d = op.ticks.value.data - already  # `already`: ticks its input is late on arrival (1 on a back edge)
    past: list[np.ndarray] = []

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        if d == 0:
            return args[0]
        past.append(args[0])
        return past.pop(0) if len(past) > d else np.zeros_like(args[0])

    return step


def _add(op: snn.AddOp, dtype: np.dtype, ticks: int) -> Kernel:
    scales = [dtype.type(s) for s in op.scales.get_values()]

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        total = args[0] * scales[0] if scales[0] != 1 else args[0]
        for x, s in zip(args[1:], scales[1:], strict=True):
            total = total + (x * s if s != 1 else x)
        return total

    return step


def _neuron(op: snn.IFOp | snn.LIFOp | snn.CubaLIFOp, dtype: np.dtype, ticks: int) -> Kernel:
    """docs/neuron-families.md: a current-based LIF first filters its input, i = alpha i + I (the current keeps its
    value through a spike); then v = beta v + I (or + i), fire, and reset v."""
    alpha = dtype.type(_scalar(op.alpha)) if isinstance(op, snn.CubaLIFOp) else None
    beta = dtype.type(_scalar(op.beta)) if isinstance(op, snn.LIFOp | snn.CubaLIFOp) else None
    threshold = dtype.type(_scalar(op.threshold))
    v_init = dtype.type(_scalar(op.v_init))
    greater = op.compare.data == snn.Compare.GT
    reset = op.reset.data
    most = op.spikes_per_tick
    state: dict[str, np.ndarray] = {}

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        current = args[0]
        if alpha is not None:
            current = state["i"] = alpha * state["i"] + current if "i" in state else current.astype(dtype, copy=True)
        v = state.get("v")
        if v is None:
            v = np.full(current.shape, v_init, dtype=dtype)
        v = (beta * v if beta is not None else v) + current
        state["v_before_reset"] = v
        if most > 1:  # as many spikes as thresholds v passes, up to `most`, each subtracting one (docs/snn-dialect.md)
            s = multi_spikes(v, threshold, greater, most)
            state["v"] = v - s * threshold
            return s
        fired = v > threshold if greater else v >= threshold
        s = fired.astype(dtype)
        if reset == snn.ResetMode.SUBTRACT:
            v = v - s * threshold
        elif reset == snn.ResetMode.ZERO:
            v = np.where(fired, dtype.type(0), v)
        state["v"] = v
        return s

    step.state = state  # type: ignore[attr-defined]  # membranes (after and before the reset), for observers
    return step


def _decode_count(op: snn.DecodeCountOp, dtype: np.dtype, ticks: int) -> Kernel:
    state: dict[str, np.ndarray] = {}

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        state["n"] = state.get("n", np.zeros_like(args[0])) + args[0]
        return state["n"]

    return step


def _decode_first_spike(op: snn.DecodeFirstSpikeOp, dtype: np.dtype, ticks: int) -> Kernel:
    state: dict[str, np.ndarray] = {}

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        first = state.get("first", np.full(args[0].shape, ticks, dtype=dtype))
        state["first"] = np.where((first == ticks) & (args[0] > 0), dtype.type(t), first)
        return state["first"]

    return step


def _decode_membrane(op: snn.DecodeMembraneOp, dtype: np.dtype, ticks: int) -> Kernel:
    beta = dtype.type(_scalar(op.beta))
    alpha = dtype.type(_scalar(op.alpha)) if op.alpha is not None else None
    state: dict[str, np.ndarray] = {}

    def step(args: list[np.ndarray], t: int) -> np.ndarray:
        current = args[0]
        if alpha is not None:  # a current-based integrator: the current first, as snn.cuba_lif's
            current = state["i"] = alpha * state["i"] + current if "i" in state else current.astype(dtype, copy=True)
        v = state.get("v", np.zeros_like(args[0]))
        state["v"] = (beta * v if beta != 1 else v) + current
        return state["v"]

    return step


_KERNELS: dict[type[Operation], Callable[[Any, np.dtype, int], Kernel]] = {
    snn.EncodeDirectOp: _encode_direct,
    snn.EncodeRateOp: _encode_rate,
    snn.EncodePoissonOp: _encode_poisson,
    snn.EncodeSpikesOp: _encode_spikes,
    snn.DenseOp: _dense,
    snn.Conv2dOp: _conv2d,
    snn.Pool2dOp: _pool2d,
    snn.FlattenOp: _flatten,
    snn.ReshapeOp: _reshape,
    snn.DelayOp: _delay,
    snn.AddOp: _add,
    snn.IFOp: _neuron,
    snn.LIFOp: _neuron,
    snn.CubaLIFOp: _neuron,
    snn.DecodeCountOp: _decode_count,
    snn.DecodeFirstSpikeOp: _decode_first_spike,
    snn.DecodeMembraneOp: _decode_membrane,
}
