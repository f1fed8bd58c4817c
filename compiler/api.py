"""The Python API: `nmc.compile(model, ...)` does what `nmc-compile` does, in memory.

import nmc
compiled = nmc.compile(model, calibration=x_calib, chip="tianjic256")
y = compiled.run(x)            # the chip simulator on the binary
compiled.save("out/")          # the binary, report.json and any IR/plots
chip = nmc.load("out/model.nmc"); y = chip.run(x)  # the same outputs; chip.simulate(x) gives the whole run
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from nmc.chips import Chip, load_chip
from nmc.chips.binary import decode, encode
from nmc.chips.boards import board_preset_names
from nmc.compiled import Compiled, StepClock
from nmc.dialects.core import ChipAttr
from nmc.driver import print_ir
from nmc.errors import NmcError
from nmc.kinds.driver import CompileContext, check_options, model_kind
from nmc.options import TARGETS, CompileOptions, options_doc
from nmc.passes.partition_cores import PartitionCoresPass
from nmc.passes.place_cores import PlaceCoresPass
from nmc.passes.route import RoutePass
from nmc.passes.snn_to_core import CHIP_ATTRIBUTE
from nmc.pipeline import pipeline_text, run_passes
from nmc.targets.synth import yosys_available


def compile(
    model: Any,
    options: CompileOptions | None = None,
    /,
    *,
    name: str | None = None,
    progress: Callable[[str], None] | None = None,
    **overrides: Any,
) -> Compiled:
    """Compile a model (torch module, ExportedProgram, TNN, NIR graph, or file path) for a chip.

    One path for every core kind (nmc.kinds.driver): the model's kind, options it does not honour
    refused, the chip (the kind's default preset unless given), import, lowering to cores, mapping
    (partition-cores, place-cores, route), the target's files; every pass run is recorded in
    report.json's `pipeline`, which `nmc-opt -p` replays. Options are the fields of
    `nmc.options.CompileOptions` (the flags of `nmc-compile`), given as an object, as keywords, or
    both (keywords win). The options:
    """

    o = (options or CompileOptions()).replace(**overrides)
    if o.target not in TARGETS:
        raise NmcError(f"unknown target '{o.target}' (expected {', '.join(TARGETS)})")
    o.check_combination()
    if o.synth:
        yosys_available()
    stem = name or (Path(model).stem if isinstance(model, str | Path) else "model")
    kind = model_kind(model)
    driver = kind.facet("compiler")
    check_options(o, kind, driver, driver.why)
    steps = StepClock(progress)
    # A chip given by name or file is loaded here, once, and named in snn-to-core's options;
    # a Chip object built in memory rides in the module's `nmc.chip` attribute instead.
    # a target may have a device of its own (an optional `target_chips` of the driver: --target xylo)
    default_chip = getattr(driver, "target_chips", {}).get(o.target, kind.default_chip)
    chip_ref = None if isinstance(o.chip, Chip) else (o.chip or default_chip)
    if o.board is not None:
        if o.chip is not None:
            raise NmcError("--board and --chip both name the hardware: give one (a board is its chips' description)")
        chip_ref = o.board
    the_chip = o.chip if isinstance(o.chip, Chip) else load_chip(chip_ref)
    if o.board is not None and the_chip.board is None:
        raise NmcError(
            f"--board {o.board}: '{the_chip.name}' is one chip, not a board (board presets: {', '.join(board_preset_names())})"
        )
    level = "map" if o.target in ("chip", "verilog") else "snn" if o.target in ("nir", "xylo") else o.level
    ctx = CompileContext(stem, kind, o, the_chip, chip_ref, steps.say, level=level)
    ctx.keep_ir = o.dump_ir or o.target not in ("chip", "verilog", "nir")  # IR texts are written only then
    model = driver.prepare(model, ctx)
    steps.say("import")
    module = driver.import_model(model, ctx)
    if chip_ref is None:
        module.attributes[CHIP_ATTRIBUTE] = ChipAttr(the_chip)
    if ctx.keep_ir:
        ctx.levels["snn"] = print_ir(module)
    if level in ("core", "map"):
        driver.lower(module, ctx)
    image = binary = None
    if level == "map":
        ctx.passes.extend(driver.before_mapping(module, ctx))
        mapping = [
            PartitionCoresPass(strategy=o.partition, seed=o.seed),
            PlaceCoresPass(strategy=o.placement, seed=o.seed),
            RoutePass(),
        ]
        run_passes(module, mapping, steps.say)
        ctx.passes.extend(mapping)
        if ctx.keep_ir:
            ctx.levels["map"] = print_ir(module)
        steps.say("writing the chip binary")  # every mapped network: its report reads the image too
        binary = encode(kind.facet("targets").image(module))
        image = decode(binary)
        driver.mapping_report(module, image, ctx)
    report = ctx.report
    if ctx.passes:
        report["pipeline"] = pipeline_text(ctx.passes)
    files: dict[str, str | bytes] = {}
    if o.target == "chip":
        assert binary is not None
        files[f"{stem}.nmc"] = binary
        report["binary"] = {"file": f"{stem}.nmc", "bytes": len(binary)}
        files.update(driver.chip_outputs(module, image, binary, ctx))
    elif o.target == "mlir":
        files[f"{stem}.{level}.mlir"] = ctx.levels[level]
    else:
        files.update(driver.target_outputs(o.target, module, image, ctx))
    if o.dump_ir:
        files.update({f"{stem}.{lvl}.mlir": text for lvl, text in ctx.levels.items()})
    driver.finish(module, files, ctx)
    report["notes"] = ctx.notes
    report["files"] = sorted([*files, "report.json"])
    return Compiled(stem, files, report, module, ctx.notes, steps.finish())


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
