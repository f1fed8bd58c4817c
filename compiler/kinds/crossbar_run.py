"""`nmc-run` for the crossbar kind: what it runs (the chip simulator, or the snn/core interpreter) and what
it prints and writes (decoded outputs or spike trains, a summary, the accuracy against labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nmc.chips.binary import BinaryError, ChipImage
from nmc.dialects import core, snn
from nmc.driver import load_labels, write_atomically
from nmc.errors import NmcError
from nmc.runtime.core_interp import run_core
from nmc.runtime.engines import simulate
from nmc.runtime.snn_interp import run_snn


def _run_binary(path: Path, image, x, device: str, record: bool = False):

    try:
        return simulate(image, x, device=device, record=record), [spec["kind"] for spec in image.meta["outputs"]]
    except BinaryError as e:
        raise NmcError(f"{path}: {e}") from None


def _decoder_kinds(module) -> list[str]:

    kinds = {snn.DecodeCountOp: "count", snn.DecodeFirstSpikeOp: "first_spike", snn.DecodeMembraneOp: "membrane"}
    out = []
    for op in module.walk():
        if isinstance(op, snn.OutputOp | core.OutputOp):
            for v in op.operands:
                owner = v.owner
                out.append(owner.kind.data.value if isinstance(owner, core.DecodeOp) else kinds.get(type(owner), "value"))
    return out


MEANING = {
    "count": "spike counts over the run",
    "first_spike": "tick of the first spike (the run's length if none)",
    "membrane": "final membrane potentials (for a converted ANN: about ticks x logits)",
}


def _summary(x, results: list, kinds: list[str], ticks: int, spikes: bool) -> str:
    """What ran and what came out, when the outputs are not written anywhere."""
    import numpy as np

    lines = [f"ran {len(x)} samples ({ticks})"]
    for i, (r, kind) in enumerate(zip(results, kinds, strict=False)):
        what = "output spike trains [samples, ticks, ...]" if spikes else MEANING.get(kind, kind)
        lines.append(f"  output {i}: {list(r.shape)}, {what}")
    first = results[0].reshape(len(x), -1) if not spikes else results[0].reshape(len(x), results[0].shape[1], -1).sum(1)
    classes = np.bincount(first.argmax(1), minlength=first.shape[1])
    lines.append("  predicted classes (argmax of output 0): " + " ".join(f"{c}:{n}" for c, n in enumerate(classes)))
    lines.append("  (-o FILE saves the outputs, --labels y.npy prints the accuracy)")
    return "\n".join(lines)


def run_command(path: Path, loaded: Any, x: np.ndarray, args: Any) -> None:
    """`nmc-run` on a crossbar binary (the chip simulator) or snn/core IR (the reference interpreters)."""

    spikes = args.record == "spikes"
    is_binary = isinstance(loaded, ChipImage)
    if is_binary:
        run, kinds = _run_binary(path, loaded, x, args.device, record=spikes)
        results = run.output_spikes if spikes else run.outputs
    else:
        module = loaded
        dtype = np.float64 if args.float64 else np.float32
        is_core = any(isinstance(op, core.NetworkOp) for op in module.walk())
        if is_core and spikes:
            raise NmcError(f"{path}: --record spikes reads chip binaries and snn IR; run the .nmc of this network")
        run = run_core(module, x, dtype=dtype) if is_core else run_snn(module, x, dtype=dtype, record=spikes)
        results = run.output_spikes(module) if spikes else run.outputs
        kinds = _decoder_kinds(module)
    if spikes and any(r is None for r in results):
        raise NmcError(f"{path}: --record spikes: an output is decoded from a membrane, not spikes; use --record counts")
    if args.output:
        out = Path(args.output)
        if len(results) == 1:
            write_atomically(out, lambda f: np.save(f, results[0]), mode="wb")
        else:
            write_atomically(out, lambda f: np.savez(f, *results), mode="wb")
        print(f"wrote {out} ({', '.join(str(list(o.shape)) for o in results)})")
    if not args.output and not args.labels:
        chip_ticks = getattr(run, "ticks", 0)
        ticks = (
            f"{chip_ticks} chip ticks, pipeline latency included"
            if isinstance(chip_ticks, int) and chip_ticks
            else "IR interpreter"
        )
        print(_summary(x, results, kinds, ticks, spikes))
    if args.labels:
        labels = load_labels(args.labels, len(x))
        acc = float((run.outputs[0].reshape(len(x), -1).argmax(1) == labels).mean())
        print(f"accuracy {acc:.4f} on {len(labels)} samples")
