"""--target verilog: Icarus runs of the emitted RTL (both styles) give the simulator's spikes exactly; lint,
synthesis, limits."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from nmc import nn as nmc_nn
from nmc.chips import load_chip
from nmc.chips.binary import ChipImage, decode, encode
from nmc.driver import ImportOptions, import_model
from nmc.pipeline import lower_to_core, lower_to_map
from nmc.targets.chip_binary import build_image
from nmc.targets.verilog import PRIMITIVES, check_size, verilog_files
from nmc.targets.verilog_tm import SRAM_MODELS, TM_PRIMITIVES, sram_models_source
from nmc.targets.verilog_tm_rtl import tm_verilog_files

from .conftest import EXAMPLES, ROOT, ToolRun, run_tool

NO_PARTIAL_SUMS = ROOT / "tests" / "chips" / "nops.chip"
MULTIPLY = ROOT / "tests" / "chips" / "mini-multiply.chip"


def need(tool: str) -> None:
    """EDA tools come from scripts/setup.sh; the official test command (NMC_REQUIRE_EDA=1) fails without them."""
    if shutil.which(tool) is None:
        if os.environ.get("NMC_REQUIRE_EDA"):
            pytest.fail(f"{tool} is not installed: run scripts/setup.sh")
        pytest.skip(f"{tool} is not installed")


class Skip(nn.Module):
    """A skip over two layers: the skipped path needs an axon delay of one tick."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.fc1, self.fc2, self.out = nn.Linear(12, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 4)
        self.n0, self.n1 = nmc_nn.IF(), nmc_nn.LIF(beta=0.75)
        self.n2, self.n3 = nmc_nn.IF(reset="zero"), nmc_nn.IF()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0 = self.n0(self.inp(x))
        s1 = self.n1(self.fc1(s0))
        return self.n3(self.out(self.n2(self.fc2(s1) + s0)))


class WideSkip(Skip):
    """Skip with fan-ins over mini's 32 axons (partial sums) and the skip's axon delay, in one network."""

    def __init__(self) -> None:
        super().__init__()
        self.inp, self.fc1, self.fc2, self.out = nn.Linear(48, 40), nn.Linear(40, 16), nn.Linear(16, 40), nn.Linear(40, 4)


def dense_snn() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 40), nmc_nn.LIF(beta=0.875), nn.Linear(40, 10), nmc_nn.IF())


def dense_snn_09() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 40), nmc_nn.LIF(beta=0.9), nn.Linear(40, 10), nmc_nn.IF())


def conv_ann() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(48, 10))


def digits_x() -> np.ndarray:
    return np.load(EXAMPLES / "digits_calib.npy")


def lowered(model, chip: str | Path, x: np.ndarray, approximate: bool = False, ticks: int = 10, **opts):
    torch.manual_seed(0)
    module = import_model(model, ImportOptions(ticks=ticks, calibration=x, input_shape=x.shape[1:], **opts))
    the_chip = load_chip(str(chip))
    lower_to_core(module, the_chip, str(chip), approximate_fan_in=approximate)
    lower_to_map(module, the_chip, stimulus=x[:10])
    return decode(encode(build_image(module)))


def traced(image: ChipImage, x) -> dict:
    """The simulator's record of a run: the testbench's stimulus and expectation."""
    from nmc.runtime.simulator import Chip

    return Chip(image).run(x, trace=True).trace


def write(files: dict[str, str], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        (folder / name).write_text(text)


def icarus(folder: Path) -> str:
    """`iverilog -g2012 *.v && vvp` inside the folder, as docs/verilog.md tells users."""
    sources = sorted(p.name for p in folder.glob("*.v"))
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", *sources], cwd=folder, check=True, capture_output=True, text=True)
    run = subprocess.run(["vvp", "-n", "tb.vvp"], cwd=folder, capture_output=True, text=True, timeout=600)
    return run.stdout


def from_lit_input() -> ChipImage:
    """The network of tests/lit/targets/verilog.mlir: compare '>', a shift leak, a delayed host axon."""
    from xdsl.context import Context
    from xdsl.parser import Parser

    from nmc.dialects import get_all_dialects
    from nmc.passes.partition_cores import PartitionCoresPass
    from nmc.passes.place_cores import PlaceCoresPass
    from nmc.passes.route import RoutePass

    ctx = Context()
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    module = Parser(ctx, (ROOT / "tests" / "lit" / "targets" / "verilog.mlir").read_text()).parse_module()
    for p in (PartitionCoresPass(strategy="sequential"), PlaceCoresPass(strategy="sequential"), RoutePass()):
        p.apply(ctx, module)
    return decode(encode(build_image(module)))


def seeded(factory):
    torch.manual_seed(0)
    return factory().eval()


def cases() -> dict:
    x = digits_x()
    rng = np.random.default_rng(3)
    skip_x = rng.random((40, 12)).astype(np.float32)
    wide_x = np.random.default_rng(5).random((40, 48)).astype(np.float32)
    return {
        # several cores, partial sums (64 inputs on 32 axons), multi-hop routes, shift leak
        "dense-snn-mini": (lambda: lowered(seeded(dense_snn), "mini", x), x[:2]),
        # a converted conv net with rate-coded input on a chip with partial sums
        "conv-ann-mini-rate": (lambda: lowered(seeded(conv_ann), "mini", x, encoding="rate"), x[:2]),
        # no partial sums: relay neurons, 4-bit weights, Poisson input
        "dense-snn-nops-poisson": (lambda: lowered(seeded(dense_snn), NO_PARTIAL_SUMS, x, True, encoding="poisson"), x[:2]),
        # a multiply leak (beta 0.9 -> V -= (V * 26) >> 8)
        "dense-snn-multiply-leak": (lambda: lowered(seeded(dense_snn_09), MULTIPLY, x), x[:2]),
        # an axon delay line (the skip) and a membrane decoder (final potentials compared too)
        "skip-tiny-membrane": (lambda: lowered(seeded(Skip), "tiny", skip_x, decoding="membrane"), skip_x[:3]),
        # partial sums and an axon delay in one network
        "wide-skip-mini-psum-delay": (lambda: lowered(seeded(WideSkip), "mini", wide_x), wide_x[:2]),
        # hand-written core IR: compare '>', reset by subtraction after a shift leak, a delayed host axon
        "lit-input-compare-gt": (from_lit_input, np.random.default_rng(4).random((3, 2)).astype(np.float32)),
    }


@pytest.mark.parametrize("case", list(cases()))
def test_icarus_reproduces_the_simulator(case, tmp_path):
    need("iverilog")
    make, stimulus = cases()[case]
    image = make()
    files, design = verilog_files(image, traced(image, stimulus))
    assert image.a("CORE", "x").size > 1
    expected = files[f"tb_{design.top}_expect.hex"] + files.get(f"tb_{design.top}_membranes.hex", "")
    assert set(expected) - set("0\n"), "outputs all zero on this stimulus: a weak test"
    write(files, tmp_path)
    out = icarus(tmp_path)
    assert f"PASS: {len(stimulus)} samples x {design.total_ticks} ticks" in out, out
    if case == "dense-snn-mini":
        assert design.hops >= 2  # a route over more than one mesh hop
    if case == "skip-tiny-membrane":
        assert "nmc_delay" in files[f"{design.top}.v"]
        assert design.membranes.size == 4
    if case == "dense-snn-multiply-leak":
        assert set(image.a("NRN ", "mult").tolist()) == {1, 26}
    if case == "dense-snn-nops-poisson":
        assert not (image.a("NRN ", "mode") == 1).any()  # no partial-sum units on this chip
    if case == "wide-skip-mini-psum-delay":
        assert (image.a("NRN ", "mode") == 1).any()
        assert (image.a("AXON", "delay") > 0).any()


# dense-snn-nops-poisson (96 one-neuron cores) takes Icarus ~13 s in this style: its relay cores are covered by the
# per-neuron run above, and lanes of one neuron by skip-tiny-membrane with 3 lanes
MULTIPLEXED = [(case, 1) for case in cases() if case != "dense-snn-nops-poisson"]
MULTIPLEXED += [("dense-snn-mini", 3), ("skip-tiny-membrane", 3)]


@pytest.mark.parametrize(("case", "lanes"), MULTIPLEXED)
def test_multiplexed_cores_reproduce_the_simulator_tick_by_tick(case, lanes, tmp_path):
    """The time-multiplexed style on the same networks, with one update lane per core and with three (cores
    split unevenly, lanes of one neuron). The testbench also checks each tick's cycle count against the
    generator's: deliver (axon entries + 3) + 2 + per neuron of the busiest lane (synapses + 5, or 3)."""
    need("iverilog")
    make, stimulus = cases()[case]
    image = make()
    files, td = tm_verilog_files(image, traced(image, stimulus), lanes=lanes)
    write(files, tmp_path)
    out = icarus(tmp_path)
    assert f"PASS: {len(stimulus)} samples x {td.base.total_ticks} ticks" in out, out
    assert f"{td.cycles_per_tick} cycles per tick" in out
    assert "nmc_neuron " not in files[f"{td.top}.v"]  # no per-neuron instances: state lives in memories
    if case in ("skip-tiny-membrane", "wide-skip-mini-psum-delay"):
        assert any(c.bank_bits for c in td.cores)  # the skip's delayed axon reads a delay bank
    if case == "dense-snn-mini":
        assert any(c.ow > 1 for c in td.cores)
        assert any(c.signed_axons for c in td.cores)
    if lanes == 3:
        assert max(len(c.lanes) for c in td.cores) >= 2  # a power-of-two split: 2 or 3 lanes
        _, one_lane = tm_verilog_files(image, None)
        assert td.cycles_per_tick < one_lane.cycles_per_tick


def test_a_wrong_synapse_weight_in_a_multiplexed_core_is_caught(tmp_path):
    need("iverilog")
    x = digits_x()
    image = lowered(seeded(dense_snn), "mini", x)
    files, td = tm_verilog_files(image, traced(image, x[:1]))
    out_core = int(image.a("NRN ", "core")[td.base.outputs[0]])
    memfile = f"{td.top}_core{out_core}_syn.hex"
    mask = (1 << td.base.ww) - 1
    files[memfile] = "".join(f"{int(w, 16) ^ mask:0{len(w)}x}\n" for w in files[memfile].split())
    write(files, tmp_path)
    out = icarus(tmp_path)
    assert "FAIL: sample 0 tick " in out, out
    assert "(chip neuron " in out
    assert "PASS" not in out


def test_a_wrong_synapse_weight_is_caught_with_tick_and_neuron(tmp_path):
    need("iverilog")
    x = digits_x()
    image = lowered(seeded(dense_snn), "mini", x)
    files, design = verilog_files(image, traced(image, x[:1]))
    # flip the weight of every synapse of the output layer's core: the RTL no longer matches
    out_core = int(image.a("NRN ", "core")[design.outputs[0]])
    memfile = f"{design.top}_core{out_core}_syn.hex"
    words = files[memfile].split()
    digits_per_word = len(words[0])
    flipped = [f"{int(w, 16) ^ ((1 << design.ww) - 1):0{digits_per_word}x}" for w in words]
    files[memfile] = "\n".join(flipped) + "\n"
    write(files, tmp_path)
    out = icarus(tmp_path)
    assert "FAIL: sample 0 tick " in out, out
    assert "(chip neuron " in out
    assert "PASS" not in out


def test_emitted_rtl_is_verilator_lint_clean(tmp_path):
    need("verilator")
    image = lowered(Skip().eval(), "tiny", np.random.default_rng(3).random((40, 12)).astype(np.float32), decoding="membrane")
    files, design = verilog_files(image, None)
    write(files, tmp_path)
    lint = subprocess.run(
        ["verilator", "--lint-only", "-Wall", "--top-module", design.top, PRIMITIVES, f"{design.top}.v"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stderr
    assert "%Warning" not in lint.stderr, lint.stderr


@pytest.mark.parametrize("case", ["skip-tiny-membrane", "dense-snn-mini"])
def test_multiplexed_rtl_is_verilator_lint_clean(case, tmp_path):
    need("verilator")
    image = cases()[case][0]()
    files, td = tm_verilog_files(image, None, lanes=3)  # lanes of one neuron included
    write(files, tmp_path)
    sources = [TM_PRIMITIVES, "nmc_tm_memories.v", f"{td.top}.v"]
    lint = subprocess.run(
        ["verilator", "--lint-only", "-Wall", "--top-module", td.top, *sources], cwd=tmp_path, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stderr
    assert "%Warning" not in lint.stderr, lint.stderr


def test_synthesis_of_multiplexed_cores_counts_logic_apart_from_memories(tmp_path):
    need("yosys")
    from nmc.targets.synth import LIBERTY, synthesize

    if not LIBERTY.exists():
        if os.environ.get("NMC_REQUIRE_EDA"):
            pytest.fail(f"{LIBERTY} missing: run scripts/setup.sh")
        pytest.skip(f"{LIBERTY} missing")
    x = np.random.default_rng(3).random((40, 12)).astype(np.float32)
    small = nn.Sequential(nn.Linear(12, 6), nmc_nn.IF(), nn.Linear(6, 3), nmc_nn.IF())
    image = lowered(seeded(lambda: small), "tiny", x)
    files, td = tm_verilog_files(image, None)
    rtl = {k: v for k, v in files.items() if not k.startswith("tb_")}
    rtl[SRAM_MODELS] = sram_models_source()
    outputs, numbers = synthesize(rtl, td.top, [TM_PRIMITIVES, SRAM_MODELS, f"{td.top}.v"], 100.0, hierarchical=True)
    cores = numbers["per_core"]
    assert [c["core"] for c in cores] == list(range(len(td.cores)))
    assert all(c["cells"] > 0 and 0 < c["flip_flops"] < c["cells"] for c in cores)
    # the memories (SRAM macros, their port registers included) are outside the logic count
    assert numbers["logic_cells"] == numbers["chip_level"]["cells"] + sum(c["cells"] for c in cores)
    assert numbers["logic_cells"] < numbers["osu018_cells"]
    assert "nmc_sram_array" in outputs[f"synth/{td.top}.netlist.v"]
    assert numbers["generic_cells"] > 0
    assert numbers["transistors"] > 0
    assert "DFFPOSX1" in outputs[f"synth/{td.top}.osu018.txt"]  # mapped onto OSU standard cells
    if "sta" in numbers:
        assert numbers["sta"]["worst_slack_ns"] > 0  # a small core meets 100 MHz
    # the script in synth/ reruns as written, from the output folder
    write({**rtl, **outputs}, tmp_path)
    rerun = subprocess.run(["yosys", "-q", "-s", f"synth/{td.top}.ys"], cwd=tmp_path, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr


def test_a_network_too_large_is_refused_with_its_size_and_the_limit():
    from nmc.errors import NmcError

    image = lowered(seeded(dense_snn), "mini", digits_x())
    synapses = image.a("SYN ", "weight").size
    with pytest.raises(NmcError, match=rf"has \d+ neurons and {synapses} synapses; .* at most \d+ neurons and 1000 synapses"):
        check_size(image, max_synapses=1000)


def run_cli(*args: str, cwd: Path) -> ToolRun:
    return run_tool("nmc-compile", *args, cwd=cwd)


def test_nmc_compile_target_verilog_on_the_bundled_example(tmp_path):
    need("iverilog")
    out = tmp_path / "rtl"
    run = run_cli(
        str(EXAMPLES / "digits_mlp.pt"),
        "--target", "verilog",
        "--calibration", str(EXAMPLES / "digits_calib.npy"),
        "--timesteps", "3",
        "-o", str(out),
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "wrote" in run.stdout
    assert "digits_mlp.v" in run.stdout
    names = sorted(p.name for p in out.iterdir())
    assert {"digits_mlp.v", "nmc_tm_primitives.v", "nmc_tm_memories.v", "tb_digits_mlp.v", "report.json"} <= set(names)
    report = json.loads((out / "report.json").read_text())
    v = report["verilog"]
    assert v["style"] == "multiplexed"
    assert v["neurons"] == 138
    assert v["cores"] == 1
    # one word per synapse: the core's 64 input + 128 hidden axons need 8 index bits, plus an 8-bit weight
    assert v["memory_bits"]["synapses"] == v["synapse_memory_words"] * (8 + 8)
    assert v["testbench_ticks"] == 4
    assert "PASS: 1 samples x 4 ticks" in icarus(out)


def test_per_neuron_style_and_sram_macros_on_request(tmp_path):
    args = [str(EXAMPLES / "digits_mlp.pt"), "--target", "verilog", "--input-shape", "1,8,8", "--timesteps", "2"]
    run = run_cli(*args, "--verilog-style", "per-neuron", "-o", str(tmp_path / "pn"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "pn" / "report.json").read_text())
    assert report["verilog"]["style"] == "per-neuron"
    assert report["verilog"]["neuron_instances"] == 138
    assert (tmp_path / "pn" / "nmc_primitives.v").exists()
    run = run_cli(*args, "--verilog-memories", "macros", "-o", str(tmp_path / "m"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    macros = (tmp_path / "m" / "nmc_tm_macros.v").read_text()
    assert macros.count("(* blackbox *)") == 2
    assert not (tmp_path / "m" / "nmc_tm_memories.v").exists()
    bad = [*args, "--verilog-style", "per-neuron", "--verilog-memories", "macros", "-o", str(tmp_path / "x")]
    run = run_cli(*bad, cwd=tmp_path)
    assert run.returncode == 1
    assert "--verilog-memories writes the memories of --verilog-style multiplexed" in run.stderr
    assert not (tmp_path / "x").exists()


def test_too_large_for_verilog_leaves_no_output(tmp_path):
    out = tmp_path / "rtl"
    run = run_cli(
        str(EXAMPLES / "digits_mlp.pt"),
        "--target",
        "verilog",
        "--input-shape",
        "1,8,8",
        "--verilog-max-synapses",
        "100",
        "-o",
        str(out),
        cwd=tmp_path,
    )
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "at most" in lines[0]
    assert "synapses" in lines[0]
    assert "Traceback" not in run.stderr
    assert not out.exists()


def test_same_network_gives_identical_rtl():
    x = digits_x()
    ia, ib = lowered(seeded(dense_snn), "mini", x), lowered(seeded(dense_snn), "mini", x)
    a, _ = verilog_files(ia, traced(ia, x[:1]))
    b, _ = verilog_files(ib, traced(ib, x[:1]))
    assert a == b
    ta, _ = tm_verilog_files(ia, traced(ia, x[:1]), lanes=2)
    tb, _ = tm_verilog_files(ib, traced(ib, x[:1]), lanes=2)
    assert ta == tb


def test_a_design_that_misses_its_clock_is_told_what_it_meets():
    """Negative slack (the bundled MLP at tianjic256's 300 MHz: -2.73 ns) gets a remark: the period it needs is
    3.333 + 2.73 = 6.063 ns, about 165 MHz; positive slack gets none."""
    from nmc.tools.nmc_compile import _synthesis_lines

    sta = {"clock_mhz": 300.0, "worst_slack_ns": -2.73, "power_total_w": 1e-3, "power_leakage_w": 1e-9}
    syn = {"seconds": 1.0, "generic_cells": 10, "transistors": 40, "sta": sta}
    lines = _synthesis_lines({"synthesis": syn})
    assert lines[-1] == "  timing: misses 300 MHz by 2.730 ns; it meets about 165 MHz (--clock-mhz 164)"
    sta["worst_slack_ns"] = 0.5
    assert not any("misses" in ln for ln in _synthesis_lines({"synthesis": syn}))
