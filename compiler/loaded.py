"""`nmc.load(path)`: a compiled chip binary, ready to run on the simulator like `Compiled.run`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips.binary import BinaryError, read_binary
from nmc.errors import InputRejected, NmcError
from nmc.runtime.engines import engine_of_image, simulate


@dataclass
class Loaded:
    """A chip binary loaded for the simulator. `.run(x)` returns what `Compiled.run` returns (decoded
    outputs, batch first); `.simulate(x)` the whole `SimRun` (outputs, spikes, counters)."""

    path: Path
    image: Any  # the validated ChipImage

    def run(self, x: np.ndarray, *, device: str = "numpy") -> Any:
        """What the chip decides (as `Compiled.run`: the kind's decisions)."""

        _, engine = engine_of_image(self.image)
        return engine.decisions(self.simulate(x, device=device))

    def simulate(self, x: np.ndarray, **options: Any) -> Any:
        """The whole run of the kind's simulator (outputs, spikes, counters; TNN: winners, spike times)."""

        try:
            return simulate(self.image, x, **options)
        except BinaryError as e:
            raise NmcError(f"{self.path}: {e}") from None


def load(path: str | Path) -> Loaded:
    """A chip binary (a .nmc file, or the folder `Compiled.save`/nmc-compile wrote), ready to `.run(x)`."""

    path = binary_in(Path(path))
    if not path.exists():
        raise InputRejected(f"{path}: no such file")
    try:
        return Loaded(path, read_binary(path))
    except BinaryError as e:
        raise NmcError(f"{path}: {e}") from None


def binary_in(path: Path) -> Path:
    """`path`, the one chip binary (.nmc) in the folder `path` (the folder nmc-compile wrote), or the image a board
    manifest (`<model>.board.json`, docs/boards.md) names."""
    if path.name.endswith(".board.json") and path.is_file():
        try:
            return path.parent / json.loads(path.read_text())["image"]
        except (ValueError, KeyError, TypeError):
            raise InputRejected(f"{path}: not a board manifest (no 'image' naming the board's binary)") from None
    if not path.is_dir():
        return path
    found = sorted(path.glob("*.nmc"))
    if len(found) != 1:
        raise InputRejected(f"{path}: a folder holding {len(found)} chip binaries (.nmc); give the file")
    return found[0]
