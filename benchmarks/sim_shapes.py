"""Simulator speed on what chips do to networks, beyond A's rate-coded MLP (benchmarks/sim.py covers that).

Each row is a network a user brings, compiled with default flags for a preset chip (or a chip a user
would describe: wider inputs or weights), next to the obvious code on the same logical network: a
numpy loop over the network's integer groups (one sparse-or-dense product per operand, layer after
layer in each tick; leak, saturation and both resets as the groups state them), on the groups of the
same model compiled for a wide core where nothing is split. The loop is checked equal to the wide
compile's simulator, and each chip's simulator to nmc's core interpreter of that compile (16 samples).
Single thread; the simulator in its steady state (tables built, the compiled neuron update loaded).

Rows: spike-train inputs with leaky neurons (a snnTorch Leaky MLP 784-512-512-10 through NIR), graded
inputs through partial-sum trees and delay-aligned residual branches (a residual CNN), 10-bit host
inputs (two-digit int8 kernels) and 12-bit weights (float kernels).

    python benchmarks/sim_shapes.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section
from sim import decoded, mlp_model, timed, wide_chip

BATCH = 256


@dataclasses.dataclass
class Operand:
    source: int  # -1: the host input, else an index into the groups
    weight: object  # (size, source size) scipy csr or dense float32
    lag: int


@dataclasses.dataclass
class LoopGroup:
    operands: list[Operand]
    bias: np.ndarray
    threshold: np.ndarray
    fire_at: np.ndarray  # compared with >= (">" as threshold + 1: integers)
    shift: int
    reset: str
    mode: str
    v_init: np.ndarray


def logical_network(module) -> tuple[list[LoopGroup], int, str, tuple[float, float]]:
    """The integer groups of a compiled module in program order, the decoded group and its decoder kind."""
    from scipy import sparse

    from nmc.dialects import core
    from nmc.dialects.core_ir import read_group

    index: dict[object, int] = {}
    groups: list[LoopGroup] = []
    decoded = kind = None
    for op in module.walk():
        if isinstance(op, core.InputOp):
            index[op.output] = -1
        elif isinstance(op, core.NeuronsOp):
            g = read_group(op)
            if g.mode == "psum":
                raise SystemExit(f"group '{g.layer}' is a partial-sum unit on the wide chip; the loop needs whole layers")
            offs = g.offsets()
            ops = []
            for j, v in enumerate(g.inputs):
                sel = (g.pre >= offs[j]) & (g.pre < offs[j + 1])
                w = sparse.csr_matrix((g.weight[sel].astype(np.float32), (g.post[sel], g.pre[sel] - offs[j])),
                                      shape=(g.size, offs[j + 1] - offs[j]))  # fmt: skip
                ops.append(Operand(index[v], w.toarray() if w.nnz > 0.2 * w.shape[0] * w.shape[1] else w,
                                   (g.lags or [0] * len(g.inputs))[j]))  # fmt: skip
            thr = g.threshold.astype(np.float32)
            groups.append(LoopGroup(ops, g.bias.astype(np.float32), thr, thr + (1 if g.compare == "gt" else 0),
                                    g.decay_shift or 0, g.reset, g.mode, g.v_init.astype(np.float32)))  # fmt: skip
            index[op.output] = len(groups) - 1
        elif isinstance(op, core.DecodeOp):
            decoded, kind = index[op.input], op.kind.data.value
    net = next(op for op in module.walk() if isinstance(op, core.NetworkOp))
    chip = net.chip.data
    bits = chip.core["membrane_bits"]
    return groups, decoded, kind, (-(2.0 ** (bits - 1)), 2.0 ** (bits - 1) - 1)


def dag_loop(groups: list[LoopGroup], host: np.ndarray, decoded: int, kind: str, bounds: tuple[float, float]) -> np.ndarray:
    """The obvious code: per tick, each group in order integrates its operands' outputs (lag ticks back),
    leaks, saturates, fires and resets; the decoded group's spikes are counted (or its membrane read)."""
    ticks, batch = host.shape[0], host.shape[1]
    depth = 1 + max((o.lag for g in groups for o in g.operands), default=0)
    hist = [[np.zeros((batch, g.bias.size), np.float32) for _ in range(depth)] for g in groups]
    v = [np.broadcast_to(g.v_init, (batch, g.bias.size)).astype(np.float32) for g in groups]
    count = np.zeros((batch, groups[decoded].bias.size), np.float32)
    lo, hi = bounds
    for t in range(ticks):
        for i, g in enumerate(groups):
            cur = np.broadcast_to(g.bias, (batch, g.bias.size)).copy()
            for o in g.operands:
                if o.source < 0:
                    x = host[t - o.lag] if t >= o.lag else None
                else:
                    x = hist[o.source][(t - o.lag) % depth] if o.lag else hist[o.source][t % depth]
                if x is not None:
                    cur += np.asarray(o.weight @ x.T).T
            if g.shift:
                v[i] -= np.floor(v[i] / 2.0**g.shift)
            v[i] = np.clip(v[i] + cur, lo, hi)
            if g.mode == "spike":
                s = (v[i] >= g.fire_at).astype(np.float32)
                v[i] -= s * (g.threshold if g.reset == "subtract" else v[i] if g.reset == "zero" else 0)
                hist[i][t % depth] = s
            if i == decoded and kind == "count":
                count += s
    return count if kind == "count" else v[decoded]


def leaky_nir_mlp(path: Path) -> None:
    """A snnTorch Leaky MLP 784-512-512-10 (beta 0.9, threshold 1, torch's default init), written by snnTorch's
    own NIR exporter: what a user with a trained snnTorch network brings."""
    import nir
    import snntorch as snn
    import torch
    from snntorch.export_nir import export_to_nir
    from torch import nn

    torch.manual_seed(0)
    layers = []
    for a, b in ((784, 512), (512, 512), (512, 10)):
        layers += [nn.Linear(a, b), snn.Leaky(beta=torch.full((b,), 0.9), threshold=torch.ones(b), init_hidden=True)]
    nir.write(path, export_to_nir(nn.Sequential(*layers), torch.zeros(784)))


def residual_cnn():
    """A small ResNet-style CNN on 16 x 16 images: two residual blocks (the skip path waits for the branch: delay
    relays or aligned delays), average pooling, a 256-input classifier (partial-sum trees on 256-input cores)."""
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c: int):
            super().__init__()
            self.conv1, self.conv2, self.act = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1), nn.ReLU()

        def forward(self, x):
            return self.act(x + self.conv2(self.act(self.conv1(x))))

    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), Block(8), nn.AvgPool2d(2), nn.Conv2d(8, 16, 3, padding=1),
                         nn.ReLU(), Block(16), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(16 * 4 * 4, 10)).eval()  # fmt: skip


def variant(name: str, base: str, **core) -> object:
    from nmc.chips import load_chip

    chip = load_chip(base) if isinstance(base, str) else base
    return dataclasses.replace(chip, name=name, core={**chip.core, **core})


def cases(quick: bool, tmp: Path) -> list[tuple]:
    """(label, model, calibration, inputs, chip, wide chip, compile options)."""
    rng = np.random.default_rng(0)
    leaky = tmp / "leaky.nir"
    leaky_nir_mlp(leaky)
    trains = (rng.random((BATCH + 64, 64, 784)) < 0.15).astype(np.float32)  # spike trains, 64 ticks
    images = rng.random((BATCH + 64, 1, 16, 16), dtype=np.float32)
    vectors = rng.random((BATCH + 64, 784), dtype=np.float32)
    wide = wide_chip()
    ann = {"timesteps": 64, "allow_accuracy_loss": True}
    out = [
        ("snnTorch Leaky MLP via NIR, spike-train input", leaky, trains[BATCH:], trains[:BATCH], "tianjic256", wide, {}),
        ("residual CNN, direct (graded) input", residual_cnn(), images[BATCH:], images[:BATCH], "tianjic256", wide, ann),
        ("residual CNN, rate input", residual_cnn(), images[BATCH:], images[:BATCH], "truenorth4", wide,
         {**ann, "encoding": "rate", "approximate_fan_in": True}),
        ("A's MLP, direct input at 10 bits", mlp_model(), vectors[BATCH:], vectors[:BATCH],
         variant("tianjic256-in10", "tianjic256", input_bits=10), variant("wide1024-in10", wide, input_bits=10), ann),
        ("A's MLP, direct input, 12-bit weights", mlp_model(), vectors[BATCH:], vectors[:BATCH],
         variant("tianjic256-w12", "tianjic256", weight_bits=12), variant("wide1024-w12", wide, weight_bits=12), ann),
    ]  # fmt: skip
    return out[:2] if quick else out  # (truenorth4 has a linear leak only: it refuses the Leaky MLP's shift leak)


def row(label, model, calib, x, chip, wide, opts, repeats: int) -> str:
    import nmc
    from nmc.chips.binary import decode
    from nmc.runtime.core_interp import run_core
    from nmc.runtime.simulator import Chip

    compiled = nmc.compile(model, chip=chip, calibration=calib, **opts)
    flat = {k: v for k, v in opts.items() if k != "approximate_fan_in"}
    logical = nmc.compile(model, chip=wide, calibration=calib, **flat)
    sim, wide_sim = Chip(decode(compiled.binary)), Chip(decode(logical.binary))
    for _ in range(8):  # the steady state: tables built, the compiled neuron update loaded once the runs repay it
        if sim.run(x).stats["neuron_update"] == "compiled":
            break
    t_sim, run = timed(lambda: sim.run(x), repeats)
    wide_run = wide_sim.run(x, trace=True)
    host = wide_run.trace["host"][: wide_sim.ticks].astype(np.float32)
    groups, out, kind, bounds = logical_network(logical.module)
    t_loop, y = timed(lambda: dag_loop(groups, host, out, kind, bounds), repeats)
    loop_ok = np.array_equal(decoded(logical.module, y), wide_run.outputs[0].reshape(len(x), -1))
    same = np.array_equal(sim.run(x[:16]).outputs[0], run_core(compiled.module, x[:16]).outputs[0])
    name = chip if isinstance(chip, str) else chip.name
    kernels = ", ".join(f"{k or 'run dtype'} {v}" for k, v in run.stats.get("kernels", {}).items())
    return (f"| {label} | {name} | {sim.n:,} ({sim.psum.size:,}) | {len(x) / t_sim:,.1f} | {len(x) / t_loop:,.1f} | "
            f"{t_loop / t_sim:.2f}x | {kernels} ({run.stats['dtype']}), {run.stats['neuron_update']} update | "
            f"{same} | {loop_ok} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="the first two rows, numbers not written")
    args = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    t0 = time.time()
    lines = [f"Batch {BATCH}, 64 ticks. Neurons: the chip's (partial-sum units in brackets). \"loop ok\": the loop's outputs "
             "equal the wide compile's simulator; \"equal\": the chip's simulator equals nmc's core interpreter of that "
             "compile on 16 samples.", "",
             "| network | chip | neurons | nmc samples/s | numpy loop samples/s | nmc / loop | kernels, update | equal | loop ok |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    with threadpool_limits(1), tempfile.TemporaryDirectory() as tmp:
        for case in cases(args.quick, Path(tmp)):
            lines.append(row(*case, args.repeats))
            print(lines[-1], flush=True)
    body = "\n".join(["## Simulator speed on what chips do to networks (`benchmarks/sim_shapes.py`)", "",
                      f"Single thread, {machine()}, medians of {args.repeats} runs, {time.time() - t0:.0f} s in all. "
                      + __doc__.split("\n\n")[1].replace("\n", " "), "", *lines])  # fmt: skip
    print(body)
    if not args.quick:
        write_section("sim-shapes", body)


if __name__ == "__main__":
    main()
