"""Mapping, the chip binary and the simulator: spike-exact against the core interpreter, and robust."""

from __future__ import annotations

import re
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
from nmc.passes.crossbar_kind import traffic_matrix
from nmc.passes.crossbar_partition import metis_parts
from nmc.passes.partition_cores import PartitionCoresPass
from nmc.passes.place_cores import PlaceCoresPass
from nmc.passes.placement import placement_cost
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
        (lambda b: b[:8] + b"\x07\x00" + b[10:], r"format version 7, this nmc reads version 2"),
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

    with pytest.raises(BinaryError, match=r"SYN.slot: entry 0 names neuron 999 of a core with 138 neurons"):
        validate(decode(encode(image)))


def _recoded(binary, edit) -> bytes:
    """The binary after `edit(image)`, re-encoded with a valid CRC."""
    image = decode(binary.read_bytes())
    image.arrays = {tag: {k: v.copy() for k, v in arrays.items()} for tag, arrays in image.arrays.items()}
    edit(image)
    return encode(image)


def _two_core_image():
    """A mapped network on two cores (the slot of a synapse can point past its own core's neurons)."""
    module = mapped(small_snn(), "mini", "direct")
    return decode(encode(build_image(module)))


def test_a_slot_past_its_own_cores_neurons_is_refused():
    from nmc.chips.binary import validate

    image = _two_core_image()
    syn, nrn = image.arrays["SYN "], image.arrays["NRN "]
    sizes = np.bincount(nrn["core"])
    per_syn = np.repeat(np.arange(sizes.size), np.diff(syn["offsets"]))
    entry = int(np.nonzero(sizes[per_syn] < image.meta["neurons_per_core"])[0][0])  # a synapse of a core with room
    core = int(per_syn[entry])
    syn["slot"] = syn["slot"].copy()
    syn["slot"][entry] = sizes[core]  # inside the core's capacity (the old check passed it), past its neurons
    with pytest.raises(BinaryError, match=rf"SYN.slot: entry {entry} names neuron {sizes[core]} of a core with {sizes[core]}"):
        validate(decode(encode(image)))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda im: im.meta.update(ticks=10**9), r"META.ticks must be an integer in \[1, 1048576\], got 1000000000"),
        (lambda im: im.meta.update(ticks=0), r"META.ticks must be an integer in \[1, 1048576\], got 0"),
        (lambda im: im.meta.update(outputs=[]), r"META.outputs is empty"),
        (lambda im: im.meta["inputs"][0].update(encoding="morse"), r"META.inputs\[0\].encoding must be one of direct, rate"),
        (lambda im: im.meta["outputs"][0].update(kind="vote"), r"META.outputs\[0\].kind must be one of count"),
        (lambda im: im.meta.update(membrane_bits=1), r"META.membrane_bits must be an integer in \[2, 48\], got 1"),
        (lambda im: im.arrays["OUT "].update(scale0=np.full_like(im.arrays["OUT "]["scale0"], np.nan)), r"OUT.scale0 must be"),
        (lambda im: im.arrays["SYN "].update(slot=im.arrays["SYN "]["slot"].astype(np.float32)), r"SYN.slot must be a 1-D int"),
        (lambda im: im.meta["inputs"][0].update(scale=float("inf")), r"META.inputs\[0\].scale must be a finite number"),
    ],
)
def test_structurally_wrong_binaries_with_valid_crc_are_refused(binary, edit, message):
    from nmc.chips.binary import validate

    with pytest.raises(BinaryError, match=message):
        validate(decode(_recoded(binary, edit)))


def test_deeply_nested_metadata_is_a_clean_error(binary):
    import struct
    import zlib

    from nmc.chips import binary as binary_format

    raw = binary.read_bytes()
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    meta = binary_format._pack_arrays({"json": np.frombuffer(deep, np.uint8)})
    start, end = raw.index(b"META") + 4, raw.index(b"CORE")
    blob = raw[:start] + struct.pack("<Q", len(meta)) + meta + raw[end:-4]
    blob += struct.pack("<I", zlib.crc32(blob))
    with pytest.raises(BinaryError, match=r"unreadable META section \(RecursionError"):
        decode(blob)


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.zeros((0, 1, 8, 8), np.float32), r"x.npy: the batch is empty \(0 samples\)"),
        (np.zeros((2, 1, 8, 8), np.complex64), r"x.npy: inputs must be real numbers, got dtype complex64"),
        (np.zeros(2, dtype=[("a", "f4")]), r"x.npy: inputs must be real numbers, got dtype"),
        (np.where(np.arange(128).reshape(2, 1, 8, 8) == 70, np.nan, 0.5), r"x.npy: sample 1 holds NaN or infinite"),
        (np.zeros(5, np.float32), r"x.npy: expected an array \[batch, \*input_shape\], got shape \[5\]"),
    ],
)
def test_nmc_run_refuses_bad_inputs_in_one_line(binary, tmp_path, array, message):
    np.save(tmp_path / "x.npy", array)
    proc = run_cli(str(binary), "--input", str(tmp_path / "x.npy"))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert re.search(message, lines[0]), lines[0]


def test_nmc_run_wrong_labels_and_output_folder_are_one_line(binary, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.load(EXAMPLES / "digits_test.npy")[:4])
    np.save(tmp_path / "y.npy", np.zeros(7, np.int64))
    proc = run_cli(str(binary), "--input", str(x), "--labels", str(tmp_path / "y.npy"))
    assert proc.stderr.strip().endswith("y.npy: expected 4 integer labels (one per input sample), got int64 [7]")
    proc = run_cli(str(binary), "--input", str(x), "-o", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"nmc-run: error: -o {tmp_path}: is a folder; give a file name such as {tmp_path / 'y.npy'}"


def test_nmc_run_takes_the_folder_nmc_compile_wrote_as_nmc_load_does(binary, tmp_path):
    x = tmp_path / "x.npy"
    np.save(x, np.load(EXAMPLES / "digits_test.npy")[:4])
    by_folder = run_cli(str(binary.parent), "--input", str(x), "-o", str(tmp_path / "a.npy"))
    assert run_cli(str(binary), "--input", str(x), "-o", str(tmp_path / "b.npy")).returncode == 0
    assert by_folder.returncode == 0, by_folder.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy"))
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli(str(empty), "--input", str(x))
    assert proc.stderr.strip() == f"nmc-run: error: {empty}: a folder holding 0 chip binaries (.nmc); give the file"
