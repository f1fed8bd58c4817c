"""TNN hardware from `nmc-compile`: Verilog of the columns with its testbench, synthesis, and the forecast.

The testbench's expectations come from the chip simulator run on the same encoded samples
(inference with the binary's weights, then the same samples again with on-chip STDP), so the RTL
is checked against what the binary does, spike time for spike time and weight for weight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nmc.chips.tnn_format import no_spike
from nmc.errors import NmcError
from nmc.runtime.tnn_encode import encode
from nmc.runtime.tnn_sim import TnnChip
from nmc.targets.synth import synthesize
from nmc.targets.tnn_forecast import forecast_column, load_fit
from nmc.targets.tnn_verilog import PRIMITIVES, tnn_verilog_files
from nmc.targets.verilog import identifier

TNN_TB_SAMPLES = 64


def verilog_outputs(
    image: Any, chip: Any, stem: str, x: np.ndarray | None, o: Any, report: dict, say: Callable[[str], None]
) -> dict[str, str]:

    say("emitting Verilog")
    learn = bool(chip.tnn_column and chip.tnn_column.get("stdp"))
    samples = o.tb_samples or TNN_TB_SAMPLES
    sim = TnnChip(image)
    if x is not None:
        times = encode(sim.encoder, x[:samples])
        source = f"the first {len(times)} --calibration samples, encoded as the model encodes them"
    else:
        rng = np.random.default_rng(0)
        times = rng.integers(0, no_spike(sim.time_bits) + 1, size=(samples, sim.encoder_lines))
        source = f"{samples} seeded random encoder spike-time vectors (no --calibration data)"
    trace: dict[str, Any] = {"times": times, "inference": sim.run_encoded(times).outputs}
    if learn:
        run = TnnChip(image).run_encoded(times, learn=True)
        trace["learning"], trace["weights"] = run.outputs, run.weights
    files, design = tnn_verilog_files(image, trace, identifier(stem), learn)
    top = design.top
    report["verilog"] = {
        "top": top,
        "rtl_lines": files[f"{top}.v"].count("\n"),
        "columns": int(image.meta["columns"]),
        "synapses": design.synapses,
        "on_chip_learning": learn,
        "clock_cycles_per_sample": design.cycles_per_sample,
        "testbench": f"tb_{top}.v",
        "testbench_samples": len(times),
        "testbench_stimulus": source,
        "run": f"iverilog -g2012 -o tb_{top} *.v && vvp tb_{top}",
    }
    if o.synth:
        say("synthesizing with yosys, timing with OpenSTA")
        clock = o.clock_mhz or chip.timing["clock_mhz"]
        synth_files, numbers = synthesize(
            {k: v for k, v in files.items() if not k.startswith("tb_")}, top, [PRIMITIVES, f"{top}.v"], clock
        )
        files.update(synth_files)
        if "sta" in numbers:
            numbers["sta"]["latency_per_sample_ns"] = round(design.cycles_per_sample * 1000.0 / clock, 3)
        report["synthesis"] = numbers
    return files


def forecast(image_cols: Any, chip: Any, clock_mhz: float | None, time_bits: int, weight_bits: int) -> dict[str, Any]:
    """Per column and in total: predicted cells, area, leakage and slack from the stored fit, without Yosys."""

    stored = load_fit()
    if stored is None:
        raise NmcError("--forecast: no stored fit (targets/tnn_forecast.json); run benchmarks/tnn_hw.py to make one")
    clock = clock_mhz or chip.timing["clock_mhz"]
    p, q = image_cols["p"].tolist(), image_cols["q"].tolist()
    columns = [{"p": int(a), "q": int(b), **forecast_column(stored, int(a), int(b), clock)} for a, b in zip(p, q, strict=True)]
    metrics = stored["metrics"]
    learn = bool(chip.tnn_column and chip.tnn_column.get("stdp"))
    differ = [
        f"{what} {mine} (fit: {fit})"
        for what, mine, fit in (
            ("time bits", time_bits, stored["time_bits"]),
            ("weight bits", weight_bits, stored["weight_bits"]),
            ("on-chip learning", learn, stored["on_chip_learning"]),
        )
        if mine != fit
    ]
    note = ("the fit's columns differ from these in " + ", ".join(differ) + ": an extrapolation") if differ else None
    return {
        "note": note,
        "clock_mhz": clock,
        "fit": {m: {"model": e["model"], "held_out_error": e["held_out_error"][e["model"]]} for m, e in metrics.items()},
        "fit_shapes": stored["shapes"],
        "columns": columns,
        "total": {
            "cells": sum(c["cells"] for c in columns),
            "area_um2": sum(c["area_um2"] for c in columns),
            "leakage_w": sum(c["leakage_w"] for c in columns),
            "worst_slack_ns": min(c["slack_ns"] for c in columns),
        },
    }
