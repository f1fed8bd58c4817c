"""The passes' side of a core kind (nmc.chips.kinds): the `MAPPING` facet the generic passes call.

snn-to-core, partition-cores, place-cores and route name no kind: they ask each registered kind's
MAPPING facet for its networks and hand them over. Placement itself is generic (seeded annealing of
Σ traffic * hops over the mesh, passes/placement.py) on the core-to-core traffic a kind reports.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from nmc.chips.errors import NmcError
from nmc.chips.kinds import CoreKind, registered
from nmc.dialects.core_ir import pipeline_up_to


class MappingFacet(Protocol):
    """What the generic passes need of a core kind (one object per kind, registered as its passes facet)."""

    def pending(self, module: ModuleOp) -> bool:
        """Whether the module holds networks of this kind still at the snn level."""
        ...

    def lower(self, module: ModuleOp, chip: Any) -> None:
        """snn-to-core: lower this kind's snn-level networks in `module` for `chip` (it then travels in the IR)."""
        ...

    def networks(self, module: ModuleOp) -> list[Any]:
        """This kind's networks at the core level or below (what partition, place and route work on)."""
        ...

    def partition(self, net: Any, strategy: str, seed: int) -> None:
        """partition-cores: put every unit on a core, within the chip's per-core limits; the mapping goes into the IR."""
        ...

    def core_traffic(self, net: Any) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        """After partitioning: (cores used, source core, destination core, packets) over remote pairs."""
        ...

    def place(self, net: Any, xy: np.ndarray, strategy: str) -> None:
        """place-cores: store core i's mesh position xy[i] in the IR (replacing any earlier placement and routes)."""
        ...

    def route(self, net: Any) -> None:
        """route: routing tables and traffic into the IR; a table over the chip's router limit is an NmcError."""
        ...


def mapping_facets() -> list[tuple[CoreKind, MappingFacet]]:
    return [(kind, kind.facet("passes")) for kind in registered()]


def lowered_networks(module: ModuleOp, who: str, pipeline: str | None = None) -> list[tuple[MappingFacet, Any]]:
    """Every core-level network of every kind, with its kind's facet; none is one line saying what to run first."""
    facets = mapping_facets()
    found = [(facet, net) for _, facet in facets for net in facet.networks(module)]
    if found:
        return found
    if any(facet.pending(module) for _, facet in facets):
        raise NmcError(
            f"{who} works on core IR and this module is at the snn level: run snn-to-core first "
            f"(nmc-opt FILE -p '{pipeline or pipeline_up_to(who)}')"
        )
    raise NmcError(f"{who}: the module holds no network")
