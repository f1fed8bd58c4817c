"""Simulator benchmark: nmc's chip simulator next to the obvious code and the peers, on the same integer network.

Workloads (single thread; every competitor's outputs are checked equal to the simulator's):
  A  MLP 784-512-512-10 converted from a ReLU ANN, int8 weights, rate input, 64 ticks, batch 256;
  B  two layers of N/2 integrate-and-fire neurons, each reading 100 neurons of the previous layer in a
     local window, int weights, rate input at 30 %, sparse activity; N = 10k and 100k, batch 32;
  C  the bundled digits CNN (conv 8x3x3, pool, conv, fc), int8, rate input, 64 ticks, batch 256.
The chip for A and C is tianjic256 with 1024-wide cores ("wide1024"), so every layer is one group and the
plain loop runs the very same integer matrices; A is also run on tianjic256 itself (fan-in 256: partial-sum
trees), checked against nmc's core interpreter. Competitors receive the encoder's spike trains precomputed
(their encoding time is not counted); the simulator encodes inside its run.

Also the compile time of A's MLP (`nmc.compile`, 300 calibration samples), per step, next to the same
compile at an older commit (`--baseline REV`, default the commit before the simulator was rewritten).

    python benchmarks/sim.py [--repeats 3] [--quick] [--baseline REV]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section
from sim_peers import Brian2IF, snntorch_if

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@dataclasses.dataclass
class Layer:
    """One integer IF layer as the obvious code sees it: V += W s + b; fire at V >= theta; V -= theta."""

    weight: object  # dense (out, in) float32 array or scipy csr
    bias: np.ndarray
    threshold: np.ndarray
    fires: bool  # False: integrate only (membrane read out)


def wide_chip():
    from nmc.chips import load_chip

    base = load_chip("tianjic256")
    core = {**base.core, "neurons": 1024, "axons": 1024, "max_fan_in": 1024, "synapse_memory": 1 << 22}
    router = {**base.router, "table_entries": 4096}
    return dataclasses.replace(base, name="wide1024", mesh=(8, 8), core=core, router=router)


def layers_of(module, dense: bool) -> list[Layer]:
    """The integer groups of a mapped chain network, as matrices (each reads only the previous one)."""
    from scipy import sparse

    from nmc.dialects import core
    from nmc.dialects.core_ir import read_group

    out, prev = [], None
    for op in module.walk():
        if not isinstance(op, core.NeuronsOp):
            continue
        g = read_group(op)
        if (
            len(g.inputs) != 1
            or (prev is not None and g.inputs[0] is not prev)
            or (g.mode == "spike" and (g.reset, g.compare) != ("subtract", "ge"))
        ):
            raise SystemExit(f"group '{g.layer}' is not a plain IF layer of a chain; the benchmark needs one")
        if (g.decay_shift or 0) or g.v_init.any():
            raise SystemExit(f"group '{g.layer}' leaks or starts charged")
        w = sparse.csr_matrix((g.weight.astype(np.float32), (g.post, g.pre)), shape=(g.size, g.offsets()[-1]))
        out.append(Layer(w.toarray() if dense else w, g.bias.astype(np.float32), g.threshold.astype(np.float32),
                         g.mode == "spike"))  # fmt: skip
        prev = op.output
    return out


def encoded(module, x: np.ndarray) -> np.ndarray:
    """The spike trains the chip's rate encoder sends: [ticks, batch, inputs]."""
    from nmc.dialects import core
    from nmc.runtime.encoders import Encoder

    net = next(op for op in module.walk() if isinstance(op, core.NetworkOp))
    inp = next(op for op in net.body.block.ops if isinstance(op, core.InputOp))
    enc = Encoder(inp.encoding.data.value, x, inp.scale.value.data, inp.seed.value.data, None, np.float32)
    return np.stack([enc.step() for _ in range(net.ticks.value.data)])


def numpy_loop(layers: list[Layer], spikes: np.ndarray) -> np.ndarray:
    """The obvious code: one matrix product per layer and tick, numpy (BLAS or scipy.sparse)."""
    batch = spikes.shape[1]
    v = [np.zeros((batch, ly.bias.size), np.float32) for ly in layers]
    count = np.zeros((batch, layers[-1].bias.size), np.float32)
    for s in spikes:
        for i, ly in enumerate(layers):
            v[i] += np.asarray(ly.weight @ s.T).T + ly.bias
            if ly.fires:
                s = (v[i] >= ly.threshold).astype(np.float32)
                v[i] -= s * ly.threshold
        count += s if layers[-1].fires else 0
    return count if layers[-1].fires else v[-1]


def torch_loop(layers: list[Layer], spikes: np.ndarray, sparse_weights: bool = False, device: str = "cpu") -> np.ndarray:
    """The same loop in torch (dense, or torch.sparse CSR weights); on a GPU with the spikes already there."""
    import torch

    ws = []
    for ly in layers:
        w = ly.weight if isinstance(ly.weight, np.ndarray) else ly.weight.toarray()
        t = torch.from_numpy(np.ascontiguousarray(w)).to(device)
        ws.append(t.to_sparse_csr() if sparse_weights else t)
    bs = [torch.from_numpy(ly.bias).to(device) for ly in layers]
    ths = [torch.from_numpy(ly.threshold).to(device) for ly in layers]
    sp = spikes if isinstance(spikes, torch.Tensor) else torch.from_numpy(spikes)
    batch = spikes.shape[1]
    v = [torch.zeros(batch, b.numel(), device=device) for b in bs]
    count = torch.zeros(batch, bs[-1].numel(), device=device)
    with torch.no_grad():
        for s in sp:
            for i, ly in enumerate(layers):
                v[i] += (ws[i] @ s.T).T + bs[i]
                if ly.fires:
                    s = (v[i] >= ths[i]).float()
                    v[i] -= s * ths[i]
            if layers[-1].fires:
                count += s
    return (count if layers[-1].fires else v[-1]).cpu().numpy()


def raw_output(run, module) -> np.ndarray:
    """The simulator's decoded output, flattened per sample."""
    return run.outputs[0].reshape(run.outputs[0].shape[0], -1)


def decoded(module, y: np.ndarray) -> np.ndarray:
    """A plain loop's counts or membranes decoded as the chip's decoder does (membranes times its scale)."""
    from nmc.dialects import core
    from nmc.dialects.ir_arrays import to_numpy

    dec = next(op for op in module.walk() if isinstance(op, core.DecodeOp))
    y = np.asarray(y, np.float64).reshape(y.shape[0], -1)
    return (y * to_numpy(dec.scale) if dec.kind.data == core.Decoding.MEMBRANE else y).astype(np.float32)


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def compile_model(model, x_calib, chip, ticks=64, shape=None):
    import nmc

    return nmc.compile(  # a speed benchmark: outputs are compared between simulators, not with the float model
        model, chip=chip, calibration=x_calib, encoding="rate", timesteps=ticks, input_shape=shape, allow_accuracy_loss=True
    )


def mlp_model(seed: int = 0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)).eval()


def band_network(n_total: int, fan_in: int = 100, seed: int = 0):
    """Workload B as core IR on a large tianjic-style mesh: two layers, local windows, int weights."""
    import sys as _sys

    from nmc.chips import load_chip
    from nmc.dialects import core

    _sys.path.insert(0, str(Path(__file__).resolve().parent))
    from scale import synthetic

    module = synthetic(n_total, 2, fan_in, seed)
    net = next(op for op in module.walk() if isinstance(op, core.NetworkOp))
    from xdsl.dialects.builtin import IntegerAttr, IntegerType, i64

    from nmc.dialects.ir_arrays import from_numpy

    # 32 ticks, thresholds that give sparse activity (a few % per tick) at a 30 % input rate
    net.ticks = IntegerAttr(32, i64)
    for op, theta in zip([o for o in net.walk() if isinstance(o, core.NeuronsOp)], (6000, 3000), strict=True):
        op.threshold = from_numpy(np.full(op.size, theta, np.int32), IntegerType(32))
    chip = load_chip(str(Path(__file__).resolve().parent / "tianjic-96x96.chip"))
    net.chip = core.ChipAttr(chip)
    return module, chip


def row(name: str, seconds: float, samples: int, events: float, ref_seconds: float, equal: str) -> str:
    ratio = ref_seconds / seconds
    shown = f"{ratio:.2f}" if ratio >= 0.1 else f"{ratio:.2g}"  # Brian2's 0.003x is not 0.00x
    return f"| {name} | {samples / seconds:,.1f} | {events / seconds:,.3g} | {shown}x | {equal} |"


def bench(name: str, entries: list[tuple[str, Callable[[], np.ndarray]]], reference: np.ndarray, samples: int,
          events: float, repeats: int, module=None) -> list[str]:  # fmt: skip
    """Time every entry, check its output against `reference`, and express it as a ratio to nmc (first entry)."""
    lines = [
        f"**{name}**",
        "",
        "| implementation | samples/s | synaptic events/s | speed vs nmc | output |",
        "|---|---:|---:|---:|---|",
    ]
    base = None
    for label, fn in entries:
        try:
            seconds, out = timed(fn, repeats)
        except ImportError as e:
            lines.append(f"| {label} | - | - | - | not installed ({e.name}) |")
            continue
        got = out if label.startswith("nmc") or module is None else decoded(module, np.asarray(out))
        same = np.array_equal(np.asarray(got).reshape(reference.shape[0], -1), reference.reshape(reference.shape[0], -1))
        base = base or seconds
        lines.append(row(label, seconds, samples, events, base, "identical" if same else "**DIFFERENT**"))
        print(lines[-1], flush=True)
        if not same:
            raise SystemExit(f"{label}: outputs differ from the simulator's")
    return [*lines, ""]


def float_only(fn: Callable[[], np.ndarray]) -> np.ndarray:
    """Run `fn` with the simulator's int8 GEMMs switched off (what the int8 kernels are worth)."""
    from nmc.runtime import sim_loop

    sim_loop.INT8 = False
    try:
        return fn()
    finally:
        sim_loop.INT8 = True


def workload_a(repeats: int, batch: int, quick: bool) -> list[str]:
    from nmc.chips.binary import decode
    from nmc.runtime.core_interp import run_core
    from nmc.runtime.simulator import Chip

    rng = np.random.default_rng(0)
    calib = rng.random((256, 784), dtype=np.float32)
    x = rng.random((batch, 784), dtype=np.float32)
    model = mlp_model()
    wide = compile_model(model, calib, wide_chip())
    sim = Chip(decode(wide.binary))
    plain = Chip(decode(wide.binary))  # its own tables: the float32 ones
    run = sim.run(x)
    ref = raw_output(run, wide.module)
    spikes = encoded(wide.module, x)
    dense, sparse = layers_of(wide.module, True), layers_of(wide.module, False)
    events = run.synaptic_events
    peers_n = 16 if quick else 32
    entries = [
        ("nmc simulator (numpy)", lambda: raw_output(sim.run(x), wide.module)),
        ("nmc simulator (torch CPU)", lambda: raw_output(sim.run(x, device="cpu"), wide.module)),
        ("nmc simulator (numpy), float32 GEMMs only", lambda: float_only(lambda: raw_output(plain.run(x), wide.module))),
        ("numpy IF loop (BLAS)", lambda: numpy_loop(dense, spikes)),
        ("torch IF loop", lambda: torch_loop(dense, spikes)),
        ("torch.sparse IF loop", lambda: torch_loop(sparse, spikes, sparse_weights=True)),
        ("scipy.sparse IF loop", lambda: numpy_loop(sparse, spikes)),
        (f"snnTorch Leaky (beta=1), batch {batch}", lambda: snntorch_if(dense, spikes)),
    ]
    lines = bench(f"A: MLP 784-512-512-10, int8, rate input, 64 ticks, batch {batch} (chip wide1024: "
                  f"{sim.n} neurons, {sim.syn_weight.size:,} synapses)", entries, ref, batch, events, repeats, wide.module)  # fmt: skip
    try:
        brian = Brian2IF(dense, 784)
        b2 = [(f"Brian2 (cython), {peers_n} samples one by one", lambda: brian(spikes[:, :peers_n]))]
    except ImportError as missing:
        error = missing
        b2 = [(f"Brian2 (not installed: {error.name})", lambda: (_ for _ in ()).throw(error))]
    sub = raw_output(sim.run(x[:peers_n]), wide.module)
    lines += bench(f"A, first {peers_n} samples: Brian2 runs one network per sample", [
        ("nmc simulator (numpy)", lambda: raw_output(sim.run(x[:peers_n]), wide.module)), *b2],
        sub, peers_n, Chip(decode(wide.binary)).run(x[:peers_n]).synaptic_events, max(1, repeats - 2), wide.module)  # fmt: skip
    tj = compile_model(model, calib, "tianjic256")
    tsim = Chip(decode(tj.binary))
    seconds, trun = timed(lambda: tsim.run(x), repeats)
    check = run_core(tj.module, x[:16]).outputs[0]
    same = np.array_equal(tsim.run(x[:16]).outputs[0], check)
    lines += [f"Same MLP on tianjic256 (fan-in 256: {tsim.n} neurons incl. {tsim.psum.size} partial-sum units, "
              f"{tsim.syn_weight.size:,} synapses): {batch / seconds:,.1f} samples/s, {trun.synaptic_events / seconds:,.3g} "
              f"events/s; equal to the core interpreter on 16 samples: {same}.", ""]  # fmt: skip
    return lines


PRESETS = [  # what a user gets: preset chips, default flags, each encoding the chip takes
    ("tianjic256", "direct", {}),
    ("tianjic256", "rate", {}),
    ("tianjic256", "poisson", {}),
    ("truenorth4", "rate", {"approximate_fan_in": True}),
    ("truenorth4", "poisson", {"approximate_fan_in": True}),
]


def workload_a_presets(repeats: int, batch: int) -> list[str]:
    """A's MLP compiled for the preset chips, each encoding: the simulator beside the numpy IF loop on the same
    logical network (the dense float32 weights of the wide-core compile), outputs checked against the core
    interpreter of that very compile."""
    from nmc.chips.binary import decode
    from nmc.runtime.core_interp import run_core
    from nmc.runtime.simulator import Chip

    rng = np.random.default_rng(0)
    calib = rng.random((256, 784), dtype=np.float32)
    x = rng.random((batch, 784), dtype=np.float32)
    model = mlp_model()
    lines = [f"**A on the preset chips** (MLP 784-512-512-10, 64 ticks, batch {batch}; default flags plus the encoding; "
             "truenorth4 has no partial sums, so `--approximate-fan-in`):", "",
             "| chip | encoding | neurons (partial-sum units) | nmc samples/s | numpy loop samples/s | nmc / loop | kernels | neuron update | equal to the core interpreter |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for chip, encoding, extra in PRESETS:
        compiled = compile_model_flags(model, calib, chip, encoding, **extra)
        wide = compile_model_flags(model, calib, wide_chip(), encoding)
        sim = Chip(decode(compiled.binary))
        for _ in range(8):  # the steady state: tables built, and the compiled neuron update once the runs repay it
            if sim.run(x).stats["neuron_update"] == "compiled":
                break
        dense, spikes = layers_of(wide.module, True), encoded(wide.module, x)
        t_sim, run = timed(lambda sim=sim: sim.run(x), repeats)
        t_loop, _ = timed(lambda dense=dense, spikes=spikes: numpy_loop(dense, spikes), repeats)
        same = np.array_equal(Chip(decode(compiled.binary)).run(x[:16]).outputs[0], run_core(compiled.module, x[:16]).outputs[0])
        kernels = ", ".join(f"{k or 'run dtype'} {v}" for k, v in run.stats.get("kernels", {}).items())
        lines.append(f"| {chip} | {encoding} | {sim.n:,} ({sim.psum.size:,}) | {batch / t_sim:,.1f} | {batch / t_loop:,.1f} | "
                     f"{t_loop / t_sim:.2f}x | {kernels} ({run.stats['dtype']}) | {run.stats['neuron_update']} | {same} |")  # fmt: skip
    return [*lines, "", fused_load_note(), ""]


def fused_load_note() -> str:
    """The one-time cost the steady state above leaves out, measured in a fresh interpreter."""
    from nmc.runtime.sim_fused import FUSED_MIN_UPDATES

    code = ("import time, numpy as np; t = time.perf_counter(); from nmc.runtime import sim_fused as F; "
            "f = F.fused_update(1e12, np.float32, 'numpy'); v = np.zeros((4, 8), np.float32); "
            "p = {k: np.zeros((4, 1), np.float32) for k in ('inv', 'fire_at', 'thr_subtract', 'zero_firing')}; "
            "f.neurons(v, v.copy(), -9, 9, p, {'decay': True, 'zero_firing': True}, np.zeros(4, np.int64), 0, v.copy(), np.zeros(4)); "
            "print(time.perf_counter() - t)")  # fmt: skip
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]  # fmt: skip
    return (
        f"Steady state: tables built and, on the numpy backend, the compiled neuron update (runtime/sim_fused.py) "
        f"loaded; a chip switches to it once its runs have done {FUSED_MIN_UPDATES:.0e} neuron updates (truenorth4, batch 256: "
        f"its fourth batch; before that the numpy passes). Loading it costs {np.median(runs):.2f} s once per "
        f"process (median of 3 fresh interpreters, numba's cache warm)."
    )


def workload_tnn(repeats: int, samples: int) -> list[str]:
    """The TNN a user gets (`tnn.build` defaults on the default TNN chip) on CBF series: the chip simulator beside
    the obvious code, the reference interpreter's per-tick numpy loop (runtime/tnn_ref.py), and nmc's torch module;
    inference over a batch, and STDP learning sample by sample. Every output checked equal to the simulator's."""
    import copy

    import torch

    import nmc
    from nmc import tnn
    from nmc.chips.binary import decode
    from nmc.runtime.tnn_interp import run_tnn
    from nmc.runtime.tnn_sim import TnnChip

    base = np.load(Path(__file__).resolve().parent.parent / "examples" / "cbf_x.npy")
    x = np.concatenate([base] * -(-samples // len(base)))[:samples]
    model = tnn.build(base, 3)
    compiled = nmc.compile(model)
    image = decode(compiled.binary)
    sim = TnnChip(image)
    (col,) = sim.columns
    ref = sim.run(x).outputs
    learn_n = min(samples, 300)

    def torch_forward() -> np.ndarray:
        with torch.no_grad():
            return model(model.encode(x)).numpy()

    def torch_learn() -> np.ndarray:
        m = copy.deepcopy(model)
        return m.learn(m.encode(x[:learn_n])).numpy()

    learned = TnnChip(image).run(x[:learn_n], learn=True).outputs
    lines = [f"**TNN on {compiled.report['chip']['name']}** (the defaults: `tnn.build(x, 3)` on CBF series of 128 values, "
             f"one column of {col.weights.shape[0]} neurons x {col.weights.shape[1]} synapses, {sim.time_bits}-bit times):", "",
             "| run | implementation | samples/s | speed vs nmc | output |", "|---|---|---:|---:|---|"]  # fmt: skip
    for label, n, entries, expected in (
        (f"inference, batch {samples}", samples, [
            ("nmc chip simulator", lambda: TnnChip(image).run(x).outputs),
            ("reference interpreter (per-tick numpy loop)", lambda: run_tnn(compiled.module, x).outputs),
            ("nmc torch module (CPU)", torch_forward)], ref),
        (f"STDP learning, {learn_n} samples in order", learn_n, [
            ("nmc chip simulator", lambda: TnnChip(image).run(x[:learn_n], learn=True).outputs),
            ("reference interpreter (per-tick numpy loop)", lambda: run_tnn(compiled.module, x[:learn_n], learn=True).outputs),
            ("nmc torch module (CPU)", torch_learn)], learned),
    ):  # fmt: skip
        base_t = None
        for name, fn in entries:
            seconds, out = timed(fn, repeats)
            base_t = base_t or seconds
            same = "identical" if np.array_equal(out, expected) else "DIFFERENT"
            lines.append(f"| {label} | {name} | {n / seconds:,.1f} | {base_t / seconds:.2f}x | {same} |")
    return [*lines, ""]


def compile_model_flags(model, x_calib, chip, encoding, ticks=64, **extra):
    import nmc

    return nmc.compile(
        model, chip=chip, calibration=x_calib, encoding=encoding, timesteps=ticks, allow_accuracy_loss=True, **extra
    )


def workload_a_gpu(repeats: int, batch: int, device: str) -> list[str]:
    """A on `device` (a GPU): nmc's torch backend next to a hand-written torch loop that holds the encoded
    spikes on the device and multiplies in TF32 (exact here: int8 weights, 0/1 spikes, sums below 2**24)."""
    import torch

    from nmc.chips.binary import decode
    from nmc.runtime.simulator import Chip

    def synced(fn: Callable[[], np.ndarray]) -> Callable[[], np.ndarray]:
        def run() -> np.ndarray:
            out = fn()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            return out

        return run

    def tf32_loop(layers: list[Layer], spikes) -> np.ndarray:
        torch.backends.cuda.matmul.allow_tf32 = True  # nmc's backend switches it off for itself
        return torch_loop(layers, spikes, device=device)

    rng = np.random.default_rng(0)
    calib = rng.random((256, 784), dtype=np.float32)
    x = rng.random((batch, 784), dtype=np.float32)
    wide = compile_model(mlp_model(), calib, wide_chip())
    sim = Chip(decode(wide.binary))
    run = sim.run(x)
    ref = raw_output(run, wide.module)  # the numpy backend's outputs: every row is checked against them
    spikes = torch.from_numpy(encoded(wide.module, x)).to(device)
    dense = layers_of(wide.module, True)
    entries = [
        (f"nmc simulator (torch {device})", synced(lambda: raw_output(sim.run(x, device=device), wide.module))),
        (f"hand-written torch loop ({device}, TF32, spikes on the device)", synced(lambda: tf32_loop(dense, spikes))),
    ]
    return bench(f"A on {torch.cuda.get_device_name() if device.startswith('cuda') else device}: batch {batch}",
                 entries, ref, batch, run.synaptic_events, repeats, wide.module)  # fmt: skip


def workload_b(n_total: int, repeats: int, batch: int) -> list[str]:
    from nmc.chips.binary import decode, encode
    from nmc.pipeline import lower_to_map
    from nmc.runtime.simulator import Chip
    from nmc.targets.chip_binary import build_image

    module, chip = band_network(n_total)
    lower_to_map(module, chip, partition="sequential", placement="sequential")
    sim = Chip(decode(encode(build_image(module))))
    rng = np.random.default_rng(1)
    x = (rng.random((batch, n_total // 2)) * 0.6).astype(np.float32)
    run = sim.run(x, record=True)
    activity = float(run.spikes.mean())
    ref = raw_output(run, module)
    spikes = encoded(module, x)
    sparse = layers_of(module, False)
    entries = [
        ("nmc simulator (numpy)", lambda: raw_output(sim.run(x), module)),
        ("scipy.sparse IF loop", lambda: numpy_loop(sparse, spikes)),
        ("torch.sparse IF loop", lambda: torch_loop(sparse, spikes, sparse_weights=True)),
    ]
    if n_total <= 20_000:
        dense = layers_of(module, True)
        entries += [("numpy IF loop (BLAS, dense)", lambda: numpy_loop(dense, spikes)),
                    ("torch IF loop (dense)", lambda: torch_loop(dense, spikes))]  # fmt: skip
    title = (f"B: {n_total:,} neurons, fan-in 100, batch {batch}, {sim.ticks} ticks, spike activity {activity:.1%} per tick "
             f"({run.stats['event_ticks']} of {run.ticks} ticks event-driven)")  # fmt: skip
    return bench(title, entries, ref, batch, run.synaptic_events, repeats, module)


def workload_c(repeats: int, batch: int) -> list[str]:
    from nmc.chips.binary import decode
    from nmc.runtime.simulator import Chip

    calib = np.load(EXAMPLES / "digits_calib.npy")
    x = np.concatenate([np.load(EXAMPLES / "digits_test.npy")] * 4)[:batch]
    compiled = compile_model(EXAMPLES / "digits_cnn.pt", calib, wide_chip(), shape=(1, 8, 8))
    sim = Chip(decode(compiled.binary))
    run = sim.run(x)
    ref = raw_output(run, compiled.module)
    spikes = encoded(compiled.module, x)
    spikes = spikes.reshape(spikes.shape[0], spikes.shape[1], -1)
    dense, sparse = layers_of(compiled.module, True), layers_of(compiled.module, False)
    entries = [
        ("nmc simulator (numpy)", lambda: raw_output(sim.run(x), compiled.module)),
        ("numpy IF loop (BLAS, unrolled conv)", lambda: numpy_loop(dense, spikes)),
        ("scipy.sparse IF loop", lambda: numpy_loop(sparse, spikes)),
        ("torch IF loop (unrolled conv)", lambda: torch_loop(dense, spikes)),
        ("torch.sparse IF loop", lambda: torch_loop(sparse, spikes, sparse_weights=True)),
    ]
    return bench(f"C: digits CNN, int8, rate input, 64 ticks, batch {batch} ({sim.n} neurons, {sim.syn_weight.size:,} synapses)",
                 entries, ref, batch, run.synaptic_events, repeats, compiled.module)  # fmt: skip


BASELINE = "fdab949"  # the last commit before the simulator rewrite (issue #10's "today")
COMPILE_SCRIPT = """
import hashlib, json, sys, time
import numpy as np
sys.path.insert(0, {bench!r})
import nmc
from sim import mlp_model
calib = np.random.default_rng(0).random((300, 784), dtype=np.float32)
model = mlp_model()  # torch is imported here, outside the timed compiles
times = []
for _ in range({repeats}):
    t0 = time.perf_counter()
    c = nmc.compile(model, calibration=calib, encoding="rate", timesteps=64)
    times.append(time.perf_counter() - t0)
t0 = time.perf_counter()
try:
    nmc.compile(model, calibration=calib, encoding="rate", timesteps=64, check=False)
    no_check = time.perf_counter() - t0
except Exception:  # a version without the option
    no_check = None
print(json.dumps({{"times": times, "no_check": no_check, "steps": getattr(c, "seconds", {{}}),
                  "binary": hashlib.sha256(c.binary).hexdigest(), "report": c.report}}, default=str))
"""


def compile_in(src: Path, repeats: int) -> dict:
    """Run the compile benchmark in a fresh interpreter on the sources at `src` (a checkout of the repository)."""
    import json
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "nmc"  # the package-dir mapping of pyproject.toml, as links
        pkg.mkdir()
        for f in (src / "compiler").iterdir():
            (pkg / f.name).symlink_to(f)
        for sub in ("chips", "dialects", "passes", "targets", "runtime"):
            (pkg / sub).symlink_to(src / sub)
        env = {**os.environ, "PYTHONPATH": tmp, "OMP_NUM_THREADS": "1"}
        code = COMPILE_SCRIPT.format(bench=str(Path(__file__).resolve().parent), repeats=repeats)  # today's model code
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(f"compile benchmark at {src}: {proc.stderr.strip().splitlines()[-1]}")
        out = proc.stdout
    return json.loads(out.strip().splitlines()[-1])


def compile_time(repeats: int, baseline: str) -> list[str]:
    """nmc.compile of A's MLP now and at `baseline` (a git worktree), each in a fresh interpreter."""
    import subprocess
    import tempfile

    root = Path(__file__).resolve().parent.parent
    now = compile_in(root, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        old_src = Path(tmp) / "old"
        subprocess.run(["git", "-C", str(root), "worktree", "add", "--detach", str(old_src), baseline], check=True,
                       capture_output=True)  # fmt: skip
        try:
            old = compile_in(old_src, repeats)
        finally:
            subprocess.run(["git", "-C", str(root), "worktree", "remove", "--force", str(old_src)], check=True)
    t_now, t_old = statistics.median(now["times"]), statistics.median(old["times"])
    first_now, first_old = now["times"][0], old["times"][0]
    differ = []  # section.key of every report entry that differs
    for k in sorted(set(now["report"]) | set(old["report"])):
        a, b = old["report"].get(k), now["report"].get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            differ += [f"{k}.{kk}" for kk in sorted(set(a) | set(b)) if a.get(kk) != b.get(kk)]
        elif a != b:
            differ.append(k)
    steps = ", ".join(f"{k} {v:.2f}" for k, v in sorted(now["steps"].items(), key=lambda kv: -kv[1]) if v >= 0.05)
    return [
        "**Compile time: `nmc.compile` of A's MLP (tianjic256, rate, 64 ticks, 300 calibration samples), fresh "
        "interpreter (the model built before timing)**",
        "",
        "| version | seconds (median) | speed-up | first compile in the process | without checks (`check=False`) |",
        "|---|---:|---:|---:|---:|",
        f"| {baseline} (before the simulator rewrite) | {t_old:.2f} | 1.00x | {first_old:.2f} | "
        f"{'no such option' if old['no_check'] is None else format(old['no_check'], '.2f')} |",
        f"| this commit | {t_now:.2f} | {t_old / t_now:.2f}x | {first_now:.2f} | {now['no_check']:.2f} |",
        "",
        f"Steps now (s): {steps}. Chip binaries byte-identical: {now['binary'] == old['binary']}; "
        f"report entries that differ: {', '.join(differ) or 'none'}. (Against {BASELINE}: chip_run's synaptic "
        "operations and energies are the counter bug this issue fixed; core.groups and mapping.lower_bound gained "
        "fields since; the spike agreement moves in the 7th digit because decompose-fan-in now balances its ranges.)",
        "",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller batches, B at 10k only (a smoke run; numbers not written)")
    ap.add_argument("--gpu-device", default="cuda", help=argparse.SUPPRESS)  # "cpu": smoke-test the GPU rows here
    ap.add_argument("--baseline", default=BASELINE, help=f"the commit to compare compile time with (default {BASELINE})")
    ap.add_argument("--only", choices=("presets",), help="run only A on the preset chips (writes its own section)")
    args = ap.parse_args()
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
    if args.only == "presets":
        with threadpool_limits(1):
            t0 = time.time()
            lines = workload_a_presets(args.repeats, 64 if args.quick else 256)
            lines += workload_tnn(args.repeats, 300 if args.quick else 3000)
        body = "\n".join(["## Simulator speed on the preset chips (`benchmarks/sim.py --only presets`)", "",
                          f"Single thread, {machine()}, medians of {args.repeats} runs, {time.time() - t0:.0f} s in all.", "",
                          *lines])  # fmt: skip
        print(body)
        if not args.quick:
            write_section("sim-presets", body)
        return
    with threadpool_limits(1):
        t0 = time.time()
        lines = workload_a(args.repeats, 64 if args.quick else 256, args.quick)
        lines += workload_a_presets(args.repeats, 64 if args.quick else 256)
        lines += workload_tnn(args.repeats, 300 if args.quick else 3000)
        for n in (10_000,) if args.quick else (10_000, 100_000):
            lines += workload_b(n, args.repeats, 8 if args.quick else 32)
        lines += workload_c(args.repeats, 64 if args.quick else 256)
    gpu = args.gpu_device != "cuda" or torch.cuda.is_available()
    if gpu:
        lines += workload_a_gpu(args.repeats, 256 if args.quick else 4096, args.gpu_device)
    lines += compile_time(1 if args.quick else args.repeats, args.baseline)
    body = "\n".join([
        "## Simulator speed (`benchmarks/sim.py`)", "",
        f"Single thread (BLAS and torch limited to 1 thread), {machine()}, medians of {args.repeats} runs, "
        f"{time.time() - t0:.0f} s in all. \"speed vs nmc\" is the row's speed over the simulator's (numpy backend): "
        "above 1x the competitor is faster. Every output was checked equal to the simulator's (counts, or membranes). "
        "Synaptic events = synapses whose axon carried a nonzero value (the simulator's counter, the same for every row). "
        "The simulator multiplies 8-bit weights by spikes with int8 GEMMs (int32 sums, exact: docs/chip-model.md); the "
        "\"float32 GEMMs only\" row shows it without them.",
        "", *lines,
        *([] if gpu else ["GPU: no CUDA device was available to this run; the torch backend's CUDA path "
                          "(`device=\"cuda\"`) is tested on the CPU only."]),
    ])  # fmt: skip
    print(body)
    if not args.quick:
        write_section("sim", body)


if __name__ == "__main__":
    main()
