"""nmc.chips — the bottom layer: what a chip is, independent of any IR.

* `description`: the chip description language (lark), its schema, presets shipped as
  package data, the canonical text and hash a chip carries into the IR;
* `formats`: the only copy of the number formats and enumerations (reset, compare, mode);
* `binary`: the configuration binary's layout, encoder and validating reader;
* `errors`: `NmcError`, the one-line user error.

Depends on numpy and lark only; it imports nothing else of nmc.
"""

from nmc.chips.description import DEFAULT_CHIP, Chip, load_chip, load_preset, parse_chip, preset_names
from nmc.chips.errors import NmcError

__all__ = ["DEFAULT_CHIP", "Chip", "NmcError", "load_chip", "load_preset", "parse_chip", "preset_names"]
