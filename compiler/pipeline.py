"""The lowering pipeline from snn IR to chip-constrained core IR, with its measurements."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

if TYPE_CHECKING:
    from nmc.runtime.core_interp import CoreRun

from nmc.chips import Chip
from nmc.conversion.profile_rates import PROFILE_SAMPLES, ProfileRatesPass, profile_rates
from nmc.dialects import core
from nmc.dialects import map as map_d
from nmc.dialects.core_ir import build_neurons, read_group, replace_group
from nmc.dialects.ir_arrays import to_numpy
from nmc.dialects.map_layout import assignment, core_loads, net_view
from nmc.driver import print_ir
from nmc.errors import NmcError
from nmc.options import MIN_DECISION_AGREEMENT
from nmc.passes import get_all_passes
from nmc.passes.board import board_report
from nmc.passes.check_constraints import report, violations
from nmc.passes.crossbar_partition import lower_bound
from nmc.passes.decompose_fan_in import DecomposeFanInPass
from nmc.passes.decompose_fan_out import DecomposeFanOutPass
from nmc.passes.delay_relays import DelayRelaysPass
from nmc.passes.partition_cores import PartitionCoresPass
from nmc.passes.place_cores import PlaceCoresPass
from nmc.passes.reduce_precision import ReducePrecisionPass, realised_beta
from nmc.passes.route import RoutePass
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.report import CoreSection, LeakRow, MappingSection, QuantizationSection, Report
from nmc.runtime.core_interp import run_core

Progress = Callable[[str], None]
OPTIONAL_PASSES = ("decompose-fan-in", "decompose-fan-out", "delay-relays", "reduce-precision")


@dataclass
class LoweringResult:
    module: ModuleOp
    levels: dict[str, str] = field(default_factory=dict)  # level name -> IR text, in order
    report: Report = field(default_factory=lambda: Report())
    passes: list[ModulePass] = field(default_factory=list)
    run: CoreRun | None = None  # the core interpreter's run of the lowered module on the stimulus (quantization check)
    reference_run: CoreRun | None = None  # its run of the unquantized module: the SNN as converted or imported


def _text(module: ModuleOp) -> str:

    return print_ir(module)


def _betas(module: ModuleOp) -> dict[str, float]:
    """Each leaky population's decay per tick before reduce-precision turns it into a shift."""
    return {
        g.layer: float(g.beta)
        for g in (read_group(op) for op in module.walk() if isinstance(op, core.NeuronsOp))
        if g.beta is not None and g.beta != 1.0
    }


def leak_rounding(betas: dict[str, float], module: ModuleOp) -> list[LeakRow]:
    """The populations whose beta the chip's decay (`1 - 2^-s`, or `1 - m 2^-s` with a multiply leak) does not
    hold exactly."""
    rows: list[LeakRow] = []
    for op in module.walk():
        if isinstance(op, core.NeuronsOp):
            g = read_group(op)
            if g.layer in betas and g.decay_shift is not None:
                realised = realised_beta(g.decay_shift, g.decay_mult)
                if abs(realised - betas[g.layer]) > 1e-9:
                    rows.append({"layer": g.layer, "beta": betas[g.layer], "realised_beta": realised,
                                 "decay_shift": int(g.decay_shift), "decay_mult": int(g.decay_mult or 1)})  # fmt: skip
    return rows


def at_chip_decays(module: ModuleOp, leaks: list[LeakRow]) -> ModuleOp:
    """A copy of the unquantized `module` whose rounded populations (`leaks`) decay at the chip's beta, all else
    float: run against `module`, it measures what the chip's leak alone changes."""
    copy = module.clone()
    realised = {row["layer"]: row["realised_beta"] for row in leaks}
    for op in [o for o in copy.walk() if isinstance(o, core.NeuronsOp)]:
        g = read_group(op)
        if g.layer in realised:
            new = build_neurons(replace(g, beta=realised[g.layer], inputs=list(op.inputs)))
            new.delays = op.delays
            replace_group(op, [new])
    return copy


def core_summary(module: ModuleOp, leaks: list[LeakRow] | None = None) -> CoreSection:

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
            graded = op.attributes.get("graded_input_levels")
            if graded is not None:
                groups[-1]["graded_input_levels"] = graded.value.data
    for row in groups:  # decompose-fan-in names a layer's units '<layer>/psum<level>'
        units = sum(g["neurons"] for g in groups if g["mode"] == "psum" and g["layer"].startswith(row["layer"] + "/psum"))
        row["partial_sums_per_neuron"] = round(units / row["neurons"], 3) if row["mode"] != "psum" else 0.0
    decoders = [op for op in module.walk() if isinstance(op, core.DecodeOp)]
    return {
        "groups": groups,
        "leak_rounding": leaks or [],
        "neurons": sum(g["neurons"] for g in groups),
        "synapses": sum(g["synapses"] for g in groups),
        "partial_sum_groups": sum(g["mode"] == "psum" for g in groups),
        "relay_groups": sum("/relay" in g["layer"] or "/delay" in g["layer"] for g in groups),
        "latency_ticks": max((d.latency.value.data for d in decoders), default=0),
    }


def spike_agreement(
    before: ModuleOp, after: ModuleOp, x: np.ndarray, after_run: CoreRun | None = None, before_run: CoreRun | None = None
) -> QuantizationSection:
    """How far `after` (e.g. quantized) reproduces `before` on inputs `x`: spikes and output decisions
    (`after_run`, `before_run`: the core interpreter's recorded runs on `x`, when the caller has made them)."""

    a = before_run or run_core(before, x, record=True)
    b = after_run or run_core(after, x, record=True)
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


def available_passes() -> dict[str, Callable[[], type[ModulePass]]]:
    """nmc's passes plus the compiler-level `profile-rates` (it runs the core interpreter)."""

    return {**get_all_passes(), "profile-rates": lambda: ProfileRatesPass}


def pipeline_text(passes: Sequence[ModulePass]) -> str:
    """The `-p` string of `passes`, which `nmc-opt -p` parses back into the same passes."""
    return ",".join(str(p.pipeline_pass_spec()) for p in passes)


def run_passes(module: ModuleOp, passes: Sequence[ModulePass], progress: Progress | None = None) -> None:
    """Apply `passes` with xDSL's PassPipeline (parsed back from their text, as nmc-opt would), verifying after each."""
    from xdsl.passes import PassPipeline

    say = progress or (lambda _msg: None)

    def between(_prev: ModulePass | None, op: ModuleOp, nxt: ModulePass | None) -> None:
        if _prev is not None:
            op.verify()
        if nxt is not None:
            say(nxt.name)

    if passes:
        PassPipeline.parse_spec(available_passes(), pipeline_text(passes), between).apply(Context(), module)


def core_passes(
    chip_ref: str | None,
    chip: Chip,
    *,
    approximate_fan_in: bool = False,
    weight_bits: int | None = None,
    disable: tuple[str, ...] = (),
) -> tuple[list[ModulePass], list[ModulePass]]:
    """The structural passes and the precision passes of snn -> core (split where quantization is measured)."""

    unknown = set(disable) - set(OPTIONAL_PASSES)
    if unknown:
        raise NmcError(f"cannot disable {', '.join(sorted(unknown))}: optional passes are {', '.join(OPTIONAL_PASSES)}")
    structural: list[ModulePass] = [SnnToCorePass(chip=chip_ref)]
    # Without partial sums the fan-in pass would refuse; leave it to check-constraints to list with the rest.
    if "decompose-fan-in" not in disable and (chip.core["partial_sums"] or approximate_fan_in):
        structural.append(DecomposeFanInPass(approximate=approximate_fan_in))
    if "decompose-fan-out" not in disable:
        structural.append(DecomposeFanOutPass())
    if "delay-relays" not in disable:  # a no-op where every delay fits the chip's axons
        structural.append(DelayRelaysPass())
    precision: list[ModulePass] = []
    if "reduce-precision" not in disable:
        precision.append(ReducePrecisionPass(weight_bits=weight_bits))
    return structural, precision


def lower_to_core(
    module: ModuleOp,
    chip: Chip,
    chip_ref: str | None,
    *,
    approximate_fan_in: bool = False,
    weight_bits: int | None = None,
    disable: tuple[str, ...] = (),
    stimulus: np.ndarray | None = None,
    progress: Progress | None = None,
    keep_ir: bool = True,
) -> LoweringResult:
    """snn-to-core, decompose-fan-in, decompose-fan-out, delay-relays, reduce-precision, then the chip's limits.

    `chip_ref` (a preset name or chip file) goes into snn-to-core's options; None means the
    chip is carried by the module's `nmc.chip` attribute (a chip built in memory). `keep_ir`:
    keep the snn and core IR texts in `levels` (printing a large network takes a while).
    """

    say = progress or (lambda _msg: None)
    result = LoweringResult(module)
    if keep_ir:
        result.levels["snn"] = _text(module)
    structural, precision = core_passes(
        chip_ref, chip, approximate_fan_in=approximate_fan_in, weight_bits=weight_bits, disable=disable
    )
    run_passes(module, structural, say)
    reference = module.clone() if stimulus is not None and precision else None
    betas = _betas(module)
    run_passes(module, precision, say)
    result.passes = [*structural, *precision]
    if keep_ir:
        result.levels["core"] = _text(module)
    result.report["core"] = core_summary(module, leak_rounding(betas, module))
    if reference is not None and stimulus is not None:
        say("measuring quantization")
        result.run = run_core(module, stimulus, record=True)  # profile-rates reads its rates from this run too
        result.reference_run = run_core(reference, stimulus, record=True)
        q = result.report["quantization"] = spike_agreement(reference, module, stimulus, result.run, result.reference_run)
        leaks = result.report["core"]["leak_rounding"]
        if leaks and q["decision_agreement"] < MIN_DECISION_AGREEMENT:  # the gate will refuse: measure the leak's share
            at_chip = spike_agreement(at_chip_decays(reference, leaks), reference, stimulus, result.reference_run)
            q["leak_decision_agreement"] = at_chip["decision_agreement"]
    found = violations(module, chip)
    if found:
        raise NmcError(report(found, chip.name))
    return result


def lower_to_map(
    module: ModuleOp,
    chip: Chip,
    *,
    stimulus: np.ndarray | None = None,
    stimulus_file: str | None = None,
    partition: str = "auto",
    placement: str = "anneal",
    seed: int = 0,
    progress: Progress | None = None,
    passes_out: list[ModulePass] | None = None,
    profiled: CoreRun | None = None,
) -> MappingSection:
    """profile-rates, partition-cores, place-cores, route (rate-weighted when a stimulus is given).

    Returns the mapping figures; appends the passes it ran to `passes_out`. The profile
    runs on the array `stimulus` (the first PROFILE_SAMPLES of it); `stimulus_file` names
    where that array came from, so the recorded pass can replay it. `profiled`: the core
    interpreter's run of this very module on exactly those samples, when the caller has one
    (lower_to_core's quantization check): the rates are read from it instead of a second run.
    """

    say = progress or (lambda _msg: None)
    passes = profile_before_mapping(module, stimulus, stimulus_file, profiled, say)
    mapping: list[ModulePass] = [
        PartitionCoresPass(strategy=partition, seed=seed),
        PlaceCoresPass(strategy=placement, seed=seed),
        RoutePass(),
    ]
    run_passes(module, mapping, say)
    passes.extend(mapping)
    if passes_out is not None:
        passes_out.extend(passes)
    return mapping_section(module, chip, stimulus is not None, partition, placement)


def profile_before_mapping(
    module: ModuleOp,
    stimulus: np.ndarray | None,
    stimulus_file: str | None,
    profiled: CoreRun | None,
    say: Progress,
) -> list[ModulePass]:
    """profile-rates on the stimulus (when there is one), so that mapping weighs traffic by spike rate."""

    if stimulus is None:
        return []
    say("profile-rates")
    profile_rates(module, stimulus[:PROFILE_SAMPLES], profiled if len(stimulus) <= PROFILE_SAMPLES else None)
    return [ProfileRatesPass(input=stimulus_file or "<in-memory array>", samples=PROFILE_SAMPLES)]


def mapping_section(module: ModuleOp, chip: Chip, rate_weighted: bool, partition: str, placement: str) -> MappingSection:
    """report.json's mapping figures of a mapped core network."""

    (net,) = [op for op in module.walk() if op.name == "core.network"]
    view = net_view(net)
    cores, _ = assignment(net, view)
    n_cores = int(cores.max(initial=-1)) + 1
    neurons, axons, synapses = core_loads(view, cores, n_cores)
    routes = next(op for op in net.body.block.ops if isinstance(op, map_d.RoutesOp))
    c = chip.core
    utilisation = {
        "neurons": round(float(neurons.mean() / c["neurons"]), 4),
        "axons": round(float(axons.mean() / c["axons"]), 4),
        "synapses": round(float(synapses.mean() / c["synapse_memory"]), 4),
    }
    section: MappingSection = {
        "cores_used": n_cores,
        "mesh": list(chip.mesh),
        "utilisation": utilisation,
        "traffic_per_tick": routes.traffic.value.data,
        "traffic_unit": "packets per tick (rate-weighted)" if rate_weighted else "packets per spike-tick",
        "average_hops": routes.hops.value.data,
        "peak_link_load": routes.peak_link.value.data,
        "routing_entries_max": int(to_numpy(routes.entries).max(initial=0)),
        "partition": partition,
        "placement": placement,
        "lower_bound": bound_report(view, chip, n_cores, utilisation),
    }
    if chip.board:
        section["board"] = board_report(net, chip, section["lower_bound"]["cores"])
    return section


def bound_report(view, chip, n_cores: int, utilisation: dict[str, float]) -> dict:
    """The lower bound on cores, how far the mapping is from it, and which core limit binds (and why)."""

    by = lower_bound(view, chip)
    bound = max(max(by.values()), 1)
    binding = max(utilisation, key=utilisation.__getitem__)
    why = {
        "neurons": "cores are full of neurons",
        "synapses": "cores are full of synapses",
        "axons": (
            "cores run out of axons before neurons: each core needs the union of its neurons' inputs (a conv "
            "tile's windows, a dense layer's whole input), which the bound (one copy per source) does not count"
        ),
    }[binding]
    return {
        "cores": bound,
        "by_limit": by,
        "ratio": round(n_cores / bound, 3),
        "binding_limit": binding,
        "binding_utilisation": utilisation[binding],
        "why": why,
    }
