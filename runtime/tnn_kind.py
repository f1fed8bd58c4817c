"""The TNN column kind's ENGINE facet (nmc.chips.kinds): the TNN chip simulator (runtime/tnn_sim.py,
numpy; STDP with `learn`) and the tnn IR interpreter."""

from __future__ import annotations

from typing import Any

from nmc.runtime.engines import EngineFacet
from nmc.runtime.tnn_interp import run_tnn
from nmc.runtime.tnn_sim import TnnChip


def decisions(run: Any) -> Any:
    """The winning line of each sample (-1 where no output spiked)."""
    return run.winners


ENGINE = EngineFacet(devices=("numpy",), simulator=TnnChip, decisions=decisions, interpret=run_tnn, run_options=("learn",))
