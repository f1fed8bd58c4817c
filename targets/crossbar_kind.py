"""The crossbar kind's EMIT facet (nmc.chips.kinds): the chip image of a mapped core.network
(targets/chip_binary.py) and its structural Verilog (targets/verilog.py)."""

from __future__ import annotations

from typing import Any

from nmc.chips.binary import ChipImage
from nmc.targets.chip_binary import build_image
from nmc.targets.verilog import rtl_text


class CrossbarEmit:
    """What `-t chip-dump`, `-t verilog` and nmc-compile's binary need of the crossbar kind."""

    def image(self, module: Any) -> ChipImage:
        return build_image(module)

    def verilog(self, module: Any, image: ChipImage) -> str:
        """The generated modules alone (no primitives or memory files), as `nmc-opt -t verilog` prints them."""
        return rtl_text(image)


EMIT = CrossbarEmit()
