"""Xylo (docs/xylo.md): networks trained here, compiled with --target xylo, run by nmc's simulator of the device
and by SynSense's xylosim on every test sample: spikes compared on every neuron and tick, accuracy against the
float network, and the two simulators' run times side by side.

    python benchmarks/xylo.py      # about half a minute; writes the section `xylo` of docs/benchmarks.md

With Rockpool importable (`pip install --no-deps --target /tmp/extra rockpool==3.1.0`, `PYTHONPATH=/tmp/extra`),
a third row: the feed-forward network's weights in Rockpool's own LIFTorch model (Xylo's toolchain), exported by
Rockpool's `to_nir`, compiled from that file; its decisions against Rockpool's run of its model.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _report import machine, write_section

import nmc
from nmc.chips.xylo_format import read_config
from nmc.runtime.xylo_sim import run_config
from tests import xylo_models as xm


def _row(name: str, float_counts: np.ndarray, cfg, xte: np.ndarray, yte: np.ndarray) -> str:
    run_config(cfg, xte[:2])  # the compiled loop loaded (numba's cache) before timing
    t0 = time.perf_counter()
    ours = run_config(cfg, xte)
    t1 = time.perf_counter()
    theirs = run_config(cfg, xte, engine="xylosim")
    t2 = time.perf_counter()
    same = np.array_equal(ours.hidden, theirs.hidden) and np.array_equal(ours.readout, theirs.readout)
    float_acc = float((float_counts.argmax(1) == yte).mean())
    chip_acc = float((ours.counts.argmax(1) == yte).mean())
    agree = float((ours.counts.argmax(1) == float_counts.argmax(1)).mean())
    return (f"| {name} | {float_acc:.1%} | {chip_acc:.1%} ({(chip_acc - float_acc) * 100:+.1f} pt) | {agree:.1%} | "
            f"{int(ours.hidden.sum()):,} hidden, {int(ours.readout.sum()):,} readout | "
            f"{'identical' if same else 'DIFFERENT'} | {t1 - t0:.3f} s | {t2 - t1:.3f} s |")  # fmt: skip


def rockpool_row(src, xte: np.ndarray, yte: np.ndarray, calib: np.ndarray) -> str | None:
    """The feed-forward network as Rockpool's LIFTorch model, exported by Rockpool, compiled from the NIR file."""
    try:
        import nir
        from rockpool.nn.combinators import Sequential
        from rockpool.nn.modules import LIFTorch, LinearTorch
        from rockpool.nn.modules.torch.nir import to_nir
        from rockpool.parameters import Constant
    except ImportError:
        return None
    dt = 1e-3
    tau_syn, tau_mem = float(-dt / np.log(xm.ALPHA)), float(-dt / np.log(xm.BETA))

    def lif(n: int, theta: float, most: int):
        return LIFTorch(n, tau_mem=Constant(tau_mem), tau_syn=Constant(tau_syn), threshold=Constant(theta), dt=dt,
                        max_spikes_per_dt=most)  # fmt: skip

    net = Sequential(LinearTorch((16, 64), has_bias=False), lif(64, 4.0, 31), LinearTorch((64, 8), has_bias=False),
                     lif(8, 1.0, 1))  # fmt: skip
    with torch.no_grad():  # Rockpool adds the input before the current's decay: nmc's weights over alpha
        net[0].weight.data = torch.tensor(src[0].weight.detach().numpy().T / xm.ALPHA)
        net[2].weight.data = torch.tensor(src[2].weight.detach().numpy().T / xm.ALPHA)
    net.reset_state()
    with torch.no_grad():
        rock = net(torch.from_numpy(xte))[0].sum(1).numpy()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rockpool.nir"
        nir.write(path, to_nir(net))
        compiled = nmc.compile(path, target="xylo", calibration=calib)
    return _row("feed-forward, Rockpool's model exported by Rockpool's to_nir", rock, _config(compiled), xte, yte)


def _config(compiled):
    return read_config(next(iter(compiled.files.values())))


def main() -> None:
    torch.set_num_threads(1)
    xte, yte = xm.spike_digits16(1, test=True)
    calib = xm.spike_digits16(0, test=False)[0][:200]
    rows, nets = [], {}
    for kind in xm.FACTORIES:
        nets[kind] = net = xm.train(kind)
        compiled = nmc.compile(net, target="xylo", calibration=calib, input_shape=(16,), encoding="spikes")
        rows.append(_row(kind, xm.counts(net, xte), _config(compiled), xte, yte))
        print(rows[-1], flush=True)
    rock = rockpool_row(nets["feed-forward"], xte, yte, calib)
    rows.append(rock or "| Rockpool's export | not run: Rockpool is not importable here | | | | | | |")
    print(rows[-1], flush=True)
    body = "\n".join([
        "## SynSense Xylo (`benchmarks/xylo.py`)", "",
        f"Networks trained by the script (tests/xylo_models.py: 16-channel spike-coded digits 0-7, 32 ticks, 64 hidden "
        f"current-based neurons firing up to 31 times a tick, 8 readouts), {len(xte)} test samples, compiled with "
        f"`--target xylo`; {machine()}. Spikes of every hidden and readout neuron on every tick, nmc's simulator "
        "against SynSense's xylosim 0.1.3, and the wall time of each on the whole test set:", "",
        "| network | float accuracy | on Xylo | decisions agree | spikes | nmc = xylosim | nmc's simulator | xylosim |",
        "|---|---|---|---|---|---|---|---|", *rows,
    ])  # fmt: skip
    write_section("xylo", body)


if __name__ == "__main__":
    main()
