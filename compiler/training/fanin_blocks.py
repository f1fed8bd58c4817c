"""NEUTRAMS' sparse stage: a wide layer split into core-sized diagonal blocks.

On a chip without partial-sum units a neuron can read at most `limit` inputs
(the smaller of the core's fan-in and axon counts), and the neurons sharing a
core share its axons. A layer with more inputs is therefore cut into `k =
ceil(n_in / limit)` input groups of at most `limit` inputs and `k` output groups
of about `n_out / k` neurons; output group g reads only input group g. The mask
keeps the synapses inside those diagonal blocks; fine-tuning with it in place
recovers what the cut weights carried (docs/finetune.md).

The grouping maximises the |w| kept. NEUTRAMS uses a greedy swap/move search;
here each half of the alternation is solved exactly instead: given the output
groups, the best input groups under the capacity are an assignment problem
(scipy's `linear_sum_assignment` on the inputs x group-slots gain matrix), and
the same holds for outputs given inputs, so no single move or swap can improve
a half-step's result. Alternating from a few seeded starts, the best is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Blocks:
    """A block-diagonal grouping of one layer: `mask[out, in]` and each side's group index."""

    in_group: np.ndarray
    out_group: np.ndarray
    kept: float  # fraction of the layer's total |w| inside the blocks

    @property
    def mask(self) -> np.ndarray:
        return self.out_group[:, None] == self.in_group[None, :]

    @property
    def groups(self) -> int:
        return int(self.in_group.max(initial=-1)) + 1


def _assign(gain: np.ndarray, capacity: int) -> np.ndarray:
    """Items to groups (gain[item, group]) maximising the total gain, at most `capacity` per group."""
    from scipy.optimize import linear_sum_assignment

    k = gain.shape[1]
    slots = np.repeat(np.arange(k), capacity)
    rows, cols = linear_sum_assignment(-gain[:, slots])
    group = np.empty(gain.shape[0], np.int64)
    group[rows] = slots[cols]
    return group


def _balanced(n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permutation(np.arange(n) % k)


def block_diagonal(weight: np.ndarray, limit: int, *, seed: int = 0, starts: int = 3, rounds: int = 12) -> Blocks:
    """Group a layer's inputs (≤ `limit` per group) and outputs so the diagonal blocks keep the most |w|.

    `weight` is [n_out, n_in]. Deterministic for a given seed.
    """
    n_out, n_in = weight.shape
    k = -(-n_in // limit)
    a = np.abs(np.asarray(weight, np.float64))
    total = float(a.sum()) or 1.0
    out_capacity = -(-n_out // k)
    in_capacity = limit
    rng = np.random.default_rng(seed)
    best: Blocks | None = None
    for _ in range(starts):
        out_group = _balanced(n_out, k, rng)
        in_group = np.zeros(n_in, np.int64)
        kept = -1.0
        for _ in range(rounds):
            onehot_out = np.eye(k)[out_group]  # [n_out, k]
            in_group = _assign(a.T @ onehot_out, in_capacity)
            onehot_in = np.eye(k)[in_group]  # [n_in, k]
            out_group = _assign(a @ onehot_in, out_capacity)
            now = float(a[out_group[:, None] == in_group[None, :]].sum())
            if now <= kept + 1e-12 * total:
                break
            kept = now
        candidate = Blocks(in_group, out_group, kept / total)
        if best is None or candidate.kept > best.kept:
            best = candidate
    assert best is not None
    return best
