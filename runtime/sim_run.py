"""What one simulator run returns (its own module: the tick loop builds it, the simulator hands it out)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimRun:
    """Decoded outputs and what the run cost (counts over the whole batch)."""

    outputs: list[np.ndarray]
    spikes: np.ndarray | None = None  # [chip ticks, batch, neurons] when recorded
    trace: dict[str, np.ndarray] | None = None  # host inputs, every neuron's output, final membranes (trace=True)
    ticks: int = 0  # chip ticks run (input ticks + latency)
    synaptic_events: int = 0  # synapses whose axon carried a nonzero value, summed over ticks and samples
    neuron_updates: int = 0  # active neuron (and partial-sum unit) updates
    packets: int = 0  # nonzero outputs delivered to a remote core (one per destination core of a multicast)
    spikes_emitted: int = 0  # spikes sent by spiking neurons (relays read through included), over ticks and samples
    output_spikes: list[np.ndarray | None] | None = None  # record=True: per output, its train [batch, ticks, *shape]
    stats: dict = field(default_factory=dict)  # backend, dtype, ticks taken event-driven
