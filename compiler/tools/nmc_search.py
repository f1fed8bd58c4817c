"""`nmc-search`: hardware-aware architecture search scored by the compiler (Optuna + Ray; docs/search.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def build_parser():
    from nmc.options import positive_int
    from nmc.tools._cli import OneLineParser

    p = OneLineParser(
        prog="nmc-search",
        description="Search spiking architectures under chip budgets: each candidate is compiled before it is trained.",
    )
    p.add_argument("--space", required=True, metavar="SPACE.toml", help="the architecture family (docs/search.md)")
    p.add_argument("--data", required=True, metavar="DATA.npz", help="labelled data: arrays x [N, *shape] and y [N]")
    p.add_argument("--chip", default="tianjic256", help="chip preset or .chip file (default: tianjic256)")
    p.add_argument(
        "--budget",
        default="",
        metavar="K=V,...",
        help="limits: cores, energy_nj, latency_ticks, area_mm2, memory_kb (e.g. cores=4,energy_nj=300)",
    )
    p.add_argument("--trials", type=positive_int, default=20, help="trials to finish, counting a resumed study's (default 20)")
    p.add_argument(
        "--objectives",
        default="accuracy,energy_nj",
        help="comma-separated: accuracy (maximized) and any budget metric (minimized); default accuracy,energy_nj",
    )
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite in OUTDIR; e.g. postgresql://... for many machines)")
    p.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="join a Ray cluster (token auth required; default: local worker processes, no network port)",
    )
    p.add_argument("--parallel", type=positive_int, help="trials at once (default: one per CPU; 1 runs them in this process)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler, the splits and every trial (default 0)")
    p.add_argument("-o", "--outdir", default="nmc_search", help="output folder (default: nmc_search)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary and errors")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-search"):
        args = build_parser().parse_args(argv)
        from nmc.errors import NmcError

        try:
            import optuna  # noqa: F401

            if args.ray:
                import ray  # noqa: F401
        except ImportError as e:
            raise NmcError(
                f"nmc-search needs Optuna (and Ray for --ray; {e.name} is missing): pip install 'nmc[search]'"
            ) from None
        from nmc.nas.search import search

        result = search(
            args.space,
            args.data,
            args.chip,
            budget=args.budget,
            trials=args.trials,
            objectives=args.objectives,
            storage=args.storage,
            ray_address=args.ray,
            parallel=args.parallel,
            seed=args.seed,
            outdir=args.outdir,
            progress=None if args.quiet else _progress(args.trials),
        )
        print(summary_text(result))


def _progress(total: int):
    """A progress bar over trials on a terminal; a line per trial otherwise."""
    if not sys.stderr.isatty():
        return lambda line: print(line, file=sys.stderr, flush=True)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("nmc-search"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True)
    task = bar.add_task("trials", total=total)
    bar.start()

    def show(line: str) -> None:
        bar.console.print(line, highlight=False)
        if line.startswith("trial "):
            bar.update(task, completed=int(line.split()[1].split("/")[0]))
        if line.startswith("trial ") and line.split()[1].split("/")[0] == str(total):
            bar.stop()

    return show


def summary_text(result) -> str:
    s = result.summary
    lines = [
        f"wrote {result.outdir}/trials.csv, pareto.csv, pareto.png, summary.json" + (", best.pt" if s["best"] else ""),
        f"  trials: {s['trials']} ({s['trained']} trained, {s['pruned']} pruned, {s['rejected_before_training']} rejected "
        f"before training = {s['rejected_fraction']:.0%}); {s['feasible']} within the budget; Pareto front: {len(s['pareto'])}",
        f"  time: {s['seconds']['wall']:.1f} s wall; screening {s['seconds']['worker']['screen']:.1f} s, training "
        f"{s['seconds']['worker']['train']:.1f} s, compiling {s['seconds']['worker']['compile']:.1f} s (worker time); "
        f"rejecting before training saved ~{s['time_saved']['estimated_seconds_saved']:.1f} s "
        f"({s['time_saved']['speedup_vs_training_every_candidate']:.2f}x)",
    ]
    b = s["best"]
    if b:
        lines.append(
            f"  best: trial {b['trial']} ({b['candidate']}): accuracy {b['accuracy']:.2%} on the chip, {b['cores']} cores, "
            f"{b['energy_nj']:g} nJ, {b['latency_ticks']} ticks, {b['area_mm2']:g} mm2, {b['memory_kb']:g} KB"
        )
        lines.append(f"  compile it: {b['compile']}")
    else:
        lines.append("  no trained candidate met the budget: widen it, or search smaller architectures")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
