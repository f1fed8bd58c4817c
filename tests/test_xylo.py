"""SynSense Xylo as a target (docs/xylo.md): networks trained here, compiled with --target xylo, run by nmc's
simulator and by SynSense's xylosim with the same spikes on every neuron and tick; every limit refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import nmc
from nmc.chips.xylo_format import XyloConfig, read_config
from nmc.conversion.builder import NetworkBuilder
from nmc.errors import NmcError
from nmc.runtime.xylo_sim import run_config, simulate, simulate_xylosim
from nmc.targets.xylo_config import xylo_config

from . import xylo_models as xm
from .conftest import ROOT

ROOT_CHIPS = ROOT / "chips"

pytest.importorskip("xylosim")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xte, yte = xm.spike_digits16(1, test=True)
    return xte, yte, xm.spike_digits16(0, test=False)[0][:200]


@pytest.fixture(scope="module")
def trained() -> dict:
    return {kind: xm.train(kind) for kind in xm.FACTORIES}


def _config(compiled) -> XyloConfig:
    return read_config(next(v for k, v in compiled.files.items() if k.endswith(".xylo.json")))


def assert_on_xylo(cfg: XyloConfig, net_counts: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """xylosim and nmc's simulator spike alike on every neuron and tick; the chip's accuracy within 2 points."""
    ours, theirs = run_config(cfg, x), run_config(cfg, x, engine="xylosim")
    assert ours.hidden.sum() > 1000
    assert ours.readout.sum() > 100
    np.testing.assert_array_equal(ours.hidden, theirs.hidden)
    np.testing.assert_array_equal(ours.readout, theirs.readout)
    float_acc = (net_counts.argmax(1) == y).mean()
    assert float_acc > 0.8
    assert abs((ours.counts.argmax(1) == y).mean() - float_acc) <= 0.02


@pytest.mark.parametrize("kind", list(xm.FACTORIES))
def test_a_trained_network_runs_on_xylosim_as_on_nmcs_simulator(kind, trained, data):
    x, y, calib = data
    net = trained[kind]
    compiled = nmc.compile(net, target="xylo", calibration=calib, input_shape=(16,), encoding="spikes")
    assert compiled.report["xylo"]["decision_agreement"] >= 0.95
    cfg = _config(compiled)
    assert cfg.shape == (16, 64, 8)
    assert cfg.latency == 1
    if kind == "recurrent":
        assert np.count_nonzero(cfg.w_rec) > 1000  # the loop is in the reservoir
    assert_on_xylo(cfg, xm.counts(net, x), x, y)


def test_a_network_from_nir_written_as_rockpool_writes_it(trained, data, tmp_path):
    """Rockpool's LIF export (CubaLIF, w_in = 1, r = tau_mem e^(-dt/tau_mem)/dt, reset by subtraction at >=), the
    convention Xylo's own toolchain trains in, written from the feed-forward network: compiled from the file."""
    import nir

    x, y, calib = data
    net = trained["feed-forward"]
    dt = 1e-3
    tau_syn, tau_mem = np.float32(-dt / np.log(xm.ALPHA)), np.float32(-dt / np.log(xm.BETA))

    def lif(n: int, theta: float) -> nir.CubaLIF:
        full = lambda v: np.full(n, v, np.float32)  # noqa: E731
        return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem * np.exp(-dt / tau_mem) / dt),
                           v_leak=full(0), v_threshold=full(theta), w_in=full(1.0))  # fmt: skip

    w1 = net[0].weight.detach().numpy() / np.float32(xm.ALPHA)  # Rockpool adds the input before the decay
    w2 = net[2].weight.detach().numpy() / np.float32(xm.ALPHA)
    graph = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([16])}), "w1": nir.Linear(weight=w1), "h": lif(64, 4.0),
               "w2": nir.Linear(weight=w2), "o": lif(8, 1.0), "output": nir.Output(output_type={"output": np.array([8])})},
        edges=[("input", "w1"), ("w1", "h"), ("h", "w2"), ("w2", "o"), ("o", "output")],
    )  # fmt: skip
    path = tmp_path / "rockpool.nir"
    nir.write(path, graph)
    compiled = nmc.compile(path, target="xylo", calibration=calib)
    assert any("Rockpool" in n for n in compiled.notes)
    assert any("fires up to 1 spike(s) per tick in the model, 31 on Xylo" in n for n in compiled.notes)
    assert_on_xylo(_config(compiled), xm.counts(net, x), x, y)


def test_nmc_run_runs_a_configuration_on_either_engine(trained, data, tmp_path, capsys):
    from nmc.tools import nmc_run

    x, y, calib = data
    compiled = nmc.compile(trained["recurrent"], target="xylo", calibration=calib, input_shape=(16,), encoding="spikes")
    path = tmp_path / "net.xylo.json"
    path.write_text(next(iter(compiled.files.values())))
    np.save(tmp_path / "x.npy", x[:50])
    np.save(tmp_path / "y.npy", y[:50])
    outs = {}
    for engine in ("nmc", "xylosim"):
        nmc_run.main([str(path), "--input", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"), "--engine",
                      engine, "--record", "spikes", "-o", str(tmp_path / f"{engine}.npy")])  # fmt: skip
        outs[engine] = np.load(tmp_path / f"{engine}.npy")
    printed = capsys.readouterr().out
    assert "on xylosim" in printed
    assert "on nmc's Xylo simulator" in printed
    assert "accuracy 0." in printed
    assert outs["nmc"].shape == (50, 32, 8)
    np.testing.assert_array_equal(outs["nmc"], outs["xylosim"])


def test_the_simulator_equals_xylosim_where_states_saturate():
    """Random configurations at the device's extremes: 16-bit saturation mid-sum, 31 spikes a tick, every dash."""
    rng = np.random.default_rng(0)
    n_hid, n_out = 40, 5
    w = lambda *s: (rng.integers(-128, 128, s) * (rng.random(s) < 0.5)).astype(np.int64)  # noqa: E731
    cfg = XyloConfig(w_in=w(16, n_hid, 2), w_rec=w(n_hid, n_hid, 2), w_out=w(n_hid, n_out), shift_in=7, shift_rec=3,
                     shift_out=2, threshold=rng.integers(1, 3000, n_hid), threshold_out=rng.integers(1, 3000, n_out),
                     dash_mem=rng.integers(0, 16, n_hid), dash_syn=rng.integers(0, 16, n_hid),
                     dash_syn2=rng.integers(0, 16, n_hid), dash_mem_out=rng.integers(0, 16, n_out),
                     dash_syn_out=rng.integers(0, 16, n_out))  # fmt: skip
    x = rng.integers(0, 20, (10, 30, 16)) * (rng.random((10, 30, 16)) < 0.5)
    ours, theirs = simulate(cfg, x), simulate_xylosim(cfg, x)
    assert ours[0].max() == 31  # hidden neurons at the device's 31 spikes a tick
    np.testing.assert_array_equal(ours[0], theirs[0])
    np.testing.assert_array_equal(ours[1], theirs[1])


# --------------------------------------------------------------------------- every limit, refused by name


def _net(n_in=16, hidden=(8,), n_out=4, *, cuba=True, reset="subtract", bias=False, alpha=0.75, encoding="spikes",
         readout_reads_input=False, readout_loop=False, two_pop_loop=False, decode="count"):  # fmt: skip
    b = NetworkBuilder("n", [(n_in,)], ticks=4, dt=1e-3)
    x = b.encode(b.inputs[0], encoding)

    def pop(v, n, name, w_scale=1.0):
        cur = b.dense(v, np.full((n, int(np.prod(b_shape(v)))), w_scale, np.float32),
                      np.ones(n, np.float32) if bias else None)  # fmt: skip
        if cuba:
            return b.cuba_neuron(cur, threshold=1.0, alpha=alpha, beta=0.875, reset=reset, compare="ge", name=name)
        return b.neuron(cur, threshold=1.0, beta=0.875, reset=reset, compare="ge", name=name)

    def b_shape(v):
        from nmc.dialects import snn

        return snn.shape_of(v.type)

    h = x
    for i, n in enumerate(hidden):
        h = pop(h, n, f"h{i}")
    out = pop(x if readout_reads_input else h, n_out, "out")
    if decode == "membrane":
        return b.finish([b.decode(b.dense(h, np.ones((n_out, hidden[-1]), np.float32)), "membrane")])
    return b.finish([b.decode(out)])


LIMITS = {
    "inputs": (dict(n_in=17), "the network's input has 17 channels; Xylo has 16 input channels"),
    "hidden": (dict(hidden=(600, 401)), "the network has 1001 hidden neurons; Xylo has 1000"),
    "outputs": (dict(n_out=9), "the network has 9 output neurons; Xylo has 8 readout neurons"),
    "lif": (dict(cuba=False), "a LIF population; Xylo's neurons are current-based"),
    "reset": (dict(reset="zero"), "reset 'zero'; Xylo's neurons reset by subtracting the threshold"),
    "bias": (dict(bias=True), "a bias of 1; Xylo's neurons have no bias"),
    "alpha": (dict(alpha=0.3), "alpha = 0.3; Xylo decays by 1 - 2^-dash with dash >= 1 (>= 0.5)"),
    "graded input": (
        dict(encoding="direct"),
        "Xylo's inputs are spike counts per channel and tick; this network's input is 'direct'",
    ),
    "readout from input": (dict(readout_reads_input=True), "a readout population reads the input directly"),
    "membrane readout": (dict(decode="membrane"), "core.decode membrane: Xylo's readout neurons give spikes"),
}


@pytest.mark.parametrize("limit", list(LIMITS))
def test_every_limit_of_the_device_is_refused_in_one_line(limit):
    kw, expected = LIMITS[limit]
    with pytest.raises(NmcError) as e:
        xylo_config(_net(**kw))
    assert expected in str(e.value)
    assert "\n" not in str(e.value)


def test_populations_of_different_depths_are_refused_and_a_chain_runs_late():
    two = _net(hidden=(8, 8))  # input -> h0 -> h1 -> out: a chain, each hop a tick late on Xylo
    cfg, notes = xylo_config(two)
    assert cfg.latency == 2
    assert "the readout lags the model by 2 tick(s)" in notes[-1]
    b = NetworkBuilder("n", [(16,)], ticks=4, dt=1e-3)
    x = b.encode(b.inputs[0], "spikes")
    h0 = b.cuba_neuron(b.dense(x, np.ones((8, 16), np.float32)), threshold=1.0, alpha=0.75, beta=0.875,
                       reset="subtract", compare="ge", name="h0")  # fmt: skip
    both = b.add([b.dense(x, np.ones((8, 16), np.float32)), b.dense(h0, np.ones((8, 8), np.float32))])
    h1 = b.cuba_neuron(both, threshold=1.0, alpha=0.75, beta=0.875, reset="subtract", compare="ge", name="h1")
    out = b.cuba_neuron(b.dense(h1, np.ones((4, 8), np.float32)), threshold=1.0, alpha=0.75, beta=0.875,
                        reset="subtract", compare="ge", name="out")  # fmt: skip
    with pytest.raises(NmcError, match=r"population 'h1': its inputs reach it at different ticks on Xylo \(\[0, 1\]"):
        xylo_config(b.finish([b.decode(out)]))


@pytest.mark.parametrize(
    ("field", "value", "expected"),
    [
        ("w_in", "big", "'w_in' holds 200, outside the device's [-128, 127]"),
        ("shift_in", 8, "'shift_in' must be an integer in [0, 7], got 8"),
        ("dash_mem", "dash", "'dash_mem' holds 16, outside the device's [0, 15]"),
        ("threshold", "zero", "'threshold' holds 0, outside the device's [1, 32767]"),
        ("version", 2, "Xylo configuration version 2; this nmc reads version 1"),
        ("shape", [16, 1001, 8], "1001 hidden neurons; the device has 1 to 1000"),
    ],
)
def test_a_configuration_file_outside_the_device_is_refused_by_field(field, value, expected):
    cfg, _ = xylo_config(_net())
    d = json.loads(cfg.to_json())
    if value == "big":
        d["w_in"][0][0][0] = 200
    elif value == "dash":
        d["dash_mem"][0] = 16
    elif value == "zero":
        d["threshold"][0] = 0
    else:
        d[field] = value
    with pytest.raises(NmcError) as e:
        read_config(json.dumps(d), "net.xylo.json")
    assert str(e.value).startswith("net.xylo.json: ")
    assert expected in str(e.value)


def test_inputs_that_are_not_spike_counts_are_refused():
    cfg, _ = xylo_config(_net())
    with pytest.raises(NmcError, match="non-negative whole spike counts"):
        run_config(cfg, np.full((1, 3, 16), 0.5))
    with pytest.raises(NmcError, match=r"spike trains \[samples, ticks, 16\]"):
        run_config(cfg, np.zeros((3, 16)))


def test_the_configuration_is_byte_identical_from_the_same_model(trained, data):
    calib = data[2]
    a, b = (nmc.compile(trained["recurrent"], target="xylo", calibration=calib, input_shape=(16,), encoding="spikes",
                        check=False).files for _ in range(2))  # fmt: skip
    assert a == b


def test_a_multi_spike_population_is_refused_by_a_crossbar_chip_and_by_nir(trained, data):
    calib = data[2]
    with pytest.raises(NmcError, match="one spike per neuron and tick, got up to 31"):
        nmc.compile(trained["feed-forward"], calibration=calib, input_shape=(16,), encoding="spikes", chip="loihi1")
    with pytest.raises(NmcError, match="up to 31 spikes per tick; a NIR neuron spikes once"):
        nmc.compile(trained["feed-forward"], target="nir", calibration=calib, input_shape=(16,), encoding="spikes")
    torch.manual_seed(0)


def test_asking_for_the_xylo_chip_points_to_the_target():
    with pytest.raises(NmcError, match=r"chip 'xylo' is a SynSense Xylo core: compile with --target xylo"):
        nmc.compile(xm.feed_forward(), input_shape=(16,), chip="xylo")
    with pytest.raises(NmcError, match=r"--target xylo writes a SynSense Xylo configuration; chip 'tiny' is not a Xylo"):
        nmc.compile(xm.feed_forward(), input_shape=(16,), chip="tiny", target="xylo")


def test_a_chip_file_may_size_its_xylo_core_but_not_change_its_arithmetic(tmp_path):
    from nmc.chips import load_chip

    text = (ROOT_CHIPS / "xylo.chip").read_text()
    small = tmp_path / "small.chip"
    small.write_text(text.replace('chip "xylo"', 'chip "small"').replace("hidden 1000", "hidden 6"))
    with pytest.raises(NmcError, match="the network has 8 hidden neurons; Xylo has 6"):
        xylo_config(_net(), device=load_chip(str(small)).xylo)
    wide = tmp_path / "wide.chip"
    wide.write_text(text.replace("state_bits 16", "state_bits 24"))
    with pytest.raises(NmcError, match=r"xylo.state_bits 24: nmc computes Xylo's arithmetic as xylosim does \(state_bits 16\)"):
        xylo_config(_net(), device=load_chip(str(wide)).xylo)


def test_a_saved_network_compiles_to_xylo_and_runs_from_the_command_line(trained, data, tmp_path, capsys):
    """The tools as a user runs them (in process): nmc-compile --target xylo on a torch.save'd nmc.nn network,
    nmc-run on xylosim."""
    from nmc.tools import nmc_compile, nmc_run

    x, y, _ = data
    torch.save(trained["recurrent"], tmp_path / "rec.pt")
    np.save(tmp_path / "x.npy", x[:60])
    np.save(tmp_path / "y.npy", y[:60])
    nmc_compile.main([str(tmp_path / "rec.pt"), "--target", "xylo", "--encoding", "spikes", "--input-shape", "16",
                      "--calibration", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out")])  # fmt: skip
    assert "snn:  2 populations, 72 neurons" in capsys.readouterr().out  # the hidden and readout populations
    nmc_run.main([str(tmp_path / "out" / "rec.xylo.json"), "--input", str(tmp_path / "x.npy"), "--labels",
                  str(tmp_path / "y.npy"), "--engine", "xylosim"])  # fmt: skip
    assert "60 samples x 32 ticks on xylosim" in capsys.readouterr().out


def test_every_limit_a_network_breaks_is_named_at_once():
    with pytest.raises(NmcError) as e:
        xylo_config(_net(n_in=17, n_out=9, bias=True))
    message = str(e.value)
    assert message.startswith("the network breaks 4 of Xylo's limits: the network's input has 17 channels")
    assert "the network has 9 output neurons" in message
    assert "population 'h0': a bias of 1" in message
    assert "population 'out': a bias of 1" in message
    assert "\n" not in message
