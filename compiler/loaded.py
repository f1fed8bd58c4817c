"""`nmc.load(path)`: a compiled chip binary, ready to run on the simulator like `Compiled.run`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class Loaded:
    """A chip binary loaded for the simulator. `.run(x)` returns what `Compiled.run` returns (decoded
    outputs, batch first); `.simulate(x)` the whole `SimRun` (outputs, spikes, counters)."""

    path: Path
    chip: Any

    def run(self, x: np.ndarray, *, device: str = "numpy") -> np.ndarray | list[np.ndarray]:
        if type(self.chip).__name__ == "TnnChip":  # a TNN binary: the winning line per sample
            return self.simulate(x).winners
        outs = self.simulate(x, device=device).outputs
        return outs[0] if len(outs) == 1 else outs

    def simulate(self, x: np.ndarray, **options: Any) -> Any:
        from nmc.chips.binary import BinaryError
        from nmc.errors import NmcError

        try:
            return self.chip.run(x, **options)
        except BinaryError as e:
            raise NmcError(f"{self.path}: {e}") from None


def load(path: str | Path) -> Loaded:
    """A chip binary (a .nmc file, or the folder `Compiled.save`/nmc-compile wrote), ready to `.run(x)`."""
    from nmc.chips.binary import BinaryError
    from nmc.errors import NmcError
    from nmc.runtime.simulator import Chip

    path = Path(path)
    if path.is_dir():
        found = sorted(path.glob("*.nmc"))
        if len(found) != 1:
            raise NmcError(f"{path}: holds {len(found)} chip binaries (.nmc); give the file")
        path = found[0]
    elif not path.exists():
        raise NmcError(f"{path}: no such file")
    try:
        from nmc.chips.binary import is_tnn, read_binary

        image = read_binary(path)
        if is_tnn(image):
            from nmc.runtime.tnn_sim import TnnChip

            return Loaded(path, TnnChip(image))
        return Loaded(path, Chip(image))
    except BinaryError as e:
        raise NmcError(f"{path}: {e}") from None
