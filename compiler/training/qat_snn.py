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

A current-based population (nmc.nn.CubaLIF) first filters its input, `i = alpha_chip·i + I`,
alpha_chip the chip's decay closest to alpha as for β. A recurrent one (nmc.nn.RLIF, RCubaLIF)
adds its own spikes of the tick before through its trained recurrent weights, which
share the neuron's scale with its input weights: on the chip they are one group's synapses.
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
        self.chip_beta, self.chip_alpha = {}, {}
        for st in stages:
            if st.relu is not None:
                p = st.relu.params
                beta = p.get("beta")
                self.chip_beta[st.relu.name] = realised_beta(*leak_decay(beta if beta is not None else 1.0, core))
                if p.get("alpha") is not None:
                    self.chip_alpha[st.relu.name] = realised_beta(*leak_decay(p["alpha"], core))
                if p.get("recurrent") is not None:  # trained with the input weights (the optimizer's weight group)
                    w, b = p["recurrent"]
                    self.weights[self.recurrent_key(st)] = torch.nn.Parameter(torch.tensor(w, dtype=torch.float32))
                    if b is not None:
                        self.biases[self.recurrent_key(st)] = torch.nn.Parameter(torch.tensor(b, dtype=torch.float32))

    def recurrent_key(self, st: Stage) -> str:
        assert st.relu is not None
        return self._key(st.relu) + "_rec"

    def recurrent(self, st: Stage) -> tuple[torch.Tensor, torch.Tensor] | None:
        """A recurrent population's loop as `current += s_prev @ W + b` (W [n, n], rows the spikes read), or None."""
        if st.relu is None or self.recurrent_key(st) not in self.weights:
            return None
        w = self.weights[self.recurrent_key(st)]
        b = self.biases[self.recurrent_key(st)] if self.recurrent_key(st) in self.biases else torch.zeros_like(w[0])
        return w.T, b

    def forward(self, x: torch.Tensor, quantized: bool = True) -> torch.Tensor:
        layers = []
        for st, e, b, lam in self._stage_inputs():
            loop = self.recurrent(st)
            n_in = e.shape[0]
            if loop is not None:  # one group on the chip: the loop's weights are synapses of the same neurons
                e, b = torch.cat([e, loop[0]]), b + loop[1]
            if quantized:
                q, bq, tq, s = self._quantize(e, b, lam)
                e, b, lam = q / s, bq / s, None if tq is None else tq / s
            layers.append((st, e[:n_in], b, lam, e[n_in:] if loop is not None else None))
        if self.encoding.kind == "direct":
            # the first stage's weights carry 1/levels; the chip is sent integers, the float model exact values
            sent = self.encode(x) if quantized else x * self.encoding.scale * self.limits.levels
            sent = sent.reshape(x.shape[0], -1)
            feed = lambda _t: sent  # noqa: E731
        else:
            feed = encoder(x.reshape(x.shape[0], -1), self.encoding.kind, self.encoding.scale)
        v: list[torch.Tensor | None] = [None] * len(layers)
        i_syn: list[torch.Tensor | None] = [None] * len(layers)
        s_prev: list[torch.Tensor | None] = [None] * len(layers)
        out = torch.zeros((), device=x.device)
        for t in range(self.ticks):
            r = feed(t)
            for k, (st, w, bias, threshold, w_loop) in enumerate(layers):
                current = r @ w + bias
                if w_loop is not None and s_prev[k] is not None:
                    current = current + s_prev[k] @ w_loop
                if threshold is None:  # membrane decoder of the last stage: the integrated current
                    out = out + current
                    continue
                p = st.relu.params
                if p.get("alpha") is not None:
                    alpha = self.chip_alpha[st.relu.name] if quantized else p["alpha"]
                    current = i_syn[k] = current if i_syn[k] is None else alpha * i_syn[k] + current
                prev = v[k] if v[k] is not None else torch.full_like(current, float(p.get("v_init", 0.0)))
                beta = self.chip_beta[st.relu.name] if quantized else p.get("beta", 1.0)
                potential = (beta if beta is not None else 1.0) * prev + current
                spikes = _SpikeFn.apply(potential - threshold, p["compare"] == "gt", 25.0)
                if p["reset"] == "subtract":
                    potential = potential - spikes.detach() * threshold
                elif p["reset"] == "zero":
                    potential = torch.where(spikes.detach() > 0, torch.zeros_like(potential), potential)
                v[k] = potential
                r = s_prev[k] = spikes
            if layers[-1][3] is not None:
                out = out + r  # spike counts
        return out
