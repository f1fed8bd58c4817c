"""`nmc-run FILE --input X.npy [-o Y.npy]`: run a compiled network on a batch of inputs.

FILE is a chip binary (.nmc), run by the clock-driven chip simulator, which reads only the
binary; or IR text (.mlir) at the snn or core level, run by that level's reference interpreter. The input is the
array the source model takes (batch first); the output holds the decoded values
(batch first). With several network outputs, `-o` gets an .npz archive.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from nmc.tools._cli import OneLineParser

    p = OneLineParser(prog="nmc-run", description=__doc__.splitlines()[0])
    p.add_argument("file", help="chip binary (.nmc, run by the chip simulator) or IR text (.mlir, snn/core level)")
    p.add_argument(
        "--input",
        required=True,
        help="inputs [batch, *shape] (.npy); spike-train inputs (NIR graphs) [batch, ticks, *shape], and the run "
        "lasts as many ticks as they have",
    )
    p.add_argument("-o", "--output", help="where to write the decoded outputs (.npy)")
    p.add_argument("--labels", help="integer labels [batch] (.npy): print the argmax accuracy")
    p.add_argument(
        "--record",
        choices=("counts", "spikes"),
        default="counts",
        help="what -o holds: the decoded outputs (default: spike counts, or membranes for current outputs), or the "
        "output spike trains [samples, ticks, *output_shape] (chip binaries and snn IR)",
    )
    p.add_argument("--float64", action="store_true", help="interpret in double precision")
    p.add_argument(
        "--learn",
        action="store_true",
        help="TNN binaries: learn on the chip (STDP after every sample, in input order) while running",
    )
    p.add_argument(
        "--device",
        default="numpy",
        choices=("numpy", "cpu", "cuda"),
        help="chip simulator backend: numpy (default), or torch on cpu / cuda (identical results)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-run"):  # Ctrl-C during start-up too
        args = build_parser().parse_args(argv)
        run_cli(args)


def _missing(path: Path):
    from nmc.errors import NmcError

    raise NmcError(f"{path}: no such file")


def _read_binary(path: Path):
    from nmc.chips.binary import BinaryError, read_binary
    from nmc.errors import NmcError

    try:
        return read_binary(path)
    except BinaryError as e:
        raise NmcError(f"{path}: {e}") from None


def _run_binary(path: Path, image, x, device: str, record: bool = False):
    from nmc.chips.binary import BinaryError
    from nmc.errors import NmcError
    from nmc.runtime.engines import simulate

    try:
        return simulate(image, x, device=device, record=record), [spec["kind"] for spec in image.meta["outputs"]]
    except BinaryError as e:
        raise NmcError(f"{path}: {e}") from None


def _decoder_kinds(module) -> list[str]:
    from nmc.dialects import core, snn

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


def read_module(path: Path):
    from xdsl.context import Context
    from xdsl.dialects.builtin import Builtin
    from xdsl.parser import Parser

    from nmc.chips.errors import read_text_file
    from nmc.dialects import get_all_dialects
    from nmc.limits import DEFAULT_MAX_MODEL_BYTES, bounded_memory, check_declared_tensors

    ctx = Context()
    ctx.load_dialect(Builtin)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    text = read_text_file(path, "IR file")
    check_declared_tensors(text, str(path), DEFAULT_MAX_MODEL_BYTES)
    with bounded_memory(str(path), DEFAULT_MAX_MODEL_BYTES):
        module = Parser(ctx, text, str(path)).parse_module()
    module.verify()
    return module


def _check_inputs(x, name: str) -> None:
    """Inputs the simulator can take: a non-empty real array [batch, *shape] with finite values."""
    import numpy as np

    from nmc.errors import NmcError

    if x.dtype.kind not in "biuf":
        raise NmcError(f"{name}: inputs must be real numbers, got dtype {x.dtype}")
    if x.ndim < 2:
        raise NmcError(f"{name}: expected an array [batch, *input_shape], got shape {list(x.shape)}")
    if x.shape[0] == 0:
        raise NmcError(f"{name}: the batch is empty (0 samples)")
    bad = np.nonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0]
    if bad.size:
        raise NmcError(f"{name}: sample {int(bad[0])} holds NaN or infinite values ({bad.size} such samples)")


def run_cli(args: argparse.Namespace) -> None:
    import numpy as np

    from nmc.chips.binary import MAGIC
    from nmc.dialects import core
    from nmc.driver import load_npy, write_atomically
    from nmc.errors import NmcError
    from nmc.runtime.core_interp import run_core
    from nmc.runtime.snn_interp import run_snn

    path = Path(args.file)
    if args.output and Path(args.output).is_dir():
        raise NmcError(f"-o {args.output}: is a folder; give a file name such as {Path(args.output) / 'y.npy'}")
    x = load_npy(args.input, "inputs")
    _check_inputs(x, args.input)
    with open(path, "rb") if path.exists() else _missing(path) as f:
        head = f.read(len(MAGIC))
    spikes = args.record == "spikes"
    is_binary = head == MAGIC or path.suffix == ".nmc"
    loaded = _read_binary(path) if is_binary else read_module(path)  # read once, whichever kind of network it holds
    if _run_tnn(path, loaded, x, args):
        return
    if args.learn:
        raise NmcError(f"{path}: --learn runs STDP on TNN networks; this is not one")
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
        from nmc.driver import load_npy

        labels = load_npy(args.labels, "labels")
        if labels.shape != (len(x),) or labels.dtype.kind not in "iu":
            got = f"{labels.dtype} {list(labels.shape)}"
            raise NmcError(f"{args.labels}: expected {len(x)} integer labels (one per input sample), got {got}")
        acc = float((run.outputs[0].reshape(len(x), -1).argmax(1) == labels).mean())
        print(f"accuracy {acc:.4f} on {len(labels)} samples")


def _run_tnn(path: Path, loaded, x, args: argparse.Namespace) -> bool:
    """Run a TNN binary image or tnn IR module: -o gets the winning line per sample (or the output spike times);
    False if `loaded` is not a TNN."""
    import numpy as np

    from nmc.chips.binary import ChipImage
    from nmc.chips.kinds import kind_named
    from nmc.driver import load_npy, write_atomically
    from nmc.errors import NmcError
    from nmc.runtime import engines

    kind, _ = engines.engine_of_image(loaded) if isinstance(loaded, ChipImage) else engines.engine_of_module(loaded)
    if kind is not kind_named("tnn_column"):
        return False
    if isinstance(loaded, ChipImage):
        run = engines.simulate(loaded, x, device=args.device, learn=args.learn)
        where = "chip simulator"
    else:
        run = engines.interpret(loaded, x, learn=args.learn)
        where = "IR interpreter"
    result = run.outputs if args.record == "spikes" else run.winners
    if args.output:
        out = Path(args.output)
        write_atomically(out, lambda f: np.save(f, result), mode="wb")
        print(
            f"wrote {out} ({'output spike times' if args.record == 'spikes' else 'winning line per sample'} {list(result.shape)})"
        )
    counts = np.bincount(run.winners + 1, minlength=2)
    print(f"{len(x)} samples on the {where}{' with STDP' if args.learn else ''}: "
          f"{counts[0]} without an output spike; per line {counts[1:].tolist()}")  # fmt: skip
    if args.labels:
        from nmc.driver import load_npy
        from nmc.tnn import rand_index

        labels = load_npy(args.labels, "labels")
        if labels.shape != (len(x),):
            raise NmcError(f"{args.labels}: expected {len(x)} labels (one per sample), got shape {list(labels.shape)}")
        print(f"Rand index {rand_index(labels, run.winners):.4f} on {len(x)} samples")
    return True


if __name__ == "__main__":
    sys.exit(main())
