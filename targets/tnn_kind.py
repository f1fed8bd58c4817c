"""The TNN column kind's EMIT facet (nmc.chips.kinds): the chip image of a mapped tnn.network
(targets/tnn_binary.py) and its column RTL (targets/tnn_verilog.py)."""

from __future__ import annotations

from typing import Any

from nmc.chips.binary import ChipImage
from nmc.passes.tnn_columns import MAPPING
from nmc.targets.tnn_binary import build_tnn_image
from nmc.targets.tnn_verilog import emit_rtl, plan
from nmc.targets.verilog import identifier


class TnnEmit:
    """What `-t chip-dump`, `-t verilog` and nmc-compile's binary need of the TNN column kind."""

    def image(self, module: Any) -> ChipImage:
        return build_tnn_image(module)

    def verilog(self, module: Any, image: ChipImage) -> str:
        """The column modules and top level (STDP hardware where the chip's tnn_column has it)."""
        (net,) = MAPPING.networks(module)
        tnn_column = net.chip.data.tnn_column
        learn = bool(tnn_column and tnn_column.get("stdp"))
        return emit_rtl(image, plan(image, learn, identifier(image.meta["name"])))


EMIT = TnnEmit()
