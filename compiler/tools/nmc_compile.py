"""`nmc-compile MODEL`: import a trained torch model and lower it for a neuromorphic chip."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

TARGETS = ("mlir",)


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 1,28,28, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive dimensions, got {text!r}")
    return dims


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line in one line (no usage dump)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from nmc.builder import DECODINGS, ENCODINGS
    from nmc.driver import DEFAULT_PERCENTILE, DEFAULT_TICKS

    p = OneLineParser(
        prog="nmc-compile",
        description="Compile a trained PyTorch model (an ANN to convert, or an SNN of nmc.nn neurons).",
    )
    p.add_argument("model", help="torch.save(model) pickle (.pt) or torch.export archive (.pt2)")
    p.add_argument("--target", choices=TARGETS, default="mlir", help="what to write (default: mlir, the snn IR)")
    p.add_argument(
        "--timesteps", type=_positive_int, default=DEFAULT_TICKS, help=f"ticks per inference (default {DEFAULT_TICKS})"
    )
    p.add_argument("--calibration", help="calibration inputs [N, *input_shape] (.npy) for ANN threshold balancing")
    p.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE, help="activation percentile for thresholds")
    p.add_argument("--input-shape", type=_shape, help="shape of one input sample, e.g. 1,8,8")
    p.add_argument("--encoding", choices=ENCODINGS, default="direct", help="input encoder (default: direct current)")
    p.add_argument("--input-scale", type=float, help="encoder gain (default 1, or 1/max(calibration) for spike codes)")
    p.add_argument(
        "--decoding", choices=DECODINGS, help="output decoder (default: count for spikes, membrane for currents)"
    )
    p.add_argument("--dt", type=float, default=1e-3, help="seconds per tick (default 1e-3)")
    p.add_argument("-o", "--outdir", help="output folder (default: <model>_nmc)")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    args = build_parser().parse_args(argv)
    with report_user_errors("nmc-compile"):
        compile_cli(args)


def compile_cli(args: argparse.Namespace) -> None:
    from nmc.driver import ImportOptions, import_model, load_calibration, print_ir, write_atomically

    model_path = Path(args.model)
    stem = model_path.stem
    outdir = Path(args.outdir) if args.outdir else Path(f"{stem}_nmc")
    calibration = load_calibration(args.calibration) if args.calibration else None
    opts = ImportOptions(
        ticks=args.timesteps,
        encoding=args.encoding,
        input_scale=args.input_scale,
        decoding=args.decoding,
        calibration=calibration,
        percentile=args.percentile,
        input_shape=args.input_shape,
        dt=args.dt,
        name=stem,
    )
    module = import_model(model_path, opts)
    text = print_ir(module)
    ir_path = outdir / f"{stem}.snn.mlir"
    write_atomically(ir_path, lambda f: f.write(text))
    report = _report(module, opts, ir_path)
    write_atomically(outdir / "report.json", lambda f: json.dump(report, f, indent=2, sort_keys=True))
    for note in opts.notes:
        print(f"note: {note}", file=sys.stderr)
    print(
        f"wrote {ir_path} ({report['populations']} populations, {report['neurons']} neurons, "
        f"{report['synapses']} synapses, {opts.ticks} ticks)"
    )


def _report(module, opts, ir_path: Path) -> dict:
    from nmc.stats import network_stats

    stats = network_stats(module)
    return {
        "model": opts.name,
        "level": "snn",
        "ir": ir_path.name,
        "ticks": opts.ticks,
        "encoding": opts.encoding,
        "notes": opts.notes,
        **stats,
    }


if __name__ == "__main__":
    main()
