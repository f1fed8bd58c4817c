"""The neutral layer graph that every front end produces, and its lowering to snn IR.

A front end (torch.fx, torch.export, later NIR) only lists layers with numpy
parameters. This module folds batch norms, evaluates the float ANN (for
calibration), converts ReLU networks to IF networks by threshold balancing and
drives the `NetworkBuilder`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue

from nmc.conversion.builder import NetworkBuilder
from nmc.dialects import snn
from nmc.dialects.snn import SpikesType, conv_output_hw
from nmc.errors import NmcError
from nmc.runtime.snn_interp import windows

# What `lower_to_snn` takes; front ends may also emit the kinds of `nmc.conversion.layer_rewrites.SOURCE_KINDS`,
# which `layer_rewrites.prepare` turns into these.
KINDS = ("input", "linear", "conv2d", "pool2d", "flatten", "reshape", "add", "relu", "batchnorm", "identity", "neuron")


@dataclass
class Layer:
    """One node of a source model: `kind`, producers (indices into the graph), numpy parameters."""

    name: str
    kind: str
    inputs: list[int] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # what the source model called it (e.g. "MaxPool2d", "aten.hardtanh"), for messages


@dataclass
class LayerGraph:
    """Layers in topological order; `outputs` are indices of the model's results."""

    layers: list[Layer]
    outputs: list[int]
    input_shape: tuple[int, ...]

    def users(self, index: int) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if index in layer.inputs]

    @property
    def is_spiking(self) -> bool:
        return any(layer.kind == "neuron" for layer in self.layers)


# --------------------------------------------------------------------------- batch-norm folding


def fold_batchnorm(graph: LayerGraph) -> LayerGraph:
    """Fold every batch norm into the linear/conv layer that feeds it (its only user)."""
    layers = [Layer(ly.name, ly.kind, list(ly.inputs), dict(ly.params), ly.origin) for ly in graph.layers]
    for ly in layers:
        if ly.kind != "batchnorm":
            continue
        (src,) = ly.inputs
        prod = layers[src]
        if prod.kind not in ("linear", "conv2d", "conv1d") or len(graph.users(src)) != 1:
            raise NmcError(
                f"layer '{ly.name}' (BatchNorm): only a batch norm right after a Linear or Conv2d "
                "(and its only user) can be folded; move it or fold it by hand"
            )
        p = ly.params
        gain = p["weight"] / np.sqrt(p["var"] + p["eps"])
        w = prod.params["weight"]
        prod.params["weight"] = (w * gain.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
        bias = prod.params.get("bias")
        bias = np.zeros(w.shape[0], np.float32) if bias is None else bias
        prod.params["bias"] = ((bias - p["mean"]) * gain + p["bias"]).astype(np.float32)
        ly.kind, ly.params = "identity", {}
    return LayerGraph(layers, list(graph.outputs), graph.input_shape)


# --------------------------------------------------------------------------- shapes


def infer_shapes(graph: LayerGraph) -> list[tuple[int, ...]]:
    """Per-sample output shape of every layer; a mismatch names the layer, what it expects and what it gets."""
    shapes: list[tuple[int, ...]] = []
    for ly in graph.layers:
        shapes.append(layer_shape(ly, [shapes[j] for j in ly.inputs], graph.input_shape))
    return shapes


def layer_shape(ly: Layer, ins: list[tuple[int, ...]], input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The per-sample output shape of one layer, given its inputs' shapes."""

    p = ly.params
    where = f"layer '{ly.name}' ({ly.origin or ly.kind})"
    if ly.kind == "input":
        return tuple(input_shape)
    if ly.kind == "linear":
        n_in = p["weight"].shape[1]
        if ins[0] != (n_in,):
            raise NmcError(f"{where} expects {n_in} input features, gets shape {list(ins[0])} (flatten first?)")
        return (p["weight"].shape[0],)
    if ly.kind in ("conv2d", "pool2d", "maxpool", "conv1d", "pool1d"):
        dims = 1 if ly.kind.endswith("1d") or len(p.get("kernel", (0, 0))) == 1 else 2
        kernel = tuple(p["weight"].shape[2:]) if ly.kind.startswith("conv") else tuple(p["kernel"])
        channels = p["weight"].shape[1] if ly.kind.startswith("conv") else None
        if len(ins[0]) != dims + 1 or (channels is not None and ins[0][0] != channels):
            spatial = "L" if dims == 1 else "H, W"
            raise NmcError(f"{where} expects an input of shape [{channels or 'C'}, {spatial}], gets {list(ins[0])}")
        pad = tuple(p.get("padding", (0,) * dims))
        if dims == 1:
            hw = conv_output_hw((1, ins[0][1]), (1, *kernel), (1, *p["stride"]), (0, *pad))[1:]
        else:
            hw = conv_output_hw(ins[0][1:], kernel, tuple(p["stride"]), pad)
        if min(hw) < 1:
            raise NmcError(f"{where}: kernel {list(kernel)} does not fit the {'x'.join(map(str, ins[0][1:]))} input")
        return (p["weight"].shape[0] if ly.kind.startswith("conv") else ins[0][0], *hw)
    if ly.kind == "adaptive_avgpool":
        if len(ins[0]) != len(p["output"]) + 1:
            raise NmcError(f"{where} expects a [C, {'H, W' if len(p['output']) == 2 else 'L'}] input, gets {list(ins[0])}")
        return (ins[0][0], *(int(o) if o is not None else i for o, i in zip(p["output"], ins[0][1:], strict=True)))
    if ly.kind == "mean":
        rank = len(ins[0])
        dims = sorted(d + rank + 1 if d < 0 else d for d in p["dims"])
        if dims != list(range(rank + 1 - len(dims), rank + 1)) or len(dims) >= rank:
            raise NmcError(
                f"{where}: only a mean over trailing feature dimensions that keeps the channels is supported "
                f"(e.g. x.mean((2, 3)) on [N, C, H, W]), got dims {list(p['dims'])} "
                f"of a [N, {', '.join(map(str, ins[0]))}] tensor"
            )
        kept = ins[0][: rank - len(dims)]
        return (*kept, *([1] * len(dims))) if p.get("keepdim") else kept
    if ly.kind == "flatten":
        return (int(np.prod(ins[0])),)
    if ly.kind == "reshape":
        return _resolve_reshape(where, ins[0], p["shape"])
    if ly.kind == "concat":
        axis = concat_axis(ly, len(ins[0]))
        if not 0 <= axis < len(ins[0]) or any(len(s) != len(ins[0]) for s in ins):
            raise NmcError(f"{where}: dim {p['dim']} of tensors of shapes {[[-1, *s] for s in ins]}")
        rest = {s[:axis] + s[axis + 1 :] for s in ins}
        if len(rest) != 1:
            raise NmcError(f"{where} joins tensors that differ off dim {p['dim']}: {[[-1, *s] for s in ins]}")
        return (*ins[0][:axis], sum(s[axis] for s in ins), *ins[0][axis + 1 :])
    if ly.kind == "add":
        if len(set(ins)) != 1:
            raise NmcError(f"{where} adds tensors of different shapes {[list(s) for s in ins]}")
    return ins[0]


def concat_axis(ly: Layer, rank: int) -> int:
    """The per-sample axis torch.cat(..., dim) joins, for per-sample tensors of `rank` dims."""
    dim = int(ly.params["dim"])
    return dim - 1 if dim > 0 else dim + rank


def _resolve_reshape(where: str, shape: tuple[int, ...], target: Sequence[int]) -> tuple[int, ...]:
    size = int(np.prod(shape))
    known = int(np.prod([d for d in target if d != -1]))
    out = [size // known if d == -1 and known and size % known == 0 else d for d in target]
    if sum(d == -1 for d in target) > 1 or int(np.prod(out)) != size or min(out, default=1) < 1:
        raise NmcError(f"{where}: cannot reshape {list(shape)} ({size} values per sample) to {list(target)}")
    return tuple(int(d) for d in out)


# --------------------------------------------------------------------------- float evaluation


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, stride: Sequence[int], padding: Sequence[int]) -> np.ndarray:

    ph, pw = padding
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    y = np.einsum("bchwij,ocij->bohw", windows(x, w.shape[2:], tuple(stride)), w, optimize=True)
    return y if b is None else y + b[None, :, None, None]


Observer = Callable[[Layer, list[np.ndarray], np.ndarray], None]


def evaluate(
    graph: LayerGraph, x: np.ndarray, *, watch: str = "relu", observe: Observer | None = None
) -> tuple[list[np.ndarray], dict[int, np.ndarray]]:  # fmt: skip
    """Run the graph as a float ANN on a batch; return outputs and the activations of `watch` layers. `observe(layer,
    inputs, output)` sees every layer."""
    values: dict[int, np.ndarray] = {}
    watched: dict[int, np.ndarray] = {}
    for i, ly in enumerate(graph.layers):
        ins = [values[j] for j in ly.inputs]
        p = ly.params
        if ly.kind == "input":
            y = x.astype(np.float32)
        elif ly.kind == "linear":
            y = ins[0].reshape(ins[0].shape[0], -1) @ p["weight"].T
            y = y if p.get("bias") is None else y + p["bias"]
        elif ly.kind == "conv2d":
            y = _conv(ins[0], p["weight"], p.get("bias"), p["stride"], p["padding"])
        elif ly.kind == "pool2d":
            win = windows(ins[0], tuple(p["kernel"]), tuple(p["stride"]))
            y = win.mean(axis=(4, 5)) if p["mode"] == "avg" else win.sum(axis=(4, 5))
        elif ly.kind == "flatten":
            y = ins[0].reshape(ins[0].shape[0], -1)
        elif ly.kind == "reshape":
            y = ins[0].reshape(ins[0].shape[0], *p["shape"])
        elif ly.kind == "add":
            y = sum(ins[1:], ins[0])
        elif ly.kind == "relu":
            y = np.clip(ins[0], 0, p.get("cap"))
        elif ly.kind == "identity":
            y = ins[0]
        else:
            raise NmcError(f"layer '{ly.name}' ({ly.kind}) cannot be evaluated as a float ANN")
        values[i] = y
        if observe is not None:
            observe(ly, ins, y)
        if ly.kind == watch:
            watched[i] = y
    return [values[i] for i in graph.outputs], watched


def calibrate(graph: LayerGraph, data: np.ndarray, percentile: float, batch: int = 256) -> dict[int, float]:
    """Per-ReLU activation scale: the `percentile` of its activations over the calibration data."""
    rng = np.random.default_rng(0)
    samples: dict[int, list[np.ndarray]] = {}
    cap = 2_000_000 // max(1, -(-len(data) // batch))
    for start in range(0, len(data), batch):
        _, acts = evaluate(graph, data[start : start + batch])
        for i, a in acts.items():
            flat = a.ravel()
            if flat.size > cap:
                flat = rng.choice(flat, cap, replace=False)
            samples.setdefault(i, []).append(flat)
    scales = {}
    for i, chunks in samples.items():
        lam = float(np.percentile(np.concatenate(chunks), percentile))
        # a clipped ReLU (ReLU6, Hardtanh(0, c)) never exceeds its cap, and an IF neuron never exceeds its
        # threshold per tick: a threshold at the cap reproduces the clipping exactly
        cap = graph.layers[i].params.get("cap")
        scales[i] = min(lam, cap) if lam > 0 and cap is not None else lam if lam > 0 else 1.0
    return scales


def weight_bound_scales(graph: LayerGraph, input_max: float) -> dict[int, float]:
    """Data-free ReLU scales: the largest activation the weights allow for inputs in [0, input_max]."""
    hi: dict[int, np.ndarray | float] = {}
    scales: dict[int, float] = {}
    for i, ly in enumerate(graph.layers):
        ins = [hi[j] for j in ly.inputs]
        p = ly.params
        if ly.kind == "input":
            hi[i] = float(input_max)
        elif ly.kind in ("linear", "conv2d"):
            w = p["weight"]
            pos = np.clip(w, 0, None).reshape(w.shape[0], -1).sum(axis=1)
            b = p.get("bias")
            hi[i] = float(np.max(pos * np.max(ins[0]) + (0 if b is None else b)))
        elif ly.kind == "add":
            hi[i] = float(sum(np.max(v) for v in ins))
        elif ly.kind == "pool2d" and p["mode"] == "sum":
            hi[i] = float(np.max(ins[0])) * int(np.prod(p["kernel"]))
        else:
            hi[i] = ins[0]
        if ly.kind == "relu":
            cap = p.get("cap")
            scales[i] = max(min(float(np.max(ins[0])), cap if cap is not None else np.inf), 1e-6)
            hi[i] = scales[i]
    return scales


# --------------------------------------------------------------------------- lowering


@dataclass
class LoweringOptions:
    ticks: int = 32
    dt: float = 1e-3
    encoding: str = "direct"
    input_scale: float = 1.0
    seed: int = 0
    decoding: str | None = None
    name: str = "net"
    reset: str = "subtract"  # converted ReLUs: subtract keeps the residue (rate-exact); zero where a chip has only that


def lower_to_snn(graph: LayerGraph, opts: LoweringOptions, relu_scales: dict[int, float] | None = None) -> ModuleOp:
    """Build the snn IR of a layer graph.

    A spiking graph (nmc.nn neurons) maps one to one. A ReLU graph is converted:
    each ReLU becomes an IF population with reset by subtraction whose threshold
    is its activation scale (`relu_scales`), and the weights that read its spikes
    are multiplied by that scale, so spike rates track ANN activations.
    """
    graph = fold_batchnorm(graph)
    spiking = graph.is_spiking
    if not spiking and relu_scales is None:
        raise NmcError("a ReLU network needs activation scales to convert (calibration data or weight bounds)")
    b = NetworkBuilder(opts.name, [graph.input_shape], ticks=opts.ticks, dt=opts.dt)
    vals: dict[int, SSAValue] = {}
    # sigma: the factor mapping a value's time average to the ANN quantity it stands for
    sigma: dict[int, float] = {}
    for i, ly in enumerate(graph.layers):
        ins = [vals[j] for j in ly.inputs]
        s_in = [sigma[j] for j in ly.inputs]
        p = ly.params
        out_sigma = s_in[0] if s_in else 1.0
        if ly.kind == "input":
            vals[i] = b.encode(b.inputs[0], opts.encoding, scale=opts.input_scale, seed=opts.seed)
            out_sigma = 1.0 if spiking else 1.0 / opts.input_scale
        elif ly.kind == "linear":
            vals[i] = b.dense(ins[0], scaled_weights(p["weight"], s_in[0]), p.get("bias"), name=ly.name)
            out_sigma = 1.0
        elif ly.kind == "conv2d":
            w = scaled_weights(p["weight"], s_in[0])
            vals[i] = b.conv2d(ins[0], w, p.get("bias"), p["stride"], p["padding"], name=ly.name)
            out_sigma = 1.0
        elif ly.kind == "pool2d":
            vals[i] = b.pool2d(ins[0], p["mode"], p["kernel"], p["stride"], name=ly.name)
        elif ly.kind == "flatten":
            vals[i] = b.flatten(ins[0], name=ly.name)
        elif ly.kind == "reshape":
            vals[i] = b.reshape(ins[0], p["shape"], name=ly.name)
        elif ly.kind == "add":
            vals[i] = b.add(ins, s_in, name=ly.name)
            out_sigma = 1.0
        elif ly.kind == "identity":
            vals[i] = ins[0]
        elif ly.kind == "neuron":
            vals[i] = _population(b, ins[0], ly.name, p)
        elif ly.kind == "relu":
            if spiking:
                raise NmcError(f"layer '{ly.name}' (ReLU) in a spiking model: nmc.nn neurons already rectify; remove the ReLU")
            assert relu_scales is not None
            lam = relu_scales[i]
            vals[i] = b.neuron(ins[0], threshold=lam / s_in[0], reset=opts.reset, compare="ge", name=ly.name)
            out_sigma = lam
        else:
            raise NmcError(f"layer '{ly.name}': unsupported kind {ly.kind}")
        sigma[i] = out_sigma
    outputs = []
    for j in graph.outputs:
        v = vals[j]

        kind = opts.decoding or ("count" if isinstance(v.type, SpikesType) else "membrane")
        if kind != "membrane" and not isinstance(v.type, SpikesType):
            raise NmcError(f"output '{graph.layers[j].name}' is a current, not spikes: decode it with 'membrane'")
        outputs.append(b.decode(v, kind))
    return b.finish(outputs)


def _population(b: NetworkBuilder, x: SSAValue, name: str, p: dict[str, Any]) -> SSAValue:
    """A spiking population: LIF/IF, or current-based (`alpha`); `recurrent` = (weight, bias) adds its own spikes of the
    tick before through that projection (a loop closed by a one-tick back edge)."""
    p = dict(p)
    recurrent = p.pop("recurrent", None)
    loop = None
    if recurrent is not None:
        weight, bias = recurrent
        loop = b.loop(snn.shape_of(x.type), name=f"{name}.prev")
        x = b.add([x, b.dense(loop, weight, bias, name=f"{name}.recurrent")], name=f"{name}.input")
    spikes = b.cuba_neuron(x, name=name, **p) if "alpha" in p else b.neuron(x, name=name, **p)
    if loop is not None:
        b.close_loop(loop, spikes)
    return spikes


def group_mask(out_channels: int, in_channels: int, groups: int) -> np.ndarray:
    """[out, in] 1 where a grouped convolution connects output channel o to input channel i (same group)."""
    return (np.arange(out_channels)[:, None] // (out_channels // groups)) == (
        np.arange(in_channels)[None, :] // (in_channels // groups)
    )


def dense_groups(weight: np.ndarray, groups: int) -> np.ndarray:
    """A grouped (depthwise: groups = channels) convolution's weight [out, in/groups, *k] as the dense weight
    [out, in, *k] of the same convolution: zero between groups. The same sums (every product outside a group
    is 0 · x), and snn-to-core keeps no synapse of weight 0, so a depthwise neuron reads k·k inputs."""
    out_c, per_group = weight.shape[:2]
    in_c = per_group * groups
    dense = np.zeros((out_c, in_c, *weight.shape[2:]), weight.dtype)
    first = (np.arange(out_c) // (out_c // groups)) * per_group  # each output channel's first input channel
    for j in range(per_group):
        dense[np.arange(out_c), first + j] = weight[:, j]
    return dense


def scaled_weights(w: np.ndarray, s: float) -> np.ndarray:
    return w if s == 1.0 else (w * np.float32(s)).astype(np.float32)
