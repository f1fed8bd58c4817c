"""Boards of chips among the presets (docs/boards.md): which presets are boards, and the smallest board of a
chip that holds a network."""

from __future__ import annotations

import re
from importlib import resources

from nmc.chips.description import Chip, load_preset, preset_names


def board_preset_names() -> list[str]:
    """The presets that are boards (a `board` section), found without parsing (for --help)."""
    found = re.compile(r"^\s*board\s*\{", re.M)
    return [n for n in preset_names() if found.search(resources.files("nmc.chips").joinpath(f"{n}.chip").read_text())]


def smallest_board(chip: Chip, cores: int) -> str | None:
    """The preset board with the fewest cores, at least `cores`, made of chips with `chip`'s cores; None if none is."""
    boards = []
    for name in preset_names():
        other = load_preset(name)
        if other.board is not None and other.core == chip.core and other.cores >= cores:
            boards.append((other.cores, name))
    return min(boards)[1] if boards else None
