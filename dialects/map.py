"""The `map` dialect: where every neuron of a core network lives on the chip.

Added to a `core.network` by the mapping passes:

* `map.assign %group core = … slot = …` (partition-cores): the core index and
  neuron slot of each neuron of a group;
* `map.mesh x = … y = …` (place-cores): the mesh coordinates of each core index;
* `map.routes entries = … link_load = …` (route): routing-table entries used per
  core and the busiest link's load (packets per input sample).

Axon tables and multicast routing tables are functions of these (docs/mapping.md);
`nmc.dialects.map_layout` computes them for the verifiers, the binary writer and the reports.
`map.mesh`'s verifier checks every capacity and coordinate against the chip.
"""

from __future__ import annotations

import math

from xdsl.dialects.builtin import I64, DenseIntOrFPElementsAttr, Float64Type, FloatAttr, IntegerAttr, StringAttr
from xdsl.ir import Dialect
from xdsl.irdl import IRDLOperation, irdl_op_definition, operand_def, prop_def
from xdsl.utils.exceptions import VerifyException

from nmc.dialects import core
from nmc.dialects.map_layout import check_mapping


def _n(attr: DenseIntOrFPElementsAttr) -> int:
    return math.prod(attr.get_shape())


@irdl_op_definition
class AssignOp(IRDLOperation):
    """Core index and slot of each neuron of a group."""

    name = "map.assign"
    group = operand_def(core.SpikesType | core.GradedType)
    core = prop_def(DenseIntOrFPElementsAttr)
    slot = prop_def(DenseIntOrFPElementsAttr)
    assembly_format = "$group `core` `=` $core `slot` `=` $slot attr-dict `:` type($group)"

    def verify_(self) -> None:
        owner = self.group.owner
        if not isinstance(owner, core.NeuronsOp):
            raise VerifyException("map.assign: operand must be a core.neurons group")
        n = owner.size
        if _n(self.core) != n or _n(self.slot) != n:
            raise VerifyException(
                f"map.assign '{owner.layer.data}': {_n(self.core)} cores and {_n(self.slot)} slots for {n} neurons"
            )


@irdl_op_definition
class MeshOp(IRDLOperation):
    """Mesh coordinates of every used core; the point where the mapping is checked against the chip."""

    name = "map.mesh"
    x = prop_def(DenseIntOrFPElementsAttr)
    y = prop_def(DenseIntOrFPElementsAttr)
    strategy = prop_def(StringAttr)
    assembly_format = "`x` `=` $x `y` `=` $y `strategy` `=` $strategy attr-dict"

    def verify_(self) -> None:
        net = self.parent_op()
        if not isinstance(net, core.NetworkOp):
            raise VerifyException("map.mesh must be inside a core.network")
        if _n(self.x) != _n(self.y):
            raise VerifyException(f"map.mesh: {_n(self.x)} x and {_n(self.y)} y coordinates")
        problems = check_mapping(net)
        if problems:
            raise VerifyException(f"map.mesh: {problems[0]}" + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""))


@irdl_op_definition
class RoutesOp(IRDLOperation):
    """Routing-table entries per core and traffic figures from the route pass."""

    name = "map.routes"
    entries = prop_def(DenseIntOrFPElementsAttr)
    traffic = prop_def(FloatAttr[Float64Type])
    hops = prop_def(FloatAttr[Float64Type])
    peak_link = prop_def(FloatAttr[Float64Type])
    links = prop_def(IntegerAttr[I64])
    assembly_format = (
        "`entries` `=` $entries `traffic` `=` $traffic `hops` `=` $hops `peak_link` `=` $peak_link `links` `=` $links attr-dict"
    )


MAP = Dialect("map", [AssignOp, MeshOp, RoutesOp], [])
