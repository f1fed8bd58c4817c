"""Copy relays, read through: a relay that only repeats a spike one tick later is not simulated.

Fan-out decomposition (and a chip's own fan-out limits) put relay neurons between a spiking source
and its readers. A relay `u` is a *copy* when, from any membrane it can hold, its output at tick t is
its input at tick t - 1 - d (docs/chip-model.md, "Copy relays"):

* one synapse, weight w, from a 0/1 source: a spiking neuron, a host input that is spike-coded in this
  run (rate, Poisson or spike trains), or another copy relay;
* no bias, starts at 0: a 0 input leaves v = 0 and does not fire (0 < thr, or <= thr for ">");
* a 1 input fires it (w, clipped to the membrane range, reaches the threshold) and the reset returns
  v to 0 (reset to zero, or subtract with w equal to the threshold); leak cannot move a 0;
* it starts no later than its input can first carry a spike, and it is not a network output.

Then every reader of `u` (through an axon of delay e) reads u's root source directly, L ticks
further back, with the same weight: the same integer reaches every sum, at the same tick. The
relay's row keeps no synapse (v stays 0, it never fires); its statistics are restored exactly:
its input synapse stays in its axon's fan-out (synaptic events), the readers' synapses move to the
new column whose value count is the relay's, and its packets are its root's spike counts, L ticks
earlier, times its remote destinations.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from nmc.chips.formats import MODES, RESETS

if TYPE_CHECKING:
    from nmc.runtime.simulator import Chip


@dataclass
class RelayPackets:
    """Packets of read-through relays: per tick, counts[tick - lag][roots] @ remote (host counts if from_host)."""

    from_host: bool
    lag: int
    roots: np.ndarray
    remote: np.ndarray


def read_through(chip: Chip, spike_host: bool) -> tuple[Chip, list[RelayPackets], int, np.ndarray]:
    """The chip with its copy relays read through (a view: the binary is untouched), the relays' packet
    terms, the history depth the new axons need, and which neurons are relays read through (they need no
    simulation). Returns the chip itself when it has none."""
    n = chip.n
    spike = chip.mode == MODES.index("spike")
    per_row = np.bincount(chip.syn_row, minlength=n)
    syn_of = np.full(n, -1, np.int64)
    one = per_row == 1
    syn_of[chip.syn_row[one[chip.syn_row]]] = np.nonzero(one[chip.syn_row])[0]
    outputs = np.zeros(n, bool)
    for i in range(len(chip.meta["outputs"])):
        outputs[chip.image.arrays["OUT "][f"neurons{i}"].astype(np.int64)] = True
    w = np.where(syn_of >= 0, chip.syn_weight[np.maximum(syn_of, 0)], 0)
    held = np.clip(w, chip.mem_lo, chip.mem_hi)
    fire_at = chip.threshold + chip.greater
    resets = (chip.reset == RESETS.index("zero")) | ((chip.reset == RESETS.index("subtract")) & (held == chip.threshold))
    candidate = (spike & one & ~outputs & (chip.bias == 0) & (chip.v_init == 0) & (fire_at > 0) & (held >= fire_at)
                 & resets)  # fmt: skip
    axon = chip.syn_col[np.maximum(syn_of, 0)]
    from_host = chip.axon_host[axon]
    src = chip.axon_src[axon]
    delay = chip.axon_delay[axon]
    # resolve roots level by level: (from host, root, lag L) with out_u(t) = value of the root at t - L
    root_host = np.zeros(n, bool)
    root = np.zeros(n, np.int64)
    lag = np.zeros(n, np.int64)
    fused = np.zeros(n, bool)
    open_ = candidate & (spike_host | ~from_host)  # relays still to decide
    nsrc = np.where(from_host, 0, src)
    while open_.any():
        waits = open_[nsrc] & ~from_host  # its source is a relay not decided yet
        ready = open_ & ~waits & (from_host | fused[nsrc] | spike[nsrc])
        if not ready.any():
            break  # only relays in a ring of relays remain: simulated as they are
        through = ready & ~from_host & fused[nsrc]
        root_host[ready] = from_host[ready]
        root[ready] = np.where(through, root[nsrc], np.where(from_host, src, nsrc))[ready]
        root_host[through] = root_host[nsrc[through]]
        lag[ready] = np.where(from_host, delay, 1 + delay + np.where(through, lag[nsrc], 0))[ready]
        root_start = np.where(root_host, 0, chip.start[np.where(root_host, 0, root)])
        ok = ready & (chip.start <= root_start + lag)  # else it would hide spikes its root sends before it starts
        fused |= ok
        open_ &= ~ready
    if not fused.any():
        return chip, [], chip.ring, fused
    # readers of fused relays: their synapses move to (root, new delay) columns appended after the axons
    neuron_axon = ~chip.axon_host
    via = np.zeros(chip.n_axons, bool)
    via[neuron_axon] = fused[chip.axon_src[neuron_axon]]
    moved = via[chip.syn_col] & ~fused[chip.syn_row]
    keep = ~fused[chip.syn_row] & ~moved
    u_of = chip.axon_src[chip.syn_col[moved]]
    e = chip.axon_delay[chip.syn_col[moved]]
    new_host = root_host[u_of]
    new_delay = np.where(new_host, 1 + e + lag[u_of], e + lag[u_of])
    key = np.stack([new_host.astype(np.int64), root[u_of], new_delay])
    uniq, col_of = np.unique(key, axis=1, return_inverse=True)
    col_of = col_of.ravel() + chip.n_axons
    view = copy.copy(chip)
    view.n_axons = chip.n_axons + uniq.shape[1]
    view.axon_host = np.concatenate([chip.axon_host, uniq[0].astype(bool)])
    view.axon_src = np.concatenate([chip.axon_src, uniq[1]])
    view.axon_delay = np.concatenate([chip.axon_delay, uniq[2]])
    weights = chip.syn_weight[moved]
    view.fan_out = np.concatenate([chip.fan_out, np.bincount(col_of - chip.n_axons, weights=(weights != 0).astype(np.float64),
                                                            minlength=uniq.shape[1])])  # fmt: skip
    view.syn_row = np.concatenate([chip.syn_row[keep], chip.syn_row[moved]])
    view.syn_col = np.concatenate([chip.syn_col[keep], col_of])
    view.syn_weight = np.concatenate([chip.syn_weight[keep], weights])
    packets = []
    for h, L in sorted(set(zip(root_host[fused].tolist(), lag[fused].tolist(), strict=True))):
        sel = fused & (root_host == h) & (lag == L)  # every relay: its spikes count, its packets where remote > 0
        if sel.any():
            packets.append(RelayPackets(h, L, root[sel], chip.remote[sel]))
    depth = max(chip.ring, int(uniq[2].max(initial=-2)) + 2, int(lag[fused].max(initial=-1)) + 1)  # none read: no extra depth
    return view, packets, depth, fused
