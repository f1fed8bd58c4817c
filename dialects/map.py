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
from nmc.dialects.ir_arrays import to_numpy
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
    """What the route pass decided and what the binary and the report read: per-core axon tables (CSR over
    cores: each axon's source index and delay, sorted per core), the multicast routing table (each neuron
    whose spikes leave its core, by source index, with its destination cores, CSR), routing-table entries
    per core, and traffic figures. The verifier checks the tables against each other and the chip."""

    name = "map.routes"
    entries = prop_def(DenseIntOrFPElementsAttr)
    axon_offsets = prop_def(DenseIntOrFPElementsAttr)
    axon_sources = prop_def(DenseIntOrFPElementsAttr)
    axon_delays = prop_def(DenseIntOrFPElementsAttr)
    sources = prop_def(DenseIntOrFPElementsAttr)
    dest_offsets = prop_def(DenseIntOrFPElementsAttr)
    dests = prop_def(DenseIntOrFPElementsAttr)
    traffic = prop_def(FloatAttr[Float64Type])
    hops = prop_def(FloatAttr[Float64Type])
    peak_link = prop_def(FloatAttr[Float64Type])
    links = prop_def(IntegerAttr[I64])
    assembly_format = (
        "`entries` `=` $entries `axons` `=` $axon_offsets `sources` `=` $axon_sources `delays` `=` $axon_delays "
        "`multicast` `=` $sources `to` $dest_offsets $dests "
        "`traffic` `=` $traffic `hops` `=` $hops `peak_link` `=` $peak_link `links` `=` $links attr-dict"
    )

    def verify_(self) -> None:
        import numpy as np

        net = self.parent_op()
        if not isinstance(net, core.NetworkOp):
            raise VerifyException("map.routes must be inside a core.network")
        chip = net.chip.data
        entries, offsets = to_numpy(self.entries), to_numpy(self.axon_offsets)
        dest_offsets, dests = to_numpy(self.dest_offsets), to_numpy(self.dests)
        k, n_axons, n_entries = entries.size, _n(self.axon_sources), _n(self.sources)

        def csr(what: str, offs: np.ndarray, rows: int, total: int) -> None:
            if offs.shape != (rows + 1,) or offs[0] != 0 or offs[-1] != total or (np.diff(offs) < 0).any():
                raise VerifyException(f"map.routes: {what} offsets do not describe {rows} rows of {total} entries")

        csr("axon", offsets, k, n_axons)
        if _n(self.axon_delays) != n_axons:
            raise VerifyException(f"map.routes: {_n(self.axon_delays)} axon delays for {n_axons} axons")
        per_core = np.diff(offsets)
        if (per_core > chip.core["axons"]).any():
            worst = int(per_core.argmax())
            raise VerifyException(
                f"map.routes: core {worst} has {int(per_core[worst])} axons, chip '{chip.name}' has {chip.core['axons']}"
            )
        csr("multicast destination", dest_offsets, n_entries, dests.size)
        if int(entries.sum()) != n_entries:
            raise VerifyException(
                f"map.routes: entries per core sum to {int(entries.sum())}, the multicast table has {n_entries}"
            )
        if dests.size and (dests.min() < 0 or dests.max() >= k):
            raise VerifyException(f"map.routes: a destination core outside 0..{k - 1}")
        limit = chip.router["table_entries"]
        if entries.size and entries.max() > limit:
            raise VerifyException(
                f"map.routes: a core has {int(entries.max())} routing-table entries, chip '{chip.name}' has {limit}"
            )


MAP = Dialect("map", [AssignOp, MeshOp, RoutesOp], [])
