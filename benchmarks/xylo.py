"""Xylo (docs/xylo.md): networks trained here, compiled with --target xylo, run by nmc's simulator of the device
and by SynSense's xylosim on every test sample: spikes compared on every neuron and tick, accuracy against the
float network, and the two simulators' run times side by side.

    python benchmarks/xylo.py      # about half a minute; writes the section `xylo` of docs/benchmarks.md
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from nmc.chips.xylo_format import read_config
from nmc.runtime.xylo_sim import run_config
from tests import xylo_models as xm


def main() -> None:
    torch.set_num_threads(1)
    xte, yte = xm.spike_digits16(1, test=True)
    calib = xm.spike_digits16(0, test=False)[0][:200]
    rows = []
    for kind in xm.FACTORIES:
        net = xm.train(kind)
        float_acc = float((xm.counts(net, xte).argmax(1) == yte).mean())
        compiled = nmc.compile(net, target="xylo", calibration=calib, input_shape=(16,), encoding="spikes")
        cfg = read_config(next(iter(compiled.files.values())))
        run_config(cfg, xte[:2])  # the compiled loop loaded (numba's cache) before timing
        t0 = time.perf_counter()
        ours = run_config(cfg, xte)
        t1 = time.perf_counter()
        theirs = run_config(cfg, xte, engine="xylosim")
        t2 = time.perf_counter()
        same = np.array_equal(ours.hidden, theirs.hidden) and np.array_equal(ours.readout, theirs.readout)
        chip_acc = float((ours.counts.argmax(1) == yte).mean())
        rows.append(f"| {kind} | {float_acc:.1%} | {chip_acc:.1%} ({(chip_acc - float_acc) * 100:+.1f} pt) | "
                    f"{int(ours.hidden.sum()):,} hidden, {int(ours.readout.sum()):,} readout | "
                    f"{'identical' if same else 'DIFFERENT'} | {t1 - t0:.3f} s | {t2 - t1:.3f} s |")  # fmt: skip
        print(rows[-1], flush=True)
    body = "\n".join([
        "## SynSense Xylo (`benchmarks/xylo.py`)", "",
        f"Networks trained by the script (tests/xylo_models.py: 16-channel spike-coded digits 0-7, 32 ticks, 64 hidden "
        f"current-based neurons firing up to 31 times a tick, 8 readouts), {len(xte)} test samples, compiled with "
        f"`--target xylo`; {machine()}. Spikes of every hidden and readout neuron on every tick, nmc's simulator "
        "against SynSense's xylosim 0.1.3, and the wall time of each on the whole test set:", "",
        "| network | float accuracy | on Xylo | spikes | nmc = xylosim | nmc's simulator | xylosim |",
        "|---|---|---|---|---|---|---|", *rows,
    ])  # fmt: skip
    write_section("xylo", body)


if __name__ == "__main__":
    main()
