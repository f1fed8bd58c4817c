"""NIR front end: a NIR graph (snnTorch, Norse, Sinabs, ... exports) to snn IR, discretized explicitly.

NIR nodes are continuous-time ODEs; the chip runs ticks of `dt` seconds. The rule per
node (docs/nir.md) is forward Euler, the discretization snnTorch's and Norse's own NIR
importers use: a LIF `tau dv/dt = (v_leak - v) + r I` becomes `v = beta v + g I + l`
with `beta = 1 - dt/tau`, `g = r dt/tau`, `l = v_leak dt/tau`; the input gain `g` and
the leak `l` are folded into the weights and bias of the projection feeding the
population (exact for `g = 1`, snnTorch's convention `r = tau/dt`). Spikes fire when
`v > v_threshold` and reset `v` to 0. `dt` is the graph's `metadata["dt"]`, else
`--dt`, else inferred from `r = tau/dt` when every LIF agrees, else 1 ms; the report
says which. The network input is a spike train (`snn.encode_spikes`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from nmc.conversion.builder import NetworkBuilder
from nmc.conversion.layers import dense_groups
from nmc.dialects import snn
from nmc.errors import NmcError
from nmc.frontends.nir_graph import choose_dt, flatten_subgraphs, node_kind, order_nodes, read_graph, rockpool_dt


@dataclass
class _Pending:
    """A projection not yet built, so that the population it feeds can fold its input gain and leak in."""

    build: Callable[[np.ndarray | None, np.ndarray | None], SSAValue]
    rows: int  # output features (channels for a convolution)


@dataclass
class _Readout:
    """A non-spiking integrator (NIR LI / I / CubaLI): only an output may read it, as a membrane decoder."""

    current: SSAValue
    beta: float
    alpha: float | None = None  # a current-based one (CubaLI): its synaptic current's decay


@dataclass
class _Import:
    graph: Any
    dt: float
    notes: list[str]
    values: dict[str, Any] = field(default_factory=dict)
    neurons: list[str] = field(default_factory=list)  # what each IF/LIF node became, for the notes
    loops: dict[tuple[str, str], SSAValue] = field(default_factory=dict)  # back edge -> its snn.delay, closed at the end
    rockpool: bool = False  # a Rockpool export: its CubaLIF nodes are read with Rockpool's own update (docs/nir.md)


def _uniform(where: str, what: str, values: Any, positive: bool = False) -> float:
    arr = np.asarray(values, dtype=np.float32).ravel()
    if not arr.size or not np.isfinite(arr).all():
        raise NmcError(f"{where}: {what} is {'empty' if not arr.size else 'NaN or infinite'}")
    if positive and arr[0] <= 0:
        raise NmcError(f"{where}: {what} is {arr[0]:g}; the chip's neurons need a positive threshold")
    if not np.all(arr == arr[0]):
        raise NmcError(
            f"{where}: {what} differs between neurons ({arr.min():g} .. {arr.max():g}); the snn level keeps one "
            f"{what} per population: split the population or use one value"
        )
    return float(arr[0])


def import_nir(source: Any, *, ticks: int, dt: float | None, name: str, notes: list[str]) -> ModuleOp:
    """snn IR of a NIR graph (a path or an `nir.NIRGraph`); every unsupported node is one line."""
    import nir

    graph = read_graph(source) if isinstance(source, str | Path) else source
    if not isinstance(graph, nir.NIRGraph):
        raise NmcError(f"expected a NIR graph, got {type(graph).__name__}")
    nodes, edges = flatten_subgraphs(graph)
    order, preds, back = order_nodes(nodes, edges)
    inputs = [n for n in order if isinstance(nodes[n], nir.Input)]
    if len(inputs) != 1:
        raise NmcError(f"the graph has {len(inputs)} Input nodes; nmc compiles graphs with exactly one")
    imp = _Import(graph, choose_dt(nodes, dt, graph.metadata, notes), notes, rockpool=rockpool_dt(nodes) is not None)
    users = {n: [b for a, b in dict.fromkeys(edges) if a == n] for n in nodes}
    shape = _input_shape(nodes, inputs[0], users, notes)
    b = NetworkBuilder(name, [shape], ticks=ticks, dt=imp.dt, input_names=[inputs[0]])
    outputs: list[SSAValue] = []
    for n in order:
        node = nodes[n]
        where = f"node '{n}' ({node_kind(node)})"
        ins = [imp.values[p] if (p, n) not in back else _feedback(b, imp, p, n, node, preds[n], back) for p in preds[n]]
        if n == inputs[0]:
            imp.values[n] = b.encode(b.inputs[0], "spikes", name=n)
        elif isinstance(node, tuple):  # a sub-graph's Input/Output: passes its value on (still foldable)
            imp.values[n] = ins[0] if len(ins) == 1 else _sum(b, ins, where)
        elif isinstance(node, nir.Output):
            value = _sum(b, ins, where) if not (len(ins) == 1 and isinstance(ins[0], _Readout)) else ins[0]
            outputs.append(_decode(b, value, n))
        else:
            imp.values[n] = _lower_node(b, imp, n, node, ins, where, users[n], nodes)
    if not outputs:
        raise NmcError("the graph has no Output node")
    for (src, dst), fb in imp.loops.items():
        value = imp.values[src]
        if not isinstance(value, SSAValue) or not isinstance(value.type, snn.SpikesType):
            raise NmcError(
                f"node '{src}' ({node_kind(nodes[src])}): a loop reads it back, which only a spiking neuron's output can be"
            )
        if snn.shape_of(value.type) != snn.shape_of(fb.type):
            raise NmcError(f"edge {src} -> {dst}: the loop carries shape {list(snn.shape_of(value.type))} back where "
                           f"'{dst}' takes {list(snn.shape_of(fb.type))}")  # fmt: skip
        b.close_loop(fb, value)
    if imp.neurons and imp.rockpool:
        notes.append("NIR: " + "; ".join(imp.neurons) + " (docs/nir.md: what Rockpool's export means)")
    elif imp.neurons:
        notes.append(
            "NIR: " + "; ".join(imp.neurons) + ". Every neuron fires when v > threshold and resets v to v_reset (NIR "
            "cannot state reset by subtraction, snnTorch's default: a network trained that way spikes differently here; "
            "retrain with reset_mechanism='zero'"
            + (", and reset_delay=False for snnTorch's Synaptic (CubaLIF), whose delayed reset NIR cannot state either)"
               if any("(CubaLIF)" in line for line in imp.neurons) else ")")
        )  # fmt: skip
    return b.finish(outputs)


def _feedback(b: NetworkBuilder, imp: _Import, src: str, dst: str, node: Any, preds: list[str], back: set) -> SSAValue:
    """The back edge src -> dst: src's spikes one tick late (snn.delay), its source filled in once src is built."""
    import nir

    shape: tuple[int, ...] | None = None
    if isinstance(node, nir.Affine | nir.Linear):
        shape = (int(np.asarray(node.weight).shape[1]),)
    else:
        known = [imp.values[p] for p in preds if (p, dst) not in back and isinstance(imp.values.get(p), SSAValue)]
        shape = snn.shape_of(known[0].type) if known else None
    if shape is None:
        raise NmcError(f"edge {src} -> {dst} closes a loop into a node whose input shape nmc cannot tell before "
                       f"'{src}' exists: put an Affine/Linear on the recurrent edge")  # fmt: skip
    fb = b.loop(shape, name=f"{src}.prev")
    imp.loops[(src, dst)] = fb
    return fb


def _input_shape(nodes: dict[str, Any], name: str, users: dict[str, list[str]], notes: list[str]) -> tuple[int, ...]:
    """The per-tick input shape; a leading batch axis some exporters write (snnTorch: [1, 64]) is dropped."""
    import nir

    raw = nodes[name].input_type.get("input")
    shape = tuple(int(d) for d in np.ravel(raw)) if raw is not None else ()
    first = nodes[users[name][0]] if users[name] else None
    fan_in = None
    if isinstance(first, nir.Affine | nir.Linear):
        fan_in = (int(first.weight.shape[1]),)
    elif isinstance(first, nir.Conv2d | nir.Conv1d) and getattr(first, "input_shape", None) is not None:
        fan_in = (int(first.weight.shape[1]), *(int(d) for d in np.ravel(first.input_shape)))
    if len(shape) >= 2 and shape[0] == 1 and fan_in is not None and shape != fan_in and shape[1:] == fan_in:
        notes.append(f"NIR: input type {list(shape)} read as {list(shape[1:])} (a batch axis in the exported type)")
        shape = shape[1:]
    if not shape or min(shape) < 1:
        if fan_in is None:
            raise NmcError(f"node '{name}' (Input): no input shape, and its consumer does not imply one")
        notes.append(f"NIR: input type missing; {list(fan_in)} taken from the first layer")
        shape = fan_in
    return shape


def _materialize(b: NetworkBuilder, ins: list, where: str, gain: np.ndarray | None = None, extra: np.ndarray | None = None):
    """The summed input current of a node, with a population's input gain and leak folded into its projections."""
    if gain is not None and np.all(gain == 1):
        gain = None
    if extra is not None and not np.any(extra):
        extra = None
    parts = []
    for i, v in enumerate(ins):
        if isinstance(v, _Pending):
            try:
                parts.append(v.build(gain, extra if i == 0 else None))
            except NmcError as e:
                raise NmcError(f"{where}: {e}") from None
        elif isinstance(v, _Readout):
            raise NmcError(f"{where}: reads a non-spiking integrator (LI/I), which only an Output can read on the chip")
        elif gain is not None or extra is not None:
            raise NmcError(
                f"{where}: its input gain r*dt/tau or leak cannot be folded into a projection (it reads spikes directly); "
                "put an Affine/Linear before it or use r = tau/dt and v_leak = 0"
            )
        else:
            parts.append(v)
    if not parts:
        raise NmcError(f"{where}: has no input edge")

    shapes = {snn.shape_of(p.type) for p in parts}
    if len(shapes) > 1:
        raise NmcError(f"{where}: its input edges carry different shapes {sorted(list(s) for s in shapes)}, which NIR sums")
    return parts[0] if len(parts) == 1 else b.add(parts, [1.0] * len(parts))


def _sum(b: NetworkBuilder, ins: list, where: str) -> SSAValue:
    return _materialize(b, ins, where)


def _decode(b: NetworkBuilder, value: Any, name: str) -> SSAValue:

    if isinstance(value, _Readout):
        return b.decode(value.current, "membrane", beta=value.beta, alpha=value.alpha, name=name)
    if isinstance(value, _Pending):
        value = value.build(None, None)
    kind = "count" if isinstance(value.type, snn.SpikesType) else "membrane"
    return b.decode(value, kind, name=name)


def _projection(b: NetworkBuilder, x: SSAValue, where: str, node: Any, name: str) -> _Pending:
    """Affine, Linear, Conv1d or Conv2d as a projection its consumer may still scale."""
    import nir

    weight = np.asarray(node.weight, dtype=np.float32)
    bias = np.asarray(node.bias, dtype=np.float32).ravel() if getattr(node, "bias", None) is not None else None
    shape = snn.shape_of(x.type)
    if weight.ndim not in (2, 3, 4) or not weight.size:
        raise NmcError(f"{where}: weight of shape {list(weight.shape)} is not a {type(node).__name__} weight")
    rows = int(weight.shape[0])
    for what, arr in (("weight", weight), ("bias", bias)):
        if arr is not None and not np.isfinite(arr).all():
            raise NmcError(f"{where}: '{what}' holds NaN or infinite values")
    if bias is not None and bias.size != rows:
        raise NmcError(f"{where}: bias has {bias.size} values for {rows} outputs")

    def scaled(gain, extra):
        w = weight if gain is None else (weight * gain.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(np.float32)
        bb = bias if bias is not None else (np.zeros(rows, np.float32) if extra is not None else None)
        if bb is not None and gain is not None:
            bb = (bb * gain).astype(np.float32)
        if extra is not None:
            bb = (bb + extra).astype(np.float32)
        return w, bb

    if isinstance(node, nir.Affine | nir.Linear):
        if len(shape) != 1:
            if int(np.prod(shape)) != weight.shape[1]:
                raise NmcError(f"{where}: weight {list(weight.shape)} does not fit its input of shape {list(shape)}")
            x = b.flatten(x)
        elif shape[0] != weight.shape[1]:
            raise NmcError(f"{where}: weight {list(weight.shape)} does not fit its input of shape {list(shape)}")
        return _Pending(lambda g, e: b.dense(x, *scaled(_rows(g, rows), _rows(e, rows)), name=name), rows)
    dims = weight.ndim - 2
    groups = int(np.ravel(node.groups)[0]) if node.groups is not None else 1
    dilation = [int(d) for d in np.ravel(node.dilation)] if node.dilation is not None else [1]
    if any(d != 1 for d in dilation):
        raise NmcError(f"{where}: dilation={dilation}; the snn level has dilation 1 only")
    if groups != 1:  # grouped / depthwise: the dense weight with zeros between groups (conversion.layers.dense_groups)
        if groups < 1 or rows % groups or len(shape) != dims + 1 or shape[0] != weight.shape[1] * groups:
            raise NmcError(f"{where}: groups={groups} does not divide weight {list(weight.shape)} over input {list(shape)}")
        weight = dense_groups(weight, groups)
    if isinstance(node.padding, str):
        raise NmcError(f"{where}: padding '{node.padding}'; give numeric padding")
    stride = [int(s) for s in np.broadcast_to(np.ravel(node.stride), (dims,))]
    padding = [int(p) for p in np.broadcast_to(np.ravel(node.padding), (dims,))]
    if len(shape) != dims + 1 or shape[0] != weight.shape[1]:
        raise NmcError(f"{where}: weight {list(weight.shape)} does not fit its input of shape {list(shape)}")

    def build(g, e):
        w, bb = scaled(_rows(g, rows), _rows(e, rows))
        if dims == 2:
            return b.conv2d(x, w, bb, stride, padding, name=name)
        x2 = b.reshape(x, (shape[0], 1, shape[1]), name=f"{name}.as2d")
        y = b.conv2d(x2, w[:, :, None, :], bb, [1, *stride], [0, *padding], name=name)
        o, _, length = snn.shape_of(y.type)
        return b.reshape(y, (o, length), name=f"{name}.as1d")

    return _Pending(build, rows)


def _rows(values: np.ndarray | None, rows: int) -> np.ndarray | None:
    if values is None:
        return None
    a = np.asarray(values, dtype=np.float64).ravel()
    if a.size == 1:
        return np.full(rows, a[0])
    per = a.reshape(rows, -1) if a.size % rows == 0 else None
    if per is None or not np.all(per == per[:, :1]):
        raise NmcError(f"the input gain r*dt/tau or the leak varies within a channel ({a.size} values for {rows} channels)")
    return per[:, 0]


def _neuron_params(imp: _Import, where: str, node: Any, leaky: bool) -> tuple[float, float, np.ndarray, np.ndarray]:
    """(threshold, beta, input gain, leak per tick) of an IF/LIF node, by the forward-Euler rule."""
    theta = _uniform(where, "v_threshold", node.v_threshold, positive=True)
    reset = getattr(node, "v_reset", None)
    if reset is not None and np.any(np.asarray(reset) != 0):
        raise NmcError(f"{where}: v_reset = {np.ravel(reset)[0]:g}; the chip's neurons reset to 0: use v_reset = 0")
    r = np.asarray(node.r, dtype=np.float32)
    for what, arr in (("r", r), ("v_leak", getattr(node, "v_leak", np.zeros(1)))):
        arr = np.asarray(arr, dtype=np.float64)
        if not arr.size or not np.isfinite(arr).all():
            raise NmcError(f"{where}: {what} is {'empty' if not arr.size else 'NaN or infinite'}")
    if not leaky:  # dv/dt = r I
        return theta, 1.0, _unit(r * np.float32(imp.dt)), np.zeros(1)
    tau = np.asarray(node.tau, dtype=np.float32)
    if np.any(tau <= 0) or not np.all(np.isfinite(tau)):
        raise NmcError(f"{where}: tau must be positive and finite")
    # as snnTorch's and Norse's importers compute it, in float32: beta = 1 - dt/tau
    beta = _uniform(where, "tau", 1 - (imp.dt / tau))
    if not 0 <= beta <= 1:
        raise NmcError(
            f"{where}: dt = {imp.dt:g} s is longer than tau = {float(tau.min()):g} s (beta {beta:g} < 0): give a smaller --dt"
        )
    leak = np.asarray(node.v_leak, dtype=np.float64) * imp.dt / tau
    return theta, beta, _unit(r * (imp.dt / tau)), leak


def _cuba_threshold(where: str, node: Any) -> float:
    """A CubaLIF node's threshold, after the checks every reading of one shares: v_reset 0 (the neurons reset to 0)
    and v_leak 0 (a leak would enter v, not the current that the input gain folds into)."""
    if np.any(np.asarray(getattr(node, "v_reset", 0)) != 0):
        raise NmcError(f"{where}: v_reset = {np.ravel(node.v_reset)[0]:g}; the neurons reset to 0: use v_reset = 0")
    if np.any(np.asarray(node.v_leak) != 0):
        raise NmcError(f"{where}: v_leak = {np.ravel(node.v_leak)[0]:g}; a current-based LIF is read with v_leak = 0 only")
    return _uniform(where, "v_threshold", node.v_threshold, positive=True)


def _cuba_params(imp: _Import, where: str, node: Any) -> tuple[float, float, float, np.ndarray]:
    """(threshold, alpha, beta, input gain) of a CubaLIF node by forward Euler (docs/neuron-families.md):
    i = alpha i + (dt/tau_syn) w_in x, v = beta v + (dt/tau_mem) r i; both gains fold into the weights (i only
    feeds v). A v_leak would enter v, not i: refused."""
    return (_cuba_threshold(where, node), *_cuba_decays(imp, where, node))


def _cuba_decays(imp: _Import, where: str, node: Any) -> tuple[float, float, np.ndarray]:
    """(alpha, beta, input gain) of a CubaLIF or CubaLI node by forward Euler (docs/neuron-families.md)."""
    taus = []
    for what in ("tau_syn", "tau_mem"):
        tau = np.asarray(getattr(node, what), dtype=np.float32)
        if not tau.size or np.any(tau <= 0) or not np.all(np.isfinite(tau)):
            raise NmcError(f"{where}: {what} must be positive and finite, got {float(np.ravel(tau)[0]):g} (snnTorch writes "
                           f"tau = dt / (1 - beta): infinite for a decay of 1, which a CubaLIF cannot state; train with "
                           "beta < 1 or compile the live module)")  # fmt: skip
        taus.append(tau)
    tau_syn, tau_mem = taus
    alpha = _uniform(where, "tau_syn", 1 - (imp.dt / tau_syn))
    beta = _uniform(where, "tau_mem", 1 - (imp.dt / tau_mem))
    if not (0 <= alpha <= 1 and 0 <= beta <= 1):
        raise NmcError(f"{where}: dt = {imp.dt:g} s is longer than a time constant (alpha {alpha:g}, beta {beta:g}): "
                       "give a smaller --dt")  # fmt: skip
    w_in = np.asarray(getattr(node, "w_in", 1.0), dtype=np.float32)
    r = np.asarray(node.r, dtype=np.float32)
    gain = _unit(w_in * (imp.dt / tau_syn)) * _unit(r * (imp.dt / tau_mem))
    return alpha, beta, _unit(np.asarray(gain, np.float32))


def _rockpool_params(imp: _Import, where: str, node: Any) -> tuple[float, float, float, np.ndarray]:
    """Rockpool 3.1's LIFTorch step, which its CubaLIF export stands for: isyn += x; isyn *= e^(-dt/tau_syn);
    v = e^(-dt/tau_mem) v + isyn; v >= threshold fires and subtracts it. In nmc's current-based LIF (i = alpha i + I,
    v = beta v + i) that is alpha = e^(-dt/tau_syn) with the input scaled by alpha, beta = e^(-dt/tau_mem)."""
    theta = _cuba_threshold(where, node)
    dt = np.float32(imp.dt)
    alpha = _uniform(where, "tau_syn", np.exp(-dt / np.asarray(node.tau_syn, np.float32)))
    beta = _uniform(where, "tau_mem", np.exp(-dt / np.asarray(node.tau_mem, np.float32)))
    return theta, alpha, beta, np.full(1, alpha)


def _unit(gain: np.ndarray) -> np.ndarray:
    """A gain within float32 rounding of 1 is 1 (exporters write r = tau/dt), as snnTorch's importer treats it."""
    return np.ones(1) if np.allclose(gain, 1.0, rtol=1e-6, atol=0) else gain.astype(np.float64)


def _lower_node(b: NetworkBuilder, imp: _Import, name: str, node: Any, ins: list, where: str, users: list[str], nodes) -> Any:
    import nir

    if not ins:
        raise NmcError(f"{where}: has no input edge")
    if isinstance(node, nir.Affine | nir.Linear | nir.Conv1d | nir.Conv2d):
        return _projection(b, _sum(b, ins, where), where, node, name)
    if isinstance(node, nir.Scale):
        if len(ins) != 1 or not isinstance(ins[0], _Pending):
            raise NmcError(f"{where}: only a Scale right after an Affine/Linear/Conv is supported (it folds into the weights)")
        p, scale = ins[0], np.asarray(node.scale, dtype=np.float64)

        def build(g, e, p=p, scale=scale):
            s = _rows(scale, p.rows)
            return p.build(s if g is None else s * g, e)

        return _Pending(build, p.rows)
    if isinstance(node, nir.SumPool2d | nir.AvgPool2d):
        if np.any(np.asarray(node.padding) != 0):
            raise NmcError(f"{where}: padding {list(np.ravel(node.padding))}; only unpadded pooling is supported")
        kernel = [int(k) for k in np.broadcast_to(np.ravel(node.kernel_size), (2,))]
        stride = [int(k) for k in np.broadcast_to(np.ravel(node.stride), (2,))]
        return b.pool2d(_sum(b, ins, where), "sum" if isinstance(node, nir.SumPool2d) else "avg", kernel, stride, name=name)
    if isinstance(node, nir.Flatten):
        from nir.ir.flatten import calc_flatten_output

        x = _sum(b, ins, where)
        out = tuple(int(d) for d in calc_flatten_output(list(snn.shape_of(x.type)), node.start_dim, node.end_dim))
        return b.flatten(x, name=name) if len(out) == 1 else b.reshape(x, out, name=name)
    if isinstance(node, nir.IF | nir.LIF):
        theta, beta, gain, leak = _neuron_params(imp, where, node, leaky=isinstance(node, nir.LIF))
        model = f"LIF, beta = 1 - dt/tau = {beta:.6g}" if isinstance(node, nir.LIF) else "IF"
        imp.neurons.append(f"'{name}' ({node_kind(node)}) became {model}, threshold {theta:g}")
        x = _materialize(b, ins, where, gain, leak)
        return b.neuron(
            x, threshold=theta, beta=beta if isinstance(node, nir.LIF) else None, reset="zero", compare="gt", name=name
        )
    if isinstance(node, nir.CubaLIF) and imp.rockpool:
        theta, alpha, beta, gain = _rockpool_params(imp, where, node)
        imp.neurons.append(f"'{name}' (CubaLIF, Rockpool) became a current-based LIF with Rockpool's update: alpha = "
                           f"e^(-dt/tau_syn) = {alpha:.6g} (also the input's gain: Rockpool adds it before the decay), beta = "
                           f"e^(-dt/tau_mem) = {beta:.6g}, reset by subtraction at v >= {theta:g} (one spike per tick: "
                           "Rockpool's max_spikes_per_dt = 1; its default allows several)")  # fmt: skip
        x = _materialize(b, ins, where, gain, np.zeros(1))
        return b.cuba_neuron(x, threshold=theta, alpha=alpha, beta=beta, reset="subtract", compare="ge", name=name)
    if isinstance(node, nir.CubaLIF):
        theta, alpha, beta, gain = _cuba_params(imp, where, node)
        imp.neurons.append(f"'{name}' (CubaLIF) became a current-based LIF, alpha = 1 - dt/tau_syn = {alpha:.6g}, "
                           f"beta = 1 - dt/tau_mem = {beta:.6g}, threshold {theta:g}")  # fmt: skip
        x = _materialize(b, ins, where, gain, np.zeros(1))
        return b.cuba_neuron(x, threshold=theta, alpha=alpha, beta=beta, reset="zero", compare="gt", name=name)
    if isinstance(node, nir.Delay):  # spikes `delay` seconds late: a whole number of ticks (axon delays on the chip)
        x = _sum(b, ins, where)
        if not isinstance(x.type, snn.SpikesType):
            raise NmcError(f"{where}: delays spike trains only; this one reads a current (put it after a neuron)")
        seconds = _uniform(where, "delay", node.delay)
        ticks = round(seconds / imp.dt)
        if ticks < 0 or abs(ticks * imp.dt - seconds) > 1e-6 * max(seconds, imp.dt):
            raise NmcError(f"{where}: delay {seconds:g} s is not a whole number of ticks of dt = {imp.dt:g} s")
        return x if ticks == 0 else b.delay(x, ticks, name=name)
    if isinstance(node, nir.Threshold):  # stateless: a LIF that forgets everything each tick
        theta = _uniform(where, "threshold", node.threshold, positive=True)
        return b.neuron(_sum(b, ins, where), threshold=theta, beta=0.0, reset="zero", compare="gt", name=name)
    if isinstance(node, nir.LI | nir.I | nir.CubaLI):
        if any(not isinstance(nodes[u], nir.Output) for u in users):
            raise NmcError(
                f"{where}: a non-spiking integrator feeding another layer has no chip equivalent (only outputs read membranes)"
            )
        if isinstance(node, nir.CubaLI):  # i = alpha i + g I, v = beta v + i, read at the end
            if np.any(np.asarray(node.v_leak) != 0):
                raise NmcError(f"{where}: v_leak = {np.ravel(node.v_leak)[0]:g}; a CubaLI is read with v_leak = 0 only")
            alpha, beta, gain = _cuba_decays(imp, where, node)
            return _Readout(_materialize(b, ins, where, gain, np.zeros(1)), beta, alpha)
        if isinstance(node, nir.I):
            return _Readout(_materialize(b, ins, where, _unit(np.asarray(node.r, np.float32) * np.float32(imp.dt))), 1.0)
        tau = np.asarray(node.tau, dtype=np.float32)
        beta = _uniform(where, "tau", 1 - (imp.dt / tau))
        leak = np.asarray(node.v_leak, dtype=np.float64) * imp.dt / tau
        gain = _unit(np.asarray(node.r, np.float32) * (imp.dt / tau))
        return _Readout(_materialize(b, ins, where, gain, leak), beta)
    raise NmcError(f"{where}: not a NIR node nmc compiles (docs/nir.md lists those it does)")
