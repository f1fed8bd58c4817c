"""The neuron update of a tick as one compiled loop (numba), for the numpy backend's float runs.

The numpy path updates the membranes in about seven whole-array passes (decay, add, clip, compare,
spikes to the run's type, reset product, reset subtraction, spike counts); on a chip whose fan-in
decomposition adds thousands of relay neurons those passes, not the products, bound the run. This
loop makes one pass per neuron row and does, element by element, the same operations in the same
order (docs/chip-model.md, "Neuron update"): v - floor(v * 2**-shift) where the neuron leaks,
clip(v + input, lo, hi), fire where v >= fire_at, v - thr where it fired and resets by subtraction,
v - v where it fired and resets to zero, and the row's spike count; a neuron whose start tick has not
come keeps its membrane and sends nothing. Every value is an integer that
the run's float type holds exactly (the simulator's bound), so each operation gives the same number
as numpy's, and the spikes and membranes are identical (tests/test_sim_fused.py).

numba is imported and the loop compiled (or loaded from numba's cache) only for a run worth it:
`fused_update` returns None when numba is missing or the chip's runs are too small to repay the load.
"""

from __future__ import annotations

import sys
from functools import cache
from typing import Any

import numpy as np

# loading numba and the cached loop costs about 0.3 s in a fresh process (compiling it the first time
# about 0.5 s more); the loop saves about 0.9 ns per neuron update over the numpy passes (one x86 core)
FUSED_MIN_UPDATES = 3e8
FUSED = True  # False: the numpy passes only (the tests run both)


@cache
def _kernels() -> tuple[Any, Any] | None:
    """The compiled loops, loaded once per process (None without numba)."""
    try:
        return _compile()
    except ImportError:
        return None


def _compile() -> Any:
    from numba import njit

    @njit(cache=True, nogil=True, boundscheck=False)
    def update(v, cur, lo, hi, inv, fire_at, thr_sub, zero, start, tick, spikes, counts, decay, zeroing):  # pragma: no cover
        k, b = v.shape
        for i in range(k):
            if start[i] > tick:  # not started: keeps its membrane, sends nothing
                spikes[i, :] = 0
                counts[i] = 0
                continue
            f, t, z, s_inv = fire_at[i], thr_sub[i], zero[i], inv[i]
            c = 0
            for j in range(b):
                x = v[i, j]
                if decay:
                    x = x - np.floor(x * s_inv)
                x = min(max(x + cur[i, j], lo), hi)
                fired = x >= f
                x = x - t * fired
                if zeroing:
                    x = x - x * (z * fired)
                v[i, j] = x
                spikes[i, j] = fired
                c += fired  # an integer sum: the loop stays vectorized without reassociating floats
            counts[i] = c

    @njit(cache=True, nogil=True, boundscheck=False)
    def psums(cur, lo, hi, start, tick, out, counts):  # pragma: no cover
        k, b = cur.shape
        for i in range(k):
            c = 0
            if start[i] > tick:  # not started: sends nothing
                out[i, :] = 0
            else:
                for j in range(b):
                    x = min(max(cur[i, j], lo), hi)
                    out[i, j] = x
                    c += x != 0
            counts[i] = c

    @njit(cache=True, nogil=True, boundscheck=False)
    def currents(i_syn, cur, lo, hi, inv, cuba, start, tick):  # pragma: no cover
        # current-based rows: I - floor(I * inv), plus the tick's sum, saturated; the sum's row becomes that current
        k, b = i_syn.shape
        for i in range(k):
            if not cuba[i] or start[i] > tick:  # no current, or not started (keeps its current)
                continue
            s_inv = inv[i]
            for j in range(b):
                x = i_syn[i, j]
                x = min(max(x - np.floor(x * s_inv) + cur[i, j], lo), hi)
                i_syn[i, j] = x
                cur[i, j] = x

    return update, psums, currents


def numba_loaded() -> bool:
    return "numba" in sys.modules


def fused_update(n_updates: float, dtype: np.dtype, backend: str) -> Fused | None:
    """The compiled loops when this run should use them: numpy backend, float state, numba installed and
    already loaded or repaid by `n_updates` neuron updates (the chip's, this run's included); else None."""
    if not FUSED or backend != "numpy" or np.dtype(dtype).kind != "f":
        return None
    if not numba_loaded() and n_updates < FUSED_MIN_UPDATES:
        return None
    kernels = _kernels()
    return None if kernels is None else Fused(*kernels)


class Fused:
    """The compiled loops of a run: stateful neurons, partial-sum units (the clipped sum forwarded and its
    nonzero count, or 0 before the unit starts; docs/chip-model.md step 5), and current-based neurons' currents."""

    def __init__(self, update: Any, psums: Any, currents: Any):
        self._update, self._psums, self._currents = update, psums, currents

    def synaptic_currents(self, i_syn: np.ndarray, cur: np.ndarray, lo: float, hi: float, prm: dict[str, Any],
                          start: np.ndarray, tick: int) -> None:  # fmt: skip
        """Current-based neurons' currents, in place; their rows of `cur` become the current the membrane adds."""
        one = cur.dtype.type
        self._currents(i_syn, cur, one(lo), one(hi), prm["c_inv"].ravel(), prm["cuba"].ravel(), start, tick)

    def neurons(self, v: np.ndarray, cur: np.ndarray, lo: float, hi: float, prm: dict[str, Any], flags: dict[str, bool],
                start: np.ndarray, tick: int, spikes: np.ndarray, counts: np.ndarray) -> None:  # fmt: skip
        one = v.dtype.type
        self._update(v, cur, one(lo), one(hi), prm["inv"].ravel(), prm["fire_at"].ravel(), prm["thr_subtract"].ravel(),
                     prm["zero_firing"].ravel(), start, tick, spikes, counts, flags["decay"], flags["zero_firing"])  # fmt: skip

    def psum_units(self, cur: np.ndarray, lo: float, hi: float, start: np.ndarray, tick: int, out: np.ndarray,
                   counts: np.ndarray) -> None:  # fmt: skip
        one = cur.dtype.type
        self._psums(cur, one(lo), one(hi), start, tick, out, counts)
