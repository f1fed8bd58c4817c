"""report.json's NeuroBench metrics against the `neurobench` package's own harness on the same model and data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nmc

neurobench = pytest.importorskip("neurobench")


def snntorch_mlp(conv: bool = False) -> nn.Module:
    """An snnTorch network as docs/nir.md's recipe writes it (reset to zero: what a NIR file states)."""
    import snntorch as snn

    def leaky(n: int, **kw) -> nn.Module:
        return snn.Leaky(beta=torch.full((n,), 0.875), threshold=torch.ones(n), init_hidden=True, reset_mechanism="zero", **kw)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 32), leaky(32), nn.Linear(32, 10), leaky(10, output=True))
    with torch.no_grad():
        net[0].weight.mul_(4)  # active enough that every count is large
        net[2].weight[:, :4] = 0  # some zero weights: connection sparsity and effective operations see them
    return net.eval()


def harness(net: nn.Module, x: np.ndarray) -> dict:
    from neurobench.benchmarks import Benchmark
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations
    from neurobench.models import SNNTorchModel

    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(len(x), dtype=torch.int64))
    loader = torch.utils.data.DataLoader(data, batch_size=len(x))
    metrics = [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations, MembraneUpdates]]
    return Benchmark(SNNTorchModel(net), loader, [], [], metrics).run(verbose=False)


def test_an_snntorch_network_through_nir_measures_as_neurobench_measures_it(tmp_path):
    import nir
    from snntorch.export_nir import export_to_nir

    net = snntorch_mlp()
    nir.write(tmp_path / "net.nir", export_to_nir(net, torch.zeros(64)))
    x = (np.random.default_rng(0).random((32, 16, 64)) < 0.3).astype(np.float32)  # neurobench.SAMPLES
    # snnTorch's neuron modules as NeuroBench's Footprint finds them (their membrane buffers sized by the export's
    # one sample): parameters and buffers
    neurons = [m for m in net.modules() if type(m).__module__.startswith("snntorch")]
    neuron_bytes = sum(t.numel() * t.element_size() for m in neurons for t in [*m.parameters(), *m.buffers()])
    theirs = harness(net, x)
    report = nmc.compile(tmp_path / "net.nir", calibration=x, allow_accuracy_loss=True).report["neurobench"]
    ours = report["model"]
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-6)
    for key in ("Effective_ACs", "Effective_MACs", "Dense"):
        assert ours["synaptic_operations"][key] == pytest.approx(theirs["SynapticOperations"][key], abs=1e-3)
    assert ours["synaptic_operations"]["Effective_ACs"] > 0
    assert ours["membrane_updates"] == pytest.approx(theirs["MembraneUpdates"])
    assert round(report["connection_sparsity"], 4) == theirs["ConnectionSparsity"]  # NeuroBench rounds to 4 decimals
    assert report["connection_sparsity"] > 0
    # the stated rule for the footprint: NeuroBench counts every parameter and buffer of the torch module, nmc the
    # synaptic weights and biases; the difference is exactly snnTorch's neuron modules (beta, threshold, membrane
    # buffer, graded_spikes_factor, reset_mechanism_val); with the neurons' own numbers (beta, threshold, membrane)
    # only snnTorch's two scalars per layer remain (a float32 and an int64)
    assert theirs["Footprint"] - report["footprint_bytes"] == neuron_bytes
    assert theirs["Footprint"] - report["footprint_with_neurons_bytes"] == 12 * len(neurons)


def _nb_metrics():
    from neurobench.metrics.static import ConnectionSparsity, Footprint
    from neurobench.metrics.workload import ActivationSparsity, MembraneUpdates, SynapticOperations

    return [[Footprint, ConnectionSparsity], [ActivationSparsity, SynapticOperations, MembraneUpdates]]


def _run(model, x: np.ndarray) -> dict:
    from neurobench.benchmarks import Benchmark

    data = torch.utils.data.TensorDataset(torch.from_numpy(x), torch.zeros(len(x), dtype=torch.int64))
    return Benchmark(model, torch.utils.data.DataLoader(data, batch_size=len(x)), [], [], _nb_metrics()).run(verbose=False)


def _weights(n_in: int) -> list[nn.Module]:
    torch.manual_seed(0)
    first, second = nn.Linear(n_in, 32), nn.Linear(32, 10)
    with torch.no_grad():
        first.weight.mul_(4)
        second.weight[:, :4] = 0  # zero weights: connection sparsity and the effective operations see them
    return [first, second]


def test_an_nmc_nn_snn_measures_as_neurobench_measures_it_stepped_tick_by_tick():
    """An nmc.nn LIF network, rate-coded: NeuroBench steps it over the encoder's spike trains (a NeuroBenchModel that
    runs one tick per call)."""
    from neurobench.models.neurobench_model import NeuroBenchModel

    from nmc import nn as nmc_nn
    from nmc.dialects import snn

    first, second = _weights(64)
    net = nn.Sequential(first, nmc_nn.LIF(beta=0.875, reset="zero"), second, nmc_nn.LIF(beta=0.875, reset="zero")).eval()
    x = np.random.default_rng(1).random((32, 64)).astype(np.float32)
    opts = {"calibration": x, "encoding": "rate", "timesteps": 16, "input_shape": (64,), "allow_accuracy_loss": True}
    report = nmc.compile(net, **opts).report["neurobench"]
    # the spike trains nmc's rate encoder sends (docs/snn-dialect.md: u += x * scale; s = u >= 1; u -= s)
    level = nmc.compile(net, target="mlir", level="snn", **opts).module
    scale = np.float32(next(op for op in level.walk() if isinstance(op, snn.EncodeRateOp)).scale.value.data)
    u, trains = np.zeros_like(x), []
    for _ in range(16):
        u += x * scale
        s = (u >= 1).astype(np.float32)
        u -= s
        trains.append(s)
    trains = np.stack(trains, 1)

    class Stepped(NeuroBenchModel):
        def __init__(self, net: nn.Module):
            super().__init__()
            self.net = net
            self.add_activation_module(nmc_nn.IF)

        def __call__(self, data: torch.Tensor) -> torch.Tensor:
            nmc_nn.reset_states(self.net)
            with torch.no_grad():
                return torch.stack([self.net(data[:, t]) for t in range(data.shape[1])], 1)

        def __net__(self) -> nn.Module:
            return self.net

    theirs = _run(Stepped(net), trains)
    ours = report["model"]
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-6)
    for key in ("Effective_ACs", "Dense"):
        assert ours["synaptic_operations"][key] == pytest.approx(theirs["SynapticOperations"][key], abs=1e-3)
    # the stated rule: NeuroBench reads membranes of snnTorch neurons only (its hooks test snn.SpikingNeuron), so it
    # counts none for nmc.nn's; nmc counts them as it does for snnTorch's (every neuron, every tick it changes)
    assert theirs["MembraneUpdates"] == 0
    assert ours["membrane_updates"] > 0
    assert round(report["connection_sparsity"], 4) == theirs["ConnectionSparsity"]
    assert report["footprint_bytes"] == theirs["Footprint"]  # nmc.nn neurons hold no tensors: weights and biases only


def test_a_converted_anns_own_metrics_are_neurobenchs_on_the_ann():
    """A ReLU MLP: report.json's neurobench.ann is NeuroBench's measurement of the ANN itself (one pass,
    multiply-accumulates), beside neurobench.model, the SNN it became (accumulates over the ticks)."""
    from neurobench.models import TorchModel

    first, second = _weights(64)
    ann = nn.Sequential(first, nn.ReLU(), second).eval()
    x = np.random.default_rng(2).random((32, 64)).astype(np.float32)
    report = nmc.compile(ann, calibration=x, input_shape=(64,), allow_accuracy_loss=True).report["neurobench"]
    theirs = _run(TorchModel(ann), x)
    ours = report["ann"]
    assert ours["activation_sparsity"] == pytest.approx(theirs["ActivationSparsity"], abs=1e-6)
    for key in ("Effective_MACs", "Effective_ACs", "Dense"):
        assert ours["synaptic_operations"][key] == pytest.approx(theirs["SynapticOperations"][key], abs=1e-3)
    assert ours["synaptic_operations"]["Effective_MACs"] > 0
    assert theirs["MembraneUpdates"] == 0  # an ANN has no membranes; the SNN's are in neurobench.model
    assert report["model"]["membrane_updates"] > 0
    assert round(report["connection_sparsity"], 4) == theirs["ConnectionSparsity"]
    assert report["footprint_bytes"] == theirs["Footprint"]
