"""The model zoo (tests/model_zoo.py): float accuracy vs the compiled network on the chip simulator.

Every zoo model is trained on sklearn digits (seeded), saved the way its users save it,
compiled by `nmc.compile` for the default chip with 300 calibration images and run on the
chip simulator over the 540 test images, at 32 and 64 ticks. Writes the "zoo" section of
docs/benchmarks.md.

    python benchmarks/zoo.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from tests import model_zoo as zoo

TICKS = (32, 64)


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, entry in zoo.COMPILES.items():
            model = zoo.trained(entry)
            xtr, xte, _, yte = zoo.data(entry.view)
            with torch.no_grad():
                ann = float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
            source = zoo.write(model, Path(tmp) / name, entry.save, entry.view)
            cells = []
            for ticks in TICKS:
                start = time.perf_counter()
                compiled = nmc.compile(source, calibration=xtr[:300], timesteps=ticks)
                seconds = time.perf_counter() - start
                chip = float((compiled.run(xte).argmax(1) == yte).mean())
                cells.append(f"{100 * chip:.2f} ({100 * (chip - ann):+.2f})")
            snn = compiled.report["snn"]
            rows.append(
                f"| {name} | {snn['populations']} | {snn['neurons']} | {100 * ann:.2f} | {' | '.join(cells)} | {seconds:.1f} |"
            )
            print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## Model zoo: ordinary PyTorch models, float vs chip (`benchmarks/zoo.py`)",
            "",
            "The models of tests/model_zoo.py (LeNet with MaxPool2d as .pt and .pt2, ReLU6 and Hardtanh(0, 1) nets, "
            "an AdaptiveAvgPool2d(1) head, a 3x3/2 max-pool stem with padding, a residual block, functional clamp/relu6/mean, "
            "Conv1d with MaxPool1d/AvgPool1d/AdaptiveAvgPool1d, Unflatten), trained on sklearn digits, compiled by "
            "`nmc.compile` for tianjic256 (int8) with 300 calibration images, run on the chip simulator over the 540 test "
            "images. Accuracy in % (difference to float in points); populations and neurons of the snn level (a max pool "
            f"adds its ReLU tree); seconds = one compile at 64 ticks. Machine: {machine()}.",
            "",
            "| model | populations | neurons | float | chip, 32 ticks | chip, 64 ticks | compile s |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    write_section("zoo", body)


if __name__ == "__main__":
    main()
