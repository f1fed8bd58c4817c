"""The chip report: latency, energy, area and NeuroBench metrics (FACTS.md §5) of a compiled network."""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.chips import Chip
from nmc.dialects import snn
from nmc.dialects.ir_arrays import to_numpy
from nmc.report import ChipRunSection, MappingSection, NeuroBenchSection


def neurobench_static(snn_module: Any, image: Any, chip: Chip) -> NeuroBenchSection:
    """Footprint and connection sparsity, from the snn IR (model view) and the binary (chip view)."""

    weights = [to_numpy(op.weights) for op in snn_module.walk() if isinstance(op, snn.DenseOp | snn.Conv2dOp)]
    biases = [to_numpy(op.bias) for op in snn_module.walk() if isinstance(op, snn.DenseOp | snn.Conv2dOp) and op.bias is not None]
    n_w = sum(w.size for w in weights)
    zeros = sum(int((w == 0).sum()) for w in weights)
    # per neuron, as a torch implementation holds them: threshold and membrane, beta for a LIF, and alpha and the
    # synaptic current for a current-based LIF
    held = {snn.IFOp: 2, snn.LIFOp: 3, snn.CubaLIFOp: 5}
    per_neuron = sum(int(np.prod(snn.shape_of(op.output.type))) * held[type(op)] for op in snn_module.walk() if type(op) in held)
    c = chip.core
    n_syn = int(image.arrays["SYN "]["weight"].size)
    n_neurons = int(image.arrays["NRN "]["core"].size)
    n_axons = int(image.arrays["AXON"]["kind"].size)
    chip_bits = n_syn * c["weight_bits"] + n_neurons * (c["threshold_bits"] + c["leak_bits"] + c["membrane_bits"]) + n_axons * 16
    return {
        "footprint_bytes": 4 * (n_w + sum(b.size for b in biases)),
        "footprint_with_neurons_bytes": 4 * (n_w + sum(b.size for b in biases) + per_neuron),
        "chip_memory_bits": int(chip_bits),
        "connection_sparsity": round(zeros / n_w, 6) if n_w else 0.0,
    }


def dynamic_report(run: Any, samples: int, image: Any, chip: Chip, mapping: MappingSection, dense_synops: int) -> ChipRunSection:
    """Energy, latency and activity per inference from a simulator run on `samples` inputs."""
    ticks = image.meta["ticks"]
    latency = max((o["latency"] for o in image.meta["outputs"]), default=0)
    board = mapping.get("board")
    # on a board a tick also waits for its longest chip-to-chip path (docs/boards.md)
    tick_s = chip.tick_seconds + (board["tick_extra_cycles"] / (chip.timing["clock_mhz"] * 1e6) if board else 0.0)
    seconds = (ticks + latency) * tick_s
    cost = chip.cost
    events = run.synaptic_events / samples
    updates = run.neuron_updates / samples
    packets = run.packets / samples
    spikes = run.spikes_emitted / samples
    hops = mapping.get("average_hops", 0.0)
    # the event model (docs/chip-description.md, "Costs"): events of each kind times the chip's constant, plus
    # static power over the inference; nothing else is counted (no host I/O, no idle cores beyond static power)
    dynamic_pj = (
        events * cost["energy_synop_pj"] + updates * cost["energy_neuron_update_pj"] + spikes * cost["energy_spike_pj"]
        + packets * hops * cost["energy_hop_pj"]
    )  # fmt: skip
    static_pj = cost["static_power_mw_per_core"] * 1e-3 * mapping["cores_used"] * seconds * 1e12
    # chip-to-chip packets: the mapping's profiled packets per tick over the inference's ticks
    links_pj = board["link_energy_pj_per_tick"] * (ticks + latency) if board else 0.0
    dynamic_pj += links_pj
    spiking = image.arrays["NRN "]["mode"] == 0
    activity = float(run.spikes[:, :, spiking].mean()) if run.spikes is not None and spiking.any() else 0.0
    return {
        "latency_ticks": int(latency),
        "inference_ticks": int(ticks + latency),
        "inference_seconds": seconds,
        "energy_per_inference_uj": round((dynamic_pj + static_pj) * 1e-6, 6),
        "energy_breakdown_uj": {
            "synaptic": round(events * cost["energy_synop_pj"] * 1e-6, 6),
            "neuron": round(updates * cost["energy_neuron_update_pj"] * 1e-6, 6),
            "spikes": round(spikes * cost["energy_spike_pj"] * 1e-6, 6),
            "routing": round(packets * hops * cost["energy_hop_pj"] * 1e-6, 6),
            "static": round(static_pj * 1e-6, 6),
            **({"chip_links": round(links_pj * 1e-6, 6)} if board else {}),
        },
        "events_per_inference": {
            "synaptic_events": round(events, 4),
            "neuron_updates": round(updates, 4),
            "spikes": round(spikes, 4),
            "packet_hops": round(packets * hops, 4),
            "core_seconds": round(mapping["cores_used"] * seconds, 12),
        },
        "area_mm2": round(mapping["cores_used"] * cost["area_mm2_per_core"], 4),
        "activation_sparsity": round(1.0 - activity, 6),
        "dense_synops_per_sample": int(dense_synops),
        "effective_synops_per_sample": round(events, 2),
        "measured_on_samples": samples,
    }


def raster_rows(layers: list[tuple[str, int]]) -> tuple[np.ndarray, list[bool]]:
    """(IR index -> raster row, -1 where not drawn; which groups are drawn): the model's own populations only.
    Partial-sum units never spike and relays repeat their source, so their bands would be empty or copies."""
    shown = [not any(tag in name for tag in ("/psum", "/relay", "/delay")) for name, _ in layers]
    row = np.full(sum(size for _, size in layers), -1, np.int64)
    start_ir = start = 0
    for (_name, size), keep in zip(layers, shown, strict=True):
        if keep:
            row[start_ir : start_ir + size] = np.arange(start, start + size)
            start += size
        start_ir += size
    return row, shown


def spike_raster_and_heatmap(
    run: Any, image: Any, traffic: np.ndarray, path_prefix: str, ir_index: np.ndarray, layers: list[tuple[str, int]]
) -> tuple[list[str], list[str]]:
    """PNG plots and notes: a spike raster of sample 0 with its layers marked, and (over one core) a heat map
    of traffic per core. `ir_index[k]`: the IR (layer-major) index of binary neuron k; `layers`: (name, size)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files, notes = [], []
    if run.spikes is not None:
        row, shown = raster_rows(layers)
        total = max(1, int(row.max(initial=-1)) + 1)  # rows drawn
        t, k = np.nonzero(run.spikes[:, 0, :])
        rows = row[ir_index[k]]
        fig, ax = plt.subplots(figsize=(9, 5))
        ax.scatter(t[rows >= 0], rows[rows >= 0], s=1, c="k")
        start, last_label = 0, -1.0
        for (name, size), keep in zip(layers, shown, strict=True):
            if not keep:
                continue
            ax.axhline(start - 0.5, color="tab:red", lw=0.5)
            middle = (start + size / 2) / total
            if middle - last_label >= 0.04:  # a label per band that has room for one; thin bands stay unlabelled
                ax.text(1.01, middle, name, transform=ax.transAxes, fontsize=7, va="center")
                last_label = middle
            start += size
        ax.set_xlim(-0.5, run.spikes.shape[0] - 0.5)
        ax.set_ylim(-0.5, max(start, 1) - 0.5)
        ax.set_xlabel("chip tick")
        ax.set_ylabel("neuron (population by population)")
        ax.set_title(f"spikes of {image.meta['name']}, sample 0")
        fig.tight_layout()
        fig.savefig(f"{path_prefix}.raster.png", dpi=100, metadata={"Software": None})
        plt.close(fig)
        files.append(f"{path_prefix}.raster.png")
    x, y = image.arrays["CORE"]["x"], image.arrays["CORE"]["y"]
    if x.size <= 1:
        notes.append("--plot: the network uses one core, so there is no placement map to draw")
        return files, notes
    w, h = image.meta["mesh"]
    grid = np.full((h, w), np.nan)  # unused cores stay blank
    grid[y, x] = traffic[: x.size]
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(grid, cmap="viridis", origin="lower", vmin=0, vmax=max(float(np.nanmax(grid)), 1e-9))
    fig.colorbar(im, ax=ax, label="outgoing packets per tick")
    ax.set_xlabel("mesh x")
    ax.set_ylabel("mesh y")
    ax.set_title(f"placement: traffic of the {x.size} cores used (blank: unused)")
    fig.tight_layout()
    fig.savefig(f"{path_prefix}.placement.png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    files.append(f"{path_prefix}.placement.png")
    return files, notes
