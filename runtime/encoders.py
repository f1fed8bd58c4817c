"""Host-side input encoders, shared by the core interpreter and the chip simulator (no IR needed)."""

from __future__ import annotations

import numpy as np


class Encoder:
    """Turns a batch `x` into one tick of input per `step()` call: graded values or spikes."""

    def __init__(self, kind: str, x: np.ndarray, scale: float, seed: int, levels: int | None, dtype: np.dtype):
        """`x`: [batch, *shape], or [batch, ticks, *shape] for the "spikes" kind (a spike train per input)."""
        self.kind, self.scale, self.levels, self.dtype = kind, scale, levels, np.dtype(dtype)
        self.tick = 0
        self._constant: np.ndarray | None = None  # per-tick constants: direct values, Poisson probabilities
        if kind == "spikes":
            self.frames = x.reshape(x.shape[0], x.shape[1], -1) != 0
            x = x[:, 0] if x.shape[1] else x.reshape(x.shape[0], -1)
        self.x = x.reshape(x.shape[0], -1)
        self.rng = np.random.default_rng(seed)
        self.u = np.zeros(self.x.shape, self.dtype)
        self.gain = self.x.astype(self.dtype) * self.dtype.type(scale)  # the rate code's per-tick increment

    def step(self) -> np.ndarray:
        if self.kind == "spikes":
            t, self.tick = self.tick, self.tick + 1
            if t >= self.frames.shape[1]:
                return np.zeros(self.x.shape, self.dtype)
            return self.frames[:, t].astype(self.dtype)
        if self.kind == "direct":  # the same values every tick: computed once, handed out read-only
            if self._constant is None:
                if self.levels is not None:
                    q = np.rint(self.x.astype(np.float64) * self.scale * self.levels)
                    self._constant = np.clip(q, -self.levels, self.levels).astype(np.int64)
                else:
                    self._constant = (self.x * self.dtype.type(self.scale)).astype(self.dtype)
                self._constant.flags.writeable = False
            return self._constant
        if self.kind == "rate":  # in place; the same roundings as u = u + x * scale; s = u >= 1; u = u - s
            self.u += self.gain
            s = (self.u >= 1).astype(self.dtype)
            self.u -= s
            return s
        if self._constant is None:  # the Poisson probabilities, the same every tick
            self._constant = np.clip(self.x.astype(np.float64) * self.scale, 0.0, 1.0)
        return (self.rng.random(self._constant.shape) < self._constant).astype(self.dtype)
