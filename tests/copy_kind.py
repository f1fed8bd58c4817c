"""A throwaway core kind, defined entirely here: a "copy" core whose network repeats its input vector.

It exists to show that a new kind is one module set plus one registration (nmc.chips.kinds): its
IR op, lowering, mapping, binary sections, simulator and driver live in this file only, and
`nmc.compile`, the mapping passes, the binary container and the engine dispatch run it unchanged.
Semantics: one `copy.network` of width n on one core; the output of a sample is its input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, i64
from xdsl.irdl import IRDLOperation, irdl_op_definition, opt_prop_def, prop_def

from nmc.chips.binary import BinaryError, ChipImage
from nmc.chips.errors import NmcError
from nmc.chips.kinds import BinaryFacet, CoreKind
from nmc.dialects.core import ChipAttr
from nmc.runtime.engines import EngineFacet


@dataclass
class CopyNet:
    """The "model": a width."""

    width: int


@irdl_op_definition
class CopyNetworkOp(IRDLOperation):
    """A copy network; `chip` from the core level on, `core`/`x`/`y` once mapped, `routed` after route."""

    name = "copy.network"
    width = prop_def(IntegerAttr)
    label = prop_def(StringAttr)
    chip = opt_prop_def(ChipAttr)
    core = opt_prop_def(IntegerAttr)
    x = opt_prop_def(IntegerAttr)
    y = opt_prop_def(IntegerAttr)
    routed = opt_prop_def(IntegerAttr)


def _i(v: int) -> IntegerAttr:
    return IntegerAttr(int(v), i64)


class CopyMapping:
    """passes facet"""

    def pending(self, module: ModuleOp) -> bool:
        return any(isinstance(op, CopyNetworkOp) and op.chip is None for op in module.walk())

    def lower(self, module: ModuleOp, chip: Any) -> None:
        for op in module.walk():
            if isinstance(op, CopyNetworkOp) and op.chip is None:
                if op.width.value.data > chip.core["neurons"]:
                    raise NmcError(
                        f"copy network of width {op.width.value.data}: chip '{chip.name}' cores hold {chip.core['neurons']}"
                    )
                op.properties["chip"] = ChipAttr(chip)

    def networks(self, module: ModuleOp) -> list[CopyNetworkOp]:
        return [op for op in module.walk() if isinstance(op, CopyNetworkOp) and op.chip is not None]

    def partition(self, net: CopyNetworkOp, strategy: str, seed: int) -> None:
        net.properties["core"] = _i(0)

    def core_traffic(self, net: CopyNetworkOp) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        empty = np.zeros(0, np.int64)
        return 1, empty, empty, empty.astype(float)

    def place(self, net: CopyNetworkOp, xy: np.ndarray, strategy: str) -> None:
        net.properties["x"], net.properties["y"] = _i(xy[0, 0]), _i(xy[0, 1])

    def route(self, net: CopyNetworkOp) -> None:
        net.properties["routed"] = _i(1)


def _validate(image: ChipImage) -> None:
    width = image.meta.get("width")
    if not isinstance(width, int) or width < 1:
        raise BinaryError(f"META.width must be a positive integer, got {width!r}")
    if image.arrays["CORE"]["x"].shape != (1,):
        raise BinaryError("CORE: a copy binary has one core")


def _dump(image: ChipImage, out: IO[str]) -> None:
    out.write(f"copy network {image.meta['name']} width {image.meta['width']} at ({image.arrays['CORE']['x'][0]}, "
              f"{image.arrays['CORE']['y'][0]})\n")  # fmt: skip


class CopyEmit:
    """targets facet"""

    def image(self, module: ModuleOp) -> ChipImage:
        (net,) = CopyMapping().networks(module)
        if net.routed is None:
            raise NmcError("the copy network is not mapped: run partition-cores, place-cores and route")
        chip = net.chip.data  # type: ignore[union-attr]
        meta = {"kind": "copy", "name": net.label.data, "width": net.width.value.data, "mesh": list(chip.mesh)}
        cores = {"x": np.array([net.x.value.data], np.int32), "y": np.array([net.y.value.data], np.int32)}  # type: ignore[union-attr]
        return ChipImage(meta, {"CORE": cores}, bytes.fromhex(chip.digest))

    def verilog(self, module: ModuleOp, image: ChipImage) -> str:
        w = image.meta["width"]
        return f"module copy(input clk, input [{w - 1}:0] d, output reg [{w - 1}:0] q); always @(posedge clk) q <= d; endmodule\n"


@dataclass
class CopyRun:
    outputs: np.ndarray
    ticks: int


class CopySim:
    def __init__(self, image: ChipImage):
        self.width = image.meta["width"]

    def run(self, x: np.ndarray, record: bool = False) -> CopyRun:
        x = np.asarray(x)
        if x.shape[1:] != (self.width,):
            raise BinaryError(f"the copy network takes [batch, {self.width}], got {list(x.shape)}")
        return CopyRun(x.copy(), ticks=1)


def _interpret(module: ModuleOp, x: np.ndarray, **options: Any) -> CopyRun:
    return CopyRun(np.asarray(x).copy(), ticks=1)


class CopyDriver:
    """compiler facet"""

    fallback = False
    options = frozenset({"chip", "target", "placement", "seed", "dump_ir", "level"})
    why: dict[str, str] = {}
    targets = ("chip", "mlir")

    def takes(self, model: Any) -> bool:
        return isinstance(model, CopyNet)

    def prepare(self, model: Any, ctx: Any) -> Any:
        return model

    def import_model(self, model: CopyNet, ctx: Any) -> ModuleOp:
        ctx.report.update({"model": ctx.stem, "chip": ctx.chip.to_json()})
        return ModuleOp([CopyNetworkOp.build(properties={"width": _i(model.width), "label": StringAttr(ctx.stem)})])

    def lower(self, module: ModuleOp, ctx: Any) -> None:
        from nmc.passes.snn_to_core import SnnToCorePass
        from nmc.pipeline import run_passes

        passes = [SnnToCorePass(chip=ctx.chip_ref)]
        run_passes(module, passes, ctx.say)
        ctx.passes.extend(passes)

    def before_mapping(self, module: ModuleOp, ctx: Any) -> list[Any]:
        return []

    def mapping_report(self, module: ModuleOp, image: ChipImage, ctx: Any) -> None:
        ctx.report["copy"] = {
            "width": image.meta["width"],
            "core_at": [int(image.arrays["CORE"]["x"][0]), int(image.arrays["CORE"]["y"][0])],
        }

    def chip_outputs(self, module: ModuleOp, image: ChipImage, binary: bytes, ctx: Any) -> dict[str, str | bytes]:
        return {}

    def target_outputs(self, target: str, module: ModuleOp, image: Any, ctx: Any) -> dict[str, str | bytes]:
        return {}

    def finish(self, module: ModuleOp, files: dict, ctx: Any) -> None:
        pass

    def run_command(self, path: Any, loaded: Any, x: np.ndarray, args: Any) -> None:
        from nmc.runtime.engines import simulate

        print(f"copied {len(simulate(loaded, x).outputs)} samples")


COPY = CoreKind(
    "copy",
    binary_tag="copy",
    default_chip="tiny",
    network_ops=("copy.network",),
    facets={
        "chips": BinaryFacet(("META", "CORE"), _validate, _dump),
        "passes": CopyMapping(),
        "targets": CopyEmit(),
        "runtime": EngineFacet(devices=("numpy",), simulator=CopySim, decisions=lambda run: run.outputs, interpret=_interpret),
        "compiler": CopyDriver(),
    },
)
