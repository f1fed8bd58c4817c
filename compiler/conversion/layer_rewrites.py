"""Rewrites of the layer graph into the kinds `lower_to_snn` converts, each exact on float values.

Front ends emit layers as the source model names them; some have no direct
spiking counterpart and are rewritten here, before calibration, so that the
thresholds are balanced on the rewritten graph:

* 1-D layers (Conv1d, AvgPool1d, MaxPool1d, adaptive 1-D pooling) run as their
  2-D forms on a `[C, 1, L]` view, between two reshapes (pure relabelings);
* adaptive average pooling whose output size divides the input is a fixed
  `AvgPool` with kernel = stride = input / output; `mean` over trailing feature
  dimensions is an average pool over a `[P, 1, Q]` view;
* an average pool with zero padding counted in its windows (torch's default) is
  a depthwise convolution with weights 1/window and that padding;
* concatenation is a sum of placements: each input is carried into its slot of
  the joined tensor by a 0/1 convolution (1x1, channel axis) or dense map (any
  other axis), and the parts are added. The result is a linear combination of
  spike trains like a max pool's, which the next layer's synapses absorb, so it
  costs no neuron and no tick; the float graph equals torch.cat exactly;
* max pooling becomes a tree of pairwise maxima, `max(u, v) = v + relu(u - v)`:
  each level is one convolution with ±1 weights and one ReLU population, the
  result is a linear combination of spike trains (which the next layer's
  synapses absorb). The identity is exact for every real input, so the float
  graph computes torch's `max_pool` bit for bit up to float rounding; the ReLUs
  then convert like any other (docs/frontend.md gives the accuracy).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nmc.conversion.layers import Layer, LayerGraph, concat_axis, layer_shape
from nmc.errors import NmcError

SOURCE_KINDS = ("conv1d", "pool1d", "maxpool", "adaptive_avgpool", "mean", "concat", "unsupported")
MAX_PLACEMENT = 1 << 24  # entries of a dense placement matrix (a join off the channel axis); larger is refused
# layers through which a non-negative value stays non-negative (zero padding of a max pool is then exact)
_KEEPS_SIGN = ("identity", "flatten", "reshape", "pool2d")


@dataclass
class _Builder:
    """The rewritten graph, grown layer by layer with each new layer's shape."""

    input_shape: tuple[int, ...]
    layers: list[Layer] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)

    def add(self, layer: Layer) -> int:
        self.shapes.append(layer_shape(layer, [self.shapes[j] for j in layer.inputs], self.input_shape))
        self.layers.append(layer)
        return len(self.layers) - 1

    def reshape(self, src: int, shape: tuple[int, ...], name: str) -> int:
        if self.shapes[src] == shape:
            return src
        return self.add(Layer(name, "reshape", [src], {"shape": shape}))

    def non_negative(self, i: int) -> bool:
        ly = self.layers[i]
        if ly.kind in ("relu", "neuron"):
            return True
        if ly.kind in _KEEPS_SIGN:
            return self.non_negative(ly.inputs[0])
        return False


def prepare(graph: LayerGraph) -> LayerGraph:
    """The graph with every source-only kind rewritten; unsupported layers raise their message."""
    b = _Builder(tuple(graph.input_shape))
    new_index: dict[int, int] = {}
    for i, ly in enumerate(graph.layers):
        if ly.kind == "unsupported":
            raise NmcError(ly.params["reason"])
        ins = [new_index[j] for j in ly.inputs]
        where = f"layer '{ly.name}' ({ly.origin or ly.kind})"
        if ly.kind in ("conv1d", "pool1d") or (ly.kind in ("maxpool", "adaptive_avgpool") and _one_d(ly)):
            new_index[i] = _lift_1d(b, ly, ins[0])
        elif ly.kind == "adaptive_avgpool":
            new_index[i] = _adaptive(b, ly, ins[0], where)
        elif ly.kind == "mean":
            new_index[i] = _mean(b, ly, ins[0], where)
        elif ly.kind == "pool2d" and any(ly.params.get("padding", ())):
            new_index[i] = _padded_avg_pool(b, ly, ins[0])
        elif ly.kind == "concat":
            new_index[i] = _concat(b, ly, ins, where)
        elif ly.kind == "maxpool":
            new_index[i] = _maxpool(b, ly, ins[0], where, graph.is_spiking)
        else:
            new_index[i] = b.add(Layer(ly.name, ly.kind, ins, dict(ly.params), ly.origin))
            if ly.kind == "reshape":  # -1 resolved, as the IR needs static shapes
                b.layers[-1].params["shape"] = b.shapes[-1]
    return LayerGraph(b.layers, [new_index[j] for j in graph.outputs], graph.input_shape)


def _one_d(ly: Layer) -> bool:
    return len(ly.params.get("kernel", ly.params.get("output", (0, 0)))) == 1


def _lift_1d(b: _Builder, ly: Layer, src: int) -> int:
    """A 1-D layer as its 2-D form with a height of 1."""
    c, length = b.shapes[src] if len(b.shapes[src]) == 2 else (None, None)
    if c is None:
        layer_shape(ly, [b.shapes[src]], b.input_shape)  # raises the layer's own shape message
    x = b.reshape(src, (c, 1, length), f"{ly.name}.as2d")
    p = dict(ly.params)
    if ly.kind == "conv1d":
        p["weight"] = p["weight"][:, :, None, :]
        kind = "conv2d"
    elif ly.kind == "adaptive_avgpool":
        kind = "adaptive_avgpool"
        p["output"] = [1, p["output"][0]]
    else:
        kind = "pool2d" if ly.kind == "pool1d" else "maxpool"
        p["kernel"] = [1, *p["kernel"]]
    for key in ("stride", "padding"):
        if key in p:
            p[key] = [1 if key == "stride" else 0, *p[key]]
    inner = Layer(ly.name, kind, [x], p, ly.origin)
    where = f"layer '{ly.name}' ({ly.origin or ly.kind})"
    if kind == "adaptive_avgpool":
        y = _adaptive(b, inner, x, where)
    elif kind == "maxpool":
        y = _maxpool(b, inner, x, where, spiking=False)
    elif kind == "pool2d" and any(p.get("padding", ())):
        y = _padded_avg_pool(b, inner, x)
    else:
        y = b.add(inner)
    o, _, out_len = b.shapes[y]
    return b.reshape(y, (o, out_len), f"{ly.name}.as1d")


def _adaptive(b: _Builder, ly: Layer, src: int, where: str) -> int:
    _, h, w = b.shapes[src]
    oh, ow = (int(o) if o is not None else d for o, d in zip(ly.params["output"], (h, w), strict=True))
    if h % oh or w % ow:
        raise NmcError(
            f"{where}: output {oh}x{ow} from a {h}x{w} map gives windows of unequal size; only sizes that "
            f"divide the input reduce to a fixed pooling (e.g. output 1 or {h // max(1, h // oh)}): "
            "change the output size or use AvgPool2d"
        )
    kernel = [h // oh, w // ow]
    params = {"mode": "avg", "kernel": kernel, "stride": kernel}
    return b.add(Layer(ly.name, "pool2d", [src], params, ly.origin))


def _mean(b: _Builder, ly: Layer, src: int, where: str) -> int:
    out = layer_shape(ly, [b.shapes[src]], b.input_shape)  # checks the dims
    shape = b.shapes[src]
    kept = len(shape) - len(ly.params["dims"])
    p, q = int(np.prod(shape[:kept])), int(np.prod(shape[kept:]))
    x = b.reshape(src, (p, 1, q), f"{ly.name}.rows")
    pooled = b.add(Layer(ly.name, "pool2d", [x], {"mode": "avg", "kernel": [1, q], "stride": [1, q]}, ly.origin))
    return b.reshape(pooled, tuple(out), f"{ly.name}.shape")


def _maxpool(b: _Builder, ly: Layer, src: int, where: str, spiking: bool) -> int:
    p = ly.params
    if spiking:
        raise NmcError(
            f"{where} in a spiking model: spike trains have no exact max that IF/LIF synapses compute; "
            "use AvgPool2d in the SNN (or convert a ReLU ANN, where max pooling is supported)"
        )
    padding = [int(v) for v in p.get("padding", (0, 0))]
    if any(padding) and not b.non_negative(src):
        raise NmcError(
            f"{where}: padding {padding} pads with -inf, which equals zero padding only after a ReLU; "
            "put the max pool after its ReLU or use padding=0"
        )
    layer_shape(ly, [b.shapes[src]], b.input_shape)  # checks that the window fits
    c = b.shapes[src][0]
    kernel, stride = [int(v) for v in p["kernel"]], [int(v) for v in p["stride"]]
    window = [(i, j) for i in range(kernel[0]) for j in range(kernel[1])]
    # a value is a linear combination: {(source layer, block): coefficient}; block = window
    # position for the pooled input, ReLU block index for the tree's own ReLU layers
    values: list[dict[tuple[int, int], float]] = [{(src, e): 1.0} for e in range(len(window))]
    level = 0
    while len(values) > 1:
        level += 1
        pairs = [(values[k], values[k + 1]) for k in range(0, len(values) - 1, 2)]
        diffs = [_combine(u, v, -1.0) for u, v in pairs]
        pre = _linear_layers(b, f"{ly.name}.max{level}", diffs, src, c, kernel, stride, padding, window)
        relu = b.add(Layer(f"{ly.name}.max{level}", "relu", [pre], {}, ly.origin))
        rest = [values[-1]] if len(values) % 2 else []
        values = [_combine(v, {(relu, k): 1.0}, 1.0) for k, (_, v) in enumerate(pairs)] + rest
    return _linear_layers(b, f"{ly.name}.max", values, src, c, kernel, stride, padding, window)


def _combine(u: dict, v: dict, sign: float) -> dict:
    out = dict(u)
    for key, coef in v.items():
        out[key] = out.get(key, 0.0) + sign * coef
    return {k: c for k, c in out.items() if c != 0.0}


def _linear_layers(b: _Builder, name: str, values: list[dict], src: int, c: int, kernel, stride, padding, window) -> int:
    """Layers computing `values` (one block of `c` channels each): a convolution per source, summed."""
    n = len(values)
    sources = sorted({s for v in values for s, _ in v})
    parts = []
    for s in sources:
        if s == src:
            w = np.zeros((n * c, c, *kernel), np.float32)
            for k, v in enumerate(values):
                for (s2, e), coef in v.items():
                    if s2 == src:
                        i, j = window[e]
                        w[np.arange(k * c, (k + 1) * c), np.arange(c), i, j] = coef
            params = {"weight": w, "bias": None, "stride": list(stride), "padding": list(padding)}
        else:
            blocks = b.shapes[s][0] // c
            w = np.zeros((n * c, blocks * c, 1, 1), np.float32)
            for k, v in enumerate(values):
                for (s2, blk), coef in v.items():
                    if s2 == s:
                        w[np.arange(k * c, (k + 1) * c), np.arange(blk * c, (blk + 1) * c), 0, 0] = coef
            params = {"weight": w, "bias": None, "stride": [1, 1], "padding": [0, 0]}
        parts.append(b.add(Layer(f"{name}.from{len(parts)}", "conv2d", [s], params, "MaxPool")))
    if len(parts) == 1:
        return parts[0]
    return b.add(Layer(name, "add", parts, {}, "MaxPool"))


def _concat(b: _Builder, ly: Layer, ins: list[int], where: str) -> int:
    """torch.cat as the sum of each input placed in its slot (see the module docstring)."""
    shapes = [b.shapes[j] for j in ins]
    out = layer_shape(ly, shapes, b.input_shape)  # checks ranks and sizes
    axis = concat_axis(ly, len(shapes[0]))
    parts, offset = [], 0
    for k, (src, shape) in enumerate(zip(ins, shapes, strict=True)):
        if axis == 0 and len(shape) > 1:  # channels: a 1x1 convolution on a [C, 1, rest] view
            x = b.reshape(src, (shape[0], 1, int(np.prod(shape[1:]))), f"{ly.name}.in{k}")
            w = np.zeros((out[0], shape[0], 1, 1), np.float32)
            w[offset + np.arange(shape[0]), np.arange(shape[0]), 0, 0] = 1.0
            params = {"weight": w, "bias": None, "stride": [1, 1], "padding": [0, 0]}
            parts.append(b.add(Layer(f"{ly.name}.part{k}", "conv2d", [x], params, ly.origin)))
        else:  # any axis: the flattened input's entries moved to theirs in the flattened output
            n_in, n_out = int(np.prod(shape)), int(np.prod(out))
            if n_in * n_out > MAX_PLACEMENT:
                raise NmcError(f"{where}: joining along dim {ly.params['dim']} needs a {n_out} x {n_in} placement, "
                               f"over {MAX_PLACEMENT:,} entries; concatenate channels (dim=1) instead")  # fmt: skip
            target = np.zeros(out, np.int64)
            index = [slice(None)] * len(out)
            index[axis] = slice(offset, offset + shape[axis])
            target[tuple(index)] = 1
            w = np.zeros((n_out, n_in), np.float32)
            w[np.flatnonzero(target.ravel()), np.arange(n_in)] = 1.0
            x = b.reshape(src, (n_in,), f"{ly.name}.in{k}")
            parts.append(b.add(Layer(f"{ly.name}.part{k}", "linear", [x], {"weight": w, "bias": None}, ly.origin)))
        offset += shape[axis]
    y = parts[0] if len(parts) == 1 else b.add(Layer(ly.name, "add", parts, {}, ly.origin))
    return b.reshape(y, tuple(out), f"{ly.name}.shape")


def _padded_avg_pool(b: _Builder, ly: Layer, src: int) -> int:
    """AvgPool with padding, count_include_pad: each channel convolved with 1/window over the zero-padded input."""
    layer_shape(ly, [b.shapes[src]], b.input_shape)  # checks that the window fits
    c, (kh, kw) = b.shapes[src][0], ly.params["kernel"]
    w = np.zeros((c, c, kh, kw), np.float32)
    w[np.arange(c), np.arange(c)] = 1.0 / (kh * kw)
    params = {"weight": w, "bias": None, "stride": list(ly.params["stride"]), "padding": list(ly.params["padding"])}
    return b.add(Layer(ly.name, "conv2d", [src], params, ly.origin))
