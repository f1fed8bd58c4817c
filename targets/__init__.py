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
        from nmc.targets.chip_binary import build_image, decode, dump, encode

        dump(decode(encode(build_image(module))), output)


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    return {"chip-dump": lambda: ChipDumpTarget}
