"""The fast simulator: every arithmetic path gives the same bits, and its counters match a hand count."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nmc.chips import load_chip
from nmc.chips.binary import decode, encode
from nmc.dialects.core import ChipAttr, NetworkOp
from nmc.runtime import sim_loop
from nmc.runtime.simulator import Chip
from nmc.targets.chip_binary import build_image

from .conftest import EXAMPLES
from .test_chip_target import CASES, digits, mapped
from .test_layering import parse

HAND = """core.network @hand ticks = 3 dt = 1.0e-03 chip = #core.chip<"tiny"> {
^bb0(%x: tensor<2xf32>):
  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<2xf32> -> !core.spikes<2>
  %a = core.neurons "a" spike(%in) delays = [0] pre = dense<[0, 1, 1]> : tensor<3xi32> post = dense<[0, 0, 1]> : tensor<3xi32> weight = dense<1> : tensor<3xi8> threshold = dense<[100, 1]> : tensor<2xi32> bias = dense<0> : tensor<2xi32> v_init = dense<0> : tensor<2xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<2>
  %b = core.neurons "b" spike(%a) delays = [0] pre = dense<[1]> : tensor<1xi32> post = dense<[0]> : tensor<1xi32> weight = dense<1> : tensor<1xi8> threshold = dense<2> : tensor<1xi32> bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> decay_shift = 0 reset = subtract compare = ge : (!core.spikes<2>) -> !core.spikes<1>
  %y = core.decode count %b latency = 1 : !core.spikes<1> -> tensor<1xf32>
  core.output %y : tensor<1xf32>
}"""  # noqa: E501


def hand_network():
    """Inputs spike every tick; a.1 fires every tick and feeds b on another core (2 neurons per core)."""
    from nmc.pipeline import lower_to_map

    module = parse(HAND)
    net = next(op for op in module.walk() if isinstance(op, NetworkOp))
    tiny = load_chip("tiny")
    net.chip = ChipAttr(dataclasses.replace(tiny, core={**tiny.core, "neurons": 2}))
    module.verify()
    mapping = lower_to_map(module, net.chip.data, partition="sequential", placement="sequential")
    return decode(encode(build_image(module))), mapping


def test_counters_match_a_hand_count():
    image, mapping = hand_network()
    run = Chip(image).run(np.ones((2, 2), np.float32))
    # 4 chip ticks (3 input ticks + b's latency 1). Synaptic events per sample: input 0 (1 synapse) and
    # input 1 (2 synapses) spike at ticks 0-2: 9; a.1 fires at ticks 0-2, its axon on b's core is read
    # at ticks 1-3: 3. Updates: a's 2 neurons x 4 ticks + b from tick 1: 3. Packets: a.1's 3 spikes
    # to core 1 (b's spike at tick 2 goes to the host decoder only).
    assert run.ticks == 4
    assert (run.synaptic_events, run.neuron_updates, run.packets) == (2 * 12, 2 * 11, 2 * 3)
    # spikes: a.1 fires at ticks 0-2 (3), b once (tick 2); a.0 (threshold 100) never: 4 per sample
    assert run.spikes_emitted == 2 * 4
    assert run.outputs[0].tolist() == [[1.0], [1.0]]  # b: 1, 2 (fires), 1 over ticks 1-3
    from nmc.costs import dynamic_report

    chip = load_chip("tiny")
    report = dynamic_report(run, 2, image, chip, mapping, dense_synops=3 * 3 + 2 * 3)
    assert report["effective_synops_per_sample"] == 12
    hops = mapping["average_hops"]
    assert report["energy_breakdown_uj"]["routing"] == round(3 * hops * chip.cost["energy_hop_pj"] * 1e-6, 6)
    assert report["energy_breakdown_uj"]["synaptic"] == round(12 * chip.cost["energy_synop_pj"] * 1e-6, 6)


@pytest.fixture(scope="module")
def cnn_image():
    factory, chip_name, encoding, approximate = CASES["cnn-tianjic-poisson"]
    return decode(encode(build_image(mapped(factory(), chip_name, encoding, approximate=approximate))))


def runs_equal(a, b) -> None:
    for x, y in zip(a.outputs, b.outputs, strict=True):
        assert np.array_equal(x, y)
    assert np.array_equal(a.spikes, b.spikes)
    assert (a.synaptic_events, a.neuron_updates, a.packets, a.spikes_emitted) == (
        b.synaptic_events, b.neuron_updates, b.packets, b.spikes_emitted)  # fmt: skip


def test_float32_is_chosen_and_equals_int64(cnn_image, monkeypatch):
    x = digits()[0][:16]
    fast = Chip(cnn_image).run(x, record=True)
    assert fast.stats["dtype"] == "float32"
    monkeypatch.setattr(Chip, "exact_dtype", staticmethod(lambda _bound: np.dtype(np.int64)))
    runs_equal(fast, Chip(cnn_image).run(x, record=True))


def test_event_driven_and_dense_ticks_agree(cnn_image, monkeypatch):
    x = digits()[0][:16]
    monkeypatch.setattr(sim_loop, "EVENT_COST", float("inf"))
    dense = Chip(cnn_image).run(x, record=True)
    assert dense.stats["event_ticks"] == 0
    monkeypatch.setattr(sim_loop, "EVENT_COST", 0.0)
    monkeypatch.setattr(sim_loop, "EVENT_FIXED", 0.0)
    events = Chip(cnn_image).run(x, record=True)
    assert events.stats["event_ticks"] >= events.ticks - 1  # every tick with a live axon
    runs_equal(dense, events)


def test_sparse_cores_and_dense_blocks_agree(cnn_image, monkeypatch):
    x = digits()[0][:8]
    monkeypatch.setattr(sim_loop, "EVENT_COST", float("inf"))
    blocks = Chip(cnn_image).run(x, record=True)
    monkeypatch.setattr(sim_loop, "DENSE_BLOCK_MIN", 2.0)  # no core is dense enough: all sparse
    runs_equal(blocks, Chip(cnn_image).run(x, record=True))


def test_stacked_small_blocks_agree(cnn_image, monkeypatch):
    from nmc.runtime import sim_tables

    x = digits()[0][:8]
    monkeypatch.setattr(sim_loop, "EVENT_COST", float("inf"))
    whole = Chip(cnn_image).run(x, record=True)
    monkeypatch.setattr(sim_tables, "STACK_ABOVE", 0)  # every block is stacked into batched GEMMs
    monkeypatch.setattr(sim_tables, "STACK_CELLS", 1 << 40)
    chip = Chip(cnn_image)
    stacked = chip.run(x, record=True, trace=True)
    (tables,) = chip._tables.values()
    assert tables.stacks
    assert not tables.blocks
    runs_equal(whole, stacked)
    runs_equal(stacked, chip.run(x, record=True, device="cpu"))


def test_compacted_blocks_agree(cnn_image, monkeypatch):
    from nmc.runtime import sim_loop

    x = digits()[0][:8]
    monkeypatch.setattr(sim_loop, "EVENT_COST", float("inf"))
    whole = Chip(cnn_image).run(x, record=True)
    monkeypatch.setattr(sim_loop, "COMPACT", 2.0)  # every block multiplies only its live axons
    runs_equal(whole, Chip(cnn_image).run(x, record=True))


def test_int8_blocks_equal_float_blocks(cnn_image, monkeypatch):
    """Spikes and 8-bit weights: every block runs as an int8 GEMM, with the bits of the float32 GEMMs."""
    from nmc.runtime import sim_loop

    pytest.importorskip("torch")  # loaded: int8 GEMMs are used whatever the size of the run
    x = digits()[0][:16]
    int8 = Chip(cnn_image).run(x, record=True, trace=True)
    assert int8.stats["int8_blocks"] > 0
    assert int8.stats["float_blocks"] == 0
    monkeypatch.setattr(sim_loop, "INT8", False)
    plain = Chip(cnn_image).run(x, record=True, trace=True)
    assert plain.stats["int8_blocks"] == 0
    runs_equal(int8, plain)
    assert np.array_equal(int8.trace["v"], plain.trace["v"])


def test_core_interpreter_int8_products_equal_float_products(monkeypatch):
    """The core interpreter's integer groups: int8 GEMMs (torch loaded) give the float32 GEMMs' spikes."""
    from nmc.runtime import core_interp
    from nmc.runtime.core_interp import run_core

    pytest.importorskip("torch")
    module = mapped(EXAMPLES / "digits_mlp.pt", "tianjic256", "rate")
    x = digits()[0][:16]
    assert all(st.int8_weights is not None for st in _group_states(module))
    int8 = run_core(module, x, record=True)
    monkeypatch.setattr(core_interp, "int8_available", lambda: False)
    assert all(st.int8_weights is None for st in _group_states(module))
    plain = run_core(module, x, record=True)
    assert np.array_equal(int8.outputs[0], plain.outputs[0])
    assert int8.traces.keys() == plain.traces.keys()
    for name, spikes in int8.traces.items():
        assert np.array_equal(spikes, plain.traces[name]), name


def _group_states(module):
    from nmc.dialects import core
    from nmc.runtime.core_interp import _GroupState

    chip = next(op for op in module.walk() if isinstance(op, NetworkOp)).chip.data
    return [_GroupState(op, chip, 1, np.float32) for op in module.walk() if isinstance(op, core.NeuronsOp)]


def test_weights_wider_than_int8_run_as_two_int8_digit_blocks(monkeypatch):
    """12-bit weights: each block as two int8 GEMMs over the weights' base-128 digits, the spikes and counters of
    the float blocks and of the core interpreter."""
    import nmc
    from nmc.runtime.core_interp import run_core

    pytest.importorskip("torch")
    base = load_chip("tianjic256")
    wide = dataclasses.replace(base, core={**base.core, "weight_bits": 12})
    calib = np.load(EXAMPLES / "digits_calib.npy")[:50]
    compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", chip=wide, calibration=calib, timesteps=8)
    chip = Chip(decode(compiled.binary))
    assert np.abs(chip.syn_weight).max() > 127
    x = digits()[0][:16]
    run = chip.run(x, record=True, trace=True)
    assert run.stats["kernels"].get("int8w2", 0) > 0
    assert np.array_equal(run.outputs[0], run_core(compiled.module, x).outputs[0])
    monkeypatch.setattr(sim_loop, "INT8", False)
    plain = Chip(decode(compiled.binary)).run(x, record=True, trace=True)
    assert (plain.stats["int8_blocks"], plain.stats["float_blocks"]) == (0, 2)
    runs_equal(run, plain)
    assert np.array_equal(run.trace["v"], plain.trace["v"])


def test_torch_backend_equals_numpy(cnn_image):
    pytest.importorskip("torch")
    x = digits()[0][:16]
    a = Chip(cnn_image).run(x, record=True, trace=True)
    b = Chip(cnn_image).run(x, record=True, trace=True, device="cpu")
    assert b.stats["backend"] == "torch-cpu"
    assert b.stats["int8_blocks"] > 0
    runs_equal(a, b)
    for key in ("host", "out", "v"):
        assert np.array_equal(a.trace[key], b.trace[key])


def test_wide_values_fall_back_to_wider_types():
    assert Chip.exact_dtype(2**24 - 1) == np.float32
    assert Chip.exact_dtype(2**24) == np.float64
    assert Chip.exact_dtype(2**53) == np.int64


def test_bundled_mlp_runs_on_both_backends_with_equal_accuracy():
    import nmc

    compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=np.load(EXAMPLES / "digits_calib.npy")[:50], timesteps=16)
    x, y = np.load(EXAMPLES / "digits_test.npy")[:64], np.load(EXAMPLES / "digits_test_labels.npy")[:64]
    chip = Chip(decode(compiled.binary))
    a, b = chip.run(x), chip.run(x, device="cpu")
    assert np.array_equal(a.outputs[0], b.outputs[0])
    assert (a.outputs[0].argmax(1) == y).mean() > 0.9


def test_nmc_run_device_cpu_equals_numpy(tmp_path, cnn_image):
    from nmc.chips.binary import encode as encode_binary

    from .conftest import run_tool

    binary = tmp_path / "cnn.nmc"
    binary.write_bytes(encode_binary(cnn_image))
    x = tmp_path / "x.npy"
    np.save(x, digits()[0][:8])
    outs = {}
    for device in ("numpy", "cpu"):
        proc = run_tool("nmc-run", str(binary), "--input", str(x), "--device", device, "-o", str(tmp_path / f"{device}.npy"))
        assert proc.returncode == 0, proc.stderr
        outs[device] = np.load(tmp_path / f"{device}.npy")
    assert np.array_equal(outs["numpy"], outs["cpu"])


def test_nmc_run_device_cuda_without_a_gpu_is_one_line(tmp_path, cnn_image):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    from nmc.chips.binary import encode as encode_binary

    from .conftest import run_tool

    binary = tmp_path / "cnn.nmc"
    binary.write_bytes(encode_binary(cnn_image))
    np.save(tmp_path / "x.npy", digits()[0][:2])
    proc = run_tool("nmc-run", str(binary), "--input", str(tmp_path / "x.npy"), "--device", "cuda")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "nmc-run: error: --device cuda: torch sees no CUDA device here; use --device cpu or numpy"


def test_per_block_kernels_on_a_direct_coded_partial_sum_network_equal_the_core_interpreter(monkeypatch):
    """An MLP with 600 inputs on tianjic256 cores with 10-bit direct inputs: the chip-wide bound needs float64
    (the partial-sum trees' sums pass 2**24), yet the first layer's units run as two-digit int8 GEMMs (host values
    up to 511) and the rest in float32 where their own bound allows; spikes, counters
    and final membranes equal the float64-only run and the core interpreter."""
    import torch

    import nmc
    from nmc.runtime.core_interp import run_core

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(600, 48), torch.nn.ReLU(), torch.nn.Linear(48, 10)).eval()
    with torch.no_grad():  # weights of equal magnitude: every one quantizes to +-127, so the bounds are large
        model[0].weight.copy_(torch.sign(torch.randn(48, 600)) * 0.01)
    x = np.random.default_rng(0).random((24, 600), dtype=np.float32)
    tianjic = load_chip("tianjic256")  # with 10-bit inputs: host values up to 511, past int8
    chip = dataclasses.replace(tianjic, name="tianjic-in10", core={**tianjic.core, "input_bits": 10})
    compiled = nmc.compile(model, chip=chip, calibration=x, timesteps=12, allow_accuracy_loss=True)
    module, image = compiled.module, decode(compiled.binary)
    fast = Chip(image).run(x, record=True, trace=True)
    assert fast.stats["dtype"] == "float64"
    assert fast.stats["kernels"].get("int8x2", 0) > 0  # the partial-sum units over the host inputs
    assert fast.stats["kernels"].get("f32", 0) > 0
    monkeypatch.setattr(sim_loop, "INT8", False)
    monkeypatch.setattr(sim_loop, "KERNEL_COST", {**sim_loop.KERNEL_COST})
    plain_chip = Chip(image)
    plain = plain_chip.run(x, record=True, trace=True)
    assert "int8x2" not in plain.stats["kernels"]
    runs_equal(fast, plain)
    assert np.array_equal(fast.trace["v"], plain.trace["v"])
    np.testing.assert_array_equal(fast.outputs[0], run_core(module, x).outputs[0])


def test_one_column_per_source_merges_every_cores_copy_of_an_axon():
    """A CNN on truenorth4 (no partial sums: relay neurons, many small cores) reads its sources through a few
    blocks over the sources, not thousands of per-core blocks over per-core axons; same spikes and counters
    as the core interpreter's outputs."""
    from nmc.runtime.core_interp import run_core
    from nmc.runtime.sim_tables import by_source

    factory, chip_name, encoding, approximate = CASES["cnn-truenorth-no-partial-sums"]
    module = mapped(factory(), chip_name, encoding, approximate=approximate)
    chip = Chip(decode(encode(build_image(module))))
    internal = np.empty(chip.n, np.int64)
    internal[np.concatenate([chip.stateful, chip.psum])] = np.arange(chip.n)
    view = by_source(chip, internal)
    assert view.n_axons < chip.n_axons / 4
    assert view.fan_out.sum() == chip.fan_out.sum()  # the synaptic-event weights are the same in total
    x = digits()[0][:24]
    run = chip.run(x)
    assert len(chip.__dict__["_tables"]) == 1
    np.testing.assert_array_equal(run.outputs[0], run_core(module, x).outputs[0])


def test_copy_relays_read_through_give_the_same_spikes_and_counters():
    """An MLP on truenorth4 (fan-out 256) gets relays that repeat a spike one tick later: for the inputs (fan-out
    300) and for the second layer (fan-out 300). A run reads them through (each reader takes the relay's root
    source, later by the relay's lag; runtime/sim_relays.py). Outputs and every counter equal the run that
    simulates each relay (a recording run keeps them: every neuron's spikes are asked for) and the core
    interpreter. With graded host inputs the host-fed relays would not be copies: they are kept."""
    import torch

    import nmc
    from nmc.runtime.core_interp import run_core
    from nmc.runtime.sim_relays import read_through

    torch.manual_seed(0)
    layers = [torch.nn.Linear(24, 300), torch.nn.Linear(300, 30), torch.nn.Linear(30, 300), torch.nn.Linear(300, 10)]
    model = torch.nn.Sequential(*(m for layer in layers for m in (layer, torch.nn.ReLU())))[:-1].eval()
    x = np.random.default_rng(0).random((16, 24), dtype=np.float32)
    compiled = nmc.compile(model, chip="truenorth4", calibration=x, encoding="rate", timesteps=12, approximate_fan_in=True,
                           allow_accuracy_loss=True)  # fmt: skip
    chip = Chip(decode(compiled.binary))
    view, packets, _, fused = read_through(chip, True)
    relays = chip.syn_weight.size - view.syn_weight.size  # one synapse each
    assert relays == fused.sum()
    assert relays == 2 * 24 + 2 * 30  # the inputs' and the second layer's relays (two copies each)
    assert {p.from_host for p in packets} == {True, False}
    graded, graded_packets, _, _ = read_through(chip, False)
    assert chip.syn_weight.size - graded.syn_weight.size == 2 * 30
    assert {p.from_host for p in graded_packets} == {False}
    through = chip.run(x)
    kept = chip.run(x, record=True)
    assert sorted(str(key[-1]) for key in chip.__dict__["_tables"]) == ["None", "True"]
    assert np.array_equal(through.outputs[0], kept.outputs[0])
    assert (through.synaptic_events, through.neuron_updates, through.packets, through.spikes_emitted) == (
        kept.synaptic_events, kept.neuron_updates, kept.packets, kept.spikes_emitted)  # fmt: skip
    assert kept.spikes_emitted == int(kept.spikes.sum())  # the recorded raster, every neuron's spikes
    np.testing.assert_array_equal(through.outputs[0], run_core(compiled.module, x).outputs[0])
