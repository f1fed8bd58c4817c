"""Core kinds: one registration per kind, one implementation per layer (docs/core-kinds.md).

A chip offers one or more core kinds (the crossbar LIF core, the TNN column, …). Each kind is
registered once, here, as a `CoreKind`: its name, the tag its binaries carry in META.kind, its
default chip, and one *facet* per layer — the object through which that layer's generic code
(binary container, mapping passes, targets, simulator dispatch, driver) reaches the kind:

| layer    | facet     | what the generic code asks of it                                          |
|----------|-----------|---------------------------------------------------------------------------|
| chips    | `BINARY`  | section tags, validating reader, readable dump                            |
| passes   | `MAPPING` | its networks in a module; lowering to cores; partition; core traffic;      |
|          |           | placement storage; routing (results written into the IR)                  |
| targets  | `EMIT`    | the chip image of a mapped module; its Verilog                            |
| runtime  | `ENGINE`  | a simulator for its binary image; the interpreter of its IR               |
| compiler | `DRIVER`  | which models it takes; import; the options it honours; its report section |

A facet is named by the module that holds it (the attribute is the facet's name above), so each
layer imports only modules of its own layer and below (register_kind checks the prefix), or given
as an object (a kind defined outside nmc, e.g. in a test). Lookups import lazily: `import
nmc.chips.kinds` loads nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nmc.chips.errors import NmcError

LAYERS = ("chips", "passes", "targets", "runtime", "compiler")
FACET_NAMES = {"chips": "BINARY", "passes": "MAPPING", "targets": "EMIT", "runtime": "ENGINE", "compiler": "DRIVER"}
_LAYER_PACKAGES = {"chips": "nmc.chips", "passes": "nmc.passes", "targets": "nmc.targets", "runtime": "nmc.runtime"}


@dataclass(frozen=True)
class CoreKind:
    """A core kind: its name, its binaries' META.kind tag (None: no tag), default chip, and facets by layer."""

    name: str
    binary_tag: str | None
    default_chip: str
    network_ops: tuple[str, ...]  # the IR ops that hold its networks, at any level (how a module's kind is found)
    facets: Mapping[str, str | Any] = field(default_factory=dict)

    def facet(self, layer: str) -> Any:
        """The kind's facet for `layer`, importing its module on first use."""
        where = self.facets.get(layer)
        if where is None:
            raise NmcError(f"core kind '{self.name}' has no {layer} facet ({FACET_NAMES[layer]})")
        if not isinstance(where, str):
            return where
        return getattr(importlib.import_module(where), FACET_NAMES[layer])


@dataclass(frozen=True)
class BinaryFacet:
    """A kind's chips facet: its binaries' section tags in file order (META first), its validating reader
    `validate(image)` (BinaryError naming what is wrong) and its readable listing `dump(image, out)`."""

    sections: tuple[str, ...]
    validate: Any
    dump: Any


_KINDS: dict[str, CoreKind] = {}


def register_kind(kind: CoreKind) -> CoreKind:
    """Add a core kind (the one registration a new kind needs); a name already taken is refused."""
    if kind.name in _KINDS:
        raise NmcError(f"core kind '{kind.name}' is already registered")
    if kind.binary_tag in {k.binary_tag for k in _KINDS.values()}:
        raise NmcError(f"core kind '{kind.name}': binary tag {kind.binary_tag!r} is already taken")
    for layer, where in kind.facets.items():
        if layer not in LAYERS:
            raise NmcError(f"core kind '{kind.name}': unknown layer '{layer}' (layers: {', '.join(LAYERS)})")
        # a layer's facet lives in that layer (or, for the top, outside the lower layers): imports stay one way
        package = _LAYER_PACKAGES.get(layer)
        in_nmc = isinstance(where, str) and where.startswith("nmc.")
        if in_nmc and package is not None and not where.startswith(package + "."):
            raise NmcError(f"core kind '{kind.name}': its {layer} facet must live in {package}, not {where}")
        if in_nmc and package is None and any(where.startswith(p + ".") for p in _LAYER_PACKAGES.values()):
            raise NmcError(f"core kind '{kind.name}': its compiler facet must live in the compiler layer, not {where}")
    _KINDS[kind.name] = kind
    return kind


def unregister_kind(name: str) -> None:
    """Remove a kind (tests that register a throwaway kind clean up with this)."""
    _KINDS.pop(name, None)


def registered() -> list[CoreKind]:
    """Every kind, in registration order (the built-in ones first)."""
    return list(_KINDS.values())


def kind_named(name: str) -> CoreKind:
    try:
        return _KINDS[name]
    except KeyError:
        raise NmcError(f"unknown core kind '{name}' (registered: {', '.join(_KINDS)})") from None


def kinds_of_ops(op_names: set[str]) -> list[CoreKind]:
    """The kinds whose network ops are among `op_names` (the op names of a module)."""
    return [k for k in _KINDS.values() if op_names & set(k.network_ops)]


def kind_of_tag(tag: Any) -> CoreKind | None:
    """The kind whose binaries carry META.kind == `tag` (None when no kind uses that tag)."""
    return next((k for k in _KINDS.values() if k.binary_tag == tag), None)


register_kind(
    CoreKind(
        "crossbar",
        binary_tag=None,
        default_chip="tianjic256",
        network_ops=("snn.network", "core.network"),
        facets={
            "chips": "nmc.chips.crossbar_binary",
            "passes": "nmc.passes.crossbar_kind",
            "targets": "nmc.targets.crossbar_kind",
            "runtime": "nmc.runtime.crossbar_kind",
            "compiler": "nmc.kinds.crossbar",
        },
    )
)
register_kind(
    CoreKind(
        "tnn_column",
        binary_tag="tnn",
        default_chip="tnn16",
        network_ops=("tnn.network",),
        facets={
            "chips": "nmc.chips.tnn_binary",
            "passes": "nmc.passes.tnn_columns",
            "targets": "nmc.targets.tnn_kind",
            "runtime": "nmc.runtime.tnn_kind",
            "compiler": "nmc.kinds.tnn",
        },
    )
)
