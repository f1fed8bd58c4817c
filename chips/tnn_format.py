"""The only copy of the temporal (TNN) number formats and of the STDP random source.

docs/tnn.md states the same rules in prose. Every TNN implementation — the torch modules
(`nmc.tnn`), the reference interpreter (`nmc.runtime.tnn_ref`), the chip simulator and the
Verilog — takes its codes, ranges and random numbers from here.

* Spike times: integers 0 .. 2^b - 1 within one gamma cycle (b time bits); "no spike" is the
  code 2^b (`no_spike(b)`), which every comparison treats as later than any time.
* Weights: unsigned, 0 .. 2^bw - 1 (`wmax`). Thresholds: unsigned integers.
* Probabilities: integers in 1/1024 units (10-bit compare against a 10-bit random number).
* Random source: each column c owns a 32-bit xorshift state, seeded by `column_state(seed, c)`
  and stepped once per learning sample; synapse m = j * p + i of the column reads the 20 bits
  `state ^ synapse_constant(seed, c, m)`: bits 0..9 gate the STDP case, bits 10..19 the
  stabiliser. All of it is shifts, XORs and constants, so hardware reproduces it bit for bit.
"""

from __future__ import annotations

from functools import cache

import numpy as np

RESPONSES = ("rnl", "snl")  # ramp-no-leak, step-no-leak
PROB_BITS = 10
PROB_ONE = 1 << PROB_BITS  # probabilities are integers in 1/1024 units
STDP_CASES = ("capture", "minus", "search", "backoff")
DEFAULT_PROBABILITIES = {"capture": 640, "minus": PROB_ONE, "search": 2, "backoff": 952}
MASK32 = 0xFFFFFFFF


def no_spike(time_bits: int) -> int:
    """The code of "no spike" for b time bits: one past the last time of the gamma cycle."""
    return 1 << time_bits


def wmax(weight_bits: int) -> int:
    return (1 << weight_bits) - 1


def _fmix32(x: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser on (x + golden ratio): a bijection that scrambles every bit."""
    x = (x.astype(np.uint64) + 0x9E3779B9) & MASK32
    x = ((x ^ (x >> 16)) * 0x85EBCA6B) & MASK32
    x = ((x ^ (x >> 13)) * 0xC2B2AE35) & MASK32
    return (x ^ (x >> 16)) & MASK32


def column_state(seed: int, column: int) -> int:
    """The xorshift state of `column` before its first learning sample (never 0, xorshift's fixed point)."""
    s = int(_fmix32(np.array([(seed * 0x1000193 + column) & MASK32]))[0])
    return s or 1


def synapse_constants(seed: int, column: int, count: int) -> np.ndarray:
    """The per-synapse constants of `column` (uint32, synapse m = j * p + i), wired into hardware."""
    base = int(_fmix32(np.array([((seed ^ 0x5BD1E995) + column) & MASK32]))[0])
    return _fmix32((np.arange(count, dtype=np.uint64) + base) & MASK32).astype(np.uint32)


def xorshift32(state: int) -> int:
    """Marsaglia's xorshift32 (13, 17, 5): the column's state after one learning sample."""
    state ^= (state << 13) & MASK32
    state ^= state >> 17
    state ^= (state << 5) & MASK32
    return state & MASK32


def random_bits(state: int, constants: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(case draw, stabiliser draw) of every synapse, each in 0..1023, for one sample's state."""
    v = np.uint32(state) ^ constants
    return (v & (PROB_ONE - 1)).astype(np.int64), ((v >> PROB_BITS) & (PROB_ONE - 1)).astype(np.int64)


@cache
def stabiliser_tables(weight_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """F(w) in 1/1024 units, indexed by weight: (gate of increments, gate of decrements).

    Increments are gated by stick-up F+(w) = (w/wmax)(2 - w/wmax), decrements by stick-down
    F-(w) = (1 - w/wmax)(1 + w/wmax), both floored to 1/1024: weights drift to 0 or wmax and stay
    (F+(0) = 0, F-(wmax) = 0), TNN's bimodal stabilisation.
    """
    m = wmax(weight_bits)
    w = np.arange(m + 1, dtype=np.int64)
    # exact integer arithmetic: floor(1024 * w (2m - w) / m^2) and floor(1024 * (m - w)(m + w) / m^2)
    up = (PROB_ONE * w * (2 * m - w)) // (m * m)
    down = (PROB_ONE * (m - w) * (m + w)) // (m * m)
    up.flags.writeable = down.flags.writeable = False  # cached and shared
    return up, down
