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
    # buffer, graded_spikes_factor, reset_mechanism_val)
    assert theirs["Footprint"] - report["footprint_bytes"] == neuron_bytes
