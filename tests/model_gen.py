"""Seeded generators of the models nmc claims to take, for tests (a few) and benchmarks/generated.py (hundreds).

`ann(seed)` draws a float network from the grammar of docs/frontend.md: dense, Conv1d/Conv2d (any kernel,
stride, padding, groups), average/max/adaptive pooling, BatchNorm, ReLU and clipped ReLUs (ReLU6,
Hardtanh(0, c), clamp), residual adds, channel concatenation, reshape/flatten, with random widths and
depths; `snn(seed)` an `nmc.nn` spiking network (IF/LIF, dense or convolutional). Both read sklearn's
8x8 digits as (1, 8, 8) images, 64 features, or 8 rows of 8 (Conv1d), and `train` fits them for a few
epochs, seeded. `describe(model)` is the one-line architecture the benchmark tables list. `series(seed)` draws a
clustering task for a TNN: labelled series of random length, channels and cluster count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nmc import nn as nmc_nn


@dataclass
class Generated:
    """A generated model, the shape one sample has, and how it was drawn."""

    model: nn.Module
    input_shape: tuple[int, ...]
    family: str
    spiking: bool = False


class Residual(nn.Module):
    """y = act(x + body(x)): the add a ResNet block ends with."""

    def __init__(self, body: nn.Module, act: nn.Module):
        super().__init__()
        self.body, self.act = body, act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class Concat(nn.Module):
    """Branches side by side on the channel axis (Inception, DenseNet)."""

    def __init__(self, *branches: nn.Module):
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


class FlattenByView(nn.Module):
    """x.view(x.size(0), -1): how many models flatten."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


def _act(rng: np.random.Generator) -> nn.Module:
    kind = rng.choice(["relu", "relu", "relu6", "hardtanh", "hardtanh2"])
    return {"relu": nn.ReLU(), "relu6": nn.ReLU6(), "hardtanh": nn.Hardtanh(0, 1), "hardtanh2": nn.Hardtanh(0, 2)}[kind]


def _pick(rng: np.random.Generator, options) -> int:
    return int(rng.choice(options))


def _conv_stage(rng: np.random.Generator, dims: int, c: int, size: int) -> tuple[list[nn.Module], int, int]:
    """One block of a conv net: plain conv (+BN) + act (+pool), a residual block, or a concat block."""
    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    block = rng.choice(["conv", "conv", "conv", "residual", "concat", "grouped"])
    if block == "residual":
        body = [conv(c, c, 3, padding=1)] + ([bn(c)] if rng.random() < 0.5 else []) + [_act(rng), conv(c, c, 3, padding=1)]
        return [Residual(nn.Sequential(*body), nn.ReLU())], c, size
    if block == "concat":
        a, b = _pick(rng, [2, 4, 6]), _pick(rng, [2, 4, 6])
        return [Concat(nn.Sequential(conv(c, a, 1), _act(rng)), nn.Sequential(conv(c, b, 3, padding=1), _act(rng)))], a + b, size
    out = _pick(rng, [4, 6, 8, 12, 16])
    k = min(_pick(rng, [1, 3, 3, 5]), size)
    groups = 1
    if block == "grouped" and c > 1:
        groups = c if rng.random() < 0.5 else next(g for g in (4, 2, 1) if c % g == 0)
        out = groups * max(1, out // groups)
    stride = 2 if size >= 6 and rng.random() < 0.25 else 1
    pad = k // 2 if rng.random() < 0.7 else 0
    layers: list[nn.Module] = [conv(c, out, k, stride=stride, padding=pad, groups=groups)]
    size = (size + 2 * pad - k) // stride + 1
    if rng.random() < 0.3:
        layers.append(bn(out))
    layers.append(_act(rng))
    if size >= 4 and rng.random() < 0.5:
        pool = rng.choice(["avg", "max"])
        if dims == 2:
            layers.append(nn.AvgPool2d(2) if pool == "avg" else nn.MaxPool2d(2))
        else:
            layers.append(nn.AvgPool1d(2) if pool == "avg" else nn.MaxPool1d(2))
        size //= 2
    return layers, out, size


def _head(rng: np.random.Generator, dims: int, c: int, size: int) -> list[nn.Module]:
    if rng.random() < 0.3:
        pool = nn.AdaptiveAvgPool2d(1) if dims == 2 else nn.AdaptiveAvgPool1d(1)
        return [pool, nn.Flatten(), nn.Linear(c, 10)]
    flat = [FlattenByView() if rng.random() < 0.3 else nn.Flatten()]
    n = c * size**dims
    if rng.random() < 0.4:
        h = _pick(rng, [16, 32, 64])
        return [*flat, nn.Linear(n, h), _act(rng), nn.Linear(h, 10)]
    return [*flat, nn.Linear(n, 10)]


def ann(seed: int) -> Generated:
    """A float network drawn from the supported grammar, untrained."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    family = str(rng.choice(["mlp", "cnn2d", "cnn2d", "cnn1d"]))
    if family == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        n = 64
        for _ in range(_pick(rng, [1, 2, 3])):
            h = _pick(rng, [16, 32, 48, 64, 96, 128])
            if h == n and rng.random() < 0.5:
                layers.append(Residual(nn.Sequential(nn.Linear(n, n), _act(rng), nn.Linear(n, n)), nn.ReLU()))
                continue
            layers += [nn.Linear(n, h)] + ([nn.BatchNorm1d(h)] if rng.random() < 0.3 else []) + [_act(rng)]
            n = h
        return Generated(nn.Sequential(*layers, nn.Linear(n, 10)), (1, 8, 8), family)
    dims = 2 if family == "cnn2d" else 1
    c, size = (1, 8) if dims == 2 else (8, 8)
    layers = []
    for _ in range(_pick(rng, [1, 2, 3])):
        stage, c, size = _conv_stage(rng, dims, c, size)
        layers += stage
    return Generated(nn.Sequential(*layers, *_head(rng, dims, c, size)), (1, 8, 8) if dims == 2 else (8, 8), family)


def firing(seed: int) -> dict[str, str]:
    """A model's reset ('subtract' or 'zero') and comparison ('ge' or 'gt'), drawn from a stream of their own so that
    the architecture draws of a seed stay what they were before these were drawn."""
    rng = np.random.default_rng(30_000 + seed)
    return {"reset": str(rng.choice(["subtract", "zero"])), "compare": str(rng.choice(["ge", "gt"]))}


def snn(seed: int) -> Generated:
    """An nmc.nn spiking network (IF or LIF neurons, dense or convolutional; reset and comparison drawn), untrained."""
    rng = np.random.default_rng(10_000 + seed)
    torch.manual_seed(seed)
    fire = firing(seed)

    def neuron() -> nn.Module:
        return nmc_nn.LIF(beta=float(rng.choice([0.8, 0.9, 0.95])), **fire) if rng.random() < 0.7 else nmc_nn.IF(**fire)

    if rng.random() < 0.5:
        layers: list[nn.Module] = [nn.Flatten()]
        n = 64
        for _ in range(_pick(rng, [1, 2])):
            h = _pick(rng, [32, 64, 96])
            layers += [nn.Linear(n, h), neuron()]
            n = h
        return Generated(nn.Sequential(*layers, nn.Linear(n, 10), neuron()), (1, 8, 8), "snn-mlp", True)
    c = _pick(rng, [4, 8])
    layers = [nn.Conv2d(1, c, 3, padding=1), neuron()]
    size = 8
    if rng.random() < 0.5:
        layers.append(nn.AvgPool2d(2))
        size = 4
    return Generated(nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * size * size, 10), neuron()), (1, 8, 8), "snn-cnn", True)


def rsnn(seed: int) -> Generated:
    """An nmc.nn recurrent or current-based network (RLIF, RCubaLIF or CubaLIF hidden layer, then a readout), untrained:
    the neuron families beyond IF/LIF (docs/neuron-families.md)."""
    rng = np.random.default_rng(20_000 + seed)
    torch.manual_seed(seed)
    h = _pick(rng, [32, 48, 64])
    beta = float(rng.choice([0.8, 0.9, 0.95, 1.0]))
    alpha = float(rng.choice([0.5, 0.75, 0.875]))
    kind = ["rlif", "rcuba", "cuba"][_pick(rng, [0, 1, 2])]
    fire = firing(seed)
    hidden = {
        "rlif": lambda: nmc_nn.RLIF(h, beta=beta, **fire),
        "rcuba": lambda: nmc_nn.RCubaLIF(h, alpha=alpha, beta=beta, **fire),
        "cuba": lambda: nmc_nn.CubaLIF(alpha=alpha, beta=beta, **fire),
    }[kind]()
    out = nmc_nn.LIF(beta=float(rng.choice([0.8, 0.9, 0.95])), **fire) if rng.random() < 0.5 else nmc_nn.IF(**fire)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, h), hidden, nn.Linear(h, 10), out)
    return Generated(model, (1, 8, 8), f"snn-{kind}", True)


def describe(model: nn.Module) -> str:
    """The leaf layers' class names in order; a Residual's body and a Concat's branches in parentheses."""

    def walk(m: nn.Module) -> list[str]:
        if isinstance(m, Residual | Concat):
            inner = " | ".join(" ".join(walk(c)) for c in (m.branches if isinstance(m, Concat) else [m.body]))
            return [f"{type(m).__name__}({inner})"]
        children = list(m.children())
        if not children or type(m).__module__ == nmc_nn.__name__:  # nmc.nn neurons (a recurrent one holds a Linear)
            return [type(m).__name__]
        return [n for c in children for n in walk(c)]

    return " ".join(walk(model))


def data(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn digits in `shape` (values 0..1): train x, test x, train y, test y (fixed split)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32).reshape(-1, *shape)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return xtr, xte, ytr, yte


def train(g: Generated, x: np.ndarray, y: np.ndarray, epochs: int = 8, ticks: int = 16, seed: int = 0) -> nn.Module:
    """A few epochs of Adam, seeded (surrogate gradients over `ticks` for an SNN)."""
    torch.manual_seed(seed)
    model = g.model
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(xt), generator=gen).split(64):
            opt.zero_grad()
            out = nmc_nn.run(model, xt[idx], ticks).sum(0) if g.spiking else model(xt[idx])
            nn.functional.cross_entropy(out, yt[idx]).backward()
            opt.step()
    return model.eval()


def scores(g: Generated, x: np.ndarray, ticks: int = 16) -> np.ndarray:
    """The torch model's class scores per sample (logits, or spike counts over `ticks` for an SNN)."""
    with torch.no_grad():
        xt = torch.from_numpy(x)
        out = nmc_nn.run(g.model, xt, ticks).sum(0) if g.spiking else g.model(xt)
    return out.numpy()


def decisions(g: Generated, x: np.ndarray, ticks: int = 16) -> np.ndarray:
    """The torch model's class per sample."""
    return scores(g, x, ticks).argmax(1)


def snntorch_nir(seed: int, path) -> tuple[object, str]:
    """A snnTorch Leaky MLP (random depth, widths and per-layer beta), trained a few epochs on spike-coded
    digits and written by snnTorch's own NIR exporter to `path`; returns the path and its description."""
    import nir
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    from .nir_models import _train, spike_digits

    rng = np.random.default_rng(20_000 + seed)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    n, parts = 64, []
    for width in [*(_pick(rng, [32, 64, 96]) for _ in range(_pick(rng, [1, 2]))), 10]:
        beta = float(rng.choice([0.5, 0.75, 0.8, 0.875, 0.9, 0.95]))
        # per-neuron tensors: snnTorch 1.0's exporter fails on scalar beta/threshold
        layers += [nn.Linear(n, width), snn.Leaky(beta=torch.full((width,), beta), threshold=torch.ones(width), init_hidden=True)]
        parts.append(f"Linear {n}-{width} Leaky(beta {beta})")
        n = width
    x, y = spike_digits(seed, test=False, flat=True)
    net = _train(nn.Sequential(*layers), x, y, epochs=3)
    nir.write(path, export_to_nir(net, torch.zeros(64)))
    return path, ", ".join(parts)


@dataclass
class Series:
    """A drawn clustering task: samples (n, length) or (n, channels, length), their true clusters, and K."""

    x: np.ndarray
    labels: np.ndarray
    clusters: int
    description: str


def series(seed: int) -> Series:
    """K clusters (2..6) of series with 1, 2, 3 or 6 channels and 16..1500 values per channel (log-uniform), 10..40
    samples per cluster. Each cluster is a prototype per channel (1-3 sinusoids of 1-6 cycles, random phases and
    amplitudes); a sample is its prototype shifted by up to 5 % of the length, scaled by 0.8..1.2, offset by
    -0.5..0.5 and with Gaussian noise of 0.3 x the prototype's spread: what UCR-style sets look like, at shapes
    nobody here picked."""
    rng = np.random.default_rng(40_000 + seed)
    k = int(rng.integers(2, 7))
    channels = int(rng.choice([1, 1, 1, 2, 3, 6]))
    length = int(np.rint(np.exp(rng.uniform(np.log(16), np.log(1500)))))
    per = int(rng.integers(10, 41))
    t = np.linspace(0.0, 1.0, length, endpoint=False)
    xs, labels = [], []
    for c in range(k):
        proto = np.zeros((channels, length))
        for ch in range(channels):
            for _ in range(int(rng.integers(1, 4))):
                proto[ch] += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * (rng.uniform(1, 6) * t + rng.uniform()))
        spread = proto.std(axis=1, keepdims=True) + 1e-3
        for _ in range(per):
            shifted = np.roll(proto, int(rng.integers(-(length // 20), length // 20 + 1)), axis=1)
            sample = shifted * rng.uniform(0.8, 1.2) + rng.uniform(-0.5, 0.5)
            xs.append(sample + rng.normal(0.0, 1.0, proto.shape) * 0.3 * spread)
            labels.append(c)
    order = rng.permutation(len(xs))
    x = np.stack(xs)[order].astype(np.float32)
    x = x[:, 0] if channels == 1 else x
    shape = "x".join(map(str, x.shape[1:]))
    return Series(x, np.asarray(labels)[order], k, f"K={k}, {len(x)} samples of {shape}")
