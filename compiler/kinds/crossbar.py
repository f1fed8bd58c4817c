"""The crossbar kind's DRIVER facet (nmc.chips.kinds, nmc.kinds.driver): how `nmc.compile` takes a torch
model (an ANN to convert, an `nmc.nn` SNN, a `.pt2`) or a NIR graph onto crossbar cores.

Its steps: calibration data and optional fine-tuning (NEUTRAMS) before import; import and ANN->SNN
conversion; snn-to-core, decompose-fan-in/out and reduce-precision with the quantization check
(nmc.pipeline.lower_to_core); profile-rates before mapping; the chip binary measured on the
simulator; Verilog with its testbench; NIR export.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nmc import pipeline
from nmc.conversion.layers import evaluate
from nmc.conversion.stats import check_capacity, network_stats
from nmc.costs import dynamic_report, neurobench_static, spike_raster_and_heatmap
from nmc.dialects.map_layout import assignment, group_rates, net_view, traffic_pairs
from nmc.driver import ImportOptions, import_model, load_calibration
from nmc.errors import NmcError
from nmc.kinds.crossbar_outputs import board_manifest, verilog_outputs
from nmc.kinds.crossbar_run import run_command
from nmc.kinds.driver import CompileContext
from nmc.neurobench import ann_metrics, workload_metrics
from nmc.options import DEFAULT_TICKS, MIN_DECISION_AGREEMENT, CompileOptions
from nmc.passes.reduce_precision import shift_betas
from nmc.pipeline import mapping_section, profile_before_mapping
from nmc.report import Report
from nmc.runtime.simulator import Chip as Simulator
from nmc.runtime.snn_interp import run_snn
from nmc.runtime.xylo_sim import run_config
from nmc.targets.nir_export import nir_graph
from nmc.targets.xylo_config import xylo_config
from nmc.training.finetuning import chip_accuracy, model_bytes, run_finetune


class CrossbarDriver:
    """What the one compile path needs of the crossbar kind (see nmc.kinds.driver.DriverFacet)."""

    fallback = True  # every model no other kind claims: torch modules, exports, pickles, NIR graphs
    options = frozenset(f for f in CompileOptions.__dataclass_fields__ if f != "forecast")
    why = {"forecast": "it predicts the silicon of TNN columns (docs/tnn-hardware.md)"}
    targets = ("chip", "mlir", "verilog", "nir", "xylo")
    target_chips = {"xylo": "xylo"}  # SynSense Xylo: its own configuration, for the xylo preset (docs/xylo.md)

    def takes(self, model: Any) -> bool:
        return True

    def run_command(self, path: Path, loaded: Any, x: np.ndarray, args: Any) -> None:

        run_command(path, loaded, x, args)

    def prepare(self, model: Any, ctx: CompileContext) -> Any:

        o = ctx.options
        if (ctx.chip.xylo is not None) != (o.target == "xylo"):  # a Xylo core has its own configuration, and only it
            raise NmcError(f"chip '{ctx.chip.name}' is a SynSense Xylo core: compile with --target xylo (docs/xylo.md)"
                           if ctx.chip.xylo is not None else
                           f"--target xylo writes a SynSense Xylo configuration; chip '{ctx.chip.name}' is not a Xylo "
                           "core: leave out --chip (the preset xylo) or give a chip file with a xylo section")  # fmt: skip
        if o.encoding is None:  # the chip's own: spikes where it takes no graded inputs, and the summary says so
            ctx.options = o = o.replace(encoding=ctx.chip.default_encoding)
            ctx.state["encoding_from_chip"] = True
        calibration = o.calibration
        if isinstance(calibration, str | Path):
            ctx.calibration_file = str(Path(calibration).resolve())
            calibration = load_calibration(calibration)
        ctx.calibration = calibration
        opts = ImportOptions(
            ticks=o.timesteps,
            encoding=o.encoding,
            input_scale=o.input_scale,
            decoding=o.decoding,
            calibration=calibration,
            percentile=o.percentile,
            input_shape=o.input_shape,
            dt=o.dt if o.dt is not None else 1e-3,
            dt_given=o.dt,
            name=ctx.stem,
            max_model_bytes=o.max_model_bytes,
        )
        resets = ctx.chip.core["reset"]
        if "subtract" not in resets and "zero" in resets:  # an ANN's IF neurons take the chip's reset (a note says so)
            opts.conversion_reset = "zero"
        ctx.notes = opts.notes
        ctx.state["import"] = opts
        ctx.state["tuned"] = None
        if o.finetune is not None:
            ctx.say("fine-tuning")
            tuned = run_finetune(model, ctx.chip, o, calibration, ctx.say)
            ctx.state["tuned"] = tuned
            model, opts.input_scale, opts.ticks = tuned.model, tuned.input_scale, opts.ticks or DEFAULT_TICKS
            opts.notes.append(
                f"compiled the fine-tuned SNN ({ctx.stem}.finetuned.pt); compile that file again with the same --encoding "
                f"and --input-scale {tuned.input_scale:g}"
            )
        return model

    def import_model(self, model: Any, ctx: CompileContext) -> Any:

        opts = ctx.state["import"]
        module = import_model(model, opts)
        if ctx.state.get("encoding_from_chip") and opts.encoding == ctx.options.encoding != "direct":  # (NIR: its spikes)
            opts.notes.append(
                f"encoding: {opts.encoding}, as chip '{ctx.chip.name}' takes no graded inputs "
                f"(core.input_bits={ctx.chip.core['input_bits']}); --encoding chooses another"
            )
        ctx.state["snn_module"] = module.clone()
        ctx.report.update(
            {
                "model": ctx.stem,
                "chip": ctx.chip.to_json(),
                "ticks": opts.ticks,
                "encoding": opts.encoding,
                "encoding_chosen": "by the chip" if ctx.state.get("encoding_from_chip") else "given",
                "snn": network_stats(module),
            }
        )
        if ctx.level == "map" and not ctx.options.disable:
            # before the expensive steps: a network that cannot fit is refused at once
            # (with --disable the full violation list is what the user asked for)
            check_capacity(ctx.report["snn"], ctx.chip)
        ctx.state["stimulus"] = ctx.calibration[:100] if ctx.calibration is not None else None
        return module

    def lower(self, module: Any, ctx: CompileContext) -> None:

        o = ctx.options
        result = pipeline.lower_to_core(
            module,
            ctx.chip,
            ctx.chip_ref,
            approximate_fan_in=o.approximate_fan_in,
            weight_bits=o.weight_bits,
            disable=tuple(o.disable),
            stimulus=ctx.state["stimulus"] if o.check else None,
            progress=ctx.say,
            keep_ir=ctx.keep_ir,
        )
        ctx.levels.update(result.levels)
        ctx.state["profiled"] = result.run  # the quantization check's core run on the stimulus, which profile-rates reuses
        ctx.report.update(result.report)
        if ctx.state["tuned"] is not None and result.run is not None and "quantization" in ctx.report:
            _against_finetuned(ctx.report["quantization"], ctx.state["tuned"], ctx.state["stimulus"], result.run)
        imported = ctx.state["import"]
        if imported.ann_graph is not None and ctx.state["tuned"] is None and result.reference_run is not None:
            ctx.report["conversion"] = _conversion(imported.ann_graph, ctx.state["stimulus"], result.reference_run)
            _check_conversion(ctx.report, o.allow_accuracy_loss, imported, ctx.chip.name)
        _check_agreement(ctx.report, o.allow_accuracy_loss)
        ctx.passes.extend(result.passes)

    def before_mapping(self, module: Any, ctx: CompileContext) -> list[Any]:

        return profile_before_mapping(module, ctx.state["stimulus"], ctx.calibration_file, ctx.state.get("profiled"), ctx.say)

    def mapping_report(self, module: Any, image: Any, ctx: CompileContext) -> None:

        o = ctx.options
        ctx.report["mapping"] = mapping_section(module, ctx.chip, ctx.state["stimulus"] is not None, o.partition, o.placement)

    def chip_outputs(self, module: Any, image: Any, binary: bytes, ctx: CompileContext) -> dict[str, str | bytes]:
        o = ctx.options
        stimulus = ctx.state["stimulus"] if o.check else None
        files = _chip_outputs(
            module, ctx.state["snn_module"], ctx.chip, ctx.report, ctx.stem, stimulus, o.plot, ctx.say, image, binary
        )
        if stimulus is not None and ctx.state["import"].ann_graph is not None:  # measured where the SNN's metrics are
            ctx.report["neurobench"]["ann"] = ann_metrics(ctx.state["import"].ann_graph, stimulus)
        return files

    def target_outputs(self, target: str, module: Any, image: Any, ctx: CompileContext) -> dict[str, str | bytes]:
        o = ctx.options
        if target == "nir":
            return {f"{ctx.stem}.nir": _nir_bytes(module)}
        if target == "xylo":
            return _xylo_outputs(module, ctx)
        limits = {"max_synapses": o.verilog_max_synapses, "max_neurons": o.verilog_max_neurons}
        tb_samples = o.tb_samples or 1
        tb_input = ctx.calibration[:tb_samples] if ctx.calibration is not None else None
        clock = o.clock_mhz or ctx.chip.timing["clock_mhz"]
        style = (o.verilog_style, o.verilog_memories, ctx.chip.core["lanes"])
        return verilog_outputs(image, ctx.report, tb_input, tb_samples, o.synth, limits, ctx.say, clock, style)

    def finish(self, module: Any, files: dict[str, str | bytes], ctx: CompileContext) -> None:
        tuned = ctx.state["tuned"]
        if tuned is not None:
            files[f"{ctx.stem}.finetuned.pt"] = model_bytes(tuned.model)
            ctx.report["finetune"] = tuned.section
            if ctx.options.target == "chip":
                ctx.say("measuring the fine-tuned chip on the held-back data")
                tuned.section["accuracy"]["chip"] = chip_accuracy(files[f"{ctx.stem}.nmc"], *tuned.holdout)
        if not ctx.options.check:
            ctx.notes.append("--no-check: quantization agreement and the simulated chip run were skipped")
        if "notes_plot" in ctx.report:
            ctx.notes.append(ctx.report["notes_plot"])


def _xylo_outputs(module: Any, ctx: CompileContext) -> dict[str, str | bytes]:
    """The Xylo configuration, and how its decisions agree with the snn level's on the calibration spike trains."""
    ctx.say("writing the Xylo configuration")
    cfg, notes = xylo_config(module, ctx.stem, ctx.chip.xylo)
    ctx.notes.extend(notes)
    section: dict[str, Any] = {"file": f"{ctx.stem}.xylo.json", "shape": list(cfg.shape), "latency": cfg.latency,
                               "shifts": [cfg.shift_in, cfg.shift_rec, cfg.shift_out]}  # fmt: skip
    x = ctx.calibration
    if ctx.options.check and x is not None and x.ndim == 3:
        x = x[:256]
        ctx.say("checking the Xylo configuration against the snn level")
        ref = run_snn(module, x).outputs[0].reshape(len(x), -1)
        got = run_config(cfg, x).counts
        section["decision_agreement"] = round(float((ref.argmax(1) == got.argmax(1)).mean()), 6)
        section["samples"] = len(x)
    ctx.report["xylo"] = section
    return {f"{ctx.stem}.xylo.json": cfg.to_json()}


def _nir_bytes(module) -> bytes:
    import tempfile

    import nir

    graph = nir_graph(module)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.nir"
        nir.write(str(path), graph)
        return path.read_bytes()


def _against_finetuned(q: dict, tuned: Any, stimulus: np.ndarray, run: Any) -> None:
    """After --finetune the chip is meant to compute the fine-tuned model as it was trained (on the chip's
    numbers), not the float network its latent weights would give: the gate compares with that model."""
    import torch

    net = tuned.rate_net
    device = next(net.parameters()).device
    net.eval()
    with torch.no_grad():
        model = net(torch.as_tensor(np.asarray(stimulus, np.float32), device=device)).cpu().numpy()
    chip = run.outputs[0].reshape(len(stimulus), -1)
    q["unquantized_decision_agreement"] = q["decision_agreement"]
    q["decision_agreement"] = float(np.mean(chip.argmax(1) == model.reshape(len(stimulus), -1).argmax(1)))
    q["reference"] = "the fine-tuned model as trained (quantization-aware)"


def _conversion(ann: Any, stimulus: np.ndarray, snn_run: Any) -> dict:
    """The converted SNN's decisions (its unquantized core run) against the float ANN's on the same samples."""
    ann_out, _ = evaluate(ann, np.asarray(stimulus))
    n = len(stimulus)
    agree = [
        float((a.reshape(n, -1).argmax(1) == s.reshape(n, -1).argmax(1)).mean())
        for a, s in zip(ann_out, snn_run.outputs, strict=True)
    ]
    return {"decision_agreement": float(np.mean(agree)), "samples": n}


def _check_conversion(report: Report, allowed: bool, imported: Any, chip: str) -> None:
    """Refuse an ANN whose SNN conversion no longer decides like it (before any quantization), saying why."""
    c = report["conversion"]
    if allowed or c["decision_agreement"] >= MIN_DECISION_AGREEMENT:
        return
    if imported.conversion_reset == "zero":
        why = (  # measured on the generated ANNs: 64 or 256 timesteps give the same agreement (docs/benchmarks.md)
            f"chip '{chip}' resets neurons to zero only (core.reset), which drops each ReLU's charge above its threshold "
            "at any number of timesteps: compile for a chip that resets by subtraction (e.g. tianjic256), train a "
            "spiking model for this chip (nmc.nn neurons with reset='zero'), "
        )
    else:
        why = f"more --timesteps (now {imported.ticks}) or another --percentile (now {imported.percentile:g}), "
    raise NmcError(
        f"the converted SNN agrees with the ANN on {c['decision_agreement']:.1%} of {c['samples']} calibration decisions "
        f"(before quantization), below {MIN_DECISION_AGREEMENT:.0%}: " + why + "or accept it with --allow-accuracy-loss"
    )


GRADED_LEVELS_OK = 16  # graded input weights that keep fewer levels than this explain a failed quantization check


def _check_agreement(report: Report, allowed: bool) -> None:
    """Refuse a quantized network that no longer decides like its reference (unless the user accepts it)."""

    q = report.get("quantization")
    if q is None or allowed or q["decision_agreement"] >= MIN_DECISION_AGREEMENT:
        return
    if "reference" in q:
        raise NmcError(
            f"the chip agrees with {q['reference']} on {q['decision_agreement']:.1%} of {q['samples']} calibration "
            f"decisions, below {MIN_DECISION_AGREEMENT:.0%}: fine-tune for more epochs, or accept it with "
            "--allow-accuracy-loss"
        )
    starved = [g for g in report["core"]["groups"] if g.get("graded_input_levels", GRADED_LEVELS_OK) < GRADED_LEVELS_OK]
    leak = q.get("leak_decision_agreement")
    if leak is not None and 1.0 - leak >= 0.5 * (1.0 - q["decision_agreement"]):  # the leak's rounding alone: half the loss
        row = max(report["core"]["leak_rounding"], key=lambda r: abs(r["beta"] - r["realised_beta"]))
        held = f"1 - 2^-s: {shift_betas(range(1, 5))}, ..." if row["decay_mult"] == 1 else "those its multiplier holds"
        why = (
            f"the chip's leak alone gives {leak:.1%} (layer '{row['layer']}' beta {row['beta']:.4g} runs as "
            f"{row['realised_beta']:.4g}): train with betas the chip holds ({held}), pick a chip with a finer leak "
            "(core.leak multiply, e.g. loihi1), or accept it with --allow-accuracy-loss"
        )
    elif starved:  # a layer adds direct inputs to spikes at one scale (a recurrent layer, a skip from the input)
        g = min(starved, key=lambda g: g["graded_input_levels"])
        why = (
            f"layer '{g['layer']}' adds direct (graded) inputs to spikes at one scale, which leaves its input weights "
            f"{g['graded_input_levels']} levels: compile with --encoding rate (spike-coded inputs), or accept it with "
            "--allow-accuracy-loss"
        )
    else:
        why = (
            "widen the chip's bits (core.weight_bits, threshold_bits), train with fewer bits in mind, or accept it with "
            "--allow-accuracy-loss"
        )
    raise NmcError(
        f"the quantized network agrees with the unquantized one on {q['decision_agreement']:.1%} of "
        f"{q['samples']} calibration decisions (spikes {q['spike_agreement']:.1%}), below {MIN_DECISION_AGREEMENT:.0%}: " + why
    )


def _chip_outputs(module, snn_module, chip, report: dict, stem: str, stimulus, plot: bool, progress, image, data) -> dict:
    """The binary's measured costs (simulated on the calibration data), and plots."""

    report["neurobench"] = neurobench_static(snn_module, image, chip)
    files: dict = {}
    if chip.board:
        files[f"{stem}.board.json"] = board_manifest(image, chip, stem, report["mapping"]["board"])
    if stimulus is None:
        if plot:
            report["notes_plot"] = "--plot needs --calibration data to simulate"
        return files
    progress("NeuroBench's workload metrics of the snn level on calibration data")
    report["neurobench"]["model"] = workload_metrics(snn_module, stimulus)
    progress("simulating the binary on calibration data")
    run = Simulator(image).run(stimulus, record=True)  # the image is the decoded binary
    dense = report["snn"]["synapses"] * report["ticks"]
    report["chip_run"] = dynamic_report(run, len(stimulus), image, chip, report["mapping"], dense)
    if plot:
        import tempfile

        (net,) = [op for op in module.walk() if op.name == "core.network"]
        view = net_view(net)
        cores, slots = assignment(net, view)
        src, _, w = traffic_pairs(view, cores, group_rates(view))
        per_core = np.bincount(src, weights=w, minlength=int(cores.max()) + 1)
        ir_index = np.lexsort((slots, cores))  # binary neurons are core-major; IR neurons layer by layer
        layers = [(g.layer.data, g.size) for g in view.groups]
        with tempfile.TemporaryDirectory() as tmp:
            paths, notes = spike_raster_and_heatmap(run, image, per_core, str(Path(tmp) / stem), ir_index, layers)
            for path in paths:
                files[Path(path).name] = Path(path).read_bytes()
        if notes:
            report["notes_plot"] = "; ".join(notes)
    return files


DRIVER = CrossbarDriver()
