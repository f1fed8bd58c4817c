"""The TNN default rule, tested leave-one-dataset-out on every UCR/UEA classification set aeon ships (docs/benchmarks.md, tnn-defaults).

`nmc-tnn fit X.npy --clusters K` with no other flag follows `nmc.tnn.default_design`: the chip column's
largest time bits, F Gaussian fields per value, and where a sample has more values than synapses / F, a
reduction to that many (R: mixed PAA + sparse projections); theta is a fraction of the mean spiking
lines x wmax / 2. F, R and the fraction are what could be tuned to the data; here each set is held out
in turn, the choice is made on the other sets alone (most sets where the TNN's Rand index >= Euclidean
k-means', ties by the worst-case margin), and the held-out set is scored with it. The choice on all
sets is compared with the shipped default. Every held-out model is compiled for the default TNN chip
and run on the chip simulator, which must give the torch model's clusters sample for sample.

Sets whose series differ in length (JapaneseVowels, PickupGestureWiimoteZ) are resampled linearly to
their longest series, as a user would before saving one X.npy.

    pip install -e '.[bench]'; python benchmarks/tnn_defaults.py
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import machine, write_section

SETS = ("ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels", "OSULeaf",
        "PickupGestureWiimoteZ", "UnitTest")  # fmt: skip
FIELDS = (4, 8, 16)
REDUCTIONS = ("mixed", "paa", "sparse")
FRACTIONS = (0.2, 0.3, 0.4)  # theta = fraction x mean spiking lines x wmax / 2 (nmc.tnn.DEFAULT_THRESHOLD_FRACTION)
GRID = list(itertools.product(FIELDS, REDUCTIONS, FRACTIONS))
SEEDS = (0, 1, 2)


def resample(series: list[np.ndarray]) -> np.ndarray:
    """Series of different lengths (channels, length_i), each linearly resampled to the longest."""
    n = max(s.shape[-1] for s in series)
    grid = np.linspace(0, 1, n)
    return np.stack([np.stack([np.interp(grid, np.linspace(0, 1, s.shape[-1]), c) for c in s]) for s in series])


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    from aeon.datasets import load_classification

    xa, ya = load_classification(name, split="train")
    xb, yb = load_classification(name, split="test")
    parts = [list(xa) + list(xb)] if isinstance(xa, list) or isinstance(xb, list) else None
    x = resample([np.asarray(s, np.float64) for s in parts[0]]) if parts else np.concatenate([xa, xb]).astype(np.float64)
    x = np.nan_to_num(x)
    if x.ndim == 3 and x.shape[1] == 1:
        x = x[:, 0]
    return x, np.unique(np.concatenate([ya, yb]), return_inverse=True)[1]


def kmeans_score(x: np.ndarray, y: np.ndarray, k: int) -> float:
    from sklearn.cluster import KMeans

    from nmc.tnn import rand_index

    z = ((x - x.mean(-1, keepdims=True)) / np.maximum(x.std(-1, keepdims=True), 1e-12)).reshape(len(x), -1)  # per channel
    return float(np.mean([rand_index(y, KMeans(k, n_init=10, random_state=s).fit_predict(z)) for s in SEEDS]))


def tnn_score(x: np.ndarray, y: np.ndarray, k: int, fields: int, reduce: str, fraction: float) -> tuple[float, str]:
    from nmc import tnn

    scores, design = [], ""
    for s in SEEDS:
        model = tnn.fit(tnn.build(x, k, fields=fields, reduce=reduce, threshold_fraction=fraction, seed=s), x, epochs=5, seed=s)
        scores.append(tnn.rand_index(y, model.predict(x)))
        layer = model.layers[0]
        design = f"{layer.synapses} x {layer.neurons}, b = {model.time_bits}"
    return float(np.mean(scores)), design


def chip_check(x: np.ndarray, k: int, fields: int, reduce: str, fraction: float) -> None:
    """The seed-0 model compiled for the default chip: its simulator clusters must be torch's, sample for sample."""
    import torch

    import nmc
    from nmc import tnn

    model = tnn.fit(tnn.build(x, k, fields=fields, reduce=reduce, threshold_fraction=fraction, seed=0), x, epochs=5, seed=0)
    with tempfile.TemporaryDirectory() as d:
        torch.save(model, Path(d) / "m.pt")
        on_chip = nmc.compile(str(Path(d) / "m.pt")).run(x)  # no --chip: the default TNN chip
    assert (on_chip == model.predict(x)).all(), "chip simulator and torch TNN disagree"


TIES = ("worst", "mean")  # after the most wins: the largest worst-case margin, or the largest mean margin


def choose(table: dict, names: list[str], tie: str) -> tuple[int, str, float]:
    """The (F, R, theta fraction) with the most sets of `names` at TNN >= k-means; ties by `tie` margin, then the grid order."""

    def merit(choice):
        margins = [table[n]["tnn"][choice] - table[n]["kmeans"] for n in names]
        return (sum(m >= 0 for m in margins), float(min(margins) if tie == "worst" else np.mean(margins)))

    return max(GRID, key=lambda c: (merit(c), -GRID.index(c)))


def multichannel(shape: list[int]) -> bool:
    return len(shape) > 1 and shape[0] > 1


def grid_table(names: list[str], column: dict, cache: Path | None) -> dict[str, dict]:
    """Every set's k-means and TNN score for every choice of the grid: computed (an hour on two cores), or read from
    `cache` (written by an earlier full run with --save-grid, or the grid table of docs/benchmarks.md)."""
    from nmc import tnn

    if cache is not None and cache.exists():
        data = json.loads(cache.read_text())
        return {n: {**data[n], "tnn": {_key(k): v for k, v in data[n]["tnn"].items()}} for n in names}
    table: dict[str, dict] = {}
    for name in names:
        x, y = load(name)
        k = len(set(y.tolist()))
        t0 = time.perf_counter()
        row = {"n": len(x), "shape": list(x.shape[1:]), "k": k, "kmeans": kmeans_score(x, y, k), "tnn": {}}
        designs: dict[tuple, float] = {}  # choices giving the same encoder and threshold are fitted once
        for f, r, fr in GRID:
            key = (*sorted(tnn.default_design(tuple(x.shape[1:]), column, f, r).items()), fr)
            if key not in designs:
                designs[key] = tnn_score(x, y, k, f, r, fr)[0]
            row["tnn"][(f, r, fr)] = designs[key]
        table[name] = row
        print(name, round(row["kmeans"], 3), f"{time.perf_counter() - t0:.0f} s", flush=True)
    return table


def _key(text: str) -> tuple:
    f, r, fr = text.split("/")
    return int(f), r, float(fr)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--grid", type=Path, help="read the grid's scores from this JSON (see grid_table) instead of fitting it")
    ap.add_argument("--save-grid", type=Path, help="write the grid's scores to this JSON")
    args = ap.parse_args()
    from nmc import tnn
    from nmc.chips import load_chip

    column = load_chip(tnn.DEFAULT_CHIP).tnn_column
    names = args.sets.split(",")
    table = grid_table(names, column, args.grid)
    if args.save_grid:
        args.save_grid.write_text(json.dumps({n: {**t, "tnn": {f"{f}/{r}/{fr}": v for (f, r, fr), v in t["tnn"].items()}}
                                              for n, t in table.items()}, indent=1))  # fmt: skip
    # The rule chooses per kind of series: one channel, or several (their best choices differ: docs/tnn.md). Each
    # held-out set gets the choice made on the other sets of its kind only; it is then fitted again (exact scores,
    # the same seeds), k-means too, and its seed-0 model compiled for the default chip and checked on the simulator.
    rows, wins = [], dict.fromkeys(TIES, 0)
    for name in names:
        kin = [n for n in names if n != name and multichannel(table[n]["shape"]) == multichannel(table[name]["shape"])]
        choices = {tie: choose(table, kin, tie) for tie in TIES}
        x, y = load(name)
        k = table[name]["k"]
        exact = {choice: tnn_score(x, y, k, *choice) for choice in set(choices.values())}
        for choice in exact:
            chip_check(x, k, *choice)
        km = kmeans_score(x, y, k)
        for tie, choice in choices.items():
            wins[tie] += exact[choice][0] >= km
        rows.append((name, kin, choices, exact, km))
        print(name, {tie: (c, round(exact[c][0], 4)) for tie, c in choices.items()}, round(km, 4), flush=True)
    kinds = {m: [n for n in names if multichannel(table[n]["shape"]) == m] for m in (False, True)}
    full = {m: choose(table, kinds[m], "worst") for m in (False, True) if kinds[m]}
    default = {m: (tnn.MULTICHANNEL_FIELDS, tnn.MULTICHANNEL_REDUCTION, tnn.MULTICHANNEL_THRESHOLD_FRACTION) if m else
               (tnn.DEFAULT_FIELDS, tnn.DEFAULT_REDUCTION, tnn.DEFAULT_THRESHOLD_FRACTION) for m in (False, True)}  # fmt: skip

    def c(choice) -> str:
        return f"{choice[0]}, {choice[1]}, {choice[2]:g}"

    kind_name = {False: "one channel", True: "several channels"}
    lines = [
        "## TNN defaults, leave one dataset out (`benchmarks/tnn_defaults.py`)",
        "",
        f"Machine: {machine()}. The rule of `nmc.tnn.default_design` (docs/tnn.md) on every UCR/UEA classification "
        f"set aeon 1.6 ships offline ({len(names)}); each set = train + test splits, K = classes, Rand index mean of "
        f"{len(SEEDS)} seeds, 5 STDP epochs, default TNN chip '{tnn.DEFAULT_CHIP}' ({column['synapses']} synapses, "
        f"{column['time_bits']} time bits). The rule's free choices: F (fields per value, {'/'.join(map(str, FIELDS))}), "
        f"R (how a long sample is reduced to synapses / F values: {', '.join(REDUCTIONS)}) and the threshold fraction "
        f"({'/'.join(map(str, FRACTIONS))}: theta = fraction x mean spiking lines x wmax / 2), each chosen per kind of "
        "series: one channel, or several. For each held-out set, (F, R, fraction) is chosen on the other sets *of its "
        "kind* only: most sets with TNN >= Euclidean k-means (z-normalised series, 10 inits), ties broken by the largest "
        "worst-case margin; the mean-margin tie-break is reported too. The held-out set is fitted again with the choice "
        "(the scores below), its seed-0 model compiled for the default chip and its chip-simulator clusters checked "
        "equal to torch's on every sample (a failed check stops the run). Unequal-length sets are resampled linearly "
        "to their longest series."
        + (
            f" The grid the choices are made on was read from {args.grid.name} (the grid table below, from an earlier "
            "full run of this script with the same seeds, to 3 decimals); the held-out scores are fitted in this run."
            if args.grid
            else ""
        ),
        "",
        "| held-out set | samples | shape | K | kind (sets it is chosen on) | (F, R, fraction) chosen | column p x q "
        "| TNN | k-means | TNN >= k-means | mean-margin tie-break: choice, TNN |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, kin, choices, exact, km in rows:
        t = table[name]
        best, by_mean = choices["worst"], choices["mean"]
        ok = "yes" if exact[best][0] >= km else "**no**"
        lines.append(f"| {name} | {t['n']} | {t['shape']} | {t['k']} | {kind_name[multichannel(t['shape'])]} ({len(kin)}) "
                     f"| {c(best)} | {exact[best][1]} | {exact[best][0]:.3f} | {km:.3f} | {ok} | {c(by_mean)}: "
                     f"{exact[by_mean][0]:.3f} |")  # fmt: skip
    n = len(rows)
    chosen = "; ".join(f"{kind_name[m]}: {c(full[m])}" for m in full)
    shipped = "; ".join(f"{kind_name[m]}: {c(default[m])}" for m in full)
    lines += [
        "",
        f"Held out: TNN >= k-means on {wins['worst']} of {n} sets ({100 * wins['worst'] / n:.0f} %); with the mean-margin "
        f"tie-break {wins['mean']} of {n} ({100 * wins['mean'] / n:.0f} %). Chosen on all sets of each kind: {chosen}; "
        f"shipped default: {shipped}. Only {len(kinds[True])} sets have several channels, so each multichannel "
        "choice held out is made on one set.",
        "",
        "Every choice on every set (Rand index, mean of seeds; k-means in the first row):",
        "",
        "| F, R, fraction | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| k-means | " + " | ".join(f"{table[nm]['kmeans']:.3f}" for nm in names) + " |",
    ]
    for choice in GRID:
        lines.append(f"| {c(choice)} | " + " | ".join(f"{table[nm]['tnn'][choice]:.3f}" for nm in names) + " |")
    write_section("tnn-defaults", "\n".join(lines))


if __name__ == "__main__":
    main()
