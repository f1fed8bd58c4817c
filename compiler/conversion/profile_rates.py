"""profile-rates: annotate every core group with its measured spike rate, for traffic-aware mapping.

It runs the core interpreter on a stimulus, so it lives at the compiler level (passes
never import the runtime); nmc-opt registers it with the other passes, so that the
pipeline `nmc-compile` prints replays exactly. It only adds `spike_rate` attributes
(spikes per tick per neuron, rounded to 1e-6): behaviour is untouched; partition-cores,
place-cores and route weigh traffic by it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import Float64Type, ModuleOp
from xdsl.passes import ModulePass

from nmc.dialects import core
from nmc.dialects.ir_arrays import from_numpy
from nmc.driver import load_calibration
from nmc.errors import NmcError
from nmc.runtime.core_interp import run_core

if TYPE_CHECKING:
    from nmc.runtime.core_interp import CoreRun

PROFILE_SAMPLES = 100


def profile_rates(module: ModuleOp, stimulus: np.ndarray, run: CoreRun | None = None) -> None:
    """Annotate every group with `spike_rate` from a core-interpreter run on `stimulus` (`run`: that run, made already)."""

    run = run or run_core(module, stimulus, record=True)
    for op in module.walk():
        if isinstance(op, core.NeuronsOp):
            trace = run.traces.get(op.layer.data)
            rate = trace.reshape(-1, op.size).mean(axis=0) if trace is not None else np.ones(op.size)
            op.attributes["spike_rate"] = from_numpy(np.round(rate, 6), Float64Type())


@dataclass(frozen=True)
class ProfileRatesPass(ModulePass):
    """Measure spike rates on the first `samples` rows of the .npy file `input` (calibration data)."""

    name = "profile-rates"
    input: str = ""
    samples: int = PROFILE_SAMPLES

    def apply(self, ctx: Context, op: ModuleOp) -> None:

        if not self.input or self.input.startswith("<"):
            raise NmcError("profile-rates needs input=FILE.npy (the calibration data the rates are measured on)")
        profile_rates(op, load_calibration(self.input)[: self.samples])
