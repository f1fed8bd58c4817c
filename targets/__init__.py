"""nmc's output targets for `nmc-opt -t`, registered lazily."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.utils.target import Target


def mapped_kind(module: ModuleOp, who: str = "the chip binary (chip-dump, verilog)") -> Any:
    """The core kind whose mapped network the module holds (a module holds one network for a binary)."""
    from nmc.chips.errors import NmcError
    from nmc.dialects.core_ir import MAP_PIPELINE
    from nmc.passes.kind_mapping import lowered_networks, mapping_facets

    found = lowered_networks(module, who, MAP_PIPELINE + "' -t 'chip-dump")
    if len(found) != 1:
        raise NmcError(f"the chip binary holds one network; the module has {len(found)}")
    facet, _ = found[0]
    return next(kind for kind, f in mapping_facets() if f is facet)


def image_of(module: ModuleOp) -> Any:
    """The chip image of a mapped module, built by its kind's writer, as the binary's reader gives it back."""
    from nmc.chips.binary import decode, encode

    return decode(encode(mapped_kind(module).facet("targets").image(module)))


@dataclass(frozen=True)
class ChipDumpTarget(Target):
    """A readable listing of the chip binary of a mapped network: `nmc-opt -t chip-dump`."""

    name = "chip-dump"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from nmc.chips.binary import dump

        dump(image_of(module), output)


@dataclass(frozen=True)
class VerilogTarget(Target):
    """The structural Verilog of a mapped network, by its core kind's emitter: `nmc-opt -t verilog`.

    The primitives, memories and testbench come with `nmc-compile --target verilog`.
    """

    name = "verilog"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        image = image_of(module)
        output.write(mapped_kind(module).facet("targets").verilog(module, image))


@dataclass(frozen=True)
class XyloTarget(Target):
    """The SynSense Xylo configuration of an snn network (docs/xylo.md): `nmc-opt -t xylo`, as `--target xylo`."""

    name = "xylo"

    def emit(self, ctx: Context, module: ModuleOp, output: IO[str]) -> None:
        from nmc.targets.xylo_config import xylo_config

        output.write(xylo_config(module)[0].to_json())


def get_all_targets() -> dict[str, Callable[[], type[Target]]]:
    return {"chip-dump": lambda: ChipDumpTarget, "verilog": lambda: VerilogTarget, "xylo": lambda: XyloTarget}
