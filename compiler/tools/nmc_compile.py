"""`nmc-compile MODEL`: import a trained torch model and lower it for a neuromorphic chip."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

TARGETS = ("chip", "mlir")
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
        help="chip: the configuration binary OUTDIR/<model>.nmc (default); mlir: IR of the lowest level",
    )
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
    level = "map" if args.target == "chip" else args.level
    progress = _progress()
    progress("import")
    module = import_model(model_path, opts)
    snn_module = module.clone()
    report: dict = {
        "model": stem,
        "chip": chip.to_json(),
        "ticks": opts.ticks,
        "encoding": opts.encoding,
        "snn": network_stats(module),
    }
    levels = {"snn": print_ir(module)}
    stimulus = calibration[:100] if calibration is not None else None
    if level in ("core", "map"):
        from nmc.pipeline import lower_to_core

        result = lower_to_core(
            module,
            chip,
            chip_ref,
            approximate_fan_in=args.approximate_fan_in,
            weight_bits=args.weight_bits,
            disable=tuple(args.disable),
            stimulus=stimulus,
            progress=progress,
        )
        levels = result.levels
        report.update(result.report)
    if level == "map":
        from nmc.pipeline import lower_to_map

        report["mapping"] = lower_to_map(
            module, chip, stimulus=stimulus, partition=args.partition, placement=args.placement, seed=args.seed, progress=progress
        )
        levels["map"] = print_ir(module)
    files: dict[str, str | bytes] = {}
    if args.target == "chip":
        files.update(_chip_outputs(module, snn_module, chip, report, stem, stimulus, args.plot, outdir, progress))
    else:
        files[f"{stem}.{level}.mlir"] = levels[level]
    if args.dump_ir:
        files.update({f"{stem}.{name}.mlir": text for name, text in levels.items()})
    progress("writing")
    report["notes"] = opts.notes
    report["files"] = sorted([*files, "report.json"])
    for name, content in files.items():
        write_atomically(outdir / name, lambda f, c=content: f.write(c), mode="wb" if isinstance(content, bytes) else "w")
    write_atomically(outdir / "report.json", lambda f: json.dump(report, f, indent=2, sort_keys=True))
    progress("")
    for note in opts.notes:
        print(f"note: {note}", file=sys.stderr)
    main_file = f"{stem}.nmc" if args.target == "chip" else f"{stem}.{level}.mlir"
    print(_summary(report, outdir / main_file))


def _chip_outputs(module, snn_module, chip, report: dict, stem: str, stimulus, plot: bool, outdir: Path, progress) -> dict:
    """The binary, its measured costs (simulated on the calibration data), and plots."""
    import numpy as np

    from nmc.costs import dynamic_report, neurobench_static, spike_raster_and_heatmap
    from nmc.runtime.simulator import Chip as Simulator
    from nmc.targets.chip_binary import build_image, decode, encode

    progress("writing the chip binary")
    image = build_image(module)
    data = encode(image)
    report["binary"] = {"file": f"{stem}.nmc", "bytes": len(data)}
    report["neurobench"] = neurobench_static(snn_module, image, chip)
    files: dict = {f"{stem}.nmc": data}
    if stimulus is not None:
        progress("simulating the binary on calibration data")
        sim = Simulator(decode(data))
        run = sim.run(stimulus, record=True)
        dense = report["snn"]["synapses"] * report["ticks"]
        report["chip_run"] = dynamic_report(run, len(stimulus), image, chip, report["mapping"], dense)
        if plot:
            from nmc.mapping import assignment, net_view, traffic_pairs
            from nmc.passes.partition_cores import group_rates

            (net,) = [op for op in module.walk() if op.name == "core.network"]
            view = net_view(net)
            cores, _ = assignment(net, view)
            src, _, w = traffic_pairs(view, cores, group_rates(view))
            per_core = np.bincount(src, weights=w, minlength=int(cores.max()) + 1)
            import tempfile

            with tempfile.TemporaryDirectory() as tmp:
                for path in spike_raster_and_heatmap(run, image, per_core, str(Path(tmp) / stem)):
                    files[Path(path).name] = Path(path).read_bytes()
    elif plot:
        report["notes_plot"] = "--plot needs --calibration data to simulate"
    return files


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
