"""`nmc-compile MODEL`: import a trained torch model and lower it for a neuromorphic chip."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

TARGETS = ("chip", "mlir", "verilog")
LEVELS = ("snn", "core", "map")


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
    p.add_argument(
        "--target",
        choices=TARGETS,
        default="chip",
        help="chip: the configuration binary OUTDIR/<model>.nmc (default); mlir: IR of the lowest level; "
        "verilog: structural RTL with a testbench (docs/verilog.md)",
    )
    p.add_argument("--synth", action="store_true", help="with --target verilog: synthesize with yosys (OUTDIR/synth/)")
    p.add_argument(
        "--tb-samples", type=_positive_int, default=1, help="with --target verilog: calibration samples the testbench runs"
    )
    p.add_argument("--verilog-max-synapses", type=_positive_int, help="largest network --target verilog emits (synapses)")
    p.add_argument("--verilog-max-neurons", type=_positive_int, help="largest network --target verilog emits (neurons)")
    p.add_argument("--level", choices=LEVELS, default="map", help="lowest level to lower to for --target mlir (default: map)")
    p.add_argument("--partition", choices=("auto", "metis", "sequential"), default="auto", help="partition-cores strategy")
    p.add_argument("--placement", choices=("anneal", "sequential"), default="anneal", help="place-cores strategy")
    p.add_argument("--seed", type=int, default=0, help="seed of partitioning and placement (default 0)")
    p.add_argument("--plot", action="store_true", help="write a spike raster and a placement heat map (PNG)")
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
    from nmc.api import compile as compile_model

    model_path = Path(args.model)
    outdir = Path(args.outdir) if args.outdir else Path(f"{model_path.stem}_nmc")
    progress = _progress()
    compiled = compile_model(
        model_path,
        chip=args.chip,
        target=args.target,
        level=args.level,
        timesteps=args.timesteps,
        calibration=args.calibration,
        percentile=args.percentile,
        input_shape=args.input_shape,
        encoding=args.encoding,
        input_scale=args.input_scale,
        decoding=args.decoding,
        dt=args.dt,
        approximate_fan_in=args.approximate_fan_in,
        weight_bits=args.weight_bits,
        disable=tuple(args.disable),
        partition=args.partition,
        placement=args.placement,
        seed=args.seed,
        dump_ir=args.dump_ir,
        plot=args.plot,
        synth=args.synth,
        tb_samples=args.tb_samples,
        verilog_max_synapses=args.verilog_max_synapses,
        verilog_max_neurons=args.verilog_max_neurons,
        progress=progress,
    )
    progress("writing")
    compiled.save(outdir)
    progress("")
    for note in compiled.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.target == "chip":
        main_file = f"{compiled.name}.nmc"
    elif args.target == "verilog":
        main_file = f"{compiled.report['verilog']['top']}.v"
    else:
        main_file = f"{compiled.name}.{args.level}.mlir"
    print(_summary(compiled.report, outdir / main_file))


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
    mapping = report.get("mapping")
    if core:
        lines.append(
            f"  core: {len(core['groups'])} groups, {core['neurons']} neurons, {core['synapses']} synapses, "
            f"{core['partial_sum_groups']} partial-sum groups, {core['relay_groups']} relay groups, "
            f"latency {core['latency_ticks']} ticks on chip '{report['chip']['name']}'"
        )
        errs = [g["weight_error"] for g in core["groups"] if g["weight_error"] is not None]
        if errs:
            lines.append(f"  quantization: weight error {max(errs):.2%} (worst layer)")
    if mapping:
        u = mapping["utilisation"]
        lines.append(
            f"  map:  {mapping['cores_used']} cores of {mapping['mesh'][0]}x{mapping['mesh'][1]} "
            f"(utilisation: neurons {u['neurons']:.0%}, axons {u['axons']:.0%}, synapses {u['synapses']:.0%}), "
            f"traffic {mapping['traffic_per_tick']:g} {mapping['traffic_unit']}, {mapping['average_hops']:.2f} hops on "
            f"average, peak link {mapping['peak_link_load']:g}"
        )
    run = report.get("chip_run")
    if run:
        lines.append(
            f"  chip: {run['inference_ticks']} ticks = {run['inference_seconds'] * 1e3:.3f} ms per inference, "
            f"{run['energy_per_inference_uj']:.3f} uJ, {run['area_mm2']} mm2, activation sparsity "
            f"{run['activation_sparsity']:.2%}, {run['effective_synops_per_sample']:g} synaptic ops per sample"
        )
    v = report.get("verilog")
    if v:
        lines.append(
            f"  verilog: {v['rtl_lines']} lines, {v['neuron_instances']} neuron instances, {v['synapse_memory_words']} "
            f"synapse words in {v['cores']} cores, {v['clock_cycles_per_tick']} clock cycles per tick; "
            f"testbench: {v['run']}"
        )
    syn = report.get("synthesis")
    if syn:
        area = (
            f", OSU 0.18 um: {syn['osu018_cells']} cells, {syn['osu018_area_um2'] / 1e6:.3f} mm2" if "osu018_cells" in syn else ""
        )
        lines.append(
            f"  synthesis (yosys, {syn['seconds']:.0f} s): {syn['generic_cells']} generic cells, "
            f"{syn['transistors']} transistors (stat -tech cmos){area}"
        )
    if "binary" in report:
        lines.append(f"  binary: {report['binary']['bytes']} bytes")
    q = report.get("quantization")
    if q:
        lines.append(
            f"  agreement with the unquantized network on {q['samples']} calibration samples: "
            f"spikes {q['spike_agreement']:.2%}, decisions {q['decision_agreement']:.2%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
