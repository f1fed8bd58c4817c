"""The compiler's side of a core kind (nmc.chips.kinds): the `DRIVER` facet that `nmc.compile` calls.

`nmc.compile` (nmc.api) is one path for every kind: choose the kind from the model, refuse every
option the kind does not honour (one line naming the option and the kind), choose the chip (the
kind's default preset, nmc.chips.kinds), then import → lower to cores → map (partition-cores,
place-cores, route) → outputs, recording every pass it ran as one replayable pipeline. The kind's
driver supplies the steps that differ: which models it takes, its import, its lowering passes and
their measurements, its report sections, its checks and its Verilog.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from nmc.chips import Chip
from nmc.chips.kinds import CoreKind, registered
from nmc.errors import NmcError
from nmc.options import CompileOptions


@dataclass
class CompileContext:
    """What one compile carries between the driver's steps."""

    stem: str
    kind: CoreKind
    options: CompileOptions
    chip: Chip
    chip_ref: str | None  # a preset or file named in snn-to-core's options; None: the chip rides in the module
    say: Callable[[str], None]
    level: str = "map"  # the lowest level this compile lowers to (snn, core, map)
    calibration: Any = None  # the calibration array (after the driver's prepare step)
    calibration_file: str | None = None
    report: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    levels: dict[str, str] = field(default_factory=dict)  # level -> IR text, when kept
    keep_ir: bool = False
    passes: list[Any] = field(default_factory=list)  # every pass run, in order (report.json's pipeline)
    state: dict[str, Any] = field(default_factory=dict)  # the driver's own hand-overs between its steps


class DriverFacet(Protocol):
    """What the one compile path needs of a core kind (one object per kind, registered as its compiler facet)."""

    fallback: bool  # takes every model no other kind claims (the crossbar kind)
    # optional: `target_chips`, a target's own default preset where it is not the kind's (--target xylo: xylo)
    options: frozenset[str]  # the CompileOptions fields it honours; any other one set is refused
    targets: tuple[str, ...]  # the --target values it writes

    def takes(self, model: Any) -> bool:
        """Whether the model (a module, an ExportedProgram, a file path, …) is one of this kind's."""
        ...

    def prepare(self, model: Any, ctx: CompileContext) -> Any:
        """Read what the long steps need (calibration, the model file), so a bad input fails first; the model."""
        ...

    def import_model(self, model: Any, ctx: CompileContext) -> Any:
        """The model as a verified snn-level module; report.json's first sections into ctx.report."""
        ...

    def lower(self, module: Any, ctx: CompileContext) -> None:
        """snn level -> core level (its passes, through nmc.pipeline.run_passes, appended to ctx.passes)."""
        ...

    def before_mapping(self, module: Any, ctx: CompileContext) -> list[Any]:
        """Passes to run before partition-cores (already applied; e.g. profile-rates), for the pipeline."""
        ...

    def mapping_report(self, module: Any, image: Any, ctx: CompileContext) -> None:
        """report.json's mapping figures (the mapped module and its chip image)."""
        ...

    def chip_outputs(self, module: Any, image: Any, binary: bytes, ctx: CompileContext) -> dict[str, str | bytes]:
        """Files beside the binary, and what the binary is checked and measured by (report sections)."""
        ...

    def target_outputs(self, target: str, module: Any, image: Any, ctx: CompileContext) -> dict[str, str | bytes]:
        """The files of a target other than chip and mlir (verilog: RTL, testbench, synthesis; nir)."""
        ...

    def finish(self, module: Any, files: dict[str, str | bytes], ctx: CompileContext) -> None:
        """Last steps after the target's outputs (files and report sections)."""
        ...


def model_kind(model: Any) -> CoreKind:
    """The core kind whose driver takes `model` (the kind registered as fallback when no other claims it)."""
    drivers = [(kind, kind.facet("compiler")) for kind in registered()]
    claimed = [kind for kind, driver in drivers if not driver.fallback and driver.takes(model)]
    if claimed:
        return claimed[0]
    fallback = [kind for kind, driver in drivers if driver.fallback]
    if not fallback:
        raise NmcError("no core kind takes this model")
    return fallback[0]


def check_options(o: CompileOptions, kind: CoreKind, driver: DriverFacet, why: dict[str, str] | None = None) -> None:
    """Every option set away from its default that the kind does not honour is refused in one line."""
    for f in dataclasses.fields(o):
        if f.name in driver.options or getattr(o, f.name) == f.default:
            continue
        reason = (why or {}).get(f.name)
        flag = f"--{f.name.replace('_', '-')}"
        raise NmcError(f"{flag} does not apply to a {kind.name} network{': ' + reason if reason else ''}")
    if o.target not in driver.targets:
        raise NmcError(f"--target {o.target}: a {kind.name} network compiles to --target {', '.join(driver.targets)}")
