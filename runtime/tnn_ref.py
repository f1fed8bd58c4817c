"""Reference semantics of temporal neural networks (docs/tnn.md): the literal, tick-by-tick rules.

A network is a list of layers; a layer is a list of columns whose outputs are concatenated in
column order; column c of a layer reads `fields` (indices into the layer's input vector). The
first layer reads the encoder's spike times. Per sample (one gamma cycle of T = 2^b ticks):

* potential of neuron j at tick tau: sum_i rho(tau - x_i) with
  rho(d) = clamp(d + 1, 0, w_ji) (RNL: a ramp of slope 1 from the input time, saturating at w),
  or w_ji if d >= 0 else 0 (SNL: a step);
* the output time is the first tau in 0..T-1 with potential >= theta_j, else no spike (T);
* k-WTA: spikes ordered by (time, index); the first k pass, the rest become no spike;
* with learning, after the sample every column updates its weights by STDP (`stdp_update`).

This module is written for clarity, not speed; the snn-level and core-level interpreters run it,
and the torch modules and the chip simulator are tested against it spike for spike.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nmc.chips.tnn_format import (
    DEFAULT_PROBABILITIES,
    column_state,
    no_spike,
    random_bits,
    stabiliser_tables,
    synapse_constants,
    wmax,
    xorshift32,
)


@dataclass
class Column:
    fields: np.ndarray  # (p,) indices into the layer's input vector
    weights: np.ndarray  # (q, p) unsigned integers
    theta: np.ndarray  # (q,) unsigned integers
    k: int = 1
    response: str = "rnl"


@dataclass
class Stdp:
    """Learning rule parameters: probabilities in 1/1024 units, optional stabilisation, the random seed."""

    probabilities: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PROBABILITIES))
    stabilise: bool = False
    seed: int = 0


def wta(y: np.ndarray, k: int, time_bits: int) -> np.ndarray:
    """k-winner-take-all over the last axis: the first k spikes by (time, index) pass."""
    none = no_spike(time_bits)
    q = y.shape[-1]
    order = np.argsort(y * q + np.arange(q), axis=-1, kind="stable")  # (time, index) order
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(q), y.shape).copy(), axis=-1)
    return np.where((rank < k) & (y < none), y, none)


def column_times(x: np.ndarray, col: Column, time_bits: int) -> np.ndarray:
    """Output spike times (B, q) of one column for input times x (B, p), after k-WTA."""
    none = no_spike(time_bits)
    w = col.weights.astype(np.int64)[None, :, :]  # (1, q, p)
    xs = x.astype(np.int64)[:, None, :]  # (B, 1, p)
    y = np.full((x.shape[0], w.shape[1]), none, np.int64)
    for tau in range(none):
        if col.response == "rnl":
            potential = np.clip(tau - xs + 1, 0, w).sum(-1)
        else:
            potential = (w * (xs <= tau)).sum(-1)
        fire = (potential >= col.theta[None, :]) & (y == none)
        y[fire] = tau
    return wta(y, col.k, time_bits)


def stdp_update(
    x: np.ndarray, y: np.ndarray, weights: np.ndarray, state: int, constants: np.ndarray,
    rule: Stdp, time_bits: int, weight_bits: int,
) -> tuple[np.ndarray, int]:  # fmt: skip
    """One sample's STDP on one column: (new weights, new random state). x (p,), y (q,) after WTA."""
    none = no_spike(time_bits)
    state = xorshift32(state)
    r_case, r_stab = (a.reshape(weights.shape) for a in random_bits(state, constants))
    u = rule.probabilities
    xi, yj = x[None, :], y[:, None]
    fired_in, fired_out = xi < none, yj < none
    capture = fired_in & fired_out & (xi <= yj) & (r_case < u["capture"])
    minus = fired_in & fired_out & (xi > yj) & (r_case < u["minus"])
    search = fired_in & ~fired_out & (r_case < u["search"])
    backoff = ~fired_in & fired_out & (r_case < u["backoff"])
    inc, dec = capture | search, minus | backoff
    if rule.stabilise:
        up, down = stabiliser_tables(weight_bits)
        inc &= r_stab < up[weights]
        dec &= r_stab < down[weights]
    new = np.clip(weights.astype(np.int64) + inc - dec, 0, wmax(weight_bits))
    return new.astype(weights.dtype), state


def run_network(
    layers: list[list[Column]], times: np.ndarray, time_bits: int, weight_bits: int,
    rule: Stdp | None = None, record: bool = False,
) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """Last layer's output times (N, lines) and, with `record`, every layer's; with `rule`, learn sample by sample.

    Learning changes the columns' weights in place, in sample order; each sample is evaluated with
    the weights left by the samples before it.
    """
    if rule is None:
        outs = [times]
        for layer in layers:
            outs.append(np.concatenate([column_times(outs[-1][:, c.fields], c, time_bits) for c in layer], axis=1))
        return outs[-1], outs[1:] if record else []
    cols = [c for layer in layers for c in layer]
    states = [column_state(rule.seed, i) for i in range(len(cols))]
    consts = [synapse_constants(rule.seed, i, c.weights.size) for i, c in enumerate(cols)]
    per_layer: list[list[np.ndarray]] = [[] for _ in layers]
    for n in range(len(times)):
        inp = times[n : n + 1]
        gid = 0
        for li, layer in enumerate(layers):
            outs = []
            for c in layer:
                xin = inp[:, c.fields]
                y = column_times(xin, c, time_bits)
                c.weights[...], states[gid] = stdp_update(
                    xin[0], y[0], c.weights, states[gid], consts[gid], rule, time_bits, weight_bits
                )
                outs.append(y)
                gid += 1
            inp = np.concatenate(outs, axis=1)
            per_layer[li].append(inp)
    stacked = [np.concatenate(p, axis=0) for p in per_layer]
    return stacked[-1], stacked if record else []


def winners(y: np.ndarray, time_bits: int) -> np.ndarray:
    """The cluster of each sample: the line with the earliest spike (lowest index on ties), -1 if none spiked."""
    return np.where(y.min(axis=1) < no_spike(time_bits), y.argmin(axis=1), -1)
