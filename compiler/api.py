"""The Python API: `nmc.compile(model, ...)` does what `nmc-compile` does, in memory.

import nmc
compiled = nmc.compile(model, calibration=x_calib, chip="tianjic256")
y = compiled.run(x)            # the chip simulator on the binary
compiled.save("out/")          # the binary, report.json and any IR/plots
chip = nmc.load("out/model.nmc"); y = chip.run(x).outputs[0]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nmc.compiled import Compiled, StepClock
from nmc.options import TARGETS, CompileOptions, options_doc
from nmc.report import Report


def compile(
    model: Any,
    options: CompileOptions | None = None,
    /,
    *,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> Compiled:
    """Compile a torch model (module, ExportedProgram, or file path) for a chip.

    Options are the fields of `nmc.options.CompileOptions` (the flags of `nmc-compile`),
    given as an object, as keywords, or both (keywords win). The options:
    """
    from nmc.chips import DEFAULT_CHIP, Chip, load_chip
    from nmc.driver import ImportOptions, import_model, load_calibration, print_ir
    from nmc.errors import NmcError
    from nmc.options import DEFAULT_TICKS
    from nmc.stats import check_capacity, network_stats

    o = (options or CompileOptions()).replace(**overrides)
    target, level, synth, calibration = o.target, o.level, o.synth, o.calibration
    if target not in TARGETS:
        raise NmcError(f"unknown target '{target}' (expected {', '.join(TARGETS)})")
    o.check_combination()
    if synth:
        from nmc.targets.synth import yosys_available

        yosys_available()
    stem = name or (Path(model).stem if isinstance(model, str | Path) else "model")
    from nmc.tnn_compile import compile_tnn, is_tnn_file

    if type(model).__name__ == "TNN" or (isinstance(model, str | Path) and is_tnn_file(model)):
        return compile_tnn(model, o, stem, progress)  # temporal networks: TNN columns, not crossbars
    if o.forecast:
        raise NmcError("--forecast predicts the silicon of TNN columns (docs/tnn-hardware.md); this model is not a TNN")
    calibration_file = None
    if isinstance(calibration, str | Path):
        calibration_file = str(Path(calibration).resolve())
        calibration = load_calibration(calibration)
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
        name=stem,
        max_model_bytes=o.max_model_bytes,
    )
    steps = StepClock(progress)
    say = steps.say
    # A chip given by name or file is loaded here, once, and named in snn-to-core's options;
    # a Chip object built in memory rides in the module's `nmc.chip` attribute instead.
    chip_ref = None if isinstance(o.chip, Chip) else (o.chip or DEFAULT_CHIP)
    the_chip = o.chip if isinstance(o.chip, Chip) else load_chip(chip_ref)
    level = "map" if target in ("chip", "verilog") else "snn" if target == "nir" else level
    tuned = None
    if o.finetune is not None:
        from nmc.finetuning import run_finetune

        say("fine-tuning")
        tuned = run_finetune(model, the_chip, o, calibration, progress)
        model, opts.input_scale, opts.ticks = tuned.model, tuned.input_scale, opts.ticks or DEFAULT_TICKS
        opts.notes.append(
            f"compiled the fine-tuned SNN ({stem}.finetuned.pt); compile that file again with the same --encoding "
            f"and --input-scale {tuned.input_scale:g}"
        )
    say("import")
    module = import_model(model, opts)
    if chip_ref is None:
        from nmc.dialects.core import ChipAttr
        from nmc.passes.snn_to_core import CHIP_ATTRIBUTE

        module.attributes[CHIP_ATTRIBUTE] = ChipAttr(the_chip)
    snn_module = module.clone()
    report: Report = {
        "model": stem,
        "chip": the_chip.to_json(),
        "ticks": opts.ticks,
        "encoding": opts.encoding,
        "snn": network_stats(module),
    }
    if level == "map" and not o.disable:  # before the expensive steps: a network that cannot fit is refused at once
        check_capacity(report["snn"], the_chip)  # (with --disable the full violation list is what the user asked for)
    keep_ir = o.dump_ir or target not in ("chip", "verilog", "nir")  # IR texts are written only then
    levels = {"snn": print_ir(module)} if keep_ir else {}
    passes: list = []
    stimulus = calibration[:100] if calibration is not None else None
    profiled = None  # the quantization check's core run on `stimulus`, which profile-rates reuses
    if level in ("core", "map"):
        from nmc.pipeline import lower_to_core

        result = lower_to_core(
            module,
            the_chip,
            chip_ref,
            approximate_fan_in=o.approximate_fan_in,
            weight_bits=o.weight_bits,
            disable=tuple(o.disable),
            stimulus=stimulus if o.check else None,
            progress=say,
            keep_ir=keep_ir,
        )
        levels = result.levels
        profiled = result.run
        report.update(result.report)
        _check_agreement(report, o.allow_accuracy_loss)
        passes.extend(result.passes)
    if level == "map":
        from nmc.pipeline import lower_to_map

        report["mapping"] = lower_to_map(
            module,
            the_chip,
            stimulus=stimulus,
            stimulus_file=calibration_file,
            partition=o.partition,
            placement=o.placement,
            seed=o.seed,
            progress=say,
            passes_out=passes,
            profiled=profiled,
        )
        if keep_ir:
            levels["map"] = print_ir(module)
    if passes:
        from nmc.pipeline import pipeline_text

        report["pipeline"] = pipeline_text(passes)
    files: dict[str, str | bytes] = {}
    if target == "chip":
        files.update(_chip_outputs(module, snn_module, the_chip, report, stem, stimulus if o.check else None, o.plot, say))
    elif target == "verilog":
        limits = {"max_synapses": o.verilog_max_synapses, "max_neurons": o.verilog_max_neurons}
        tb_samples = o.tb_samples or 1
        tb_input = calibration[:tb_samples] if calibration is not None else None
        clock = o.clock_mhz or the_chip.timing["clock_mhz"]
        files.update(_verilog_outputs(module, report, tb_input, tb_samples, synth, limits, say, clock))
    elif target == "nir":
        files[f"{stem}.nir"] = _nir_bytes(module)
    else:
        files[f"{stem}.{level}.mlir"] = levels[level]
    if o.dump_ir:
        files.update({f"{stem}.{lvl}.mlir": text for lvl, text in levels.items()})
    if tuned is not None:
        from nmc.finetuning import chip_accuracy, model_bytes

        files[f"{stem}.finetuned.pt"] = model_bytes(tuned.model)
        report["finetune"] = tuned.section
        if target == "chip":
            say("measuring the fine-tuned chip on the held-back data")
            tuned.section["accuracy"]["chip"] = chip_accuracy(files[f"{stem}.nmc"], *tuned.holdout)
    if not o.check:
        opts.notes.append("--no-check: quantization agreement and the simulated chip run were skipped")
    if "notes_plot" in report:
        opts.notes.append(report["notes_plot"])
    report["notes"] = opts.notes
    report["files"] = sorted([*files, "report.json"])
    return Compiled(stem, files, report, module, opts.notes, steps.finish())


def _nir_bytes(module) -> bytes:
    import tempfile

    import nir

    from nmc.targets.nir_export import nir_graph

    graph = nir_graph(module)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.nir"
        nir.write(str(path), graph)
        return path.read_bytes()


def _check_agreement(report: Report, allowed: bool) -> None:
    """Refuse a quantized network that no longer decides like the model (unless the user accepts it)."""
    from nmc.errors import NmcError
    from nmc.options import MIN_DECISION_AGREEMENT

    q = report.get("quantization")
    if q is None or allowed or q["decision_agreement"] >= MIN_DECISION_AGREEMENT:
        return
    raise NmcError(
        f"the quantized network agrees with the unquantized one on {q['decision_agreement']:.1%} of "
        f"{q['samples']} calibration decisions (spikes {q['spike_agreement']:.1%}), below {MIN_DECISION_AGREEMENT:.0%}: "
        "widen the chip's bits (core.weight_bits, threshold_bits), train with fewer bits in mind, or accept it with "
        "--allow-accuracy-loss"
    )


def _chip_outputs(module, snn_module, chip, report: dict, stem: str, stimulus, plot: bool, progress) -> dict:
    """The binary, its measured costs (simulated on the calibration data), and plots."""
    from nmc.chips.binary import decode, encode
    from nmc.costs import dynamic_report, neurobench_static, spike_raster_and_heatmap
    from nmc.runtime.simulator import Chip as Simulator
    from nmc.targets.chip_binary import build_image

    progress("writing the chip binary")
    image = build_image(module)
    data = encode(image)
    report["binary"] = {"file": f"{stem}.nmc", "bytes": len(data)}
    report["neurobench"] = neurobench_static(snn_module, image, chip)
    files: dict = {f"{stem}.nmc": data}
    if stimulus is None:
        if plot:
            report["notes_plot"] = "--plot needs --calibration data to simulate"
        return files
    progress("simulating the binary on calibration data")
    run = Simulator(decode(data)).run(stimulus, record=True)
    dense = report["snn"]["synapses"] * report["ticks"]
    report["chip_run"] = dynamic_report(run, len(stimulus), image, chip, report["mapping"], dense)
    if plot:
        import tempfile

        from nmc.dialects.map_layout import assignment, group_rates, net_view, traffic_pairs

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


def _verilog_outputs(module, report: dict, stimulus, samples: int, synth: bool, limits: dict, progress, clock_mhz: float) -> dict:
    """RTL, synapse memories, a testbench on `stimulus` (or seeded uniform inputs), and optionally synthesis."""
    from nmc.chips.binary import decode, encode
    from nmc.targets.chip_binary import build_image
    from nmc.targets.verilog import check_size, verilog_files

    progress("emitting Verilog")
    image = decode(encode(build_image(module)))
    if stimulus is None:
        rng = np.random.default_rng(0)
        stimulus = [rng.random((samples, *spec["shape"])).astype(np.float32) for spec in image.meta["inputs"]]
        report["notes_testbench"] = f"no --calibration data: the testbench drives {samples} seeded uniform [0, 1) input(s)"
    from nmc.runtime.simulator import Chip as Simulator

    check_size(image, **{k: v for k, v in limits.items() if v is not None})  # before simulating a design too large
    trace = Simulator(image).run(stimulus, trace=True).trace
    files, design = verilog_files(image, trace, **{k: v for k, v in limits.items() if v is not None})
    top = design.top
    report["verilog"] = {
        "top": top,
        "rtl_lines": sum(files[f].count("\n") for f in files if f.endswith(".v") and not f.startswith("tb_")),
        "synapse_memory_words": int(image.a("SYN ", "weight").size),
        "neuron_instances": int(image.a("NRN ", "core").size),
        "cores": int(image.a("CORE", "x").size),
        "clock_cycles_per_tick": design.cycles_per_tick,
        "clock_cycles_per_inference": design.cycles_per_tick * design.total_ticks,
        "widths": {"axon_value": design.xw, "weight": design.ww, "accumulator": design.iw, "membrane": design.vw},
        "testbench": f"tb_{top}.v",
        "testbench_ticks": design.total_ticks,
        "run": f"iverilog -g2012 -o tb_{top} *.v && vvp tb_{top}",
    }
    if synth:
        from nmc.targets.synth import synthesize
        from nmc.targets.verilog import PRIMITIVES

        progress("synthesizing with yosys, timing with OpenSTA")
        rtl = [PRIMITIVES, f"{top}.v"]
        synth_files, numbers = synthesize({k: v for k, v in files.items() if not k.startswith("tb_")}, top, rtl, clock_mhz)
        files.update(synth_files)
        report["synthesis"] = numbers
    return files


def _document_compile() -> None:
    """Give `nmc.compile` a signature and docstring listing every option (help(nmc.compile))."""
    import dataclasses
    import inspect

    sig = inspect.signature(compile)
    params = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    params += [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default) for f in dataclasses.fields(CompileOptions)
    ]
    compile.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    compile.__doc__ = (compile.__doc__ or "") + "\n" + options_doc() + "\n"


_document_compile()
