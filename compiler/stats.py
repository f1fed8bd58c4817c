"""Size statistics of snn IR (populations, neurons, synapses), for reports."""

from __future__ import annotations

import math

from xdsl.dialects.builtin import ModuleOp

from nmc.dialects import snn
from nmc.report import SnnSection


def synapse_count(op: snn.DenseOp | snn.Conv2dOp) -> int:
    """Synapses of a projection: one per (input neuron, output neuron) pair the weights connect."""
    w = op.weights.get_shape()
    if isinstance(op, snn.DenseOp):
        return math.prod(w)
    out = snn.shape_of(op.output.type)
    return out[0] * out[1] * out[2] * w[1] * w[2] * w[3]


def network_stats(module: ModuleOp) -> SnnSection:
    populations = neurons = synapses = 0
    for op in module.walk():
        if isinstance(op, snn.NEURON_OPS):
            populations += 1
            neurons += math.prod(snn.shape_of(op.output.type))
        elif isinstance(op, snn.DenseOp | snn.Conv2dOp):
            synapses += synapse_count(op)
    return {"populations": populations, "neurons": neurons, "synapses": synapses}
