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


def test_a_chip_without_the_family_refuses_it_and_one_with_it_runs_it(tmp_path, spikes_in):
    path = export(synaptic_mlp(), tmp_path / "syn.nir")
    with pytest.raises(NmcError) as e:
        nmc.compile(path, calibration=spikes_in)  # the default chip: one-membrane neurons only
    assert "layer 'layer1': neuron families lif (core.neuron), got current-based (cuba)" in str(e.value)
    compiled = nmc.compile(path, calibration=spikes_in, chip="loihi1")
    assert compiled.report["quantization"]["decision_agreement"] >= 0.95


def test_a_graph_written_as_rockpool_writes_it_runs_rockpools_step(tmp_path):
    """Rockpool 3.1's LIFTorch export (CubaLIF, w_in = 1, r = tau_mem e^(-dt/tau_mem)/dt, no dt): nmc finds dt and runs
    Rockpool's own step, checked against that step written out here (isyn += x; isyn *= e^(-dt/tau_syn);
    v = e^(-dt/tau_mem) v + isyn; v >= threshold fires and subtracts it)."""
    import nir

    dt, n_in, n = 1e-3, 6, 4
    tau_syn, tau_mem = np.float32(0.01), np.float32(0.02)
    rng = np.random.default_rng(3)
    w = (rng.normal(size=(n, n_in)) * 1.5).astype(np.float32)
    cuba = nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem),
                       r=np.full(n, tau_mem * np.exp(-dt / tau_mem) / dt, np.float32), v_leak=np.zeros(n, np.float32),
                       v_threshold=np.ones(n, np.float32), w_in=np.ones(n, np.float32))  # fmt: skip
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n_in])}), "w": nir.Linear(weight=w), "lif": cuba,
               "output": nir.Output(output_type={"output": np.array([n])})},
        edges=[("input", "w"), ("w", "lif"), ("lif", "output")],
    )  # fmt: skip
    x = (rng.random((20, 30, n_in)) < 0.4).astype(np.float32)
    compiled = nmc.compile(graph, target="mlir", level="snn")
    assert "Rockpool's export: dt = 0.001 s" in " ".join(compiled.notes)
    ours = run_snn(compiled.module, x, record=True).output_spikes(compiled.module)[0]
    a, b = np.exp(-np.float32(dt) / tau_syn), np.exp(-np.float32(dt) / tau_mem)
    isyn, v, want = np.zeros((20, n), np.float32), np.zeros((20, n), np.float32), []
    for t in range(30):
        isyn = (isyn + x[:, t] @ w.T) * a
        v = b * v + isyn
        s = (v >= 1).astype(np.float32)
        v = v - s
        want.append(s)
    want = np.stack(want, 1)
    assert want.sum() > 20
    np.testing.assert_array_equal(ours, want)


def test_a_cubali_readout_integrates_its_current_then_its_membrane_at_every_level(tmp_path):
    """NIR's CubaLI as an output: i = alpha i + g I, v = beta v + i (forward Euler, unit gains here), its final v read;
    checked against the rule written out, the float core level, a NIR round trip and a chip with the family."""
    import nir

    from nmc.passes.snn_to_core import SnnToCorePass
    from nmc.runtime.core_interp import run_core

    n_in, hidden, n_out, dt = 12, 16, 4, 1e-3
    rng = np.random.default_rng(0)
    full = lambda n, v: np.full(n, v, np.float32)  # noqa: E731
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([n_in])}),
               "w1": nir.Linear(weight=(rng.normal(size=(hidden, n_in)) * 0.8).astype(np.float32)),
               "lif": nir.CubaLIF(tau_syn=full(hidden, 5e-3), tau_mem=full(hidden, 1e-2), r=full(hidden, 10.0),
                                  w_in=full(hidden, 5.0), v_threshold=full(hidden, 1.0), v_leak=full(hidden, 0),
                                  v_reset=full(hidden, 0)),
               "w2": nir.Linear(weight=rng.normal(size=(n_out, hidden)).astype(np.float32)),
               "li": nir.CubaLI(tau_syn=full(n_out, 4e-3), tau_mem=full(n_out, 8e-3), r=full(n_out, 8.0),
                                w_in=full(n_out, 4.0), v_leak=full(n_out, 0)),
               "output": nir.Output(output_type={"output": np.array([n_out])})},
        edges=[("input", "w1"), ("w1", "lif"), ("lif", "w2"), ("w2", "li"), ("li", "output")], metadata={"dt": dt},
    )  # fmt: skip
    x = (rng.random((20, 30, n_in)) < 0.4).astype(np.float32)
    module = nmc.compile(graph, target="mlir", level="snn").module
    run = run_snn(module, x, record=True)
    alpha, beta = np.float32(1 - dt / 4e-3), np.float32(1 - dt / 8e-3)  # 0.75, 0.875
    i = v = np.zeros((len(x), n_out), np.float32)
    for t in range(x.shape[1]):
        current = run.traces["lif"][t].astype(np.float32) @ graph.nodes["w2"].weight.T
        i = alpha * i + current
        v = beta * v + i
    assert np.abs(v).max() > 10
    np.testing.assert_array_equal(run.outputs[0], v)
    core = module.clone()
    SnnToCorePass().apply(None, core)
    np.testing.assert_array_equal(run_core(core, x).outputs[0], v)
    back = tmp_path / "back.nir"
    back.write_bytes(next(iter(nmc.compile(graph, target="nir").files.values())))
    assert any(type(node).__name__ == "CubaLI" for node in nir.read(back).nodes.values())
    np.testing.assert_array_equal(run_snn(nmc.compile(back, target="mlir", level="snn").module, x).outputs[0], v)
    chip = np.asarray(nmc.compile(graph, chip="loihi1", calibration=x).run(x)).reshape(v.shape)
    assert np.corrcoef(chip.ravel(), v.ravel())[0, 1] > 0.999  # the integer membrane, scaled back
