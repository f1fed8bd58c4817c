"""snn-to-core: lower every network of the module to the chip's cores, each by its core kind.

The pass chooses the chip (its option, else the module's `nmc.chip` attribute, else the kind's
default preset: nmc.chips.kinds) and hands each kind its networks: the crossbar kind turns an
`snn.network` into a `core.network` of neuron groups (passes/crossbar_lowering.py: exact, the core
interpreter reproduces the snn interpreter's spikes, each group delayed by its depth), the TNN
column kind a `tnn.network`'s layers into one `tnn.column` per core (passes/tnn_columns.py). From
here on the chip travels in the IR.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nmc.chips import load_chip
from nmc.dialects import core
from nmc.passes.kind_mapping import mapping_facets

CHIP_ATTRIBUTE = "nmc.chip"  # module attribute holding the target chip at the snn level


@dataclass(frozen=True)
class SnnToCorePass(ModulePass):
    """Lower every network to the cores of a chip, which from here on travels in the IR.

    The chip is `chip` (a preset name or a chip file: the one place a pass reads a file),
    else the module's `nmc.chip` attribute (`#core.chip<...>`, set by `nmc.compile` for
    chips built in memory), else the default preset of each network's core kind.
    """

    name = "snn-to-core"
    chip: str | None = None

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        carried = op.attributes.get(CHIP_ATTRIBUTE)
        for kind, facet in mapping_facets():
            if not facet.pending(op):
                continue
            if self.chip is not None:
                chip = load_chip(self.chip)
            elif isinstance(carried, core.ChipAttr):
                chip = carried.data
            else:
                chip = load_chip(kind.default_chip)
            facet.lower(op, chip)
