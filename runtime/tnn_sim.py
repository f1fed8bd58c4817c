"""The chip simulator for TNN binaries: columns on TNN cores, read from the binary alone.

Its arithmetic is docs/tnn.md's, computed a different way from the reference (`tnn_ref`, tick by
tick): a potential changes only where a ramp starts or saturates (or a step lands), so each input
adds its changes to per-(sample, neuron) tick buckets in one integer bincount and two running sums
give every tick's potential, in one pass over the synapses instead of one per tick; k-WTA ranks
each spike by counting the spikes before it. Learning runs the
samples in order, each column applying STDP with the chip's random source after every sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nmc.chips.binary import ChipImage, read_binary
from nmc.chips.tnn_binary import column_views
from nmc.chips.tnn_format import (
    PROB_BITS,
    PROB_ONE,
    no_spike,
    stabiliser_tables,
    synapse_constants,
    wmax,
    xorshift32,
)
from nmc.runtime.tnn_encode import Encoder, encode

CHUNK = 1 << 22  # samples x neurons x synapses per bincount (its int64 index arrays: 32 MB)


@dataclass
class TnnSimRun:
    outputs: np.ndarray  # (N, output lines) spike times
    winners: np.ndarray  # (N,) earliest output line, -1 if none spiked
    spikes: np.ndarray | None = None  # (N, all column lines) with record
    weights: list[np.ndarray] = field(default_factory=list)  # per column (q, p), after the run
    synaptic_events: int = 0  # input spikes reaching a synapse, summed over samples


@dataclass
class _Col:
    source: np.ndarray  # (p,) index into the sample's line array: encoder lines, then column lines
    weights: np.ndarray  # (q, p) int64
    theta: np.ndarray
    k: int
    rnl: bool
    state: int
    constants: np.ndarray


class TnnChip:
    def __init__(self, image: ChipImage):
        m, a = image.meta, image.arrays
        self.meta = m
        self.time_bits, self.weight_bits = m["time_bits"], m["weight_bits"]
        e, enc = m["encoder"], a["ENC "]
        proj = np.asarray(enc["projection"], np.float64)
        self.encoder = Encoder(e["kind"], self.time_bits, e["fields"], np.asarray(enc["lo"], np.float64),
                               np.asarray(enc["hi"], np.float64), tuple(e["input_shape"]), proj if proj.size else None,
                               bool(e["znorm"]))  # fmt: skip
        views = column_views(image)
        self.encoder_lines = self.encoder.lines
        self.columns = []
        for v in views:
            source = np.where(v.src_kind == 0, v.src_index, self.encoder_lines + v.src_index)
            constants = synapse_constants(m["seed"], v.index, v.p * v.q)
            self.columns.append(_Col(source, v.weights, v.theta, v.k, v.response == "rnl", v.state, constants))
        starts = [v.first_line for v in views] + [views[-1].first_line + views[-1].q]
        self.line_start = np.asarray(starts, np.int64) + self.encoder_lines  # column c's lines in the line array
        self.out_lines = a["OUT "]["lines"].astype(np.int64)
        self.probabilities = dict(zip(m["stdp_cases"], m["stdp"], strict=True))
        self.stabilise = bool(m["stabilise"])

    @classmethod
    def load(cls, path: str | Path) -> TnnChip:
        return cls(read_binary(path))

    def _times(self, c: _Col, xin: np.ndarray) -> np.ndarray:
        none = no_spike(self.time_bits)
        batch, q = xin.shape[0], c.weights.shape[0]
        y = np.empty((batch, q), np.int64)
        step = max(1, CHUNK // max(1, q * xin.shape[1]))  # (samples, neurons, synapses) index arrays of bounded size
        for s in range(0, batch, step):
            y[s : s + step] = self._first_crossings(c, xin[s : s + step], none)
        # rank of each spike among the column's: spikes strictly earlier, or as early with a lower index
        before = (y[:, None, :] < y[:, :, None]) | (
            (y[:, None, :] == y[:, :, None]) & (np.arange(q)[None, :] < np.arange(q)[:, None])[None]
        )
        rank = before.sum(-1)
        return np.where((rank < c.k) & (y < none), y, none)

    @staticmethod
    def _first_crossings(c: _Col, xin: np.ndarray, none: int) -> np.ndarray:
        """Each neuron's first tick with potential >= theta (none: no spike), before k-WTA. The potential's changes
        are scattered into per-(sample, neuron) tick buckets and summed up: an RNL ramp of height w from input time
        x adds 1 to the slope at x and takes it back at x + w, so the potential is the running sum of the running
        sum; an SNL step adds w at x. Bucket `none` collects what starts or ends past the window (and the inputs
        that never spiked: they start and end there)."""
        batch, q = xin.shape[0], c.weights.shape[0]
        buckets = none + 1
        base = (np.arange(batch * q, dtype=np.int64) * buckets).reshape(batch, q, 1)
        x = np.minimum(xin, none)[:, None, :]  # (batch, 1, p)
        starts = (base + x).ravel()
        size = batch * q * buckets
        if c.rnl:
            ends = (base + np.minimum(x + c.weights[None], none)).ravel()
            slope = np.bincount(starts, minlength=size) - np.bincount(ends, minlength=size)
            potential = np.cumsum(np.cumsum(slope.reshape(batch, q, buckets), axis=-1), axis=-1)
        else:
            steps = np.bincount(starts, weights=np.broadcast_to(c.weights[None], (batch, *c.weights.shape)).ravel(),
                                minlength=size)  # fmt: skip
            potential = np.cumsum(steps.reshape(batch, q, buckets), axis=-1)
        fired = potential[..., :none] >= c.theta[None, :, None]
        return np.where(fired.any(-1), fired.argmax(-1), none)

    def _learn(self, c: _Col, x: np.ndarray, y: np.ndarray) -> None:
        none, u = no_spike(self.time_bits), self.probabilities
        c.state = xorshift32(c.state)
        v = (np.uint32(c.state) ^ c.constants).astype(np.int64).reshape(c.weights.shape)
        r, r2 = v & (PROB_ONE - 1), (v >> PROB_BITS) & (PROB_ONE - 1)
        pre, post = (x < none)[None, :], (y < none)[:, None]
        early = x[None, :] <= y[:, None]
        up = np.where(pre & post & early, r < u["capture"], False) | np.where(pre & ~post, r < u["search"], False)
        down = np.where(pre & post & ~early, r < u["minus"], False) | np.where(~pre & post, r < u["backoff"], False)
        if self.stabilise:
            f_up, f_down = stabiliser_tables(self.weight_bits)  # cached
            up &= r2 < f_up[c.weights]
            down &= r2 < f_down[c.weights]
        c.weights = np.minimum(np.maximum(c.weights + up - down, 0), wmax(self.weight_bits))

    def _forward(self, enc_times: np.ndarray, learn: bool) -> tuple[np.ndarray, int]:
        """Every line of the samples (encoder lines, then each column's outputs) and the synaptic events."""
        lines = np.empty((enc_times.shape[0], int(self.line_start[-1])), np.int64)
        lines[:, : self.encoder_lines] = enc_times
        events = 0
        for i, c in enumerate(self.columns):
            xin = lines[:, c.source]
            y = self._times(c, xin)
            events += int((xin < no_spike(self.time_bits)).sum()) * c.weights.shape[0]
            if learn:
                self._learn(c, xin[0], y[0])
            lines[:, self.line_start[i] : self.line_start[i + 1]] = y
        return lines, events

    def run(self, x: np.ndarray, learn: bool = False, record: bool = False) -> TnnSimRun:
        """Output spike times and winners for raw samples x (N, *input_shape); `learn`: on-chip STDP in sample order."""
        return self.run_encoded(encode(self.encoder, x), learn, record)

    def run_encoded(self, times: np.ndarray, learn: bool = False, record: bool = False) -> TnnSimRun:
        """As `run`, from encoder spike times (N, encoder lines) instead of raw samples."""
        if times.ndim != 2 or times.shape[1] != self.encoder_lines:
            raise ValueError(f"encoded TNN samples must have shape (N, {self.encoder_lines}), got {list(times.shape)}")
        if learn:
            parts = [self._forward(times[n : n + 1], True) for n in range(len(times))]
            lines = np.concatenate([p[0] for p in parts]) if parts else np.zeros((0, int(self.line_start[-1])), np.int64)
            events = sum(p[1] for p in parts)
        else:
            lines, events = self._forward(times, False)
        lines = lines[:, self.encoder_lines :]  # the column lines
        out = lines[:, self.out_lines]
        none = no_spike(self.time_bits)
        win = np.where(out.min(axis=1, initial=none) < none, out.argmin(axis=1) if out.size else 0, -1)
        return TnnSimRun(out, win, lines if record else None, [c.weights.copy() for c in self.columns], events)
