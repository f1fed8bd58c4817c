"""Current-based LIF (docs/neuron-families.md): snnTorch's Synaptic through NIR, spike for spike at the snn level;
NIR out and back; a chip refuses it in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nmc
from nmc.errors import NmcError
from nmc.runtime.snn_interp import run_snn

from .nir_models import snntorch_counts

snn = pytest.importorskip("snntorch")
TICKS = 20


def synaptic_mlp(reset_delay: bool = False) -> nn.Module:
    """A Synaptic MLP 64-32-10 (per-neuron alpha, beta: snnTorch 1.0's exporter needs tensors), reset to zero."""

    def cell(n: int, **kw) -> nn.Module:
        return snn.Synaptic(alpha=torch.full((n,), 0.75), beta=torch.full((n,), 0.875), threshold=torch.ones(n),
                            init_hidden=True, reset_mechanism="zero", reset_delay=reset_delay, **kw)  # fmt: skip

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), cell(32), nn.Linear(32, 10), cell(10, output=True)).eval()
    with torch.no_grad():
        net[0].weight.mul_(2)
    return net


def own_spikes(net: nn.Module, x: np.ndarray) -> np.ndarray:
    """snnTorch running its own model: output spike trains [ticks, batch, 10]."""
    import snntorch.utils

    snntorch.utils.reset(net)
    with torch.no_grad():
        outs = [net(torch.from_numpy(x[:, t])) for t in range(x.shape[1])]
    return torch.stack([o[0] if isinstance(o, tuple) else o for o in outs]).numpy()


def export(net: nn.Module, path):
    import nir
    from snntorch.export_nir import export_to_nir

    nir.write(path, export_to_nir(net, torch.zeros(64)))
    return path


@pytest.fixture(scope="module")
def spikes_in() -> np.ndarray:
    return (np.random.default_rng(0).random((60, TICKS, 64)) < 0.3).astype(np.float32)


def test_snntorch_synaptic_through_nir_spikes_as_snntorch_does(tmp_path, spikes_in):
    net = synaptic_mlp()
    path = export(net, tmp_path / "syn.nir")
    compiled = nmc.compile(path, target="mlir", level="snn", calibration=spikes_in)
    assert "'1' (CubaLIF) became a current-based LIF, alpha = 1 - dt/tau_syn = 0.75, beta = 1 - dt/tau_mem = 0.875" in (
        " ".join(compiled.notes))  # fmt: skip
    run = run_snn(compiled.module, spikes_in, record=True)
    ours = run.output_spikes(compiled.module)[0]  # [batch, ticks, 10]
    theirs = own_spikes(net, spikes_in)
    assert theirs.sum() > 100
    np.testing.assert_array_equal(ours, np.moveaxis(theirs, 0, 1))  # every output spike of every sample and tick
    np.testing.assert_array_equal(run.outputs[0].reshape(len(spikes_in), -1), snntorch_counts(path, spikes_in))


def test_snntorchs_delayed_reset_differs_and_the_note_says_which_flag_matches(tmp_path, spikes_in):
    net = synaptic_mlp(reset_delay=True)  # snnTorch's default
    compiled = nmc.compile(export(net, tmp_path / "d.nir"), target="mlir", level="snn", calibration=spikes_in)
    ours = run_snn(compiled.module, spikes_in, record=True).output_spikes(compiled.module)[0]
    assert not np.array_equal(ours, np.moveaxis(own_spikes(net, spikes_in), 0, 1))
    assert "reset_delay=False for snnTorch's Synaptic (CubaLIF)" in " ".join(compiled.notes)


def test_nir_out_and_back_keeps_every_spike_and_snntorch_reads_it(tmp_path, spikes_in):
    path = export(synaptic_mlp(), tmp_path / "syn.nir")
    back = tmp_path / "back.nir"
    back.write_bytes(next(iter(nmc.compile(path, target="nir").files.values())))
    first = run_snn(nmc.compile(path, target="mlir", level="snn").module, spikes_in).outputs[0]
    again = run_snn(nmc.compile(back, target="mlir", level="snn").module, spikes_in).outputs[0]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(snntorch_counts(back, spikes_in), first.reshape(len(spikes_in), -1))


def test_a_chip_refuses_a_current_based_population_in_one_line(tmp_path, spikes_in):
    path = export(synaptic_mlp(), tmp_path / "syn.nir")
    with pytest.raises(NmcError) as e:
        nmc.compile(path, calibration=spikes_in)
    message = str(e.value)
    assert "\n" not in message
    assert message.startswith("snn.cuba_lif 'layer1': a current-based LIF population")
    assert "--target mlir --level snn" in message
