"""nmc's simulator of a Xylo configuration (chips/xylo_format.py), the arithmetic of docs/xylo.md step by step,
and the `xylosim` engine (SynSense's bit-accurate C++ simulator, the optional dependency `nmc[xylo]`).

One tick, as xylosim.v1 orders it: (1) each input channel's spikes (at most 15) add `w << shift_in` to the
hidden neurons' synaptic currents, one spike and one synapse at a time, each addition saturating at 16 bits;
(2) the hidden neurons' spikes of the tick before (at most 31 each) add through the reservoir (`shift_rec`),
and (3) through the readout weights to the readout neurons (`shift_out`); (4) every hidden neuron decays its
currents and membrane (`x - max(x >> dash, 1)` for x > 0, `x - (x >> dash)` for x < 0), adds its currents to the
membrane (saturating), and fires while `v ≥ threshold`, subtracting it each time, at most 31 times; (5) the
readout neurons likewise, at most once. Saturation makes the order of additions matter, so the loop follows
it (numba-compiled; tests/test_xylo.py checks every spike against xylosim).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from nmc.chips.errors import NmcError
from nmc.chips.xylo_format import (
    MAX_HIDDEN_SPIKES,
    MAX_INPUT_SPIKES,
    MAX_OUTPUT_SPIKES,
    STATE_MAX,
    STATE_MIN,
    XyloConfig,
)


@cache
def _kernel() -> Any:
    from numba import njit

    @njit(cache=True, nogil=True)
    def clip(x):  # pragma: no cover
        return STATE_MIN if x < STATE_MIN else (STATE_MAX if x > STATE_MAX else x)

    @njit(cache=True, nogil=True)
    def decay(x, dash):  # pragma: no cover
        dv = x >> dash
        if dv == 0:
            dv = 1 if x > 0 else (-1 if x < 0 else 0)
        return x - dv

    @njit(cache=True, nogil=True)
    def deliver(counts, cap, w, shift, isyn, n_syn):  # pragma: no cover
        # w: [pre, post, syn]; isyn: [post, syn]; one spike and one synapse at a time (saturating adds)
        for pre in range(counts.shape[0]):
            n = min(counts[pre], cap)
            if n == 0:
                continue
            for syn in range(n_syn):
                for post in range(w.shape[1]):
                    wv = w[pre, post, syn]
                    if wv == 0:
                        continue
                    add = wv << shift
                    for _ in range(n):
                        isyn[post, syn] = clip(isyn[post, syn] + add)

    @njit(cache=True, nogil=True)
    def evolve(isyn, v, dash_syn, dash_mem, threshold, cap, spikes, n_syn):  # pragma: no cover
        for j in range(v.shape[0]):
            total = 0
            for syn in range(n_syn):
                isyn[j, syn] = decay(isyn[j, syn], dash_syn[j, syn])
            v[j] = decay(v[j], dash_mem[j])
            for syn in range(n_syn):
                total += isyn[j, syn]
            v[j] = clip(v[j] + total)
            n = 0
            while v[j] >= threshold[j] and n < cap:
                n += 1
                v[j] -= threshold[j]
            spikes[j] = n

    @njit(cache=True, nogil=True)
    def run(x, w_in, w_rec, w_out, shifts, dash_syn, dash_mem, threshold, dash_syn_out, dash_mem_out, threshold_out,
            hidden_out, readout_out):  # pragma: no cover  # fmt: skip
        batch, ticks, _ = x.shape
        n_hid, n_out = w_rec.shape[0], w_out.shape[1]
        for b in range(batch):
            isyn = np.zeros((n_hid, 2), np.int64)
            v = np.zeros(n_hid, np.int64)
            isyn_out = np.zeros((n_out, 1), np.int64)
            v_out = np.zeros(n_out, np.int64)
            prev = np.zeros(n_hid, np.int64)
            spikes = np.zeros(n_hid, np.int64)
            spikes_out = np.zeros(n_out, np.int64)
            for t in range(ticks):
                deliver(x[b, t], MAX_INPUT_SPIKES, w_in, shifts[0], isyn, 2)
                deliver(prev, MAX_HIDDEN_SPIKES, w_rec, shifts[1], isyn, 2)
                deliver(prev, MAX_HIDDEN_SPIKES, w_out, shifts[2], isyn_out, 1)
                evolve(isyn, v, dash_syn, dash_mem, threshold, MAX_HIDDEN_SPIKES, spikes, 2)
                evolve(isyn_out, v_out, dash_syn_out, dash_mem_out, threshold_out, MAX_OUTPUT_SPIKES, spikes_out, 1)
                hidden_out[b, t] = spikes
                readout_out[b, t] = spikes_out
                prev[:] = spikes

    return run


def simulate(cfg: XyloConfig, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the configuration on input spike counts `x` [batch, ticks, inputs]; returns (hidden spike counts
    [batch, ticks, hidden], readout spikes [batch, ticks, outputs]), every tick as the device computes it."""
    x = _counts(cfg, x)
    batch, ticks, _ = x.shape
    _, n_hid, n_out = cfg.shape
    hidden = np.zeros((batch, ticks, n_hid), np.int64)
    readout = np.zeros((batch, ticks, n_out), np.int64)
    _kernel()(
        x, cfg.w_in.astype(np.int64), cfg.w_rec.astype(np.int64), cfg.w_out.astype(np.int64)[:, :, None],
        np.array([cfg.shift_in, cfg.shift_rec, cfg.shift_out], np.int64),
        np.stack([cfg.dash_syn, cfg.dash_syn2], axis=1).astype(np.int64), cfg.dash_mem.astype(np.int64),
        cfg.threshold.astype(np.int64), cfg.dash_syn_out.astype(np.int64)[:, None], cfg.dash_mem_out.astype(np.int64),
        cfg.threshold_out.astype(np.int64), hidden, readout,
    )  # fmt: skip
    return hidden, readout


def _counts(cfg: XyloConfig, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[2] != cfg.shape[0]:
        raise NmcError(f"Xylo input must be spike counts [samples, ticks, {cfg.shape[0]}], got shape {list(x.shape)}")
    if not np.isfinite(x).all() or (x < 0).any() or (x != np.round(x)).any():
        raise NmcError("Xylo input must be non-negative whole spike counts per channel and tick")
    return x.astype(np.int64)


def simulate_xylosim(cfg: XyloConfig, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same run in SynSense's xylosim (one XyloLayer, reset before each sample), as Rockpool drives it."""
    try:
        from xylosim.v1 import XyloLayer, XyloSynapse
    except ImportError:
        raise NmcError("--engine xylosim needs SynSense's simulator: pip install 'nmc[xylo]' (xylosim)") from None
    x = _counts(cfg, x)

    def synapses(w: np.ndarray) -> list[list[Any]]:
        w3 = w if w.ndim == 3 else w[:, :, None]
        return [[XyloSynapse(int(post), syn, int(w3[pre, post, syn])) for syn in range(w3.shape[2])
                 for post in np.nonzero(w3[pre, :, syn])[0]] for pre in range(w3.shape[0])]  # fmt: skip

    _, n_hid, n_out = cfg.shape
    # xylosim keeps raw pointers to the synapse objects: they must outlive the layer (as Rockpool keeps them)
    syn_in, syn_rec, syn_out = synapses(cfg.w_in), synapses(cfg.w_rec), synapses(cfg.w_out)
    layer = XyloLayer(
        synapses_in=syn_in, synapses_rec=syn_rec, synapses_out=syn_out,
        aliases=[[] for _ in range(n_hid)], threshold=cfg.threshold.tolist(), threshold_out=cfg.threshold_out.tolist(),
        weight_shift_inp=cfg.shift_in, weight_shift_rec=cfg.shift_rec, weight_shift_out=cfg.shift_out,
        dash_mem=cfg.dash_mem.tolist(), dash_mem_out=cfg.dash_mem_out.tolist(),
        dash_syns=[[int(a), int(b)] for a, b in zip(cfg.dash_syn, cfg.dash_syn2, strict=True)],
        dash_syns_out=[[int(d)] for d in cfg.dash_syn_out], name=cfg.name,
    )  # fmt: skip
    hidden = np.zeros((len(x), x.shape[1], n_hid), np.int64)
    readout = np.zeros((len(x), x.shape[1], n_out), np.int64)
    for b in range(len(x)):
        layer.reset_all()
        readout[b] = np.asarray(layer.evolve(x[b].tolist()), np.int64).reshape(x.shape[1], n_out)
        hidden[b] = np.asarray(layer.rec_recurrent_spikes, np.int64).reshape(x.shape[1], n_hid)
    del layer, syn_in, syn_rec, syn_out  # the layer first
    return hidden, readout


@dataclass
class XyloRun:
    """A run of a configuration on spike trains: the readout's spike counts over the model's ticks (the window
    that starts at the latency), and every tick's hidden and readout spikes [samples, ticks + latency, n]."""

    counts: np.ndarray
    hidden: np.ndarray
    readout: np.ndarray


def run_config(cfg: XyloConfig, x: np.ndarray, engine: str = "nmc") -> XyloRun:
    """Run spike trains `x` [samples, ticks, inputs] for as many ticks plus the readout's latency (silent input)."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise NmcError(f"a Xylo configuration takes spike trains [samples, ticks, {cfg.shape[0]}], got shape {list(x.shape)}")
    padded = np.concatenate([x, np.zeros((len(x), cfg.latency, *x.shape[2:]), x.dtype)], axis=1)
    if engine == "nmc":
        hidden, readout = simulate(cfg, padded)
    elif engine == "xylosim":
        hidden, readout = simulate_xylosim(cfg, padded)
    else:
        raise NmcError(f"--engine {engine!r}: a Xylo configuration runs on nmc or xylosim")
    counts = readout[:, cfg.latency :].sum(axis=1).astype(np.float32)
    return XyloRun(counts, hidden, readout)
