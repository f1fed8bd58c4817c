"""NIR in and out: snnTorch-trained networks compiled from NIR files, spike for spike against snnTorch's own
run of the same file; nmc's NIR export loaded by snnTorch; every bad graph one line."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

import nmc
from nmc.errors import NmcError
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.runtime.core_interp import run_core
from nmc.runtime.snn_interp import run_snn

from .conftest import run_tool

nir = pytest.importorskip("nir")
pytest.importorskip("snntorch")

from . import nir_models as models  # noqa: E402

SAMPLES = 540  # the whole digits test split, compared spike for spike


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    path = models.mlp_nir(tmp_path_factory.mktemp("nir") / "mlp.nir")
    x, y = models.spike_digits(1, test=True, flat=True)
    return path, x[:SAMPLES], y[:SAMPLES], models.snntorch_counts(path, x[:SAMPLES])


@pytest.fixture(scope="module")
def conv(tmp_path_factory):
    path = models.conv_nir(tmp_path_factory.mktemp("nir") / "conv.nir")
    x, y = models.spike_digits(1, test=True, flat=False)
    return path, x[:SAMPLES], y[:SAMPLES], models.snntorch_counts(path, x[:SAMPLES], per_sample=True)


@pytest.mark.parametrize("which", ["mlp", "conv"])
def test_snn_and_core_levels_spike_like_snntorch_and_the_int8_chip_decides_alike(which, request):
    path, x, y, reference = request.getfixturevalue(which)
    calib = models.spike_digits(0, test=False, flat=which == "mlp")[0][:200]
    compiled = nmc.compile(path, calibration=calib)
    assert "dt = 0.0001 s inferred from r = tau/dt" in " ".join(compiled.notes)
    snn_module = nmc.compile(path, target="mlir", level="snn").module
    np.testing.assert_array_equal(run_snn(snn_module, x).outputs[0], reference)  # identical spike counts
    core_module = snn_module.clone()
    SnnToCorePass().apply(None, core_module)  # float core level, before precision reduction
    np.testing.assert_array_equal(run_core(core_module, x).outputs[0], reference)
    chip = compiled.run(x)
    # a decision agrees when the chip's class is one of snnTorch's top classes (spike counts tie often); the
    # models train with one thread (tests/conftest.py), so the figure is the same on every machine: 98.3 %
    # (conv) and 99.3 % (MLP) of the 540 samples
    decisions = (reference[np.arange(len(x)), chip.argmax(1)] == reference.max(1)).mean()
    assert decisions >= 0.98, f"{which}: int8 chip decides like snnTorch on {decisions:.2%} of samples"
    assert (chip.argmax(1) == y).mean() >= (reference.argmax(1) == y).mean() - 0.01


def test_nmc_compile_and_nmc_run_take_spike_trains(mlp, tmp_path):
    path, x, _, reference = mlp
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "out"
    proc = run_tool("nmc-compile", str(path), "--calibration", str(tmp_path / "x.npy"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "32 ticks (spikes input)" in proc.stdout
    run = run_tool("nmc-run", str(out / "mlp.nmc"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"))
    assert run.returncode == 0, run.stderr
    counts = np.load(tmp_path / "y.npy")
    assert (counts.argmax(1) == reference.argmax(1)).mean() >= 0.99
    # the run lasts as long as the input: half the ticks, about half the spikes
    np.save(tmp_path / "half.npy", x[:, :16])
    assert (
        run_tool("nmc-run", str(out / "mlp.nmc"), "--input", str(tmp_path / "half.npy"), "-o", str(tmp_path / "h.npy")).returncode
        == 0
    )
    assert np.load(tmp_path / "h.npy").sum() < 0.7 * counts.sum()
    rec = run_tool("nmc-run", str(out / "mlp.nmc"), "--input", str(tmp_path / "x.npy"), "--record", "spikes", "-o",
                   str(tmp_path / "s.npy"))  # fmt: skip
    assert rec.returncode == 0, rec.stderr
    trains = np.load(tmp_path / "s.npy")
    assert trains.shape == (SAMPLES, models.TICKS, 10)
    np.testing.assert_array_equal(trains.sum(1), counts)


def test_nir_export_loads_in_snntorch_with_identical_spikes(mlp, tmp_path):
    path, x, _, reference = mlp
    proc = run_tool("nmc-compile", str(path), "--target", "nir", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    exported = tmp_path / "out" / "mlp.nir"
    np.testing.assert_array_equal(models.snntorch_counts(exported, x), reference)
    assert exported.read_bytes() == nmc.compile(path, target="nir").files["mlp.nir"]  # deterministic


def test_round_trip_keeps_every_parameter(mlp):
    path = mlp[0]
    original = nir.read(path)
    back = _read_bytes(nmc.compile(path, target="nir").files["mlp.nir"])
    affines = [n for n in original.nodes.values() if isinstance(n, nir.Affine)]
    affines_back = [n for n in back.nodes.values() if isinstance(n, nir.Affine)]
    for a, b in zip(affines, affines_back, strict=True):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
    lifs = [n for n in original.nodes.values() if isinstance(n, nir.LIF)]
    lifs_back = [n for n in back.nodes.values() if isinstance(n, nir.LIF)]
    assert len(lifs) == len(lifs_back) == 2
    for a, b in zip(lifs, lifs_back, strict=True):
        # the decay the importers compute, 1 - dt/tau in float32, is kept bit for bit
        np.testing.assert_array_equal(1 - models.DT / a.tau.astype(np.float32), 1 - models.DT / b.tau.astype(np.float32))
        np.testing.assert_allclose(b.r * models.DT / b.tau, 1.0, rtol=1e-6)
        np.testing.assert_array_equal(a.v_threshold, b.v_threshold)
        assert not np.any(b.v_reset)
        assert not np.any(b.v_leak)
    assert back.metadata["dt"] == pytest.approx(models.DT)


def _read_bytes(data: bytes):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "g.nir"
        p.write_bytes(data)
        return nir.read(p)


# --------------------------------------------------------------------------- the discretization rule, by hand


def _graph(nodes: dict, metadata: dict | None = None):
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(itertools.pairwise(names)), metadata=metadata or {})


def _lif(n: int, tau: float, r: float, v_leak: float = 0.0, theta: float = 1.0):
    full = lambda v: np.full(n, v, np.float32)  # noqa: E731
    return nir.LIF(tau=full(tau), r=full(r), v_leak=full(v_leak), v_threshold=full(theta), v_reset=full(0.0))


def test_lif_threshold_scale_and_li_follow_forward_euler_against_a_numpy_loop():
    """Affine -> Scale -> LIF (gain r dt/tau != 1, leak) -> Affine -> Threshold -> Affine -> LI -> Output, dt = 1 ms
    from the metadata, against the rule written out in numpy (float64)."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(0, 1, (6, 5)).astype(np.float32), rng.normal(0, 0.2, 6).astype(np.float32)
    s1 = rng.uniform(0.5, 1.5, 6).astype(np.float32)
    w2, w3 = rng.normal(0, 1, (4, 6)).astype(np.float32), rng.normal(0, 1, (3, 4)).astype(np.float32)
    dt, tau, r, leak = 1e-3, 4e-3, 2.0, 0.1
    graph = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([5])}),
            "a1": nir.Affine(weight=w1, bias=b1),
            "s1": nir.Scale(scale=s1),
            "lif": _lif(6, tau, r, leak, theta=0.8),
            "a2": nir.Linear(weight=w2),
            "th": nir.Threshold(threshold=np.full(4, 0.3, np.float32)),
            "a3": nir.Linear(weight=w3),
            "li": nir.LI(tau=np.full(3, 2e-3, np.float32), r=np.full(3, 1.0, np.float32), v_leak=np.zeros(3, np.float32)),
            "out": nir.Output(output_type={"output": np.array([3])}),
        },
        {"dt": dt},
    )
    x = (rng.random((7, 20, 5)) < 0.4).astype(np.float32)
    module = nmc.compile(graph, target="mlir", level="snn").module
    got = run_snn(module, x, dtype=np.float64).outputs[0]
    # the rule: v = (1 - dt/tau) v + (r dt/tau)(s (W x + b)) + v_leak dt/tau; spike v > theta, reset to 0
    beta, gain = 1 - np.float32(dt) / np.float32(tau), r * dt / tau
    v = np.zeros((7, 6))
    out = np.zeros((7, 3))
    for t in range(20):
        v = beta * v + gain * (s1 * (x[:, t] @ w1.T + b1)) + leak * dt / tau
        s = v > 0.8
        v[s] = 0
        th = (s @ w2.T) > 0.3
        out = (1 - np.float32(dt) / np.float32(2e-3)) * out + (dt / 2e-3) * (th @ w3.T)
    np.testing.assert_allclose(got, out, rtol=1e-6, atol=1e-9)


def test_sub_graphs_are_inlined_and_compile_like_the_flat_graph():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 1, (4, 3)).astype(np.float32)
    flat = _graph({"in": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=w),
                   "lif": _lif(4, 8e-4, 8.0), "out": nir.Output(output_type={"output": np.array([4])})})  # fmt: skip
    inner = _graph({"i": nir.Input(input_type={"input": np.array([4])}), "lif": _lif(4, 8e-4, 8.0),
                    "o": nir.Output(output_type={"output": np.array([4])})})  # fmt: skip
    nested = _graph({"in": nir.Input(input_type={"input": np.array([3])}), "w": nir.Linear(weight=w), "block": inner,
                     "out": nir.Output(output_type={"output": np.array([4])})})  # fmt: skip
    x = (rng.random((5, 12, 3)) < 0.5).astype(np.float32)
    runs = [run_snn(nmc.compile(g, target="mlir", level="snn", dt=1e-4).module, x).outputs[0] for g in (flat, nested)]
    np.testing.assert_array_equal(runs[0], runs[1])
    assert runs[0].sum() > 0


def test_dt_comes_from_the_metadata_then_the_option_then_r_over_tau():
    g = _graph({"in": nir.Input(input_type={"input": np.array([2])}), "w": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                "lif": _lif(2, 5e-3, 5.0), "out": nir.Output(output_type={"output": np.array([2])})})  # fmt: skip
    assert "dt = 0.001 s inferred from r = tau/dt" in " ".join(nmc.compile(g, target="mlir", level="snn").notes)
    assert "dt = 0.0002 s (--dt)" in " ".join(nmc.compile(g, target="mlir", level="snn", dt=2e-4).notes)
    g.metadata = {"dt": 5e-4}
    compiled = nmc.compile(g, target="mlir", level="snn", dt=2e-4)
    assert "dt = 0.0005 s from the graph's metadata" in " ".join(compiled.notes)
    assert "dt = 5.000000e-04" in next(iter(compiled.files.values()))
    # what each neuron node became, and the reset rule NIR cannot state: tau 5 ms at dt 0.5 ms is beta 0.9
    assert "'lif' (LIF) became LIF, beta = 1 - dt/tau = 0.9, threshold 1" in " ".join(compiled.notes)
    assert "resets v to v_reset (NIR cannot state reset by subtraction, snnTorch's default" in " ".join(compiled.notes)


def test_leak_the_chip_rounds_is_reported_population_by_population(tmp_path, capsys):
    """beta 0.9 on a shift-decay chip: 1 - 2^-3 = 0.875 is the nearest (1 - 2^-4 = 0.9375 is farther)."""
    from nmc.tools import nmc_compile

    g = _graph({"in": nir.Input(input_type={"input": np.array([2])}), "w": nir.Linear(weight=np.eye(2, dtype=np.float32)),
                "lif": _lif(2, 5e-3, 5.0), "out": nir.Output(output_type={"output": np.array([2])})})  # fmt: skip
    nir.write(tmp_path / "g.nir", g)
    x = (np.random.default_rng(0).random((20, 10, 2)) < 0.5).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    nmc_compile.main([str(tmp_path / "g.nir"), "--dt", "5e-4", "--calibration", str(tmp_path / "x.npy"), "-o",
                      str(tmp_path / "o"), "--allow-accuracy-loss"])  # fmt: skip
    out = capsys.readouterr().out
    assert "leak: the chip's shift decay rounds beta in 1 population(s): 'lif' 0.9 -> 0.875 (exact on this chip: " in out
    assert "beta = 1 - 2^-s, e.g. 0.75, 0.875, 0.9375)" in out  # what to train with for an exact leak
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["core"]["leak_rounding"] == [{"layer": "lif", "beta": pytest.approx(0.9), "realised_beta": 0.875,
                                                "decay_shift": 3, "decay_mult": 1}]  # fmt: skip


# --------------------------------------------------------------------------- refusals


def _refused(tmp_path, graph_or_bytes, pattern: str) -> None:
    path = tmp_path / "bad.nir"
    if isinstance(graph_or_bytes, bytes):
        path.write_bytes(graph_or_bytes)
    else:
        nir.write(path, graph_or_bytes)
    proc = run_tool("nmc-compile", str(path), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2  # the model rejected
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "out").exists()


def test_unsupported_node_malformed_file_wrong_shapes_and_cycles_are_one_line(tmp_path):
    n = 3
    cuba = nir.CubaLI(tau_syn=np.full(n, 1e-3), tau_mem=np.full(n, 1e-3), r=np.ones(n), v_leak=np.zeros(n), w_in=np.ones(n))
    io = {"in": nir.Input(input_type={"input": np.array([n])}), "out": nir.Output(output_type={"output": np.array([n])})}
    g = nir.NIRGraph(nodes={**io, "w": nir.Linear(weight=np.eye(n, dtype=np.float32)), "c": cuba,
                            "w2": nir.Linear(weight=np.eye(n, dtype=np.float32))},
                     edges=[("in", "w"), ("w", "c"), ("c", "w2"), ("w2", "out")])  # fmt: skip
    _refused(tmp_path, g, r"bad\.nir: node 'c' \(CubaLI\): a non-spiking integrator feeding another layer has no chip")
    _refused(tmp_path, b"not hdf5 at all", r"bad\.nir: not a NIR file \(NIR graphs are HDF5 files")
    wrong = nir.NIRGraph(nodes={**io, "w": nir.Linear(weight=np.ones((n, n + 2), np.float32)), "l": _lif(n, 1e-3, 1.0)},
                         edges=[("in", "w"), ("w", "l"), ("l", "out")], type_check=False)  # fmt: skip
    _refused(tmp_path, wrong, r"bad\.nir: node 'w' \(Linear\): weight \[3, 5\] does not fit its input of shape \[3\]")
    loop = nir.NIRGraph(nodes={**io, "w": nir.Linear(weight=np.eye(n, dtype=np.float32)), "l": _lif(n, 1e-3, 1.0),
                               "rec": nir.Linear(weight=np.eye(n, dtype=np.float32))},
                        edges=[("in", "w"), ("w", "l"), ("l", "rec"), ("rec", "l"), ("l", "out")])  # fmt: skip
    # a loop through a neuron is a recurrent network (tests/test_recurrent.py); through no neuron it is instantaneous
    nmc.compile(loop, target="mlir", level="snn")
    flat = nir.NIRGraph(nodes={**io, "w": nir.Linear(weight=np.eye(n, dtype=np.float32)),
                               "rec": nir.Linear(weight=np.eye(n, dtype=np.float32)), "l": _lif(n, 1e-3, 1.0)},
                        edges=[("in", "w"), ("w", "rec"), ("rec", "w"), ("w", "l"), ("l", "out")])  # fmt: skip
    _refused(tmp_path, flat, r"instantaneous cycle (w -> rec -> w|rec -> w -> rec): no neuron in it holds state")


def test_export_refuses_what_nir_cannot_say():
    import torch
    from xdsl.context import Context

    from nmc.dialects import get_all_dialects
    from nmc.targets.nir_export import nir_graph

    model = torch.nn.Sequential(torch.nn.Linear(4, 3), nmc.nn.LIF(beta=0.9))
    with pytest.raises(NmcError, match=r"snn.encode_direct %input: NIR graphs take spike trains; a 'direct' encoder"):
        nmc.compile(model, target="nir", input_shape=(4,))
    text = """snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<2xf32>):
  %s = snn.encode_spikes %x : tensor<2xf32> -> !snn.spikes<2>
  %i = snn.dense %s weights = dense<1.0> : tensor<2x2xf32> : !snn.spikes<2> -> !snn.current<2>
  %l = snn.lif %i beta = 0.5 threshold = 1.0 reset = subtract compare = ge v_init = 0.0 : !snn.current<2> -> !snn.spikes<2>
  %o = snn.decode_count %l : !snn.spikes<2> -> tensor<2xf32>
  snn.output %o : tensor<2xf32>
}"""
    from xdsl.dialects.builtin import Builtin
    from xdsl.parser import Parser

    ctx = Context()
    ctx.load_dialect(Builtin)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    module = Parser(ctx, text).parse_module()
    with pytest.raises(NmcError, match=r"snn.lif %l: reset 'subtract', fire at 'ge'; NIR neurons fire at v > threshold"):
        nir_graph(module)


def test_delay_nodes_shift_spikes_and_stay_exact_down_to_the_chip():
    """Input -> Affine -> LIF -> Delay(3 ticks) -> Affine -> LIF, plus the input Delay(2 ticks)ed into the
    last layer: the rule by hand, then snn == float core == (quantized) core == chip simulator."""
    from nmc.chips.binary import decode
    from nmc.runtime.simulator import Chip

    rng = np.random.default_rng(2)
    dt = 1e-3
    w1 = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    w2, w3 = rng.uniform(0, 1, (3, 5)).astype(np.float32), rng.uniform(0, 1, (3, 4)).astype(np.float32)
    nodes = {
        "in": nir.Input(input_type={"input": np.array([4])}),
        "a1": nir.Linear(weight=w1),
        "l1": _lif(5, 2e-3, 2.0, theta=1.0),
        "d1": nir.Delay(delay=np.full(5, 3 * dt, np.float32)),
        "a2": nir.Linear(weight=w2),
        "d0": nir.Delay(delay=np.full(4, 2 * dt, np.float32)),
        "a3": nir.Linear(weight=w3),
        "l2": _lif(3, 2e-3, 2.0, theta=1.0),
        "out": nir.Output(output_type={"output": np.array([3])}),
    }
    edges = [("in", "a1"), ("a1", "l1"), ("l1", "d1"), ("d1", "a2"), ("a2", "l2"), ("in", "d0"), ("d0", "a3"),
             ("a3", "l2"), ("l2", "out")]  # fmt: skip
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": dt})
    x = (rng.random((40, 16, 4)) < 0.4).astype(np.float32)
    snn_module = nmc.compile(graph, target="mlir", level="snn").module
    got = run_snn(snn_module, x, dtype=np.float64).outputs[0]
    beta = 1 - np.float32(dt) / np.float32(2e-3)
    v1, v2, s1_hist, out = np.zeros((40, 5)), np.zeros((40, 3)), [], np.zeros((40, 3))
    for t in range(16):
        v1 = beta * v1 + x[:, t] @ w1.T
        s1 = v1 > 1.0
        v1[s1] = 0
        s1_hist.append(s1)
        late1 = s1_hist[t - 3] if t >= 3 else np.zeros_like(s1)
        late0 = x[:, t - 2] if t >= 2 else np.zeros_like(x[:, 0])
        v2 = beta * v2 + late1 @ w2.T + late0 @ w3.T
        s2 = v2 > 1.0
        v2[s2] = 0
        out += s2
    np.testing.assert_array_equal(got, out)
    assert out.sum() > 0
    core_module = snn_module.clone()
    SnnToCorePass().apply(None, core_module)
    np.testing.assert_array_equal(run_core(core_module, x).outputs[0], out)
    compiled = nmc.compile(graph, calibration=x[:20])
    chip = Chip(decode(compiled.binary)).run(x).outputs[0]
    np.testing.assert_array_equal(chip, run_core(compiled.module, x).outputs[0])  # the spike-exact chain
    exported = _read_bytes(nmc.compile(graph, target="nir").files["model.nir"])
    delays = sorted(float(n.delay[0]) for n in exported.nodes.values() if isinstance(n, nir.Delay))
    assert delays == pytest.approx([2 * dt, 3 * dt])


def test_a_nir_file_that_hangs_the_hdf5_reader_ends_in_one_line(mlp, monkeypatch):
    """A damaged HDF5 file found by the fuzzer sent HDF5's C code into an endless loop inside one read;
    the read now runs in a child process with a time limit (here the read is made to hang)."""
    import time

    from nmc.frontends import nir_graph

    monkeypatch.setattr(nir_graph, "READ_SECONDS", 1)
    monkeypatch.setattr(nir_graph, "_read", lambda path: time.sleep(60))
    start = time.perf_counter()
    with pytest.raises(NmcError, match=r"mlp\.nir: reading the HDF5 file did not finish in 1 s: the file is damaged"):
        nir_graph.read_graph(mlp[0])
    assert time.perf_counter() - start < 10


def test_export_then_import_keeps_if_threshold_and_integrator_outputs_spike_for_spike():
    rng = np.random.default_rng(3)
    w1, w2, w3 = (rng.uniform(0, 1, s).astype(np.float32) for s in ((5, 4), (4, 5), (3, 4)))
    dt = 1e-3
    graph = _graph(
        {
            "in": nir.Input(input_type={"input": np.array([4])}),
            "a1": nir.Linear(weight=w1),
            "if": nir.IF(r=np.full(5, 1 / dt, np.float32), v_threshold=np.full(5, 1.5, np.float32), v_reset=np.zeros(5)),
            "a2": nir.Linear(weight=w2),
            "th": nir.Threshold(threshold=np.full(4, 0.8, np.float32)),
            "a3": nir.Linear(weight=w3),
            "i": nir.I(r=np.full(3, 1 / dt, np.float32)),
            "out": nir.Output(output_type={"output": np.array([3])}),
        },
        {"dt": dt},
    )
    x = (rng.random((30, 20, 4)) < 0.5).astype(np.float32)
    first = nmc.compile(graph, target="mlir", level="snn").module
    again = nmc.compile(_read_bytes(nmc.compile(graph, target="nir").files["model.nir"]), target="mlir", level="snn").module
    a, b = run_snn(first, x).outputs[0], run_snn(again, x).outputs[0]
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).sum() > 0
    kinds = {type(n).__name__ for n in _read_bytes(nmc.compile(graph, target="nir").files["model.nir"]).nodes.values()}
    assert {"IF", "Threshold", "I"} <= kinds


def test_the_snntorch_export_recipe_in_docs_runs_as_written(tmp_path, monkeypatch):
    """docs/nir.md's snnTorch recipe, executed as it stands, writes a file nmc compiles."""
    import re as re_

    from .conftest import ROOT

    doc = (ROOT / "docs" / "nir.md").read_text()
    code = re_.search(r"<!-- snntorch-recipe -->\n```python\n(.*?)```", doc, re_.S).group(1)
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/nir.md", "exec"), {})
    spikes = (np.random.default_rng(0).random((20, 8, 64)) < 0.3).astype(np.float32)
    compiled = nmc.compile(tmp_path / "mlp.nir", calibration=spikes, check=False)
    assert compiled.report["snn"]["neurons"] == 74


def test_explain_reads_a_nir_graph(mlp, tmp_path):
    """`nmc-compile --explain FILE.nir`: every node in dataflow order with its type, size and what it becomes;
    a graph the importer refuses gets that refusal as its blocker (exit status 2)."""
    from .conftest import run_tool

    path = mlp[0]
    proc = run_tool("nmc-compile", "--explain", str(path))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\n  0 +Affine +64 +synapses \(W x \+ b\)", proc.stdout), proc.stdout
    assert re.search(r"\n  3 +LIF +10 +LIF neurons", proc.stdout), proc.stdout
    assert proc.stdout.rstrip().endswith("no blockers: nmc-compile accepts this graph")
    graph = nir.read(str(path), type_check=False)
    graph.edges.append(("3", "2"))  # a recurrent edge from the 10 outputs into the 64-wide hidden current
    nir.write(str(tmp_path / "loop.nir"), graph)
    proc = run_tool("nmc-compile", "--explain", str(tmp_path / "loop.nir"))
    assert proc.returncode == 2
    assert "1 blocker(s):" in proc.stdout
    assert "edge 3 -> 2: the loop carries shape [10] back where '2' takes [64]" in proc.stdout


def test_a_grouped_nir_convolution_spikes_like_torchs_grouped_conv(tmp_path):
    """A NIR Conv2d with groups=2 (weight [4, 2, 3, 3] over 4 channels) feeding IF neurons (r = 1, --dt 1: v += I,
    fire at v > 1, reset to 0): the snn level's spike counts equal a torch loop with conv2d(groups=2)."""
    import torch

    from nmc.runtime.snn_interp import run_snn

    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.6, (4, 2, 3, 3)).astype(np.float32)
    ones = np.ones((4, 6, 6), np.float32)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([4, 6, 6])}),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=w, stride=1, padding=1, dilation=1, groups=2, bias=np.zeros(4, np.float32)),
        "if": nir.IF(r=ones, v_threshold=ones, v_reset=0 * ones),
        "output": nir.Output(output_type={"output": np.array([4, 6, 6])}),
    }
    edges = [("input", "conv"), ("conv", "if"), ("if", "output")]
    nir.write(str(tmp_path / "g.nir"), nir.NIRGraph(nodes=nodes, edges=edges, type_check=False))
    x = (rng.random((5, 10, 4, 6, 6)) < 0.4).astype(np.float32)
    module = nmc.compile(tmp_path / "g.nir", target="mlir", level="snn", dt=1.0, calibration=x).module
    v, counts = torch.zeros(5, 4, 6, 6), torch.zeros(5, 4, 6, 6)
    for t in range(x.shape[1]):
        v = v + torch.nn.functional.conv2d(torch.from_numpy(x[:, t]), torch.from_numpy(w), padding=1, groups=2)
        s = (v > 1).float()
        counts, v = counts + s, v * (1 - s)
    got = run_snn(module, x).outputs[0]
    assert got.sum() > 0
    np.testing.assert_array_equal(got.reshape(5, -1), counts.numpy().reshape(5, -1))


@pytest.mark.parametrize("exporter", ["norse", "sinabs"])
def test_graphs_as_norse_and_sinabs_write_them_spike_like_their_frameworks_with_no_flags(exporter):
    """What the exporters write (checked against norse 1.1 and sinabs 3.1 here; neither installs next to nir 1.0.8):
    Norse's LIFBox (tau_mem_inv 100, dt 1 ms) as LIF(tau = 1e-5, r = 1); Sinabs' IAF (single spike, reset to zero)
    as IF(r = 1). Compiled without --dt, the snn level must count the spikes of each framework's own update rule."""
    rng = np.random.default_rng(3)
    w, bias = (rng.normal(size=(6, 5)) * 2).astype(np.float32), rng.normal(size=6).astype(np.float32)
    full = lambda v: np.full(6, v, np.float32)  # noqa: E731
    if exporter == "norse":
        neuron = nir.LIF(tau=full(1e-5), r=full(1.0), v_leak=full(0.0), v_threshold=full(1.0), v_reset=full(0.0))
    else:
        neuron = nir.IF(r=full(1.0), v_threshold=full(1.0), v_reset=full(0.0))
    g = _graph({"input": nir.Input(input_type={"input": np.array([5])}), "fc": nir.Affine(weight=w, bias=bias),
                "neuron": neuron, "output": nir.Output(output_type={"output": np.array([6])})})  # fmt: skip
    x = (rng.random((16, 30, 5)) < 0.4).astype(np.float32)
    v, counts = np.zeros((16, 6), np.float32), np.zeros((16, 6), np.float32)
    for t in range(30):
        current = x[:, t] @ w.T + bias
        # Norse: v += dt * tau_mem_inv * (v_leak - v + I), dt = 1e-3, tau_mem_inv = 100; Sinabs IAF: v += I
        v = v + np.float32(0.1) * (current - v) if exporter == "norse" else v + current
        spikes = v > 1.0
        counts += spikes
        v = np.where(spikes, np.float32(0.0), v)
    compiled = nmc.compile(g, target="mlir", level="snn")
    expected_dt = "dt = 1e-06 s" if exporter == "norse" else "dt = 1 s"
    assert any(expected_dt in n and "no dt in the graph" in n for n in compiled.notes), compiled.notes
    got = run_snn(compiled.module, x).outputs[0]
    assert counts.sum() > 20
    np.testing.assert_allclose(got, counts, atol=0)


def test_a_conv_without_an_input_shape_reads_its_shape_from_the_input_node():
    """Sinabs 3.1 writes Conv2d nodes with input_shape None; the Input node's type is enough (was a TypeError)."""
    n = 2
    conv = nir.Conv2d(input_shape=None, weight=np.ones((n, 1, 3, 3), np.float32), stride=1, padding=0, dilation=1, groups=1,
                      bias=np.zeros(n, np.float32))  # fmt: skip
    shape = (n, 3, 3)
    neuron = nir.IF(r=np.ones(shape, np.float32), v_threshold=np.ones(shape, np.float32), v_reset=np.zeros(shape, np.float32))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1, 5, 5])}), "c": conv, "i": neuron,
                            "output": nir.Output(output_type={"output": np.array(shape)})},
                     edges=[("input", "c"), ("c", "i"), ("i", "output")], type_check=False)  # fmt: skip
    module = nmc.compile(g, target="mlir", level="snn").module
    x = np.ones((1, 2, 1, 5, 5), np.float32)
    assert run_snn(module, x).outputs[0].shape == (1, *shape)
