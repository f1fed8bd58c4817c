"""The crossbar kind's ENGINE facet (nmc.chips.kinds): the chip simulator (runtime/simulator.py, numpy or
torch on cpu/cuda) and the snn / core interpreters."""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.runtime.core_interp import run_core
from nmc.runtime.engines import EngineFacet
from nmc.runtime.simulator import Chip
from nmc.runtime.snn_interp import run_snn


def decisions(run: Any) -> np.ndarray | list[np.ndarray]:
    """Decoded outputs, batch first (one array, or a list for several outputs)."""
    return run.outputs[0] if len(run.outputs) == 1 else run.outputs


def interpret(module: Any, x: np.ndarray, **options: Any) -> Any:
    """The core interpreter on core IR, the snn interpreter on snn IR."""

    is_core = any(op.name == "core.network" for op in module.walk())
    return (run_core if is_core else run_snn)(module, x, **options)


ENGINE = EngineFacet(devices=("numpy", "cpu", "cuda"), simulator=Chip, decisions=decisions, interpret=interpret)
