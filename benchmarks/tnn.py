"""TNN clustering on UCR sets bundled offline in aeon, next to k-means, k-Shape and DTW k-means (docs/benchmarks.md, tnn).

Each set is its train and test splits together; every method clusters the same z-normalised
series into K = the number of classes and is scored by the Rand index against the labels (mean
over 3 seeds). The TNN has nmc-tnn fit's defaults (nmc.tnn.default_design for tnn16: 5 time bits, 8
Gaussian fields per value, where a sample has more than 128 values a reduction to 128: 64 PAA segment
means and 64 sparse random projections), 5 epochs of STDP, one column of K neurons (k = 1); the rule
is tested leave-one-dataset-out by benchmarks/tnn_defaults.py. Each fitted TNN is compiled for the tnn16 chip and its binary run
on the chip simulator, which must give the torch model's clusters sample for sample.

    pip install -e '.[bench]'; python benchmarks/tnn.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import machine, write_section

SETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions", "OSULeaf", "ACSF1", "UnitTest")
SEEDS = (0, 1, 2)
DTW_MAX_LENGTH = 300  # DTW k-means is O(n K L^2) per iteration: longer series are not run
REDUCE_TO = 128  # tnn16: 1024 synapses / 8 fields, where nmc.tnn.default_design starts reducing


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    from aeon.datasets import load_classification

    xa, ya = load_classification(name, split="train")
    xb, yb = load_classification(name, split="test")
    x = np.concatenate([xa, xb]).astype(np.float64)
    return x, np.unique(np.concatenate([ya, yb]), return_inverse=True)[1]


def znorm(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(-1, keepdims=True)) / np.where(x.std(-1, keepdims=True) > 1e-12, x.std(-1, keepdims=True), 1)


def design(x: np.ndarray, k: int, seed: int):
    """The benchmark's TNN for `x` with K = k clusters, before learning: nmc-tnn fit's defaults for tnn16."""
    from nmc import tnn

    return tnn.build(x, k, seed=seed)


def tnn_run(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, float, dict]:
    import torch

    import nmc
    from nmc import tnn

    t0 = time.perf_counter()
    model = tnn.fit(design(x, k, seed), x, epochs=5, seed=seed)
    seconds = time.perf_counter() - t0
    clusters = model.predict(x)
    with tempfile.TemporaryDirectory() as d:
        torch.save(model, Path(d) / "m.pt")
        compiled = nmc.compile(str(Path(d) / "m.pt"), chip="tnn16")
        on_chip = compiled.run(x)
    assert (on_chip == clusters).all(), "chip simulator and torch TNN disagree"
    return clusters, seconds, compiled.report["tnn"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    args = ap.parse_args()
    from sklearn.cluster import KMeans
    from tslearn.clustering import KShape, TimeSeriesKMeans

    from nmc.tnn import rand_index

    rows = []
    for name in args.sets.split(","):
        x, y = load(name)
        k = len(set(y.tolist()))
        z = znorm(x)
        flat = z.reshape(len(z), -1)
        ts = np.transpose(z, (0, 2, 1)) if z.ndim == 3 else z[:, :, None]  # tslearn: (n, length, channels)
        scores: dict[str, list[float]] = {"tnn": [], "kmeans": [], "kshape": [], "dtw": []}
        seconds: dict[str, list[float]] = {m: [] for m in scores}
        info = {}

        for s in SEEDS:
            c, sec, info = tnn_run(x, k, s)
            scores["tnn"].append(rand_index(y, c))
            seconds["tnn"].append(sec)
            baselines = {
                "kmeans": (KMeans(k, n_init=10, random_state=s), flat),
                "kshape": (KShape(n_clusters=k, random_state=s, max_iter=50), ts),
            }
            if x.shape[-1] <= DTW_MAX_LENGTH:
                baselines["dtw"] = (TimeSeriesKMeans(k, metric="dtw", max_iter=10, random_state=s), ts)
            for method, (estimator, data) in baselines.items():
                t0 = time.perf_counter()
                clusters = estimator.fit_predict(data)
                seconds[method].append(time.perf_counter() - t0)
                scores[method].append(rand_index(y, clusters))
        mean = {m: (float(np.mean(v)) if v else None) for m, v in scores.items()}
        med = {m: (float(np.median(v)) if v else None) for m, v in seconds.items()}
        rows.append((name, len(x), list(x.shape[1:]), k, mean, med, info))
        print(name, {m: None if v is None else round(v, 3) for m, v in mean.items()},
              {m: None if v is None else round(v, 1) for m, v in med.items()}, flush=True)  # fmt: skip

    def f(v: float | None) -> str:
        return "—" if v is None else f"{v:.3f}"

    lines = [
        "## TNN clustering of UCR time series (`benchmarks/tnn.py`)",
        "",
        f"Machine: {machine()}. Each set = train + test splits; Rand index against the class labels, mean of "
        f"{len(SEEDS)} seeds, K = classes. TNN: `nmc-tnn fit`'s defaults for tnn16 (docs/tnn.md: 5 time bits, 8 Gaussian "
        f"fields per value; where a sample has more than {REDUCE_TO} values, a reduction to {REDUCE_TO}: {REDUCE_TO // 2} PAA "
        f"segment means and {REDUCE_TO // 2} sparse random projections; theta = 0.3 x mean spiking inputs x wmax/2, 3-bit "
        "weights, 5 STDP epochs, one column of K neurons, k = 1), tested leave-one-dataset-out in section tnn-defaults "
        "(it was first chosen on these sets: PAA alone lost ACSF1, sparse projection alone lost BasicMotions). Every fitted "
        "TNN was compiled for tnn16 and run on the chip "
        "simulator, which gave the torch model's clusters on every sample. k-means: scikit-learn, Euclidean, 10 inits, "
        "on the z-normalised series; k-Shape and DTW k-means: tslearn (DTW only for length <= "
        f"{DTW_MAX_LENGTH}: its cost grows with length squared). Times: median fit seconds on this CPU (no GPU here).",
        "",
        "| set | samples | shape | K | TNN | k-means | k-Shape | DTW k-means | TNN >= k-means | fit s: TNN / k-means / k-Shape / DTW | column p x q |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def sec(v: float | None) -> str:
        return "—" if v is None else f"{v:.1f}"

    for name, n, shape, k, m, t, info in rows:
        layer = info["layers"][0]
        ok = "yes" if m["tnn"] >= m["kmeans"] else "**no**"
        lines.append(
            f"| {name} | {n} | {shape} | {k} | {f(m['tnn'])} | {f(m['kmeans'])} | {f(m['kshape'])} | {f(m['dtw'])} | {ok} "
            f"| {sec(t['tnn'])} / {sec(t['kmeans'])} / {sec(t['kshape'])} / {sec(t['dtw'])} "
            f"| {layer['synapses']} x {layer['neurons']} |"
        )
    wins = sum(m["tnn"] >= m["kmeans"] for *_, m, _s, _i in rows)
    lines += ["", f"TNN >= Euclidean k-means on {wins} of {len(rows)} sets."]
    write_section("tnn", "\n".join(lines))


if __name__ == "__main__":
    main()
