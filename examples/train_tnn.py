"""Regenerate the bundled TNN example: Cylinder-Bell-Funnel series and a TNN column that clusters them.

CBF (Saito 1994), the classic synthetic time-series set: length 128, three shapes on [a, b] with
a ~ U[16, 32], b - a ~ U[32, 96], amplitude 6 + N(0, 1), plus N(0, 1) noise at every step:
cylinder (flat), bell (rising ramp), funnel (falling ramp). 300 series, 100 per class, seeded.
The TNN: 3 time bits, 4 Gaussian fields over 16 PAA segment means, theta = 0.4 x the mean
spiking lines x wmax / 2, one column of 3 neurons, 5 epochs of STDP: a 64 x 3 column (Rand
index 0.662; Euclidean k-means on the z-normalised series: 0.647) that `nmc-compile --target
verilog --synth` turns into hardware in under a minute.

    python examples/train_tnn.py   # writes examples/cbf_x.npy, cbf_y.npy and cbf_tnn.pt, prints the Rand index
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def cbf(n_per_class: int = 100, length: int = 128, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(1, length + 1)
    xs, ys = [], []
    for label in range(3):
        for _ in range(n_per_class):
            a = rng.integers(16, 33)
            b = a + rng.integers(32, 97)
            amp = 6 + rng.normal()
            inside = (t >= a) & (t <= b)
            shape = (1.0, (t - a) / (b - a), (b - t) / (b - a))[label]
            xs.append(amp * inside * shape + rng.normal(size=length))
            ys.append(label)
    order = rng.permutation(len(xs))
    return np.asarray(xs, np.float32)[order], np.asarray(ys, np.int64)[order]


def main() -> None:
    import torch

    from nmc import tnn

    x, y = cbf()
    np.save(HERE / "cbf_x.npy", x)
    np.save(HERE / "cbf_y.npy", y)
    setting = {"time_bits": 3, "fields": 4, "project": 16, "reduce": "paa", "seed": 0}
    times = tnn.build(x, 3, **setting).encode(x)
    spiking = float((times < 1 << setting["time_bits"]).sum(1).double().mean())
    model = tnn.build(x, 3, threshold=round(0.4 * spiking * 7 / 2), **setting)
    tnn.fit(model, x, epochs=5, seed=0)
    torch.save(model, HERE / "cbf_tnn.pt")
    layer = model.layers[0]
    print(f"cbf_tnn.pt: {layer.synapses} x {layer.neurons} column, Rand index {tnn.rand_index(y, model.predict(x)):.3f}")


if __name__ == "__main__":
    main()
