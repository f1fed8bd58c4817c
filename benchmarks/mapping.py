"""Mapping benchmark: cores against the lower bound, before and after axon-aware packing, side by side.

For each network: snn-to-core, decompose-fan-in, decompose-fan-out, reduce-precision (int8), then
partition-cores, place-cores and route, twice in one run:
  * "before": fixed input blocks of max-fan-in indices per partial-sum unit (`packing=blocks`) and
    the graph partitioners only (sequential or METIS, `partition=auto-graph`) — nmc until this change;
  * "after": the fewest balanced input ranges (`packing=ranges`) and `partition=auto`, which adds the
    window-ordered filler per layer and mt-kahypar's hypergraph partition.
Reported: cores, the lower bound and which limit binds, utilisation, core-level neurons and
synapses, traffic, hops, compile seconds and peak memory (each variant in a fresh process), and
whether both binaries give identical outputs on the same inputs. Writes the "mapping" section of
docs/benchmarks.md.

    python benchmarks/mapping.py [--quick]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

BIG = str(Path(__file__).resolve().parent / "tianjic-96x96.chip")


def networks(quick: bool) -> list[tuple[str, str, object]]:
    """(name, chip, factory returning (model or core module, calibration, test inputs))."""
    return [
        ("digits CNN c8-p-c16-p-fc (bundled)", "tianjic256", "digits_cnn"),
        ("ResNet-style digits CNN, 16 channels", BIG, "residual"),
        *(
            []
            if quick
            else [("MNIST-5k CNN c8-p-c16-p-fc", BIG, "mnist_cnn"), ("MNIST-5k CNN c16-p-c32-p-fc", BIG, "mnist_cnn16")]
        ),
        ("scale: 10k neurons, 1-D conv fan-in 12", BIG, "scale10k"),
        *([] if quick else [("scale: 100k neurons, 1-D conv fan-in 12", BIG, "scale100k")]),
    ]


def build(which: str):
    import torch
    from train_digits import digits_split, train_ann

    if which.startswith("scale"):
        from scale import synthetic

        n = 10_000 if which == "scale10k" else 100_000
        x = (np.random.default_rng(0).random((8, n // 10)) < 0.3).astype(np.float32)
        return synthetic(n, 10, 12), x, x
    xtr, xte, ytr, _ = digits_split()
    if which == "digits_cnn":
        return (
            torch.load(Path(__file__).resolve().parent.parent / "examples" / "digits_cnn.pt", weights_only=False),
            xtr[:300],
            xte[:50],
        )
    if which == "residual":
        torch.manual_seed(0)
        from tests.model_zoo import ResidualDigits

        return train_ann(ResidualDigits(), xtr, ytr, epochs=10), xtr[:300], xte[:50]
    from accuracy import mnist5k, mnist_cnn

    mtr, mte, mytr, _ = mnist5k()
    torch.manual_seed(0)
    model = mnist_cnn() if which == "mnist_cnn" else mnist_cnn16()
    return train_ann(model, mtr, mytr, epochs=3), mtr[:300], mte[:50]


def mnist_cnn16():
    """The issue's MNIST-size CNN: 18,816 SNN neurons."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )  # fmt: skip


def measure(which: str, chip_ref: str, variant: str, queue) -> None:
    """One network, one variant, in a fresh process (its peak memory is its own)."""
    from xdsl.context import Context

    from nmc.chips import load_chip
    from nmc.chips.binary import encode
    from nmc.driver import ImportOptions, import_model
    from nmc.passes.decompose_fan_in import DecomposeFanInPass
    from nmc.passes.decompose_fan_out import DecomposeFanOutPass
    from nmc.passes.reduce_precision import ReducePrecisionPass
    from nmc.passes.snn_to_core import SnnToCorePass
    from nmc.pipeline import lower_to_map
    from nmc.runtime.simulator import Chip as Simulator
    from nmc.targets.chip_binary import build_image

    model, calib, x = build(which)
    chip = load_chip(chip_ref)
    t0 = time.perf_counter()
    ctx = Context()
    if which.startswith("scale"):
        module = model
    else:
        module = import_model(model, ImportOptions(ticks=16, calibration=calib))
        SnnToCorePass(chip=chip_ref).apply(ctx, module)
        DecomposeFanInPass(packing="blocks" if variant == "before" else "ranges").apply(ctx, module)
        DecomposeFanOutPass().apply(ctx, module)
        ReducePrecisionPass().apply(ctx, module)
    groups = [op for op in module.walk() if op.name == "core.neurons"]
    core_neurons = sum(op.size for op in groups)
    core_synapses = sum(op.pre.type.get_shape()[0] for op in groups)
    mapping = lower_to_map(module, chip, stimulus=calib[:50], partition="auto-graph" if variant == "before" else "auto")
    image = build_image(module)
    seconds = time.perf_counter() - t0
    outputs = Simulator(image).run(x).outputs[0]
    queue.put(
        {
            "mapping": mapping,
            "core_neurons": core_neurons,
            "core_synapses": core_synapses,
            "seconds": seconds,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "binary_mb": len(encode(image)) / 1e6,
            "outputs": outputs,
        }
    )


def run(which: str, chip: str, variant: str) -> dict:
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=measure, args=(which, chip, variant, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="skip MNIST-5k and the 100k network")
    args = p.parse_args()
    rows = []
    for name, chip, which in networks(args.quick):
        before, after = run(which, chip, "before"), run(which, chip, "after")
        same = np.array_equal(before["outputs"], after["outputs"])
        rows.append((name, Path(chip).stem, before, after, same))
        print(name, {k: v for k, v in after["mapping"].items() if k in ("cores_used", "lower_bound")}, flush=True)
    lines = [
        "## Mapping: cores against the lower bound (benchmarks/mapping.py)",
        "",
        "Each network lowered twice in one run (int8, 16 ticks, calibration on 300 training samples): "
        "**before** = one partial-sum unit per fixed block of max-fan-in input indices and the graph partitioners "
        "(sequential, METIS); **after** = the fewest balanced input ranges per neuron and `partition-cores` `auto` "
        "(adds the per-layer window-ordered filler and mt-kahypar's hypergraph partition). Lower bound = max over "
        "neurons, synapse memory and axon copies (docs/mapping.md); 'binds' = the fullest limit of the final mapping. "
        "Seconds and peak memory from snn-to-core to the binary, each variant in a fresh process. "
        f"'same out' = both binaries give identical outputs on the same inputs. Machine: {machine()}.",
        "",
        "| network | chip | cores before → after | lower bound | after / bound | binds | utilisation n/a/s after "
        "| core neurons before → after | synapses before → after | traffic before → after | hops after | s before → after "
        "| peak MB before → after | same out |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, chip, b, a, same in rows:
        mb, ma = b["mapping"], a["mapping"]
        lb, u = ma["lower_bound"], ma["utilisation"]
        lines.append(
            f"| {name} | {chip} | {mb['cores_used']} → {ma['cores_used']} | {lb['cores']} | {lb['ratio']:.2f} | "
            f"{lb['binding_limit']} | {u['neurons']:.0%}/{u['axons']:.0%}/{u['synapses']:.0%} | "
            f"{b['core_neurons']:,} → {a['core_neurons']:,} | {b['core_synapses']:,} → {a['core_synapses']:,} | "
            f"{mb['traffic_per_tick']:.0f} → {ma['traffic_per_tick']:.0f} | {ma['average_hops']:.2f} | "
            f"{b['seconds']:.1f} → {a['seconds']:.1f} | {b['rss_mb']:.0f} → {a['rss_mb']:.0f} | {'yes' if same else 'NO'} |"
        )
    lines.append("")
    for name, _, _, a, _ in rows:
        lb = a["mapping"]["lower_bound"]
        if lb["ratio"] > 1.5:
            lines.append(f"- {name}: {lb['ratio']:.2f}x the bound; {lb['binding_limit']} bind: {lb['why']}.")
    write_section("mapping", "\n".join(lines))


if __name__ == "__main__":
    main()
