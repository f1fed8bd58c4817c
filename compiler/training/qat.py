"""The quantization-aware rate model of a converted ANN chain (NEUTRAMS' retraining).

A converted network is a chain of *stages*: each stage is the affine map (linear,
conv, pooling, reshapes) from one spiking population to the next neurons'
input current, followed by an IF population (threshold λ, reset by
subtraction) or, for the last stage, the membrane decoder. snn-to-core gives
every neuron the composition of its stage as one synapse list, and
reduce-precision scales each neuron's synapses, bias and threshold by one
factor `s` and rounds them. This model computes exactly those integers:

* the stage's composed matrix `M` (rows = presynaptic neurons, columns = the
  stage's neurons) and constant `b`, differentiably from the layer weights —
  `M` is the stage applied to an identity batch, so conv borders and pooling
  are composed as snn-to-core composes them;
* effective weights `E = M sigma` (sigma = λ of the population read; a direct input's
  weights are divided by the input levels, as reduce-precision does);
* per neuron `s` from `nmc.passes.reduce_precision.neuron_scales` after its MSE
  clip (`mse_peaks`), then `round_clip` of weights, bias and threshold — the
  pass's own functions, not copies;
* the rate an IF neuron with reset by subtraction settles to,
  `clamp((r·Q + b_q) / T_q, 0, 1)` — NEUTRAMS' surrogate `max((Wx + L)/T, 0)`,
  clipped at one spike per tick.

Rounding passes gradients straight through; `s` is a constant of each step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from nmc.conversion.layers import Layer, LayerGraph, group_mask, layer_shape
from nmc.errors import NmcError
from nmc.passes.reduce_precision import Limits, mse_peaks, neuron_scales, round_clip

MAP_KINDS = ("linear", "conv2d", "pool2d", "flatten", "reshape", "identity")
POPULATIONS = ("relu", "neuron")  # a ReLU to convert, or an nmc.nn neuron of an SNN (nmc.training.qat_snn)


@dataclass
class Stage:
    """The synaptic map into one neuron population, and that population (None: the decoded output)."""

    ops: list[Layer]
    relu: Layer | None  # the population: a ReLU (converted ANN) or an nmc.nn neuron layer (SNN)
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...] = ()
    mask: np.ndarray | None = None  # [out, in] of the stage's only linear layer (the fan-in blocks)

    @property
    def weight_ops(self) -> list[Layer]:
        return [ly for ly in self.ops if ly.kind in ("linear", "conv2d")]

    @property
    def plain_linear(self) -> bool:
        """The map is one linear layer on the flattened input: `M` is its transposed weight."""
        kinds = [ly.kind for ly in self.ops]
        return kinds.count("linear") == 1 and kinds[-1] == "linear" and set(kinds[:-1]) <= {"flatten", "reshape", "identity"}


def chain_stages(graph: LayerGraph) -> list[Stage]:
    """Split a converted ANN into stages; refuse what the rate model does not cover."""
    layers = graph.layers
    chain = "fine-tuning takes a chain of layers (nn.Sequential-like)"
    for i, ly in enumerate(layers[1:], 1):
        users = graph.users(i - 1)
        if len(ly.inputs) > 1 or len(users) > 1:
            what = (
                f"'{ly.name}' ({ly.origin or ly.kind}) joins {len(ly.inputs)} inputs"
                if len(ly.inputs) > 1
                else (f"the output of '{layers[i - 1].name}' feeds {len(users)} layers")
            )
            raise NmcError(f"{chain}; {what} (a residual connection or a max-pool tree); fine-tune it in torch instead")
        if ly.inputs != [i - 1]:
            raise NmcError(f"{chain}; '{ly.name}' ({ly.origin or ly.kind}) does not read the layer before it")
        if ly.kind not in (*MAP_KINDS, *POPULATIONS):
            raise NmcError(f"fine-tuning cannot train layer '{ly.name}' ({ly.origin or ly.kind})")
    if graph.outputs != [len(layers) - 1]:
        raise NmcError("fine-tuning takes a model with one output, its last layer")
    stages: list[Stage] = []
    shape = tuple(graph.input_shape)
    current = Stage([], None, shape)
    for ly in layers[1:]:
        shape = layer_shape(ly, [shape], graph.input_shape)
        if ly.kind in POPULATIONS:
            current.relu, current.out_shape = ly, shape
            stages.append(current)
            current = Stage([], None, shape)
        else:
            current.ops.append(ly)
            current.out_shape = shape
    if current.ops:
        stages.append(current)
    return stages


def _ste(exact: torch.Tensor, rounded: torch.Tensor) -> torch.Tensor:
    """`rounded` forward, the gradient of `exact` backward."""
    return exact + (rounded - exact).detach()


@dataclass
class Encoding:
    """How the host feeds the first stage: direct currents (integers x·scale·levels) or spike rates."""

    kind: str  # "direct" | "rate" | "poisson"
    scale: float


class RateNet(nn.Module):
    """Trainable weights, biases and thresholds of a converted chain; `forward` is the chip's rate model."""

    # a converted ANN's weights are multiplied by the threshold of the population they read (one spike
    # stands for λ of activation); an SNN's are not
    weights_scaled_by_threshold = True

    def __init__(self, stages: list[Stage], relu_scales: dict[str, float], encoding: Encoding, limits: Limits):
        super().__init__()
        self.stages, self.encoding, self.limits = stages, encoding, limits
        self._keys = {id(ly): f"l{i}" for i, ly in enumerate(ly for st in stages for ly in (*st.ops, st.relu) if ly)}
        self.weights = nn.ParameterDict()
        self.biases = nn.ParameterDict()
        # λ in float64, as the converter holds it: untrained, the written SNN is the converted ANN bit for bit
        self.thresholds = nn.ParameterDict()
        for st in stages:
            for ly in st.weight_ops:
                self.weights[self._key(ly)] = nn.Parameter(torch.tensor(np.asarray(ly.params["weight"], np.float32)))
                if ly.params.get("bias") is not None:
                    self.biases[self._key(ly)] = nn.Parameter(torch.tensor(np.asarray(ly.params["bias"], np.float32)))
            if st.relu is not None:
                lam = float(relu_scales[st.relu.name])
                self.thresholds[self._key(st.relu)] = nn.Parameter(torch.tensor(lam, dtype=torch.float64))

    @property
    def input_sigma(self) -> float:
        """What one unit of the encoded input stands for: 1/scale for a converted ANN, 1 for an SNN."""
        return 1.0 / self.encoding.scale if self.weights_scaled_by_threshold else 1.0

    def _key(self, ly: Layer) -> str:
        return self._keys[id(ly)]

    def conv_weight(self, ly: Layer) -> torch.Tensor:
        """A conv layer's trained weight; a grouped one's cross-group entries held at 0 (they are no synapses)."""
        w = self.weights[self._key(ly)]
        groups = int(ly.params.get("groups", 1))
        if groups == 1:
            return w
        mask = torch.as_tensor(group_mask(w.shape[0], w.shape[1], groups), dtype=w.dtype, device=w.device)
        return w * mask.reshape(*mask.shape, *([1] * (w.dim() - 2)))

    def threshold(self, st: Stage) -> torch.Tensor:
        assert st.relu is not None
        return self.thresholds[self._key(st.relu)].clamp_min(1e-6)

    # ------------------------------------------------------------------ the stage maps

    def _stage_map(self, st: Stage, x: torch.Tensor) -> torch.Tensor:
        for ly in st.ops:
            p = ly.params
            if ly.kind == "linear":
                w = self.weights[self._key(ly)]
                if st.mask is not None:
                    w = w * torch.as_tensor(st.mask, dtype=w.dtype, device=w.device)
                x = F.linear(x.reshape(x.shape[0], -1), w, self.biases[self._key(ly)] if self._key(ly) in self.biases else None)
            elif ly.kind == "conv2d":
                b = self.biases[self._key(ly)] if self._key(ly) in self.biases else None
                x = F.conv2d(x, self.conv_weight(ly), b, tuple(p["stride"]), tuple(p["padding"]))
            elif ly.kind == "pool2d":
                x = F.avg_pool2d(x, tuple(p["kernel"]), tuple(p["stride"]))
                if p["mode"] == "sum":
                    x = x * float(np.prod(p["kernel"]))
            elif ly.kind == "flatten":
                x = x.reshape(x.shape[0], -1)
            elif ly.kind == "reshape":
                x = x.reshape(x.shape[0], *p["shape"])
        return x

    def matrix(self, st: Stage) -> tuple[torch.Tensor, torch.Tensor]:
        """The stage as `current = r @ M + b` on flattened populations: M [n_in, n_out], b [n_out]."""
        device = next(self.parameters()).device
        if st.plain_linear:
            ly = st.ops[-1]
            w = self.weights[self._key(ly)]
            if st.mask is not None:
                w = w * torch.as_tensor(st.mask, dtype=w.dtype, device=w.device)
            b = self.biases[self._key(ly)] if self._key(ly) in self.biases else torch.zeros(w.shape[0], device=device)
            return w.T, b
        n_in = int(np.prod(st.in_shape))
        eye = torch.eye(n_in, device=device).reshape(n_in, *st.in_shape)
        zero = torch.zeros(1, *st.in_shape, device=device)
        b = self._stage_map(st, zero).reshape(-1)
        return self._stage_map(st, eye).reshape(n_in, -1) - b, b

    # ------------------------------------------------------------------ forward

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The first population's rates (direct: the integers the host sends)."""
        enc = self.encoding
        if enc.kind == "direct":
            return torch.round(x * enc.scale * self.limits.levels)
        return torch.clamp(x * enc.scale, 0.0, 1.0)

    def _stage_inputs(self) -> list[tuple[Stage, torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """Per stage: its effective weights E [n_in, n_out], constant b and threshold λ (None: output)."""
        out = []
        sigma: torch.Tensor | float = self.input_sigma
        for k, st in enumerate(self.stages):
            m, b = self.matrix(st)
            e = m * sigma
            if k == 0 and self.encoding.kind == "direct":
                e = e / self.limits.levels  # the integer input carries `levels` per unit
            lam = self.threshold(st).float() if st.relu is not None else None
            out.append((st, e, b, lam))
            sigma = lam if lam is not None and self.weights_scaled_by_threshold else 1.0
        return out

    def _quantize(self, e: torch.Tensor, b: torch.Tensor, lam: torch.Tensor | None):
        """reduce-precision's integers (weights, bias, threshold) and scale `s`; gradients pass straight through."""
        lim = self.limits
        s = self._scales(e, b, lam)
        q = _ste(e * s, round_clip(e * s, lim.w_min, lim.w_max))
        bq = _ste(b * s, round_clip(b * s, -lim.b_max, lim.b_max))
        tq = None if lam is None else _ste(lam * s, round_clip(lam * s, 1, None))
        return q, bq, tq, s

    @torch.no_grad()
    def chip_numbers(self) -> list[dict[str, np.ndarray]]:
        """Per stage, the integers the chip will hold: weight [n_in, n_out], bias, threshold (None: output)."""
        numbers = []
        for _st, e, b, lam in self._stage_inputs():
            q, bq, tq, s = self._quantize(e, b, lam)
            numbers.append(
                {
                    "weight": q.cpu().numpy().astype(np.int64),
                    "bias": bq.cpu().numpy().astype(np.int64),
                    "threshold": None if tq is None else tq.cpu().numpy().astype(np.int64),
                    "scale": s.cpu().numpy(),
                }
            )
        return numbers

    def forward(self, x: torch.Tensor, quantized: bool = True) -> torch.Tensor:
        """Class scores: the decoded membrane (output stage) or λ · rate (a spiking output)."""
        r = self.encode(x).reshape(x.shape[0], -1)
        out = r
        for _st, e, b, lam in self._stage_inputs():
            if quantized:
                q, bq, tq, s = self._quantize(e, b, lam)
                current = r @ q + bq
                if tq is None:
                    out = current / s
                    continue
                r = torch.clamp(current / tq, 0.0, 1.0)
            else:
                current = r @ e + b
                if lam is None:
                    out = current
                    continue
                r = torch.clamp(current / lam, 0.0, 1.0)
            out = r * lam
        return out

    @torch.no_grad()
    def _scales(self, e: torch.Tensor, b: torch.Tensor, lam: torch.Tensor | None) -> torch.Tensor:
        """reduce-precision's per-neuron factor for the stage's neurons (a constant of the step)."""
        w = e.detach().abs().cpu().double().numpy()
        rows, post = np.nonzero(w)
        peak = w.max(axis=0)
        peak = mse_peaks(post, w[rows, post], peak, self.limits.w_max)
        threshold = None if lam is None else np.full(w.shape[1], float(lam))
        s = neuron_scales(peak, threshold, b.detach().cpu().double().numpy(), self.limits)
        return torch.as_tensor(s, dtype=e.dtype, device=e.device)
