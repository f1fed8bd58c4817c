"""The lowering pipeline from snn IR to chip-constrained core IR, with its measurements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp

from nmc.chip import Chip
from nmc.errors import NmcError

Progress = Callable[[str], None]
OPTIONAL_PASSES = ("decompose-fan-in", "decompose-fan-out", "reduce-precision")


@dataclass
class LoweringResult:
    module: ModuleOp
    levels: dict[str, str] = field(default_factory=dict)  # level name -> IR text, in order
    report: dict[str, Any] = field(default_factory=dict)


def _text(module: ModuleOp) -> str:
    from nmc.driver import print_ir

    return print_ir(module)


def core_summary(module: ModuleOp) -> dict[str, Any]:
    from nmc.core_ir import read_group
    from nmc.dialects import core

    groups = []
    for op in module.walk():
        if isinstance(op, core.NeuronsOp):
            g = read_group(op)
            err = op.attributes.get("weight_error")
            groups.append(
                {
                    "layer": g.layer,
                    "mode": g.mode,
                    "neurons": g.size,
                    "synapses": int(g.pre.size),
                    "max_fan_in": int(g.fan_in().max(initial=0)),
                    "weight_error": None if err is None else err.value.data,
                }
            )
    decoders = [op for op in module.walk() if isinstance(op, core.DecodeOp)]
    return {
        "groups": groups,
        "neurons": sum(g["neurons"] for g in groups),
        "synapses": sum(g["synapses"] for g in groups),
        "partial_sum_groups": sum(g["mode"] == "psum" for g in groups),
        "relay_groups": sum("/relay" in g["layer"] for g in groups),
        "latency_ticks": max((d.latency.value.data for d in decoders), default=0),
    }


def spike_agreement(before: ModuleOp, after: ModuleOp, x: np.ndarray) -> dict[str, float]:
    """How far `after` (e.g. quantized) reproduces `before` on inputs `x`: spikes and output decisions."""
    from nmc.runtime.core_interp import run_core

    a = run_core(before, x, record=True)
    b = run_core(after, x, record=True)
    same = total = 0
    for name, spikes in a.traces.items():
        if name in b.traces and b.traces[name].shape == spikes.shape:
            same += int((spikes == b.traces[name]).sum())
            total += spikes.size
    decisions = float(
        np.mean(
            [
                (oa.reshape(len(x), -1).argmax(1) == ob.reshape(len(x), -1).argmax(1)).mean()
                for oa, ob in zip(a.outputs, b.outputs, strict=True)
            ]
        )
    )
    return {"spike_agreement": same / total if total else 1.0, "decision_agreement": decisions, "samples": len(x)}


def lower_to_core(
    module: ModuleOp,
    chip: Chip,
    chip_ref: str,
    *,
    approximate_fan_in: bool = False,
    weight_bits: int | None = None,
    disable: tuple[str, ...] = (),
    stimulus: np.ndarray | None = None,
    progress: Progress | None = None,
) -> LoweringResult:
    """snn-to-core, decompose-fan-in, decompose-fan-out, reduce-precision, check-constraints."""
    from nmc.passes.check_constraints import report, violations
    from nmc.passes.decompose_fan_in import DecomposeFanInPass
    from nmc.passes.decompose_fan_out import DecomposeFanOutPass
    from nmc.passes.reduce_precision import ReducePrecisionPass
    from nmc.passes.snn_to_core import SnnToCorePass

    say = progress or (lambda _msg: None)
    ctx = Context()
    result = LoweringResult(module)
    result.levels["snn"] = _text(module)
    unknown = set(disable) - set(OPTIONAL_PASSES)
    if unknown:
        raise NmcError(f"cannot disable {', '.join(sorted(unknown))}: optional passes are {', '.join(OPTIONAL_PASSES)}")
    say("snn-to-core")
    SnnToCorePass(chip=chip_ref).apply(ctx, module)
    module.verify()
    # Without partial sums the fan-in pass would refuse; leave it to check-constraints to list with the rest.
    if "decompose-fan-in" not in disable and (chip.core["partial_sums"] or approximate_fan_in):
        say("decompose-fan-in")
        DecomposeFanInPass(approximate=approximate_fan_in).apply(ctx, module)
        module.verify()
    if "decompose-fan-out" not in disable:
        say("decompose-fan-out")
        DecomposeFanOutPass().apply(ctx, module)
        module.verify()
    structural = module.clone() if stimulus is not None and "reduce-precision" not in disable else None
    if "reduce-precision" not in disable:
        say("reduce-precision")
        ReducePrecisionPass(weight_bits=weight_bits).apply(ctx, module)
        module.verify()
    result.levels["core"] = _text(module)
    summary = core_summary(module)
    result.report["core"] = summary
    if structural is not None and stimulus is not None:
        say("measuring quantization")
        result.report["quantization"] = spike_agreement(structural, module, stimulus)
    found = violations(module, chip)
    if found:
        raise NmcError(report(found, chip.name))
    return result


def profile_rates(module: ModuleOp, stimulus: np.ndarray) -> None:
    """Annotate every group with `spike_rate` (spikes per tick per neuron) from a core-interpreter run."""
    from xdsl.dialects.builtin import Float64Type

    from nmc.dialects import core
    from nmc.ir_arrays import from_numpy
    from nmc.runtime.core_interp import run_core

    run = run_core(module, stimulus, record=True)
    for op in module.walk():
        if isinstance(op, core.NeuronsOp):
            trace = run.traces.get(op.layer.data)
            rate = trace.reshape(-1, op.size).mean(axis=0) if trace is not None else np.ones(op.size)
            op.attributes["spike_rate"] = from_numpy(np.round(rate, 6), Float64Type())


def lower_to_map(
    module: ModuleOp,
    chip: Chip,
    *,
    stimulus: np.ndarray | None = None,
    partition: str = "auto",
    placement: str = "anneal",
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """partition-cores, place-cores, route (rate-weighted when a stimulus is given); returns mapping figures."""
    from nmc.dialects import map as map_d
    from nmc.ir_arrays import to_numpy
    from nmc.mapping import assignment, core_loads, net_view
    from nmc.passes.partition_cores import PartitionCoresPass
    from nmc.passes.place_cores import PlaceCoresPass
    from nmc.passes.route import RoutePass

    say = progress or (lambda _msg: None)
    ctx = Context()
    if stimulus is not None:
        say("profiling spike rates")
        profile_rates(module, stimulus)
    say("partition-cores")
    PartitionCoresPass(strategy=partition, seed=seed).apply(ctx, module)
    say("place-cores")
    PlaceCoresPass(strategy=placement, seed=seed).apply(ctx, module)
    say("route")
    RoutePass().apply(ctx, module)
    module.verify()
    (net,) = [op for op in module.walk() if op.name == "core.network"]
    view = net_view(net)
    cores, _ = assignment(net, view)
    n_cores = int(cores.max(initial=-1)) + 1
    neurons, axons, synapses = core_loads(view, cores, n_cores)
    routes = next(op for op in net.body.block.ops if isinstance(op, map_d.RoutesOp))
    c = chip.core
    return {
        "cores_used": n_cores,
        "mesh": list(chip.mesh),
        "utilisation": {
            "neurons": round(float(neurons.mean() / c["neurons"]), 4),
            "axons": round(float(axons.mean() / c["axons"]), 4),
            "synapses": round(float(synapses.mean() / c["synapse_memory"]), 4),
        },
        "traffic_per_tick": routes.traffic.value.data,
        "traffic_unit": "packets per tick (rate-weighted)" if stimulus is not None else "packets per spike-tick",
        "average_hops": routes.hops.value.data,
        "peak_link_load": routes.peak_link.value.data,
        "routing_entries_max": int(to_numpy(routes.entries).max(initial=0)),
        "partition": partition,
        "placement": placement,
    }
