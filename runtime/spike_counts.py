"""How many times a neuron that may fire several times a tick fires (snn `max_spikes`, Xylo's hidden neurons).

numpy only, so that nmc.nn (torch training) shares it with the interpreters without importing the IR.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def multi_spikes(v: Any, threshold: Any, greater: bool, most: int) -> Any:
    """Spikes of a neuron that fires up to `most` times a tick: floor(v / θ) thresholds reached (v ≥ kθ), or
    ceil(v / θ) - 1 (v > kθ), clipped to [0, most]. numpy arrays and torch tensors alike (nmc.nn uses it)."""
    q = v / threshold
    if isinstance(q, np.ndarray | np.generic):
        return np.clip(np.ceil(q) - 1 if greater else np.floor(q), 0, most)
    return (q.ceil() - 1 if greater else q.floor()).clamp(0, most)
