"""Verilog benchmark: RTL size, Yosys time, cells and OSU 0.18 um area for networks of growing size,
and a linear fit of area against synapse count (TNNGen's forecasting method) checked on held-out sizes.

Each network is a random single-layer SNN (I inputs -> O IF neurons, rate-coded input) compiled
with `nmc.compile(..., target="verilog", synth=True, verilog_style="per-neuron")` for the truenorth4 chip (one core, 4-bit
weights). The fit uses the smaller sizes; the larger ones are forecast and compared with synthesis.

Needs yosys and qflow-tech-osu018 (scripts/setup.sh). Run: python benchmarks/verilog.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section

CHIP = "truenorth4"
SIZES = [(16, 8), (32, 16), (64, 16), (64, 32), (128, 32), (128, 64), (192, 64)]
HELD_OUT = 2  # the largest sizes are forecast from a fit on the others


def compile_size(inputs: int, outputs: int) -> dict:
    import torch
    from torch import nn

    import nmc
    from nmc import nn as nmc_nn

    torch.manual_seed(inputs * 1000 + outputs)
    model = nn.Sequential(nn.Linear(inputs, outputs), nmc_nn.IF()).eval()
    calib = np.random.default_rng(0).random((16, inputs)).astype(np.float32)
    compiled = nmc.compile(
        model,
        name=f"dense_{inputs}x{outputs}",
        chip=CHIP,
        target="verilog",
        synth=True,
        encoding="rate",
        calibration=calib,
        verilog_style="per-neuron",  # this benchmark is the per-neuron style's size and forecast
    )
    v, s = compiled.report["verilog"], compiled.report["synthesis"]
    return {
        "size": f"{inputs} → {outputs}",
        "neurons": v["neuron_instances"],
        "synapses": v["synapse_memory_words"],
        "rtl_lines": v["rtl_lines"],
        "seconds": s["seconds"],
        "generic_cells": s["generic_cells"],
        "transistors": s["transistors"],
        "cells": s.get("osu018_cells"),
        "area_um2": s.get("osu018_area_um2"),
    }


def main() -> None:
    rows = []
    for inputs, outputs in SIZES:
        row = compile_size(inputs, outputs)
        print(row, flush=True)
        rows.append(row)
    syn = np.array([r["synapses"] for r in rows], float)
    area = np.array([r["area_um2"] for r in rows], float)
    neurons = np.array([r["neurons"] for r in rows], float)
    fit = slice(0, len(rows) - HELD_OUT)
    slope, intercept = np.polyfit(syn[fit], area[fit], 1)
    forecast = slope * syn + intercept
    error = (forecast - area) / area
    # a second model with both counts: each neuron is its own datapath, each synapse a ROM word
    design = np.stack([neurons, syn, np.ones_like(syn)], axis=1)
    coef, *_ = np.linalg.lstsq(design[fit], area[fit], rcond=None)
    forecast2 = design @ coef
    error2 = (forecast2 - area) / area
    lines = [
        "## Verilog: RTL size, synthesis and area (benchmarks/verilog.py)",
        "",
        f"Random single-layer SNNs (I inputs → O IF neurons, rate-coded input) on `{CHIP}` (one core, 4-bit weights), "
        "emitted with `--target verilog --verilog-style per-neuron` and synthesized by Yosys (`synth -flatten`, then `dfflibmap`/`abc` onto the OSU "
        "0.18 µm cells of Debian's qflow-tech-osu018). RTL lines = the generated top and core modules plus the primitive "
        f"library. Area forecast: least-squares line of area against synapse count fitted on the {len(rows) - HELD_OUT} "
        f"smaller sizes, checked on the {HELD_OUT} largest (held out). Machine: {machine()}.",
        "",
        "| network | neurons | synapses | RTL lines | Yosys s | generic cells | transistors | OSU cells | area µm² "
        "| forecast (synapses) | error | forecast (neurons + synapses) | error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for i, r in enumerate(rows):
        tag = " (held out)" if i >= len(rows) - HELD_OUT else ""
        lines.append(
            f"| {r['size']}{tag} | {r['neurons']} | {r['synapses']} | {r['rtl_lines']} | {r['seconds']:.1f} | "
            f"{r['generic_cells']} | {r['transistors']} | {r['cells']} | {r['area_um2']:.0f} | {forecast[i]:.0f} | "
            f"{error[i]:+.1%} | {forecast2[i]:.0f} | {error2[i]:+.1%} |"
        )
    held = np.abs(error[len(rows) - HELD_OUT :])
    held2 = np.abs(error2[len(rows) - HELD_OUT :])
    lines += [
        "",
        f"- TNNGen's model, area ≈ {slope:.1f} µm² × synapses + {intercept:.0f} µm²: held-out error {held.mean():.1%} on "
        f"average, {held.max():.1%} at most.",
        f"- Area ≈ {coef[0]:.0f} µm² × neurons + {coef[1]:.1f} µm² × synapses + {coef[2]:.0f} µm²: held-out error "
        f"{held2.mean():.1%} on average, {held2.max():.1%} at most.",
        "",
        "In nmc's RTL each neuron is its own datapath (accumulator, membrane, saturation, comparator) and each synapse "
        "one word of a ROM that Yosys maps to logic (this library has no memory macro); at these sizes the neurons "
        "dominate, so a fit on synapses alone forecasts well only while neurons grow in proportion to synapses. "
        "The two-term model separates the two costs.",
    ]
    write_section("verilog", "\n".join(lines))


if __name__ == "__main__":
    main()
