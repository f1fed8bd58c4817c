"""nmc's output targets for `nmc-opt -t`, registered lazily."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target


@dataclass(frozen=True)
class ChipDumpTarget(Target):
    """A readable listing of the chip binary of a mapped network: `nmc-opt -t chip-dump`."""

    name = "chip-dump"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from nmc.chips.binary import decode, dump, encode
        from nmc.targets.chip_binary import build_image

        dump(decode(encode(build_image(module))), output)


@dataclass(frozen=True)
class VerilogTarget(Target):
    """The structural Verilog of a mapped network (core modules and top level): `nmc-opt -t verilog`.

    The primitives (nmc_primitives.v), synapse memories and testbench come with `nmc-compile --target verilog`.
    """

    name = "verilog"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from nmc.chips.binary import decode, encode
        from nmc.targets.chip_binary import build_image
        from nmc.targets.verilog import rtl_text

        output.write(rtl_text(decode(encode(build_image(module)))))


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    return {"chip-dump": lambda: ChipDumpTarget, "verilog": lambda: VerilogTarget}
