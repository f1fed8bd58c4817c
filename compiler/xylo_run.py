"""nmc-run on a Xylo configuration (`--target xylo`, docs/xylo.md): not a chip binary of any core kind, so the
tool hands it here by its content."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips.errors import read_text_file
from nmc.chips.xylo_format import read_config
from nmc.driver import load_labels, write_atomically
from nmc.errors import NmcError
from nmc.runtime.xylo_sim import run_config


def run_xylo_command(path: Path, x: np.ndarray, args: Any) -> None:
    """nmc-run on a Xylo configuration (--target xylo): spike trains [samples, ticks, inputs] on nmc's simulator of
    the device or on xylosim (--engine); prints the spike totals and the accuracy, -o writes counts or spike trains."""
    cfg = read_config(read_text_file(path, "Xylo configuration"), str(path))
    if x.ndim != 3 or x.shape[2] != cfg.shape[0]:
        raise NmcError(f"{args.input}: a Xylo configuration takes spike trains [samples, ticks, {cfg.shape[0]}], got "
                       f"shape {list(x.shape)}")  # fmt: skip
    run = run_config(cfg, x, args.engine)
    engine = "xylosim" if args.engine == "xylosim" else "nmc's Xylo simulator"
    print(f"{path.name}: {len(x)} samples x {x.shape[1]} ticks on {engine}; {int(run.readout.sum())} readout spikes, "
          f"{int(run.hidden.sum())} hidden spikes")  # fmt: skip
    if args.labels:
        labels = load_labels(args.labels, len(x))
        print(f"accuracy {float((run.counts.argmax(1) == labels).mean()):.4f} on {len(labels)} samples")
    if args.output:
        out = run.readout[:, cfg.latency :] if args.record == "spikes" else run.counts
        write_atomically(Path(args.output), lambda f: np.save(f, out), mode="wb")
        print(f"wrote {args.output} {list(out.shape)}")
