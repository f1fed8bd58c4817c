"""nmc's output targets for `nmc-opt -t`, registered lazily."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target


def _tnn_network(module: ModuleOp):
    """The module's tnn.network, if it holds a TNN (its binary and RTL are the TNN kinds)."""
    from nmc.passes.tnn_columns import tnn_networks

    nets = tnn_networks(module)
    return nets[0] if nets else None


def _image(module: ModuleOp):
    from nmc.chips.binary import decode, encode

    if _tnn_network(module) is not None:
        from nmc.targets.tnn_binary import build_tnn_image

        return decode(encode(build_tnn_image(module)))
    from nmc.targets.chip_binary import build_image

    return decode(encode(build_image(module)))


@dataclass(frozen=True)
class ChipDumpTarget(Target):
    """A readable listing of the chip binary of a mapped network: `nmc-opt -t chip-dump`."""

    name = "chip-dump"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from nmc.chips.binary import dump

        dump(_image(module), output)


@dataclass(frozen=True)
class VerilogTarget(Target):
    """The structural Verilog of a mapped network (core modules and top level, or a TNN's column modules
    and top level): `nmc-opt -t verilog`.

    The primitives (nmc_primitives.v / tnn_primitives.v), synapse memories and testbench come with
    `nmc-compile --target verilog`.
    """

    name = "verilog"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from nmc.targets.verilog import identifier, rtl_text

        image = _image(module)
        net = _tnn_network(module)
        if net is None:
            output.write(rtl_text(image))
            return
        from nmc.targets.tnn_verilog import emit_rtl, plan

        tnn_column = net.chip.data.tnn_column  # type: ignore[union-attr]  (mapped: _image checked the chip)
        learn = bool(tnn_column and tnn_column.get("stdp"))
        output.write(emit_rtl(image, plan(image, learn, identifier(image.meta["name"]))))


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    return {"chip-dump": lambda: ChipDumpTarget, "verilog": lambda: VerilogTarget}
