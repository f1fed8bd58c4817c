"""Temporal encoders: real values to spike times (docs/tnn.md, "Encoders").

A sample (a series of shape (length,) or (channels, length)) is flattened to D values,
optionally z-normalised per channel, optionally reduced to d values by a fixed linear map:
a sparse random projection (Achlioptas: entries +-sqrt(3/d) with probability 1/6 each, 0
otherwise) or piecewise aggregate approximation (PAA: each channel cut into d / channels
segments of near-equal length, each replaced by its mean). Then each value v becomes spike times:

* latency: one line, u = clip((v - lo) / (hi - lo), 0, 1);
* grf (Gaussian receptive fields): m lines with centres c_k = lo + (hi - lo)(k + 1/2)/m and
  width sigma = (hi - lo)/m, u_k = exp(-(v - c_k)^2 / (2 sigma^2));

and a line with strength u spikes at t = floor((1 - u)(T + 1)) for T = 2^b; t = T is "no
spike" (u < 1/(T+1)). lo and hi are each feature's 1st and 99th percentile on the data the
encoder is fitted on. The arithmetic is float64 numpy; the chip binary stores lo, hi and the
projection, and the simulator calls the same `encode`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nmc.chips.errors import NmcError
from nmc.chips.tnn_format import no_spike

KINDS = ("grf", "latency")
REDUCTIONS = ("sparse", "paa", "mixed")


@dataclass
class Encoder:
    kind: str
    time_bits: int
    fields: int  # m lines per value (1 for latency)
    lo: np.ndarray  # (d,) float64
    hi: np.ndarray  # (d,) float64
    input_shape: tuple[int, ...]  # one sample: (length,) or (channels, length)
    projection: np.ndarray | None = None  # (D, d) float64
    znorm: bool = True

    @property
    def lines(self) -> int:
        return self.lo.size * self.fields


def features(x: np.ndarray, znorm: bool, projection: np.ndarray | None) -> np.ndarray:
    """Samples (N, *shape) as the (N, d) values the encoder codes: z-normalised per channel, projected."""
    x = np.asarray(x, np.float64)
    if znorm:
        mean = x.mean(axis=-1, keepdims=True)
        std = x.std(axis=-1, keepdims=True)
        x = (x - mean) / np.where(std > 1e-12, std, 1.0)
    flat = x.reshape(len(x), -1)
    return flat @ projection if projection is not None else flat


def fit_encoder(
    x: np.ndarray, kind: str = "grf", time_bits: int = 3, fields: int = 8, project: int | None = None,
    znorm: bool = True, seed: int = 0, reduce: str = "sparse",
) -> Encoder:  # fmt: skip
    """An encoder fitted on samples `x` (N, length) or (N, channels, length); `project` values by `reduce`."""
    if kind not in KINDS:
        raise NmcError(f"unknown TNN encoder '{kind}' (expected {', '.join(KINDS)})")
    if reduce not in REDUCTIONS:
        raise NmcError(f"unknown TNN reduction '{reduce}' (expected {', '.join(REDUCTIONS)})")
    x = np.asarray(x, np.float64)
    if x.ndim not in (2, 3) or len(x) < 1:
        raise NmcError(f"TNN input must have shape (samples, length) or (samples, channels, length), got {list(x.shape)}")
    if not np.isfinite(x).all():
        raise NmcError("TNN input holds NaN or infinite values: fill or drop them first")
    width = int(np.prod(x.shape[1:]))
    projection = None
    if project is not None and project < width:
        n_paa = project if reduce == "paa" else project // 2 if reduce == "mixed" else 0
        parts = [paa_matrix(x.shape[1:], n_paa)] if n_paa else []
        if project - n_paa:
            rng = np.random.default_rng(seed)
            n = project - n_paa
            signs = rng.choice(np.array([-1.0, 0.0, 1.0]), size=(width, n), p=[1 / 6, 2 / 3, 1 / 6])
            parts.append(signs * np.sqrt(3.0 / n))
        projection = np.hstack(parts)
    v = features(x, znorm, projection)
    lo, hi = np.percentile(v, 1, axis=0), np.percentile(v, 99, axis=0)
    hi = np.maximum(hi, lo + 1e-6)  # a constant feature still gets a non-empty range
    m = fields if kind == "grf" else 1
    return Encoder(kind, time_bits, m, lo, hi, tuple(x.shape[1:]), projection, znorm)


def paa_matrix(shape: tuple[int, ...], values: int) -> np.ndarray:
    """PAA as a (channels * length, channels * segments) matrix: segment s of a channel averages samples
    floor(s L / S) .. floor((s + 1) L / S) - 1, with S = max(1, values // channels) segments per channel."""
    channels, length = (1, shape[0]) if len(shape) == 1 else shape
    segments = min(length, max(1, values // channels))
    edges = (np.arange(segments + 1) * length) // segments
    block = np.zeros((length, segments))
    for k in range(segments):
        block[edges[k] : edges[k + 1], k] = 1.0 / (edges[k + 1] - edges[k])
    return np.kron(np.eye(channels), block)


def encode(enc: Encoder, x: np.ndarray) -> np.ndarray:
    """Spike times (N, lines) as int64; no_spike(b) where a line stays silent."""
    x = np.asarray(x, np.float64)
    if tuple(x.shape[1:]) != enc.input_shape:
        raise NmcError(f"TNN input samples have shape {list(x.shape[1:])}, the encoder takes {list(enc.input_shape)}")
    v = features(x, enc.znorm, enc.projection)
    span = enc.hi - enc.lo
    if enc.kind == "latency":
        u = np.clip((v - enc.lo) / span, 0.0, 1.0)
    else:
        k = (np.arange(enc.fields) + 0.5) / enc.fields
        centre = enc.lo[:, None] + span[:, None] * k[None, :]
        sigma = span[:, None] / enc.fields
        u = np.exp(-((v[:, :, None] - centre[None]) ** 2) / (2 * sigma[None] ** 2)).reshape(len(v), -1)
    t_none = no_spike(enc.time_bits)
    return np.minimum(np.floor((1.0 - u) * (t_none + 1)), t_none).astype(np.int64)
