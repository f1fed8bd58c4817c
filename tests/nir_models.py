"""snnTorch networks trained on spike-coded sklearn digits (seconds), written as NIR files, and snnTorch's
own run of a NIR file: the reference of tests/test_nir.py."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import itertools

from train_digits import digits_split

TICKS = 32
BETA = 0.875  # 1 - 2^-3: the chip's shift decay represents it exactly
DT = 1e-4  # snnTorch's export convention (tau = dt / (1 - beta), r = tau / dt), not written in the file


def spike_digits(seed: int, test: bool, flat: bool) -> tuple[np.ndarray, np.ndarray]:
    """Digits as Bernoulli spike trains [samples, ticks, *shape] (pixel value = spike probability)."""
    xtr, xte, ytr, yte = digits_split()
    x, y = (xte, yte) if test else (xtr, ytr)
    x = x.reshape(len(x), -1) if flat else x
    rng = np.random.default_rng(seed)
    return (rng.random((len(x), TICKS, *x.shape[1:])) < x[:, None]).astype(np.float32), y


def _leaky(shape: tuple[int, ...]) -> nn.Module:
    import snntorch as snn

    # per-neuron tensors: snnTorch 1.0's exporter fails on scalar beta/threshold
    return snn.Leaky(beta=torch.full(shape, BETA), threshold=torch.ones(shape), init_hidden=True)


def _train(net: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int) -> nn.Module:
    import snntorch.utils

    torch.manual_seed(0)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(64):
            snntorch.utils.reset(net)
            counts = torch.stack([net(xt[idx, t]) for t in range(TICKS)]).sum(0)
            opt.zero_grad()
            nn.functional.cross_entropy(counts, yt[idx]).backward()
            opt.step()
    return net.eval()


_WRITTEN: dict[str, bytes] = {}  # seeded, so trained once per test process and copied after that


def mlp_nir(path: Path) -> Path:
    """A LIF MLP 64-64-10 trained in snnTorch and exported by snnTorch's own exporter."""
    import nir
    from snntorch.export_nir import export_to_nir

    if "mlp" in _WRITTEN:
        path.write_bytes(_WRITTEN["mlp"])
        return path
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 64), _leaky((64,)), nn.Linear(64, 10), _leaky((10,)))
    x, y = spike_digits(0, test=False, flat=True)
    nir.write(path, export_to_nir(_train(net, x, y, epochs=15), torch.zeros(64)))
    _WRITTEN["mlp"] = path.read_bytes()
    return path


def conv_nir(path: Path) -> Path:
    """A conv SNN trained in snnTorch, written with snnTorch's export conventions (its exporter fails on
    conv nets under nir 1.0.8's type inference)."""
    import nir

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 8, 3), _leaky((8, 6, 6)), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(72, 10), _leaky((10,)))
    x, y = spike_digits(0, test=False, flat=False)
    net = _train(net, x, y, epochs=8)

    def lif(shape):
        tau = DT / (1 - np.full(shape, BETA, np.float32))
        zeros = np.zeros(shape, np.float32)
        return nir.LIF(tau=tau, r=tau / DT, v_leak=zeros, v_threshold=np.ones(shape, np.float32), v_reset=zeros)

    def f(t):
        return t.detach().numpy()

    conv = nir.Conv2d(input_shape=(8, 8), weight=f(net[0].weight), stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1,
                      bias=f(net[0].bias))  # fmt: skip
    nodes = {
        "input": nir.Input(input_type={"input": np.array([1, 8, 8])}),
        "conv": conv,
        "lif1": lif((8, 6, 6)),
        "pool": nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
        "flat": nir.Flatten(input_type={"input": np.array([8, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(weight=f(net[4].weight), bias=f(net[4].bias)),
        "lif2": lif((10,)),
        "output": nir.Output(output_type={"output": np.array([10])}),
    }
    names = list(nodes)
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names))))
    return path


def snntorch_counts(path: Path, x: np.ndarray, per_sample: bool = False) -> np.ndarray:
    """Output spike counts of snnTorch's own import of a NIR file, run tick by tick (float32).

    `per_sample`: snnTorch imports NIR's Flatten(start_dim=0) as torch's Flatten(0), which also flattens
    the batch axis, so conv nets run one sample at a time.
    """
    import nir
    import snntorch.utils
    from snntorch.import_nir import import_from_nir

    net = import_from_nir(nir.read(path))
    batches = [x[i : i + 1] for i in range(len(x))] if per_sample else [x]
    counts = []
    with torch.no_grad():
        for xb in batches:
            snntorch.utils.reset(net)
            outs = [net(torch.from_numpy(xb[:, t])) for t in range(xb.shape[1])]
            outs = [o[0] if isinstance(o, tuple) else o for o in outs]
            counts.append(torch.stack(outs).sum(0).reshape(len(xb), -1).numpy())
    return np.concatenate(counts)
