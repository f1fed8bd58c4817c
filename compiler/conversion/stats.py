"""Size statistics of snn IR (populations, neurons, synapses), for reports."""

from __future__ import annotations

import math

from xdsl.dialects.builtin import ModuleOp

from nmc.chips import load_chip
from nmc.chips.boards import smallest_board
from nmc.chips.description import preset_names
from nmc.dialects import snn
from nmc.errors import NmcError
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


def cores_lower_bound(stats: SnnSection, chip) -> tuple[int, str]:
    """Cores the network needs at least, before any decomposition (which only adds), and the binding limit."""
    c = chip.core
    by_neurons = math.ceil(stats["neurons"] / c["neurons"])
    by_synapses = math.ceil(stats["synapses"] / c["synapse_memory"])
    if by_synapses > by_neurons:
        return by_synapses, f"{stats['synapses']:,} synapses / {c['synapse_memory']:,} per core"
    return by_neurons, f"{stats['neurons']:,} neurons / {c['neurons']:,} per core"


def check_capacity(stats: SnnSection, chip) -> None:
    """Refuse at once a network that cannot fit the chip, naming the limit, the need and what would fit."""

    need, why = cores_lower_bound(stats, chip)
    if need <= chip.cores:
        return
    fits = [
        name
        for name in preset_names()
        if load_chip(name).xylo is None  # a Xylo core has its own target
        and load_chip(name).board is None  # boards are named on their own below
        and cores_lower_bound(stats, load_chip(name))[0] <= load_chip(name).cores
    ]
    side = math.isqrt(need - 1) + 1
    instead = f"a preset that has room: {', '.join(fits)}; or " if fits else ""
    board = smallest_board(chip, need)
    on_board = f"the board '{board}' of {load_chip(board).chips} such chips (--board {board}); or " if board else ""
    raise NmcError(
        f"the network needs at least {need} cores ({why}), chip '{chip.name}' has {chip.cores} "
        f"({chip.mesh[0]}x{chip.mesh[1]} mesh): use {on_board}{instead}a copy of the chip file with 'mesh {side} x {side}' "
        "or larger"
    )
