"""snnTorch networks with recurrent and current-based layers, trained on spike-coded digits with surrogate
gradients: the references of tests/test_recurrent.py and benchmarks/recurrent.py.

Each factory builds the model in a configuration whose update nmc computes exactly (compiler/frontends/
snntorch_layers.py): RLeaky and Synaptic reset to zero in the step that fires (reset_delay=False); RSynaptic,
whose reset is always a step late in snnTorch 1.0, subtracts with beta = 1. The output layer is a Leaky that
resets to zero. Per-neuron tensors where snnTorch 1.0's NIR exporter needs them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from .nir_models import TICKS, spike_digits

BETA, ALPHA = 0.875, 0.75  # 1 - 2^-3 and 1 - 2^-2: a shift decay represents them exactly


def _readout(n: int) -> nn.Module:
    import snntorch as snn

    return snn.Leaky(beta=torch.full((n,), BETA), threshold=torch.ones(n), init_hidden=True, reset_mechanism="zero",
                     output=True)  # fmt: skip


def rleaky(hidden: int = 64) -> nn.Module:
    import snntorch as snn

    cell = snn.RLeaky(beta=BETA, linear_features=hidden, init_hidden=True, reset_mechanism="zero", reset_delay=False)
    return nn.Sequential(nn.Linear(64, hidden), cell, nn.Linear(hidden, 10), _readout(10))


def synaptic(hidden: int = 64) -> nn.Module:
    import snntorch as snn

    cell = snn.Synaptic(alpha=torch.full((hidden,), ALPHA), beta=torch.full((hidden,), BETA), threshold=torch.ones(hidden),
                        init_hidden=True, reset_mechanism="zero", reset_delay=False)  # fmt: skip
    return nn.Sequential(nn.Linear(64, hidden), cell, nn.Linear(hidden, 10), _readout(10))


def rsynaptic(hidden: int = 64) -> nn.Module:
    import snntorch as snn

    # an integrator (beta = 1) with a threshold of 2 and half the default recurrent weights trains to ~95 %
    cell = snn.RSynaptic(alpha=ALPHA, beta=1.0, threshold=2.0, linear_features=hidden, init_hidden=True,
                         reset_mechanism="subtract")  # fmt: skip
    with torch.no_grad():
        cell.recurrent.weight.mul_(0.5)
    return nn.Sequential(nn.Linear(64, hidden), cell, nn.Linear(hidden, 10), _readout(10))


FACTORIES: dict[str, Callable[[int], nn.Module]] = {"RLeaky": rleaky, "Synaptic": synaptic, "RSynaptic": rsynaptic}
LEARNING_RATE = {"RLeaky": 3e-3, "Synaptic": 3e-3, "RSynaptic": 1e-3}


def reset(net: nn.Module) -> None:
    """A fresh sample: snnTorch's reset, and the recurrent layers' spikes too (snntorch.utils.reset leaves RLeaky's)."""
    import snntorch.utils

    snntorch.utils.reset(net)
    for m in net.modules():
        if hasattr(m, "reset_mem") and hasattr(m, "recurrent"):
            m.reset_mem()


def run_snntorch(net: nn.Module, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """snnTorch's own run: (output spike trains [batch, ticks, 10], hidden spike trains [batch, ticks, hidden])."""
    reset(net)
    outs, hidden = [], []
    with torch.no_grad():
        for t in range(x.shape[1]):
            h = net[1](net[0](torch.from_numpy(x[:, t])))
            o = net[3](net[2](h))
            hidden.append(h)
            outs.append(o[0] if isinstance(o, tuple) else o)
    return torch.stack(outs, 1).numpy(), torch.stack(hidden, 1).numpy()


def train(kind: str, hidden: int = 64, epochs: int = 8, samples: int | None = None) -> nn.Module:
    """A network of `kind` trained on spike-coded digits (count decoding, cross-entropy, Adam), seeded."""
    torch.manual_seed(0)
    net = FACTORIES[kind](hidden)
    x, y = spike_digits(0, test=False, flat=True)
    x, y = (x[:samples], y[:samples]) if samples else (x, y)
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE[kind])
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    g = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        for idx in torch.randperm(len(xt), generator=g).split(64):
            reset(net)
            outs = [net(xt[idx, t]) for t in range(TICKS)]
            counts = torch.stack([o[0] if isinstance(o, tuple) else o for o in outs]).sum(0)
            opt.zero_grad()
            nn.functional.cross_entropy(counts, yt[idx]).backward()
            opt.step()
    return net.eval()
