"""Networks for Xylo, trained here with surrogate gradients (tests/test_xylo.py, benchmarks/xylo.py).

The task fits the device: sklearn digits 0-7 (8 classes: Xylo has 8 readout neurons), each 8x8 image pooled to
4x4 (16 input channels: Xylo has 16), as Bernoulli spike trains of 32 ticks. The networks are what Xylo computes:
current-based neurons that reset by subtraction, no bias, hidden neurons that fire up to 31 times a tick
(max_spikes=31, Xylo's hidden neurons), readout neurons once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from train_digits import digits_split

from nmc import nn as nmc_nn

TICKS, CLASSES, HIDDEN = 32, 8, 64
ALPHA, BETA = 0.75, 0.875  # 1 - 2^-2, 1 - 2^-3: dashes 2 and 3


def _pool(x: np.ndarray) -> np.ndarray:
    return x.reshape(len(x), 4, 2, 4, 2).mean(axis=(2, 4)).reshape(len(x), 16)


def spike_digits16(seed: int, test: bool) -> tuple[np.ndarray, np.ndarray]:
    """[samples, 32 ticks, 16 channels] spike trains and labels 0-7."""
    xtr, xte, ytr, yte = digits_split()
    x, y = (xte, yte) if test else (xtr, ytr)
    keep = y < CLASSES
    x, y = _pool(x.reshape(len(x), 8, 8)[keep]), y[keep]
    rng = np.random.default_rng(seed)
    return (rng.random((len(x), TICKS, 16)) < x[:, None]).astype(np.float32), y


def _readout() -> nn.Module:
    return nmc_nn.CubaLIF(alpha=ALPHA, beta=BETA, reset="subtract", compare="ge")


def feed_forward() -> nn.Module:
    hidden = nmc_nn.CubaLIF(alpha=ALPHA, beta=BETA, threshold=4.0, reset="subtract", compare="ge", max_spikes=31)
    return nn.Sequential(nn.Linear(16, HIDDEN, bias=False), hidden, nn.Linear(HIDDEN, CLASSES, bias=False), _readout())


def recurrent() -> nn.Module:
    hidden = nmc_nn.RCubaLIF(HIDDEN, alpha=ALPHA, beta=BETA, threshold=4.0, reset="subtract", compare="ge", bias=False,
                             max_spikes=31)  # fmt: skip
    with torch.no_grad():
        hidden.recurrent.weight.mul_(0.1)
    return nn.Sequential(nn.Linear(16, HIDDEN, bias=False), hidden, nn.Linear(HIDDEN, CLASSES, bias=False), _readout())


FACTORIES = {"feed-forward": (feed_forward, 1e-2), "recurrent": (recurrent, 3e-3)}


def counts(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """The float network's readout spike counts [samples, 8]."""
    nmc_nn.reset_states(net)
    with torch.no_grad():
        xt = torch.from_numpy(x)
        out = torch.stack([net(xt[:, t]) for t in range(x.shape[1])]).sum(0)
    nmc_nn.reset_states(net)
    return out.numpy()


def train(kind: str, epochs: int = 15) -> nn.Module:
    torch.manual_seed(0)
    factory, lr = FACTORIES[kind]
    net = factory()
    x, y = spike_digits16(0, test=False)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    for epoch in range(epochs):
        for idx in torch.randperm(len(xt), generator=torch.Generator().manual_seed(epoch)).split(64):
            nmc_nn.reset_states(net)
            out = torch.stack([net(xt[idx, t]) for t in range(TICKS)]).sum(0)
            opt.zero_grad()
            nn.functional.cross_entropy(out, yt[idx]).backward()
            opt.step()
    nmc_nn.reset_states(net)
    return net.eval()
