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
    p.add_argument("--chip", default=None, help="chip preset name or .chip file (default: tianjic256)")
    p.add_argument("--target", choices=TARGETS, default="mlir", help="what to write (default: mlir, IR of the lowest level)")
    p.add_argument("--level", choices=("snn", "core"), default="core", help="lowest level to lower to (default: core)")
    p.add_argument("--dump-ir", action="store_true", help="also write every level's IR as <model>.<level>.mlir")
    p.add_argument("--approximate-fan-in", action="store_true", help="on chips without partial sums, allow relay neurons")
    p.add_argument("--weight-bits", type=_positive_int, help="override the chip's weight width")
    p.add_argument(
        "--disable",
        action="append",
        default=[],
        metavar="PASS",
        help="skip an optional pass (decompose-fan-in, decompose-fan-out, reduce-precision); the violations are listed",
    )
    p.add_argument(
        "--timesteps", type=_positive_int, default=DEFAULT_TICKS, help=f"ticks per inference (default {DEFAULT_TICKS})"
    )
    p.add_argument("--calibration", help="calibration inputs [N, *input_shape] (.npy) for ANN threshold balancing")
    p.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE, help="activation percentile for thresholds")
    p.add_argument("--input-shape", type=_shape, help="shape of one input sample, e.g. 1,8,8")
    p.add_argument("--encoding", choices=ENCODINGS, default="direct", help="input encoder (default: direct current)")
    p.add_argument("--input-scale", type=float, help="encoder gain (default 1, or 1/max(calibration) for spike codes)")
    p.add_argument("--decoding", choices=DECODINGS, help="output decoder (default: count for spikes, membrane for currents)")
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
    from nmc.chip import DEFAULT_CHIP, load_chip
    from nmc.stats import network_stats

    chip_ref = args.chip or DEFAULT_CHIP
    chip = load_chip(chip_ref)
    progress = _progress()
    progress("import")
    module = import_model(model_path, opts)
    report: dict = {
        "model": stem,
        "chip": chip.to_json(),
        "ticks": opts.ticks,
        "encoding": opts.encoding,
        "snn": network_stats(module),
    }
    levels = {"snn": print_ir(module)}
    if args.level == "core":
        from nmc.pipeline import lower_to_core

        result = lower_to_core(
            module,
            chip,
            chip_ref,
            approximate_fan_in=args.approximate_fan_in,
            weight_bits=args.weight_bits,
            disable=tuple(args.disable),
            stimulus=calibration[:100] if calibration is not None else None,
            progress=progress,
        )
        levels = result.levels
        report.update(result.report)
    progress("")
    report["notes"] = opts.notes
    lowest = list(levels)[-1]
    written = {f"{stem}.{lowest}.mlir": levels[lowest]}
    if args.dump_ir:
        written.update({f"{stem}.{level}.mlir": text for level, text in levels.items()})
    for name, text in written.items():
        write_atomically(outdir / name, lambda f, t=text: f.write(t))
    report["ir"] = sorted(written)
    write_atomically(outdir / "report.json", lambda f: json.dump(report, f, indent=2, sort_keys=True))
    for note in opts.notes:
        print(f"note: {note}", file=sys.stderr)
    print(_summary(report, outdir / f"{stem}.{lowest}.mlir"))


def _progress():
    """A one-line progress display on a terminal; silent otherwise."""
    if not sys.stderr.isatty():
        return lambda _step: None

    def show(step: str) -> None:
        sys.stderr.write("\r\033[K" + (f"nmc-compile: {step}..." if step else ""))
        sys.stderr.flush()

    return show


def _summary(report: dict, path: Path) -> str:
    snn = report["snn"]
    lines = [
        f"wrote {path}",
        f"  snn:  {snn['populations']} populations, {snn['neurons']} neurons, {snn['synapses']} synapses, "
        f"{report['ticks']} ticks ({report['encoding']} input)",
    ]
    core = report.get("core")
    if core:
        lines.append(
            f"  core: {len(core['groups'])} groups, {core['neurons']} neurons, {core['synapses']} synapses, "
            f"{core['partial_sum_groups']} partial-sum groups, {core['relay_groups']} relay groups, "
            f"latency {core['latency_ticks']} ticks on chip '{report['chip']['name']}'"
        )
        errs = [g["weight_error"] for g in core["groups"] if g["weight_error"] is not None]
        if errs:
            lines.append(f"  quantization: weight error {max(errs):.2%} (worst layer)")
    q = report.get("quantization")
    if q:
        lines.append(
            f"  agreement with the unquantized network on {q['samples']} calibration samples: "
            f"spikes {q['spike_agreement']:.2%}, decisions {q['decision_agreement']:.2%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
