"""The crossbar kind's hardware artefacts: `--target verilog` (either RTL style, boards included, and
synthesis with the cost numbers it yields) and a board's manifest (docs/verilog.md, docs/boards.md)."""

from __future__ import annotations

import json

import numpy as np

from nmc.runtime.simulator import Chip as Simulator
from nmc.targets.synth import synthesize
from nmc.targets.verilog import PRIMITIVES, board_chips, check_size, verilog_files
from nmc.targets.verilog_board import board_verilog_files
from nmc.targets.verilog_tm import SRAM_MODELS, TM_PRIMITIVES, cost_from_synthesis, sram_models_source
from nmc.targets.verilog_tm_rtl import tm_verilog_files


def board_manifest(image, chip, stem: str, board: dict) -> str:
    """`<model>.board.json`: the board's chips, which cores of the one multi-chip image each holds, its links."""
    x, y = image.a("CORE", "x").astype(np.int64), image.a("CORE", "y").astype(np.int64)
    chip_of = chip.chip_of(x, y)
    per_core_neurons = np.bincount(image.a("NRN ", "core"), minlength=x.size)
    per_core_synapses = np.diff(image.a("SYN ", "offsets"))
    chips = []
    for k in range(chip.chips):
        cores = np.flatnonzero(chip_of == k)
        chips.append({
            "chip": k,
            "position": [k % chip.board["chips_x"], k // chip.board["chips_x"]],
            "cores": cores.tolist(),
            "neurons": int(per_core_neurons[cores].sum()),
            "synapses": int(per_core_synapses[cores].sum()),
        })  # fmt: skip
    manifest = {
        "format": "nmc board manifest 1",
        "board": chip.name,
        "image": f"{stem}.nmc",
        "grid": board["grid"],
        "chip_mesh": board["chip_mesh"],
        "link_latency_cycles": chip.board["link_latency_cycles"],
        "link_energy_pj": chip.board["link_energy_pj"],
        "link_bandwidth": chip.board["link_bandwidth"],
        "chips": chips,
        "links": board["links"],
    }
    return json.dumps(manifest, indent=2, sort_keys=True) + "\n"


def verilog_outputs(
    image, report: dict, stimulus, samples: int, synth: bool, limits: dict, progress, clock_mhz: float, style: tuple
) -> dict:
    """RTL, memories, a testbench on `stimulus` (or seeded uniform inputs), and optionally synthesis."""

    progress("emitting Verilog")
    if stimulus is None:
        rng = np.random.default_rng(0)
        stimulus = [rng.random((samples, *spec["shape"])).astype(np.float32) for spec in image.meta["inputs"]]
        report["notes_testbench"] = f"no --calibration data: the testbench drives {samples} seeded uniform [0, 1) input(s)"

    limits = {k: v for k, v in limits.items() if v is not None}
    rtl_style, memories, lanes = style
    check_size(image, **limits, style=rtl_style)  # before simulating a design too large
    trace = Simulator(image).run(stimulus, trace=True).trace
    if "board" in image.meta and rtl_style == "per-neuron":  # per-chip modules and a board top (docs/boards.md)
        files, design, chips = board_verilog_files(image, trace, **limits)
        cycles = design.cycles_per_tick
        detail = {
            "style": "per-neuron",
            "neuron_instances": int(image.a("NRN ", "core").size),
            "board_chips": {str(k): v for k, v in chips.items()},
        }
        rtl = [PRIMITIVES, f"{design.top}.v"]
    elif rtl_style == "multiplexed":
        files, td = tm_verilog_files(image, trace, memories=memories, lanes=lanes)
        design = td.base
        cycles = td.cycles_per_tick
        bits = td.memory_bits()
        detail = {
            "style": "multiplexed",
            "memories": memories,
            "lanes_per_core": lanes,
            "memory_bits": {"total": sum(bits.values()), **bits},
            "memory_bits_per_core": [sum(c.memory_bits(design.ww, design.vw).values()) for c in td.cores],
            "deliver_entries": len(td.deliver),
            **({"board_chips": {str(k): v for k, v in chips.items()}} if (chips := board_chips(image)) else {}),
        }
        rtl = [TM_PRIMITIVES, SRAM_MODELS, f"{design.top}.v"]
    else:
        files, design = verilog_files(image, trace, **limits)
        cycles = design.cycles_per_tick
        detail = {"style": "per-neuron", "neuron_instances": int(image.a("NRN ", "core").size)}
        rtl = [PRIMITIVES, f"{design.top}.v"]
    top = design.top
    report["verilog"] = {
        "top": top,
        "rtl_lines": sum(files[f].count("\n") for f in files if f.endswith(".v") and not f.startswith("tb_")),
        "synapse_memory_words": int(image.a("SYN ", "weight").size),
        "neurons": int(image.a("NRN ", "core").size),
        "cores": int(image.a("CORE", "x").size),
        **detail,
        "clock_cycles_per_tick": cycles,
        "clock_cycles_per_inference": cycles * design.total_ticks,
        "widths": {"axon_value": design.xw, "weight": design.ww, "accumulator": design.iw, "membrane": design.vw},
        "testbench": f"tb_{top}.v",
        "testbench_ticks": design.total_ticks,
        "run": f"iverilog -g2012 -o tb_{top} *.v && vvp tb_{top}",
    }
    if synth:
        progress("synthesizing with yosys, timing with OpenSTA")
        sources = {k: v for k, v in files.items() if not k.startswith("tb_")}
        if rtl_style == "multiplexed":
            sources[SRAM_MODELS] = sram_models_source()
        synth_files, numbers = synthesize(sources, top, rtl, clock_mhz, hierarchical=rtl_style == "multiplexed")
        files.update(synth_files)
        if rtl_style == "multiplexed" and "sta" in numbers:
            numbers["cost_model"] = cost_from_synthesis(numbers["sta"], cycles, int(image.a("SYN ", "weight").size))
        report["synthesis"] = numbers
    return files
