"""Spike-for-spike comparison of two runs, reporting where they first diverge."""

from __future__ import annotations

import numpy as np


class SpikeMismatch(AssertionError):
    """Two spike trains differ; the message names the first tick, sample and neuron."""


def first_mismatch(expected: np.ndarray, actual: np.ndarray) -> str | None:
    """Compare spike trains `[ticks, batch, *neuron]`; describe the first difference, or None."""
    expected, actual = np.asarray(expected), np.asarray(actual)
    if expected.shape != actual.shape:
        return f"shapes differ: {list(expected.shape)} vs {list(actual.shape)}"
    diff = np.argwhere(expected != actual)
    if diff.size == 0:
        return None
    t, b, *neuron = (int(v) for v in diff[0])
    return (
        f"tick {t}, sample {b}, neuron {tuple(neuron)}: expected {expected[tuple(diff[0])]:g}, "
        f"got {actual[tuple(diff[0])]:g} ({len(diff)} differing entries)"
    )


def assert_same_spikes(expected: np.ndarray, actual: np.ndarray, what: str = "spikes") -> None:
    message = first_mismatch(expected, actual)
    if message is not None:
        raise SpikeMismatch(f"{what} diverge at {message}")
