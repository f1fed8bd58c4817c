"""Quantization-aware fine-tuning of an nmc.nn SNN chain: surrogate gradients through the chip's numbers.

The stages, effective weights and per-neuron integers are `nmc.training.qat.RateNet`'s
(reduce-precision's scale and rounding), with two differences that make it the
SNN's semantics instead of a converted ANN's: weights are not scaled by the
threshold of the population they read (an SNN's spike is worth 1), and the
forward pass runs the neurons tick by tick — `v = β_chip·v + I`, spike by the
model's comparison, reset — on the dequantized weights `Q/s`, bias `b_q/s` and
threshold `T_q/s`, with β_chip = 1 - 2^-k the chip's shift leak that
reduce-precision picks. The spike is nmc.nn's Heaviside with its fast-sigmoid
surrogate derivative (backpropagation through time). Outputs are what the
decoders read: spike counts, or the integrated current of a final linear stage.
"""

from __future__ import annotations

import torch

from nmc.nn import _SpikeFn, encoder
from nmc.passes.reduce_precision import leak_decay, realised_beta
from nmc.training.qat import RateNet, Stage


class SpikingNet(RateNet):
    """Trainable weights, biases and thresholds of an nmc.nn SNN chain; `forward` runs `ticks` chip ticks."""

    weights_scaled_by_threshold = False

    def __init__(self, stages: list[Stage], encoding, limits, ticks: int, core: dict):
        thresholds = {st.relu.name: float(st.relu.params["threshold"]) for st in stages if st.relu is not None}
        super().__init__(stages, thresholds, encoding, limits)
        self.ticks = int(ticks)
        self.chip_beta = {}
        for st in stages:
            if st.relu is not None:
                beta = st.relu.params.get("beta")
                self.chip_beta[st.relu.name] = realised_beta(*leak_decay(beta if beta is not None else 1.0, core))

    def forward(self, x: torch.Tensor, quantized: bool = True) -> torch.Tensor:
        layers = []
        for st, e, b, lam in self._stage_inputs():
            if quantized:
                q, bq, tq, s = self._quantize(e, b, lam)
                layers.append((st, q / s, bq / s, None if tq is None else tq / s))
            else:
                layers.append((st, e, b, lam))
        if self.encoding.kind == "direct":
            # the first stage's weights carry 1/levels; the chip is sent integers, the float model exact values
            sent = self.encode(x) if quantized else x * self.encoding.scale * self.limits.levels
            sent = sent.reshape(x.shape[0], -1)
            feed = lambda _t: sent  # noqa: E731
        else:
            feed = encoder(x.reshape(x.shape[0], -1), self.encoding.kind, self.encoding.scale)
        v: list[torch.Tensor | None] = [None] * len(layers)
        out = torch.zeros((), device=x.device)
        for t in range(self.ticks):
            r = feed(t)
            for k, (st, w, bias, threshold) in enumerate(layers):
                current = r @ w + bias
                if threshold is None:  # membrane decoder of the last stage: the integrated current
                    out = out + current
                    continue
                p = st.relu.params
                prev = v[k] if v[k] is not None else torch.full_like(current, float(p.get("v_init", 0.0)))
                beta = self.chip_beta[st.relu.name] if quantized else p.get("beta", 1.0)
                potential = (beta if beta is not None else 1.0) * prev + current
                spikes = _SpikeFn.apply(potential - threshold, p["compare"] == "gt", 25.0)
                if p["reset"] == "subtract":
                    potential = potential - spikes.detach() * threshold
                elif p["reset"] == "zero":
                    potential = torch.where(spikes.detach() > 0, torch.zeros_like(potential), potential)
                v[k] = potential
                r = spikes
            if layers[-1][3] is not None:
                out = out + r  # spike counts
        return out
