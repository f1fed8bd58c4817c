"""A live snnTorch model, read from the object (compiler/frontends/snntorch_layers.py): the snn level spikes as
snnTorch's own model does, tick for tick, on every sample; what has no exact nmc form is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nmc
from nmc.errors import ModelRejected
from nmc.runtime.snn_interp import run_snn

snn = pytest.importorskip("snntorch")
TICKS = 16


def mlp(cell) -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), cell(32), nn.Linear(32, 10), cell(10, output=True)).eval()
    with torch.no_grad():
        net[0].weight.mul_(3)
    return net


class CustomForward(nn.Module):
    """A custom forward, the last layer's (spikes, membrane) unpacked: traced by fx."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.fc1, self.fc2 = nn.Linear(64, 24), nn.Linear(24, 10)
        with torch.no_grad():
            self.fc1.weight.mul_(3)
        self.lif1 = snn.Leaky(beta=0.9, init_hidden=True, reset_mechanism="zero")
        self.lif2 = snn.Leaky(beta=torch.full((10,), 0.8), init_hidden=True, reset_mechanism="zero", output=True)

    def forward(self, x):
        spk, _mem = self.lif2(self.fc2(self.lif1(self.fc1(x))))
        return spk


CASES = {
    "Leaky zero": lambda: mlp(lambda n, **kw: snn.Leaky(beta=0.875, init_hidden=True, reset_mechanism="zero", **kw)),
    "Leaky zero, reset_delay False": lambda: mlp(
        lambda n, **kw: snn.Leaky(beta=0.875, init_hidden=True, reset_mechanism="zero", reset_delay=False, **kw)),
    "Leaky subtract, beta 1": lambda: mlp(lambda n, **kw: snn.Leaky(beta=1.0, init_hidden=True, **kw)),
    "Synaptic zero, reset_delay False, per-neuron tensors": lambda: mlp(
        lambda n, **kw: snn.Synaptic(alpha=torch.full((n,), 0.7), beta=torch.full((n,), 0.85), threshold=torch.ones(n),
                                     init_hidden=True, reset_mechanism="zero", reset_delay=False, **kw)),
    "custom forward": CustomForward,
}  # fmt: skip


def own_spikes(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """snnTorch's own model, fed the same input every tick (nmc's direct encoding): [batch, ticks, 10]."""
    import snntorch.utils

    snntorch.utils.reset(net)
    with torch.no_grad():
        outs = [net(torch.from_numpy(x)) for _ in range(TICKS)]
    return torch.stack([o[0] if isinstance(o, tuple) else o for o in outs], 1).numpy()


@pytest.mark.parametrize("case", list(CASES))
def test_a_live_snntorch_model_spikes_as_snntorch_on_every_sample(case):
    net = CASES[case]()
    x = np.random.default_rng(0).random((50, 64)).astype(np.float32)
    compiled = nmc.compile(net, target="mlir", level="snn", calibration=x, timesteps=TICKS, input_shape=(64,))
    ours = run_snn(compiled.module, x, record=True).output_spikes(compiled.module)[0]
    theirs = own_spikes(net, x)
    assert theirs.sum() > 50
    np.testing.assert_array_equal(ours, theirs)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (lambda n, **kw: snn.Leaky(beta=0.9, init_hidden=True, **kw),
         r"layer '1' \(snnTorch Leaky\): snnTorch subtracts the threshold in the step after a spike.*reset_mechanism='zero'"),
        (lambda n, **kw: snn.Synaptic(alpha=0.7, beta=0.85, init_hidden=True, reset_mechanism="zero", **kw),
         r"layer '1' \(snnTorch Synaptic\): reset_delay=True empties the membrane a step late.*reset_delay=False"),
        (lambda n, **kw: snn.RLeaky(beta=0.9, linear_features=n, init_hidden=True, reset_mechanism="zero", **kw),
         r"layer '1' \(snnTorch RLeaky\): reset_delay=True empties the membrane a step late.*reset_delay=False"),
        (lambda n, **kw: snn.RSynaptic(alpha=0.8, beta=0.9, linear_features=n, init_hidden=True, **kw),
         r"layer '1' \(snnTorch RSynaptic\): snnTorch subtracts the threshold in the step after a spike"),
        (lambda n, **kw: snn.RLeaky(beta=0.9, linear_features=n, init_hidden=True, reset_mechanism="subtract",
                                    reset_delay=False, **kw),
         r"layer '1' \(snnTorch RLeaky\): with reset_delay=False snnTorch subtracts the threshold twice"),
        (lambda n, **kw: snn.Leaky(beta=torch.linspace(0.5, 0.9, n), init_hidden=True, reset_mechanism="zero", **kw),
         r"layer '1' \(snnTorch Leaky\): beta must be one finite value for the layer"),
    ],
)  # fmt: skip
def test_what_has_no_exact_form_is_refused_in_one_line_naming_the_layer_and_the_fix(cell, message):
    x = np.random.default_rng(0).random((4, 64)).astype(np.float32)
    with pytest.raises(ModelRejected, match=message) as e:
        nmc.compile(mlp(cell), calibration=x, input_shape=(64,))
    assert "\n" not in str(e.value)
