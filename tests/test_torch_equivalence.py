"""Differential test: nmc.nn models in torch vs their snn IR in the interpreter, spike for spike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nmc import nn as nmc_nn
from nmc.dialects.ir_arrays import ir_name
from nmc.driver import ImportOptions, import_model
from nmc.runtime.compare import SpikeMismatch, assert_same_spikes
from nmc.runtime.snn_interp import run_snn

TICKS = 25


def dense_lif_subtract() -> nn.Module:
    return nn.Sequential(nn.Linear(20, 32), nmc_nn.LIF(beta=0.85), nn.Linear(32, 6), nmc_nn.LIF(beta=0.7, threshold=0.8))


def dense_if_zero() -> nn.Module:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(20, 24),
        nmc_nn.IF(reset="zero", compare="gt"),
        nn.Dropout(0.2),
        nn.Linear(24, 5),
        nmc_nn.IF(threshold=0.5, reset="zero"),
    )


def conv_lif_zero() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nmc_nn.LIF(beta=0.9, reset="zero"),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 6, 3, stride=2, padding=1),
        nn.BatchNorm2d(6),
        nmc_nn.IF(reset="subtract", v_init=0.3),
        nn.Flatten(),
        nn.Linear(6 * 2 * 2, 4),
        nmc_nn.LIF(tau=5e-3, dt=1e-3, reset="subtract"),
    )


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(12, 16)
        self.n0 = nmc_nn.IF()
        self.fc = nn.Linear(16, 16)
        self.n1 = nmc_nn.LIF(beta=0.8)
        self.out = nn.Linear(16, 3)
        self.n2 = nmc_nn.IF(reset="zero")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.n0(self.inp(x))
        s = self.n1(self.fc(s) + s)
        return self.n2(self.out(s))


def dense_cuba() -> nn.Module:
    """Current-based LIF (docs/neuron-families.md), both resets and comparisons."""
    return nn.Sequential(
        nn.Linear(20, 16),
        nmc_nn.CubaLIF(alpha=0.7, beta=0.85),
        nn.Linear(16, 4),
        nmc_nn.CubaLIF(alpha=0.5, beta=0.9, reset="subtract", compare="ge", v_init=0.2),
    )


MODELS = {
    "dense-lif-subtract": (dense_lif_subtract, (20,)),
    "dense-if-zero": (dense_if_zero, (4, 5)),
    "conv-lif-zero": (conv_lif_zero, (2, 8, 8)),
    "residual": (Residual, (12,)),
    "dense-cuba": (dense_cuba, (20,)),
}


def randomized(factory, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    model = factory()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("encoding", ["direct", "rate", "poisson"])
@pytest.mark.parametrize("name", list(MODELS))
def test_interpreter_reproduces_torch_spikes(name, encoding, dtype):
    factory, shape = MODELS[name]
    model = randomized(factory, seed=len(name))
    x = torch.rand(16, *shape, generator=torch.Generator().manual_seed(7)) * 1.5
    module = import_model(model, ImportOptions(ticks=TICKS, encoding=encoding, input_shape=shape, input_scale=0.6))
    with torch.no_grad():
        _, torch_traces = nmc_nn.run(model.to(dtype), x.to(dtype), TICKS, encoding=encoding, scale=0.6, record=True)
    ir = run_snn(module, x.numpy(), dtype=np.float64 if dtype == torch.float64 else np.float32, record=True)
    assert torch_traces, "the model has neurons to compare"
    total = 0
    for path, spikes in torch_traces.items():
        assert_same_spikes(spikes.numpy(), ir.traces[ir_name(path)], what=f"layer '{path}'")
        total += int(spikes.sum())
    assert total > 0, "a test where nothing spikes proves nothing"


def test_count_decoder_equals_torch_spike_count():
    model = randomized(dense_lif_subtract, 1)
    x = torch.rand(8, 20)
    module = import_model(model, ImportOptions(ticks=TICKS, input_shape=(20,)))
    with torch.no_grad():
        counts = nmc_nn.run(model.double(), x.double(), TICKS).sum(0).numpy()
    assert np.array_equal(run_snn(module, x.numpy(), dtype=np.float64).outputs[0], counts)


def test_mismatch_names_tick_sample_and_neuron():
    a = np.zeros((4, 2, 3), np.uint8)
    b = a.copy()
    b[2, 1, 0] = 1
    with pytest.raises(SpikeMismatch, match=r"layer 'fc' diverge at tick 2, sample 1, neuron \(0,\): expected 0, got 1"):
        assert_same_spikes(a, b, what="layer 'fc'")
