"""`nmc-compile` for temporal neural networks: tnn IR -> TNN columns on cores -> chip binary.

Called by `nmc.compile` when the model is an `nmc.tnn.TNN` (a `torch.save` of one). The chain:
import (snn-level tnn.network), snn-to-core (one tnn.column per TNN core, checked against the
chip's tnn_column), partition-cores, place-cores, route, the binary; with --calibration the
binary runs on the simulator and must give the torch model's spike times on every sample.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nmc.errors import ModelRejected, NmcError

TNN_DEFAULT_CHIP = "tnn16"


def is_tnn_file(path: str | Path) -> bool:
    """A torch pickle whose globals name nmc.tnn.TNN (read without unpickling)."""
    from nmc.frontends.torch_load import pickle_globals

    p = Path(path)
    if p.suffix in (".pt2", ".nir") or not p.is_file():
        return False
    try:
        return "nmc.tnn.TNN" in pickle_globals(p)  # as pickle_globals names them: module.Name
    except Exception:
        return False


def compile_tnn(model: Any, o: Any, stem: str, progress: Callable[[str], None] | None = None) -> Any:
    from nmc.chips import Chip, load_chip
    from nmc.chips.binary import encode
    from nmc.compiled import Compiled, StepClock
    from nmc.driver import print_ir
    from nmc.frontends.tnn_import import import_tnn
    from nmc.passes.partition_cores import PartitionCoresPass
    from nmc.passes.place_cores import PlaceCoresPass
    from nmc.passes.route import RoutePass
    from nmc.passes.snn_to_core import SnnToCorePass
    from nmc.passes.tnn_columns import tnn_networks
    from nmc.pipeline import run_passes
    from nmc.targets.tnn_binary import build_tnn_image
    from nmc.tnn import TNN

    clock = StepClock(progress)
    say = clock.say
    if o.target not in ("chip", "mlir", "verilog"):
        raise NmcError(f"--target {o.target}: a TNN compiles to --target chip, mlir or verilog")
    x = o.calibration  # read before the long steps, so a bad file fails first
    if isinstance(x, str | Path):
        from nmc.driver import load_npy

        x = load_npy(x, "calibration series")
    elif x is not None:
        x = np.asarray(x)
    if isinstance(model, str | Path):
        from nmc.frontends.torch_import import load_model

        model = load_model(model)
    if not isinstance(model, TNN):
        raise ModelRejected(f"{stem}: not an nmc.tnn.TNN")
    notes = []
    if o.chip is None:
        notes.append(f"a TNN runs on TNN column cores: chip '{TNN_DEFAULT_CHIP}' (give --chip for another)")
    chip = o.chip if isinstance(o.chip, Chip) else load_chip(o.chip or TNN_DEFAULT_CHIP)
    say("import")
    module = import_tnn(model, stem)
    module.verify()
    levels = {"snn": print_ir(module)}
    say("snn-to-core")
    try:
        if isinstance(o.chip, Chip):  # a chip built in memory rides in the module, as nmc.compile does for crossbars
            from nmc.dialects.core import ChipAttr
            from nmc.passes.snn_to_core import CHIP_ATTRIBUTE

            module.attributes[CHIP_ATTRIBUTE] = ChipAttr(chip)
        run_passes(module, [SnnToCorePass(chip=None if isinstance(o.chip, Chip) else (o.chip or TNN_DEFAULT_CHIP))])
    except NmcError as e:
        raise ModelRejected(f"{stem}: {e}") from None
    levels["core"] = print_ir(module)
    say("mapping")
    run_passes(module, [PartitionCoresPass(), PlaceCoresPass(), RoutePass()])
    levels["map"] = print_ir(module)
    image = build_tnn_image(module)
    binary = encode(image)
    (net,) = tnn_networks(module)
    cols = image.arrays["COL "]
    report: dict[str, Any] = {
        "model": stem,
        "kind": "tnn",
        "chip": chip.to_json(),
        "tnn": {
            "time_bits": model.time_bits,
            "weight_bits": model.weight_bits,
            "encoder": image.meta["encoder"],
            "layers": [
                {"columns": m.columns, "synapses": m.synapses, "neurons": m.neurons, "k": m.k, "response": m.response}
                for m in model.layers
            ],
            "columns": int(image.meta["columns"]),
            "cores_used": int(image.meta["columns"]),
            "synapses": int(cols["weight"].size),
            "neurons": int(cols["q"].sum()),
            "traffic_lines_per_sample": float(net.attributes["traffic"].value.data),
            "average_hops": float(net.attributes["hops"].value.data),
            "gamma_cycle_ticks": 1 << model.time_bits,
        },
    }
    files: dict[str, str | bytes] = {}
    if o.target == "chip":
        files[f"{stem}.nmc"] = binary
        report["binary"] = {"bytes": len(binary)}
    elif o.target == "mlir":
        level = o.level if o.level in levels else "map"
        files[f"{stem}.{level}.mlir"] = levels[level]
    if x is not None:
        say("check")
        report["check"] = _check(model, binary, x)
    if o.forecast:
        from nmc.tnn_hardware import forecast

        say("forecast")
        report["forecast"] = forecast(cols, chip, o.clock_mhz, model.time_bits, model.weight_bits)
    if o.target == "verilog":
        from nmc.tnn_hardware import verilog_outputs

        files.update(verilog_outputs(binary, chip, stem, x, o, report, say))
    report["files"] = sorted([*files, "report.json"])
    return Compiled(stem, files, report, module, notes, clock.finish())


def _check(model: Any, binary: bytes, x: np.ndarray) -> dict[str, Any]:
    """Spike times of the torch model and of the binary on the simulator, sample by sample: they must be equal."""
    import torch

    from nmc.chips.binary import decode
    from nmc.runtime.tnn_sim import TnnChip

    with torch.no_grad():
        expected = model(model.encode(x)).cpu().numpy()
    got = TnnChip(decode(binary)).run(x).outputs
    bad = np.nonzero((expected != got).any(axis=1))[0]
    if bad.size:
        n = int(bad[0])
        j = int(np.nonzero(expected[n] != got[n])[0][0])
        raise NmcError(f"the chip simulator differs from the torch TNN on calibration sample {n}, output line {j}: "
                       f"spike time {got[n, j]} vs {expected[n, j]}")  # fmt: skip
    return {"samples": len(x), "identical_spike_times": True}
