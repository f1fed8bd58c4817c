"""`nmc-compile MODEL`: import a trained torch model and lower it for a neuromorphic chip."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from nmc.options import add_arguments
    from nmc.tools._cli import OneLineParser

    p = OneLineParser(
        prog="nmc-compile",
        description="Compile a trained PyTorch model (an ANN to convert, or an SNN of nmc.nn neurons).",
    )
    p.add_argument("model", help="torch.save(model) pickle (.pt), torch.export archive (.pt2) or NIR graph (.nir)")
    add_arguments(p)
    p.add_argument("-o", "--outdir", help="output folder (default: <model>_nmc)")
    loud = p.add_mutually_exclusive_group()
    loud.add_argument("-v", "--verbose", action="store_true", help="a timestamped line per step, also on a terminal")
    loud.add_argument("-q", "--quiet", action="store_true", help="no progress output, only the summary and errors")
    p.add_argument(
        "--explain",
        action="store_true",
        help="list each layer, what it becomes on the chip and every blocker, without compiling (exit 2 if blocked)",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-compile"):  # Ctrl-C during start-up too
        args = build_parser().parse_args(argv)
        if args.explain:
            explain_cli(args)
        else:
            compile_cli(args)


def explain_cli(args: argparse.Namespace) -> None:
    from nmc.driver import load_calibration
    from nmc.errors import ModelRejected, NmcError
    from nmc.explain import explain
    from nmc.options import from_args

    options = from_args(args)
    shape = options.input_shape
    if shape is None and options.calibration is not None:
        shape = tuple(load_calibration(options.calibration).shape[1:])
    try:
        text, blockers = explain(Path(args.model), shape)
    except NmcError as e:  # as nmc-compile rejects the model (exit status 2)
        raise ModelRejected(str(e)) from None
    print(text)
    if blockers:
        sys.exit(2)  # the model is rejected as it stands (as nmc-compile would reject it)


def compile_cli(args: argparse.Namespace) -> None:
    from nmc.api import compile as compile_model
    from nmc.options import from_args

    model_path = Path(args.model)
    from nmc.driver import check_output_dir

    outdir = check_output_dir(Path(args.outdir) if args.outdir else Path(f"{model_path.stem}_nmc"))
    progress = _progress("quiet" if args.quiet else "lines" if args.verbose else "auto")
    options = from_args(args)
    try:
        compiled = compile_model(model_path, options, progress=progress)
        progress("writing")
        compiled.save(outdir)
    except BaseException:
        getattr(progress, "stop", lambda: None)()  # the one-line error then stands alone (no spinner, no stray escape)
        raise
    progress("")
    for note in compiled.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.target == "chip":
        main_file = f"{compiled.name}.nmc"
    elif args.target == "verilog":
        main_file = f"{compiled.report['verilog']['top']}.v"
    elif args.target == "nir":
        main_file = f"{compiled.name}.nir"
    else:
        main_file = f"{compiled.name}.{args.level}.mlir"
    print(_summary(compiled.report, outdir / main_file))
    if args.quiet:  # (otherwise the progress lines on stderr gave each step's seconds already)
        print("  seconds: " + ", ".join(f"{step} {sec:.2f}" for step, sec in compiled.seconds.items()))


def _progress(mode: str = "auto"):
    """Progress of the steps, on stderr: a live line on a terminal; timestamped lines, one per finished step
    with its seconds, in logs and notebooks (or with -v); nothing with -q."""
    import time

    if mode == "quiet":
        return lambda _step: None
    if mode == "auto" and sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        # a spinner with the step and its running time (a synthesis can take minutes), and a line with its
        # seconds when it ends; the live line leaves nothing behind
        bar = Progress(SpinnerColumn(), TextColumn("nmc-compile: {task.description}..."), TimeElapsedColumn(),
                       console=Console(stderr=True), transient=True)  # fmt: skip
        clock: list = []

        def show(step: str) -> None:
            now = time.perf_counter()
            if clock:
                done, start, task = clock.pop()
                bar.remove_task(task)
                bar.console.print(f"  {done}: {now - start:.2f} s", highlight=False)
            if step:
                clock.append((step, now, bar.add_task(step, total=None)))
                bar.start()
            else:
                bar.stop()

        show.stop = bar.stop  # type: ignore[attr-defined]  # an error or Ctrl-C: clear the live line, show the cursor
        return show
    current: list = []  # (step, start)

    def log(step: str) -> None:
        now = time.perf_counter()
        if current:
            done, start = current.pop()
            stamp = time.strftime("%H:%M:%S")
            # progress is for people and logs, not for a pipe: stdout carries the summary only, so that
            # `nmc-compile … | head -1` cannot stop a compile before its outputs are written
            print(f"[{stamp}] {done}: {now - start:.2f} s", file=sys.stderr, flush=True)
        if step:
            current.append((step, now))

    return log


def _synthesis_lines(report: dict) -> list[str]:
    syn = report.get("synthesis")
    if not syn:
        return []
    area = f", OSU 0.18 um: {syn['osu018_cells']} cells, {syn['osu018_area_um2'] / 1e6:.4f} mm2" if "osu018_cells" in syn else ""
    lines = [
        f"  synthesis (yosys, {syn['seconds']:.0f} s): {syn['generic_cells']} generic cells, "
        f"{syn['transistors']} transistors (stat -tech cmos){area}"
    ]
    if "logic_cells" in syn:  # the multiplexed style: logic apart from the memories, per core
        cores = syn["per_core"]
        lines.append(
            f"  logic (memories excluded): {syn['logic_cells']} cells, {syn['logic_flip_flops']} flip-flops, "
            f"{syn['logic_area_um2'] / 1e6:.4f} mm2; per core {min(c['cells'] for c in cores)}-"
            f"{max(c['cells'] for c in cores)} cells; memories {report['verilog']['memory_bits']['total']} bits"
        )
    sta = syn.get("sta")
    if sta:
        lines.append(
            f"  timing (OpenSTA at {sta['clock_mhz']:g} MHz): worst slack {sta['worst_slack_ns']:.3f} ns; power "
            f"{sta['power_total_w'] * 1e3:.4f} mW total, leakage {sta['power_leakage_w'] * 1e9:.2f} nW"
        )
        if sta["worst_slack_ns"] < 0:  # the design misses the clock asked for: say so, and what it meets
            meets = 1e3 / (1e3 / sta["clock_mhz"] - sta["worst_slack_ns"])
            lines.append(
                f"  timing: misses {sta['clock_mhz']:g} MHz by {-sta['worst_slack_ns']:.3f} ns; it meets about "
                f"{meets:.0f} MHz (--clock-mhz {int(meets)})"
            )
    cost = syn.get("cost_model")
    if cost:
        lines.append(
            f"  cost from this synthesis: {cost['cycles_per_tick']} cycles per tick ({cost['tick_us']:g} us), "
            f"{cost['energy_synop_pj']:g} pJ per synaptic operation ({cost['activity']})"
        )
    return lines


def _ticks(n: int) -> str:
    return f"{n} tick" if n == 1 else f"{n} ticks"


def _summary(report: dict, path: Path) -> str:
    if report.get("kind") == "tnn":
        t = report["tnn"]
        shapes = ", ".join(
            f"{la['columns']} x ({la['synapses']} x {la['neurons']}, k {la['k']}, {la['response']})" for la in t["layers"]
        )
        lines = [
            f"wrote {path}",
            f"  tnn:  {shapes}; {t['time_bits']} time bits ({t['gamma_cycle_ticks']} ticks per sample), "
            f"{t['weight_bits']}-bit weights, {t['encoder']['kind']} encoder",
            f"  map:  {t['cores_used']} TNN column cores on chip '{report['chip']['name']}', {t['synapses']} synapses, "
            f"{t['traffic_lines_per_sample']:g} lines between cores per sample, {t['average_hops']:.2f} hops on average",
        ]
        if "check" in report:
            lines.append(f"  check: simulator == torch TNN, identical spike times on {report['check']['samples']} samples")
        v = report.get("verilog")
        if v:
            lines.append(
                f"  verilog: {v['rtl_lines']} lines, {v['columns']} columns, {v['synapses']} synapses"
                f"{', on-chip STDP' if v['on_chip_learning'] else ''}, {v['clock_cycles_per_sample']} clock cycles per "
                f"sample; testbench ({v['testbench_samples']} samples): {v['run']}"
            )
        lines += _synthesis_lines(report)
        fc = report.get("forecast")
        if fc:
            tot, fit = fc["total"], fc["fit"]
            lines.append(
                f"  forecast (OSU 0.18 um, stored fit, no synthesis): {tot['cells']:.0f} cells, {tot['area_um2'] / 1e6:.4f} mm2, "
                f"leakage {tot['leakage_w'] * 1e9:.1f} nW, worst slack {tot['worst_slack_ns']:.2f} ns at {fc['clock_mhz']:g} MHz"
            )
            lines.append(
                "    fit: " + ", ".join(f"{m} {e['model']} (held-out error {e['held_out_error']:.1%})" for m, e in fit.items())
            )
            if fc["note"]:
                lines.append(f"    note: {fc['note']}")
        return "\n".join(lines)
    snn = report["snn"]
    lines = [f"wrote {path}"]
    ft = report.get("finetune")
    if ft:
        acc = ft["accuracy"]
        chip = f", chip simulator {acc['chip']:.2%}" if "chip" in acc else ""
        lines.append(
            f"  fine-tuned: {ft['epochs']} epochs on {ft['samples']['train']} samples; held-back accuracy "
            f"{acc['before']:.2%} -> {acc['after']:.2%} on the chip's rate model{chip} (float {acc['float']:.2%})"
        )
    lines += [
        f"  snn:  {snn['populations']} populations, {snn['neurons']} neurons, {snn['synapses']} synapses, "
        f"{report['ticks']} ticks ({report['encoding']} input)",
    ]
    core = report.get("core")
    mapping = report.get("mapping")
    if core:
        lines.append(
            f"  core: {len(core['groups'])} groups, {core['neurons']} neurons, {core['synapses']} synapses, "
            f"{core['partial_sum_groups']} partial-sum groups, {core['relay_groups']} relay groups, "
            f"latency {_ticks(core['latency_ticks'])} on chip '{report['chip']['name']}'"
        )
        packed = [f"{g['layer']} {g['partial_sums_per_neuron']:g}" for g in core["groups"] if g.get("partial_sums_per_neuron")]
        if packed:
            lines.append("  partial sums per neuron: " + ", ".join(packed))
        errs = [g["weight_error"] for g in core["groups"] if g["weight_error"] is not None]
        if errs:
            lines.append(f"  quantization: weight error {max(errs):.2%} (worst layer)")
    if mapping:
        u = mapping["utilisation"]
        one = mapping["cores_used"] == 1
        traffic = ("no traffic between cores" if one else
                   f"traffic {mapping['traffic_per_tick']:g} {mapping['traffic_unit']}, {mapping['average_hops']:.2f} hops on "
                   f"average, peak link {mapping['peak_link_load']:g}")  # fmt: skip
        lines.append(
            f"  map:  {mapping['cores_used']} core{'' if one else 's'} of {mapping['mesh'][0]}x{mapping['mesh'][1]} "
            f"(utilisation: neurons {u['neurons']:.0%}, axons {u['axons']:.0%}, synapses {u['synapses']:.0%}), {traffic}"
        )
        board = mapping.get("board")
        if board:
            fewer = f", {board['reduction']:g}x fewer than placed ignoring chips" if board["reduction"] else ""
            lines.append(
                f"  board: {board['chips_used']} of {board['chips']} chips ({board['grid'][0]}x{board['grid'][1]}, lower bound "
                f"{board['chips_lower_bound']}); {board['inter_chip_packets_per_tick']:g} packets per tick between chips"
                f"{fewer} ({board['inter_chip_packets_ignoring_chips']:g}); busiest chip-to-chip link "
                f"{board['peak_link_load']:g} of {board['link_bandwidth']} per tick; chip hops add "
                f"{board['tick_extra_cycles']} cycles per tick"
            )
        lb = mapping.get("lower_bound")
        if lb and mapping["cores_used"] > lb["cores"]:  # (at the bound there is nothing to explain)
            lines.append(
                f"  cores vs lower bound: {mapping['cores_used']} / {lb['cores']} = {lb['ratio']:g}x "
                f"(bound by {', '.join(f'{k} {v}' for k, v in lb['by_limit'].items())}); {lb['binding_limit']} bind at "
                f"{lb['binding_utilisation']:.0%}: {lb['why']}"
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
        if v["style"] == "multiplexed":
            what = f"time-multiplexed cores, {v['memory_bits']['total']} memory bits ({v['memories']})"
        else:
            what = f"{v['neuron_instances']} neuron instances"
        lines.append(
            f"  verilog: {v['rtl_lines']} lines, {what}, {v['synapse_memory_words']} "
            f"synapse words in {v['cores']} cores, {v['clock_cycles_per_tick']} clock cycles per tick; "
            f"testbench: {v['run']}"
        )
    lines += _synthesis_lines(report)
    if "binary" in report:
        lines.append(f"  binary: {report['binary']['bytes']} bytes")
    leaks = report.get("core", {}).get("leak_rounding") or []
    if leaks:  # the chip's shift decay 1 - 2^-s rounds these populations' beta; the agreement below includes it
        shown = ", ".join(f"'{r['layer']}' {r['beta']:.4g} -> {r['realised_beta']:.4g}" for r in leaks[:4])
        more = f" and {len(leaks) - 4} more" if len(leaks) > 4 else ""
        kind = "multiply" if any(r.get("decay_mult", 1) != 1 for r in leaks) else "shift"
        from nmc.passes.reduce_precision import shift_betas

        exact = f" (exact on this chip: beta = 1 - 2^-s, e.g. {shift_betas(range(2, 5))})" if kind == "shift" else ""
        lines.append(f"  leak: the chip's {kind} decay rounds beta in {len(leaks)} population(s): {shown}{more}{exact}")
    conv = report.get("conversion")
    if conv:  # a converted ANN: the SNN before quantization against the float ANN
        lines.append(
            f"  conversion: the SNN decides as the ANN on {conv['decision_agreement']:.2%} of {conv['samples']} "
            "calibration samples"
        )
    q = report.get("quantization")
    if q and "reference" in q:  # after --finetune: the model as it was trained is what the chip should compute
        lines.append(
            f"  decisions agreeing with {q['reference']} on {q['samples']} calibration samples: "
            f"{q['decision_agreement']:.2%} (with the unquantized fine-tuned SNN: {q['unquantized_decision_agreement']:.2%})"
        )
    elif q:
        lines.append(
            f"  agreement with the unquantized network on {q['samples']} calibration samples: "
            f"spikes {q['spike_agreement']:.2%}, decisions {q['decision_agreement']:.2%}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
