"""The chip binary of a mapped network: builds the image that `nmc.chips.binary` encodes.

The writer orders everything by (core, slot) or (core, axon), so the same mapped
network gives the same bytes (docs/binary-format.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nmc.chips.binary import ChipImage
from nmc.chips.errors import NmcError
from nmc.chips.formats import COMPARES, MODES, RESETS
from nmc.dialects import core
from nmc.dialects import map as map_d
from nmc.dialects.core_ir import MAP_PIPELINE, core_networks, read_group
from nmc.dialects.ir_arrays import to_numpy
from nmc.dialects.map_layout import assignment, net_view

# --------------------------------------------------------------------------- writer


def build_image(module: Any) -> ChipImage:
    """The image of a mapped, quantized core network (after partition-cores and place-cores)."""

    found = core_networks(module, "the chip binary (chip-dump, verilog)", MAP_PIPELINE + "' -t 'chip-dump")
    if len(found) != 1:
        raise NmcError(f"the chip binary holds one network; the module has {len(found)}")
    (net,) = found
    chip = net.chip.data
    view = net_view(net)
    assigned = assignment(net, view)
    mesh = next((o for o in net.body.block.ops if isinstance(o, map_d.MeshOp)), None)
    if assigned is None or mesh is None:
        raise NmcError("the chip binary needs a mapped network: run partition-cores and place-cores")
    for g in view.groups:
        if not g.quantized:
            raise NmcError(f"layer '{g.layer.data}' has float weights: run reduce-precision before writing a binary")
    cores, slots = assigned
    order = np.lexsort((slots, cores))
    bid = np.empty_like(order)
    bid[order] = np.arange(order.size)  # binary neuron id of each IR neuron

    arrival = core.arrivals(net.body.block)
    params = {k: [] for k in ("mode", "threshold", "bias", "v_init", "shift", "mult", "cshift", "cmult", "reset", "compare",
                              "start")}  # fmt: skip
    for op in view.groups:
        gr = read_group(op)
        n = gr.size
        params["mode"].append(np.full(n, MODES.index(gr.mode)))
        params["threshold"].append(gr.threshold)
        params["bias"].append(gr.bias)
        params["v_init"].append(gr.v_init)
        params["shift"].append(np.full(n, gr.decay_shift or 0))
        params["mult"].append(np.full(n, gr.decay_mult or 1))
        params["cshift"].append(np.full(n, gr.current_shift or 0))  # cmult 0: no current stage (one membrane)
        params["cmult"].append(np.full(n, (gr.current_mult or 1) if gr.current_based else 0))
        params["reset"].append(np.full(n, RESETS.index(gr.reset)))
        params["compare"].append(np.full(n, COMPARES.index(gr.compare)))
        params["start"].append(np.full(n, arrival[op.output] - 1))
    cat = {k: np.concatenate(v)[order] for k, v in params.items()}
    nrn = {
        "core": cores[order].astype(np.int32),
        "slot": slots[order].astype(np.int32),
        "mode": cat["mode"].astype(np.uint8),
        "threshold": cat["threshold"].astype(np.int64),
        "bias": cat["bias"].astype(np.int64),
        "v_init": cat["v_init"].astype(np.int64),
        "shift": cat["shift"].astype(np.uint8),
        "mult": cat["mult"].astype(np.int32),
        "cshift": cat["cshift"].astype(np.uint8),
        "cmult": cat["cmult"].astype(np.int32),
        "reset": cat["reset"].astype(np.uint8),
        "compare": cat["compare"].astype(np.uint8),
        "start": cat["start"].astype(np.int32),
    }
    k = int(cores.max(initial=-1)) + 1
    routes = next((o for o in net.body.block.ops if isinstance(o, map_d.RoutesOp)), None)
    if routes is None:
        raise NmcError("the chip binary needs a routed network: run route")
    # axons: the route pass's per-core tables, (source, delay) sorted per core
    ax_offsets = to_numpy(routes.axon_offsets).astype(np.int64)
    src, delay = to_numpy(routes.axon_sources).astype(np.int64), to_numpy(routes.axon_delays).astype(np.int64)
    ax_core = np.repeat(np.arange(k), np.diff(ax_offsets))
    ax_local = np.arange(ax_core.size) - ax_offsets[ax_core]
    # each synapse's axon: its (core, source, delay) looked up in the sorted tables
    syn_core = cores[view.syn_post]
    span = int(max(view.syn_key.max(initial=0), (src * 256 + delay).max(initial=0))) + 1
    table, wanted = ax_core * span + src * 256 + delay, syn_core * span + view.syn_key
    inverse = np.searchsorted(table, wanted)
    found = inverse < table.size
    found[found] = table[inverse[found]] == wanted[found]
    if not found.all():
        raise NmcError("map.routes: the axon tables lack an axon some synapse reads (the IR was edited after route): rerun route")
    host_offset, owner = _source_maps(view, bid)
    is_host = owner[src] < 0
    ax_src = np.where(is_host, host_offset[src], bid[np.maximum(owner[src], 0)])
    axon = {
        "offsets": ax_offsets.astype(np.int64),
        "kind": (~is_host).astype(np.uint8),
        "src": ax_src.astype(np.int64),
        "delay": delay.astype(np.uint8),
    }
    # synapses ordered by (core, axon, slot)
    s_axon = ax_local[inverse]
    s_slot = slots[view.syn_post]
    # one sort of a packed key: (core, axon, slot) is unique per synapse (a neuron reads an axon once), so this is
    # the order lexsort gives, at a third of its cost on millions of synapses
    n_axon = int(s_axon.max(initial=0)) + 1
    n_slot = int(s_slot.max(initial=0)) + 1
    s_order = np.argsort((syn_core.astype(np.int64) * n_axon + s_axon) * n_slot + s_slot)
    weights = view.syn_weight[s_order]
    syn = {
        "offsets": np.concatenate([[0], np.cumsum(np.bincount(syn_core, minlength=k))]).astype(np.int64),
        "axon": s_axon[s_order].astype(np.int32),
        "slot": s_slot[s_order].astype(np.int32),
        "weight": weights.astype(np.int32),
    }
    # routing: the route pass's multicast table, one entry per neuron with remote destinations
    dest_offsets = to_numpy(routes.dest_offsets).astype(np.int64)
    d_src = np.repeat(to_numpy(routes.sources).astype(np.int64), np.diff(dest_offsets))
    d_core = to_numpy(routes.dests).astype(np.int64)
    d_neuron = bid[owner[d_src]]
    r_order = np.lexsort((d_core, d_neuron))
    d_neuron, d_core = d_neuron[r_order], d_core[r_order]
    entry_neuron, entry_start = np.unique(d_neuron, return_index=True)
    entry_core = nrn["core"][entry_neuron]
    rout = {
        "offsets": np.concatenate([[0], np.cumsum(np.bincount(entry_core, minlength=k))]).astype(np.int64),
        "slot": nrn["slot"][entry_neuron].astype(np.int32),
        "dest_offsets": np.concatenate([entry_start, [d_neuron.size]]).astype(np.int64),
        "dest": d_core.astype(np.int32),
    }
    inputs, outputs, out_arrays = [], [], {}
    for op in net.body.block.ops:
        if isinstance(op, core.InputOp):
            inputs.append(
                {
                    "arg": op.input.index,
                    "shape": list(op.input.type.get_shape()),
                    "encoding": op.encoding.data.value,
                    "scale": op.scale.value.data,
                    "seed": op.seed.value.data,
                    "levels": None if op.levels is None else op.levels.value.data,
                }
            )
    for i, v in enumerate(net.body.block.last_op.operands):
        d = v.owner
        src_op = d.input.owner
        if not isinstance(src_op, core.NeuronsOp):
            raise NmcError("a decoder of a host input cannot be compiled to the chip")
        ids = bid[view.neuron_offset[src_op] + np.arange(src_op.size)]
        outputs.append({"kind": d.kind.data.value, "latency": d.latency.value.data, "shape": list(d.output.type.get_shape())})
        out_arrays[f"neurons{i}"] = ids.astype(np.int64)
        out_arrays[f"scale{i}"] = (to_numpy(d.scale) if d.scale is not None else np.ones(ids.size)).astype(np.float64)
    meta = {
        "name": net.sym_name.data,
        "ticks": net.ticks.value.data,
        "dt": net.dt.value.data,
        "chip": chip.name,
        "mesh": list(chip.mesh),
        "neurons_per_core": chip.core["neurons"],
        "axons_per_core": chip.core["axons"],
        "membrane_bits": chip.core["membrane_bits"],
        "partial_sum_bits": chip.core["partial_sum_bits"],
        "n_inputs": len(net.body.block.args),
        "inputs": inputs,
        "outputs": outputs,
    }
    if chip.board:  # one image of the whole board: its mesh is every chip's side by side (docs/boards.md)
        meta["board"] = {**chip.board, "chip_mesh": list(chip.chip_mesh)}
    arrays = {
        "CORE": {"x": to_numpy(mesh.x).astype(np.int32), "y": to_numpy(mesh.y).astype(np.int32)},
        "NRN ": nrn,
        "AXON": axon,
        "SYN ": syn,
        "ROUT": rout,
        "OUT ": out_arrays,
    }
    return ChipImage(meta, arrays, bytes.fromhex(chip.digest))


def _source_maps(view: Any, bid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per global source index: offset among host input elements (or -1), and IR neuron id (or -1)."""

    host = np.full(view.n_sources, -1, np.int64)
    owner = np.full(view.n_sources, -1, np.int64)
    owner[view.neuron_source] = np.arange(view.n_neurons)
    offset = 0
    for v in view.sources:
        if isinstance(v.owner, core.InputOp):
            n = core.size_of(v.type)
            host[view.source_offset[v] : view.source_offset[v] + n] = np.arange(offset, offset + n)
            offset += n
    return host, owner
