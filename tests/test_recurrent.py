"""Recurrent and current-based SNNs end to end (docs/neuron-families.md): snnTorch's RLeaky, Synaptic and RSynaptic
trained here, spike for spike at the snn and float-core levels, live and through NIR; on int8 chips; as Verilog;
loops and instantaneous cycles in the IR; nmc.nn's recurrent cells, fine-tuning and search space."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nmc
from nmc import nn as nmc_nn
from nmc.chips.binary import BinaryError, decode, encode, validate
from nmc.errors import NmcError
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.runtime.core_interp import run_core
from nmc.runtime.snn_interp import run_snn

from . import recurrent_models as rm
from .conftest import ROOT
from .nir_models import spike_digits

snntorch = pytest.importorskip("snntorch")
CUBA8 = str(ROOT / "tests" / "chips" / "cuba8.chip")
SAMPLES = 540  # every test sample


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xte, yte = spike_digits(1, test=True, flat=True)
    return xte[:SAMPLES], yte[:SAMPLES], spike_digits(0, test=False, flat=True)[0][:200]


@pytest.fixture(scope="module")
def trained() -> dict[str, nn.Module]:
    """The three networks, trained once per test process as benchmarks/recurrent.py trains them (seeded): 64 hidden neurons."""
    return {kind: rm.train(kind, epochs=10) for kind in rm.FACTORIES}


def populations(traces: dict[str, np.ndarray], hidden: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The hidden and output trains [batch, ticks, n] of a run, found by size (not the input or a loop's copy)."""
    pops = {v.shape[-1]: v for k, v in traces.items() if k not in ("input", "x") and not k.endswith(".prev")}
    return np.moveaxis(pops[hidden.shape[-1]], 0, 1), np.moveaxis(pops[out.shape[-1]], 0, 1)


def assert_every_spike(module, x: np.ndarray, hidden: np.ndarray, out: np.ndarray) -> None:
    """The snn level and the float core level spike as snnTorch: every sample, tick and neuron of both layers."""
    for ours in (run_snn(module, x, record=True).traces, _float_core(module, x)):
        h, o = populations(ours, hidden, out)
        np.testing.assert_array_equal(h, hidden)
        np.testing.assert_array_equal(o, out)


def _float_core(module, x: np.ndarray) -> dict[str, np.ndarray]:
    core = module.clone()
    SnnToCorePass().apply(None, core)
    return run_core(core, x, record=True).traces


@pytest.mark.parametrize("kind", list(rm.FACTORIES))
def test_a_live_snntorch_network_spikes_as_snntorch_at_the_snn_and_float_core_levels(kind, trained, digits):
    x, y, _ = digits
    net = trained[kind]
    out, hidden = rm.run_snntorch(net, x)
    assert (out.sum(1).argmax(1) == y).mean() > 0.85  # trained: the spikes compared carry the task
    assert hidden.mean() > 0.01
    compiled = nmc.compile(net, target="mlir", level="snn", calibration=x, input_shape=(64,), encoding="spikes")
    assert_every_spike(compiled.module, x, hidden, out)


@pytest.mark.parametrize("kind", ["RLeaky", "Synaptic"])
def test_snntorchs_nir_export_spikes_as_snntorch(kind, trained, digits, tmp_path):
    import nir
    from snntorch.export_nir import export_to_nir

    x, _, _ = digits
    net = trained[kind]
    out, hidden = rm.run_snntorch(net, x)
    path = tmp_path / "net.nir"
    nir.write(path, export_to_nir(net, torch.zeros(64)))
    if kind == "RLeaky":  # the loop: lif -> w_rec -> lif
        assert ("1.w_rec", "1.lif") in [tuple(e) for e in nir.read(path).edges]
    compiled = nmc.compile(path, target="mlir", level="snn", calibration=x)
    assert_every_spike(compiled.module, x, hidden, out)
    # and nmc's own NIR file of it reads back to the same spikes (the loop written as NIR's cycle)
    back = tmp_path / "back.nir"
    back.write_bytes(next(iter(nmc.compile(path, target="nir").files.values())))
    assert_every_spike(nmc.compile(back, target="mlir", level="snn").module, x, hidden, out)


def test_rsynaptic_through_nir_is_refused_with_the_reason(trained, tmp_path):
    import nir
    from snntorch.export_nir import export_to_nir

    path = tmp_path / "rsyn.nir"
    with np.errstate(divide="ignore"):
        nir.write(path, export_to_nir(trained["RSynaptic"], torch.zeros(64)))
    with pytest.raises(NmcError) as e:
        nmc.compile(path, target="mlir", level="snn")
    assert "tau_mem must be positive and finite, got inf (snnTorch writes tau = dt / (1 - beta)" in str(e.value)


@pytest.mark.parametrize(("kind", "chip"), [("RLeaky", "tianjic256"), ("Synaptic", "loihi1"), ("RSynaptic", CUBA8)])
def test_on_an_int8_chip_decisions_agree_with_snntorch(kind, chip, trained, digits):
    x, y, calib = digits
    net = trained[kind]
    ref = rm.run_snntorch(net, x)[0].sum(1)
    compiled = nmc.compile(net, calibration=calib, input_shape=(64,), encoding="spikes", chip=chip)
    counts = np.asarray(compiled.run(x)).reshape(len(x), -1)
    # the simulator runs the binary as the core interpreter runs the IR: every output count
    np.testing.assert_array_equal(run_core(compiled.module, x).outputs[0].reshape(counts.shape), counts)
    best = ref.max(1)
    agree = (ref[np.arange(len(x)), counts.argmax(1)] == best).mean()  # the chip's class is one of snnTorch's top
    assert agree >= 0.98
    assert abs((counts.argmax(1) == y).mean() - (ref.argmax(1) == y).mean()) <= 0.01 + 1e-9


def test_a_chip_without_current_based_neurons_names_the_family(trained, digits):
    calib = digits[2]
    with pytest.raises(NmcError) as e:
        nmc.compile(trained["Synaptic"], calibration=calib, input_shape=(64,), encoding="spikes", chip="tianjic256")
    assert "neuron families lif (core.neuron), got current-based (cuba)" in str(e.value)
    assert "loihi1" in str(e.value)


# --------------------------------------------------------------------------- loops on small cores


def _small(kind: str, hidden: int) -> nn.Module:
    torch.manual_seed(0)
    net = rm.FACTORIES[kind](hidden).eval()
    with torch.no_grad():
        net[0].weight.mul_(3)
    return net


def test_fan_in_decomposition_keeps_the_loop_on_the_neuron():
    x = (np.random.default_rng(0).random((40, 20, 64)) < 0.3).astype(np.float32)
    net = _small("RLeaky", 16)
    compiled = nmc.compile(net, calibration=x, input_shape=(64,), encoding="spikes", chip="mini")  # max_fan_in 32
    text = str(compiled.module)
    assert 'core.neurons "layer1" spike(%layer1_psum1, %layer1) delays = [0, 0] lags = [0, 1]' in text
    counts = np.asarray(compiled.run(x)).reshape(len(x), -1)
    np.testing.assert_array_equal(run_core(compiled.module, x).outputs[0].reshape(counts.shape), counts)
    snn_counts = run_snn(nmc.compile(net, target="mlir", level="snn", input_shape=(64,), encoding="spikes",
                                     calibration=x).module, x).outputs[0]  # fmt: skip
    assert compiled.report["quantization"]["decision_agreement"] >= 0.9
    assert snn_counts.sum() > 50


def test_a_loop_wider_than_the_fan_in_is_refused_in_one_line():
    x = (np.random.default_rng(0).random((4, 5, 64)) < 0.3).astype(np.float32)
    with pytest.raises(NmcError) as e:
        nmc.compile(_small("RLeaky", 32), calibration=x, input_shape=(64,), encoding="spikes", chip="mini")
    message = str(e.value)
    assert "layer 'layer1': its recurrent synapses alone give a neuron 32 inputs, max_fan_in is 32" in message
    assert "\n" not in message


def test_a_recurrent_current_based_network_as_verilog_passes_icarus(tmp_path):
    from .test_verilog import icarus, need, traced, write

    need("iverilog")
    x = (np.random.default_rng(0).random((3, 10, 12)) < 0.4).astype(np.float32)
    torch.manual_seed(0)
    cell = snntorch.RSynaptic(alpha=0.75, beta=1.0, linear_features=20, init_hidden=True, reset_mechanism="subtract")
    net = nn.Sequential(nn.Linear(12, 20), cell, nn.Linear(20, 4), rm._readout(4)).eval()
    with torch.no_grad():
        net[0].weight.mul_(3)
    compiled = nmc.compile(net, calibration=x, input_shape=(12,), encoding="spikes", chip=CUBA8)
    image = decode(next(v for k, v in compiled.files.items() if k.endswith(".nmc")))
    assert image.a("CORE", "x").size >= 3  # 20 recurrent neurons on cores of 8: the loop is routed between cores
    assert set(image.a("NRN ", "cmult").tolist()) == {0, 1}  # current-based hidden neurons, plain readout
    from nmc.targets.verilog import verilog_files

    files, design = verilog_files(image, traced(image, x))
    assert ".CURRENT(1)" in "".join(files.values())
    write(files, tmp_path / "per-neuron")
    out = icarus(tmp_path / "per-neuron")
    assert f"PASS: {len(x)} samples x {design.total_ticks} ticks" in out, out
    # the multiplexed style: the current in the state word next to the membrane
    from nmc.targets.verilog_tm_rtl import tm_verilog_files

    files, td = tm_verilog_files(image, traced(image, x))
    assert any(lane.current for c in td.cores for lane in c.lanes)
    write(files, tmp_path / "multiplexed")
    out = icarus(tmp_path / "multiplexed")
    assert f"PASS: {len(x)} samples x {design.total_ticks} ticks" in out, out


def test_a_binary_with_a_bad_current_decay_is_refused(trained, digits):
    calib = digits[2]
    compiled = nmc.compile(trained["Synaptic"], calibration=calib, input_shape=(64,), encoding="spikes", chip="loihi1")
    image = decode(next(v for k, v in compiled.files.items() if k.endswith(".nmc")))
    cmult = image.arrays["NRN "]["cmult"].copy()
    cmult[0] = 1 << 20  # beyond 2^cshift
    image.arrays["NRN "]["cmult"] = cmult
    with pytest.raises(BinaryError) as e:
        validate(decode(encode(image)))
    assert "NRN.cmult[0] = 1048576 with cshift" in str(e.value)


# --------------------------------------------------------------------------- cycles in the IR


def test_an_instantaneous_cycle_is_refused_naming_the_populations():
    from xdsl.utils.exceptions import VerifyException

    from nmc.dialects import get_all_dialects

    text = """
snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<4xf32>):
  %in = snn.encode_spikes %x : tensor<4xf32> -> !snn.spikes<4>
  %a_in = snn.dense %b weights = dense<1.0> : tensor<4x4xf32> : !snn.spikes<4> -> !snn.current<4>
  %a = snn.lif %a_in beta = 0.5 threshold = 1.0 reset = zero compare = gt v_init = 0.0 : !snn.current<4> -> !snn.spikes<4>
  %b_in = snn.dense %a weights = dense<1.0> : tensor<4x4xf32> : !snn.spikes<4> -> !snn.current<4>
  %b = snn.lif %b_in beta = 0.5 threshold = 1.0 reset = zero compare = gt v_init = 0.0 : !snn.current<4> -> !snn.spikes<4>
  %o = snn.decode_count %b : !snn.spikes<4> -> tensor<4xf32>
  snn.output %o : tensor<4xf32>
}"""
    from xdsl.context import Context
    from xdsl.parser import Parser

    ctx = Context()
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    module = Parser(ctx, text).parse_module()
    with pytest.raises(VerifyException) as e:
        module.verify()
    assert "instantaneous cycle snn.dense %a_in -> snn.lif %a -> snn.dense %b_in -> snn.lif %b -> snn.dense %a_in" in str(e.value)
    # the same loop through a one-tick delay is a recurrent network: it verifies and runs
    delayed = text.replace("%a_in = snn.dense %b", "%b_prev = snn.delay %b ticks = 1 : !snn.spikes<4> -> !snn.spikes<4>\n"
                           "  %a_in = snn.dense %b_prev")  # fmt: skip
    module = Parser(ctx, delayed).parse_module()
    module.verify()
    spikes = np.ones((2, 4, 4), np.float32)
    assert run_snn(module, spikes).outputs[0].shape == (2, 4)


def test_a_nir_cycle_without_a_neuron_is_refused_by_name():
    import nir

    w = np.eye(3, dtype=np.float32)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([3])}), "a": nir.Linear(weight=w),
               "b": nir.Linear(weight=w), "output": nir.Output(output_type={"output": np.array([3])})},
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
    )  # fmt: skip
    with pytest.raises(NmcError) as e:
        nmc.compile(graph, target="mlir", level="snn")
    assert "instantaneous cycle a -> b -> a" in str(e.value) or "instantaneous cycle b -> a -> b" in str(e.value)
    assert "no neuron in it holds state from one tick to the next" in str(e.value)


def test_a_loop_over_two_populations_runs_at_the_snn_level_and_the_chip_refuses_it_in_one_line():
    b = nmc.conversion.builder.NetworkBuilder("two", [(4,)], ticks=6, dt=1e-3)
    x = b.encode(b.inputs[0], "spikes")
    loop = b.loop((4,), name="b.prev")
    a = b.neuron(b.add([b.dense(x, np.eye(4, dtype=np.float32)), b.dense(loop, -np.eye(4, dtype=np.float32))]),
                 threshold=0.5, beta=0.5, reset="zero", compare="gt", name="a")  # fmt: skip
    s = b.neuron(b.dense(a, np.eye(4, dtype=np.float32)), threshold=0.5, beta=0.5, reset="zero", compare="gt", name="b")
    b.close_loop(loop, s)
    module = b.finish([b.decode(s)])
    spikes = np.ones((1, 6, 4), np.float32)
    # b fires every other tick: a fires on its input, b on a's spike in the same tick, and b's spike silences a one
    # tick later (the loop's delay)
    np.testing.assert_array_equal(run_snn(module, spikes, record=True).traces["b"][:, 0, 0], [1, 0, 1, 0, 1, 0])
    with pytest.raises(NmcError) as e:
        SnnToCorePass().apply(None, module.clone())
    assert str(e.value).startswith("snn-to-core: core.neurons 'a': the loop back from 'b' takes 2 chip tick(s) per turn but "
                                   "the model waits 1")  # fmt: skip
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- nmc.nn, fine-tuning, search


@pytest.mark.parametrize("cell", ["RLIF", "RCubaLIF"])
def test_nmc_nn_recurrent_cells_compile_to_their_own_spikes(cell):
    torch.manual_seed(0)
    neuron = nmc_nn.RLIF(32, beta=0.9) if cell == "RLIF" else nmc_nn.RCubaLIF(32, alpha=0.8, beta=0.9)
    net = nn.Sequential(nn.Linear(20, 32), neuron, nn.Linear(32, 5), nmc_nn.LIF(beta=0.9, reset="zero", compare="gt")).eval()
    with torch.no_grad():
        net[0].weight.mul_(3)
    x = np.random.default_rng(0).random((40, 20)).astype(np.float32)
    with torch.no_grad():
        out, traces = nmc_nn.run(net, torch.from_numpy(x), 15, record=True)
    compiled = nmc.compile(net, target="mlir", level="snn", calibration=x, timesteps=15)
    run = run_snn(compiled.module, x, record=True)
    assert out.sum() > 20
    np.testing.assert_array_equal(run.output_spikes(compiled.module)[0], np.moveaxis(out.numpy(), 0, 1))
    np.testing.assert_array_equal(run.traces["layer1"], traces["1"].numpy())


def test_fine_tuning_trains_a_recurrent_current_based_network_and_writes_it_back():
    from examples.train_digits import digits_split
    from nmc.training.finetuning import finetune

    xtr, xte, ytr, yte = digits_split()
    xtr, xte = xtr.reshape(len(xtr), -1)[:600], xte.reshape(len(xte), -1)
    ytr = ytr[:600]
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(64, 24), nmc_nn.RCubaLIF(24, alpha=0.75, beta=0.875), nn.Linear(24, 10),
                        nmc_nn.LIF(beta=0.875, reset="zero", compare="gt"))  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)  # a float model first (as a user brings one)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr).long()
    for _ in range(3):
        for idx in torch.randperm(len(xt), generator=torch.Generator().manual_seed(0)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(nmc_nn.run(net, xt[idx], 8, encoding="rate").sum(0), yt[idx]).backward()
            opt.step()
    net.eval()
    before = net[1].recurrent.weight.detach().clone()
    res = finetune(net, "loihi1", xtr, ytr, epochs=2, encoding="rate", ticks=8)
    model = res.model
    assert isinstance(model[1], nmc_nn.RCubaLIF)
    assert model[1].alpha == 0.75
    assert not torch.equal(model[1].recurrent.weight, before)  # the loop was trained with the rest
    acc = res.section["accuracy"]
    assert acc["after"] > acc["before"]
    compiled = nmc.compile(model, chip="loihi1", encoding="rate", calibration=xtr[:100], input_scale=res.input_scale)
    chip_acc = (np.asarray(compiled.run(xte[:200])).reshape(200, -1).argmax(1) == yte[:200]).mean()
    assert chip_acc > acc["after"] - 0.1  # the chip runs what was fine-tuned


def test_the_search_space_builds_recurrent_and_current_based_candidates():
    from nmc.nas.space import build, parse_space

    space = parse_space({"input": {"shape": [64]}, "search": {"neuron": ["rcuba", "rlif", "cuba"]}, "mlp": {"width": [16]}})
    for kind, cls in (("rcuba", nmc_nn.RCubaLIF), ("rlif", nmc_nn.RLIF), ("cuba", nmc_nn.CubaLIF)):
        p = {"family": "mlp", "neuron": kind, "ticks": 8, "weight_bits": 8, "widths": [16]}
        model = build(p, space, classes=10, seed=0)
        assert type(model[2]) is cls
    with pytest.raises(NmcError, match="cuba_alpha"):
        parse_space({"input": {"shape": [64]}, "mlp": {"width": [16]}, "train": {"cuba_alpha": 1.5}})
