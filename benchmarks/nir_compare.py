"""NIR: snnTorch-trained networks (tests/nir_models.py) compiled from NIR files, against snnTorch running the file.

For the LIF MLP (snnTorch's own exporter) and the conv SNN (snnTorch's conventions), over the 540
spike-coded digits test samples: are the snn-level and float core-level spike counts identical to
snnTorch's; how often the int8 chip (tianjic256, simulator) decides like snnTorch; accuracies.
Writes the "nir" section of docs/benchmarks.md.

    python benchmarks/nir_compare.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.runtime.core_interp import run_core
from nmc.runtime.snn_interp import run_snn
from tests import nir_models as models


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, build in (("LIF MLP 64-64-10 (snnTorch exporter)", models.mlp_nir), ("conv SNN c8-pool-fc", models.conv_nir)):
            flat = build is models.mlp_nir
            path = build(Path(tmp) / "model.nir")
            x, y = models.spike_digits(1, test=True, flat=flat)
            reference = models.snntorch_counts(path, x, per_sample=not flat)
            snn_module = nmc.compile(path, target="mlir", level="snn").module
            core_module = snn_module.clone()
            SnnToCorePass().apply(None, core_module)
            same_snn = np.array_equal(run_snn(snn_module, x).outputs[0], reference)
            same_core = np.array_equal(run_core(core_module, x).outputs[0], reference)
            calib = models.spike_digits(0, test=False, flat=flat)[0][:200]
            chip = nmc.compile(path, calibration=calib).run(x)
            top = (reference[np.arange(len(x)), chip.argmax(1)] == reference.max(1)).mean()
            strict = (chip.argmax(1) == reference.argmax(1)).mean()
            acc_ref, acc_chip = (reference.argmax(1) == y).mean(), (chip.argmax(1) == y).mean()
            rows.append(
                f"| {name} | {'yes' if same_snn else 'NO'} | {'yes' if same_core else 'NO'} | {100 * top:.2f} | "
                f"{100 * strict:.2f} | {100 * acc_ref:.2f} | {100 * acc_chip:.2f} |"
            )
            print(rows[-1], flush=True)
    body = "\n".join(
        [
            "## NIR: snnTorch-trained networks, nmc vs snnTorch running the same file (`benchmarks/nir_compare.py`)",
            "",
            f"540 spike-coded digits test samples, {models.TICKS} ticks, beta {models.BETA}. 'identical' = every output "
            "spike count equal to snnTorch's (float32). Chip = int8 tianjic256 on the simulator. 'top class' = the "
            "chip's class is one of snnTorch's highest counts (counts tie often); 'argmax' = first-index argmax on both. "
            f"Machine: {machine()}.",
            "",
            "| network | snn level identical | float core identical | chip decides like snnTorch: top class % | "
            "argmax % | snnTorch accuracy % | chip accuracy % |",
            "|---|---|---|---:|---:|---:|---:|",
            *rows,
        ]
    )
    write_section("nir", body)


if __name__ == "__main__":
    main()
