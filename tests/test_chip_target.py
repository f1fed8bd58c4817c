"""Mapping, the chip binary and the simulator: spike-exact against the core interpreter, and robust."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.context import Context

from nmc import nn as nmc_nn
from nmc.chips import load_chip
from nmc.chips.binary import BinaryError, decode, encode
from nmc.dialects.map_layout import assignment, check_mapping, core_loads, net_view
from nmc.driver import ImportOptions, import_model
from nmc.passes.partition_cores import PartitionCoresPass, metis_parts
from nmc.passes.place_cores import PlaceCoresPass, placement_cost, traffic_matrix
from nmc.passes.route import RoutePass
from nmc.pipeline import lower_to_core, lower_to_map
from nmc.runtime.compare import assert_same_spikes
from nmc.runtime.core_interp import run_core
from nmc.runtime.simulator import Chip
from nmc.targets.chip_binary import build_image

from .conftest import EXAMPLES, ToolRun, run_tool

CTX = Context()


def small_snn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 40),
        nmc_nn.LIF(beta=0.9),
        nn.Linear(40, 24),
        nmc_nn.IF(reset="zero"),
        nn.Linear(24, 10),
        nmc_nn.IF(),
    )


@cache
def digits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.load(EXAMPLES / "digits_test.npy"),
        np.load(EXAMPLES / "digits_test_labels.npy"),
        np.load(EXAMPLES / "digits_calib.npy"),
    )


def mapped(model, chip_name: str, encoding: str = "direct", ticks: int = 24, approximate: bool = False, **kw):
    _x, _, calib = digits()
    module = import_model(model, ImportOptions(ticks=ticks, calibration=calib, encoding=encoding, input_shape=(1, 8, 8)))
    chip = load_chip(chip_name)
    lower_to_core(module, chip, chip_name, approximate_fan_in=approximate)
    lower_to_map(module, chip, stimulus=calib[:20], **kw)
    return module


CASES = {
    "snn-mini-multicore": (small_snn, "mini", "direct", False),
    "mlp-tianjic": (lambda: EXAMPLES / "digits_mlp.pt", "tianjic256", "direct", False),
    "cnn-tianjic-poisson": (lambda: EXAMPLES / "digits_cnn.pt", "tianjic256", "poisson", False),
    "cnn-truenorth-no-partial-sums": (lambda: EXAMPLES / "digits_cnn.pt", "truenorth4", "rate", True),
}


@pytest.mark.parametrize("case", list(CASES))
def test_simulator_on_the_binary_reproduces_the_core_interpreter(case):
    factory, chip_name, encoding, approximate = CASES[case]
    module = mapped(factory(), chip_name, encoding, approximate=approximate)
    x = digits()[0][:40]
    reference = run_core(module, x, record=True)
    image = decode(encode(build_image(module)))
    run = Chip(image).run(x, record=True)
    for a, b in zip(reference.outputs, run.outputs, strict=True):
        assert np.array_equal(a, b)
    # spike for spike: the simulator's raster, re-indexed to each group and aligned by its depth
    view = net_view(next(op for op in module.walk() if op.name == "core.network"))
    cores, slots = assignment(view.groups[0].parent_op(), view)
    order = np.lexsort((slots, cores))
    binary_id = np.empty_like(order)
    binary_id[order] = np.arange(order.size)
    for g in view.groups:
        if g.layer.data not in reference.traces:
            continue
        from nmc.dialects import core

        d = core.depth(g.output)
        ids = binary_id[view.neuron_offset[g] + np.arange(g.size)]
        assert_same_spikes(reference.traces[g.layer.data], run.spikes[d : d + 24][:, :, ids], what=f"layer '{g.layer.data}'")
    assert image.arrays["CORE"]["x"].size >= (2 if case != "mlp-tianjic" else 1)


def test_digits_accuracy_on_the_simulator_equals_the_core_level():
    x, y, _ = digits()
    module = mapped(EXAMPLES / "digits_cnn.pt", "tianjic256", ticks=32)
    core_acc = (run_core(module, x).outputs[0].argmax(1) == y).mean()
    sim_acc = (Chip(decode(encode(build_image(module)))).run(x).outputs[0].argmax(1) == y).mean()
    assert sim_acc == core_acc
    assert sim_acc > 0.95


@pytest.mark.parametrize("strategy", ["sequential", "metis", "auto"])
def test_partitions_never_break_a_core_limit(strategy):
    module = import_model(small_snn(), ImportOptions(ticks=8, input_shape=(1, 8, 8)))
    chip = load_chip("mini")
    lower_to_core(module, chip, "mini")
    PartitionCoresPass(strategy=strategy).apply(CTX, module)
    net = next(op for op in module.walk() if op.name == "core.network")
    assert check_mapping(net, chip) == []
    view = net_view(net)
    cores, _ = assignment(net, view)
    neurons, axons, synapses = core_loads(view, cores, int(cores.max()) + 1)
    assert neurons.max() <= 32
    assert axons.max() <= 32
    assert synapses.max() <= 1024


def test_metis_alone_overfills_a_core_which_the_repair_step_fixes():
    module = import_model(small_snn(), ImportOptions(ticks=8, input_shape=(1, 8, 8)))
    chip = load_chip("mini")
    lower_to_core(module, chip, "mini")
    net = next(op for op in module.walk() if op.name == "core.network")
    view = net_view(net)
    parts = metis_parts(view, chip, None, seed=0)
    raw_neurons, raw_axons, _ = core_loads(view, parts, int(parts.max()) + 1)
    assert raw_axons.max() > chip.core["axons"] or raw_neurons.max() > chip.core["neurons"]
    PartitionCoresPass(strategy="metis").apply(CTX, module)
    assert check_mapping(net, chip) == []


def test_annealing_never_loses_to_the_serpentine_start():
    module = mapped(EXAMPLES / "digits_cnn.pt", "tianjic256", placement="sequential")
    net = next(op for op in module.walk() if op.name == "core.network")
    n_cores = int(assignment(net, net_view(net))[0].max()) + 1
    sym = traffic_matrix(net, n_cores)

    def cost() -> float:
        from nmc.dialects import map as map_d
        from nmc.dialects.ir_arrays import to_numpy

        mesh = next(op for op in net.body.block.ops if isinstance(op, map_d.MeshOp))
        return placement_cost(sym, to_numpy(mesh.x).astype(int), to_numpy(mesh.y).astype(int))

    before = cost()
    PlaceCoresPass(strategy="anneal", seed=1).apply(CTX, module)
    RoutePass().apply(CTX, module)
    module.verify()
    assert cost() <= before


def compile_cli(*args: str) -> ToolRun:
    return run_tool("nmc-compile", *args)


def run_cli(*args: str) -> ToolRun:
    return run_tool("nmc-run", *args)


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    out = tmp_path_factory.mktemp("bin")
    proc = compile_cli(
        str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy"), "--timesteps", "16", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr
    return out / "digits_mlp.nmc"


def test_compiling_twice_gives_identical_bytes(binary, tmp_path):
    proc = compile_cli(
        str(EXAMPLES / "digits_mlp.pt"),
        "--calibration",
        str(EXAMPLES / "digits_calib.npy"),
        "--timesteps",
        "16",
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 0
    assert (tmp_path / "digits_mlp.nmc").read_bytes() == binary.read_bytes()
    assert (tmp_path / "report.json").read_bytes() == (binary.parent / "report.json").read_bytes()


def test_nmc_run_writes_decoded_outputs_batch_first(binary, tmp_path):
    out = tmp_path / "y.npy"
    proc = run_cli(str(binary), "--input", str(EXAMPLES / "digits_test.npy"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    y = np.load(out)
    assert y.shape == (540, 10)
    labels = np.load(EXAMPLES / "digits_test_labels.npy")
    assert (y.argmax(1) == labels).mean() > 0.95


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b[: len(b) // 2], r"CRC mismatch"),
        (lambda b: b[:30], r"truncated"),
        (lambda b: b[:100] + bytes([b[100] ^ 0x10]) + b[101:], r"CRC mismatch"),
        (lambda b: b[:8] + b"\x07\x00" + b[10:], r"format version 7, this nmc reads version 1"),
        (lambda b: b"GIF89a" + b[6:], r"not an nmc chip binary \(bad magic number\)"),
    ],
)
def test_damaged_binaries_are_refused_in_one_line(binary, tmp_path, damage, message):
    bad = tmp_path / "bad.nmc"
    bad.write_bytes(damage(binary.read_bytes()))
    proc = run_cli(str(bad), "--input", str(EXAMPLES / "digits_test.npy"))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"nmc-run: error: {bad}: ")
    import re

    assert re.search(message, lines[0])


def test_index_out_of_range_is_caught_even_with_a_valid_crc(binary):
    image = decode(binary.read_bytes())
    image.arrays["SYN "]["slot"] = image.arrays["SYN "]["slot"].copy()
    image.arrays["SYN "]["slot"][0] = 999
    from nmc.chips.binary import validate

    with pytest.raises(BinaryError, match=r"SYN.slot: index 999 out of range \[0, 256\)"):
        validate(decode(encode(image)))


def test_a_model_too_big_for_the_mesh_names_need_and_capacity(tmp_path):
    model = tmp_path / "wide.pt"
    torch.manual_seed(0)
    torch.save(nn.Sequential(nn.Linear(64, 600), nn.ReLU(), nn.Linear(600, 10)), model)
    out = tmp_path / "out"
    proc = compile_cli(str(model), "--chip", "tiny", "-o", str(out))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "the network does not fit chip 'tiny'" in proc.stderr
    assert "256 neurons (4x4 cores of 16), got " in proc.stderr
    assert not out.exists()


def test_python_api_compiles_runs_and_saves(tmp_path):
    import nmc

    x, _, calib = digits()
    compiled = nmc.compile(small_snn(), name="small", chip="mini", input_shape=(1, 8, 8), timesteps=16, calibration=calib)
    y = compiled.run(x[:20])
    assert y.shape == (20, 10)
    assert compiled.report["mapping"]["cores_used"] >= 2
    compiled.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "small.nmc"]
    again = nmc.load(tmp_path / "small.nmc").run(x[:20]).outputs[0]
    assert np.array_equal(again, y)


def test_sequential_fill_takes_the_longest_prefix_that_fits():
    """Each core is full: moving the next core's first neuron into it would break a limit."""
    from nmc.passes.partition_cores import partition

    module = import_model(small_snn(), ImportOptions(ticks=8, input_shape=(1, 8, 8)))
    chip = load_chip("mini")
    lower_to_core(module, chip, "mini")
    net = next(op for op in module.walk() if op.name == "core.network")
    view = net_view(net)
    cores = partition(view, chip, "sequential")
    assert (np.diff(cores) >= 0).all()
    for k in range(int(cores.max())):
        first_next = int(np.nonzero(cores == k + 1)[0][0])
        grown = cores.copy()
        grown[first_next] = k
        neurons, axons, synapses = core_loads(view, grown, int(cores.max()) + 1)
        c = chip.core
        assert neurons[k] > c["neurons"] or axons[k] > c["axons"] or synapses[k] > c["synapse_memory"]


def test_plot_writes_a_raster_and_a_placement_heat_map():
    import nmc

    _, _, calib = digits()
    compiled = nmc.compile(small_snn(), name="p", chip="mini", input_shape=(1, 8, 8), timesteps=8, calibration=calib, plot=True)
    assert sorted(compiled.files) == ["p.nmc", "p.placement.png", "p.raster.png"]
    assert all(compiled.files[f][:8] == b"\x89PNG\r\n\x1a\n" for f in ("p.placement.png", "p.raster.png"))
    run = compiled.report["chip_run"]
    assert run["energy_per_inference_uj"] > 0
    assert 0 < run["activation_sparsity"] < 1
    assert compiled.report["neurobench"]["connection_sparsity"] >= 0
