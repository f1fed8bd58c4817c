"""Boards of chips (docs/boards.md): the description, two-level mapping, the board's binary and manifest,
the refusals that name a board, and the board's Verilog passing Icarus."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nmc
from nmc.chips import load_chip
from nmc.chips.binary import decode
from nmc.chips.boards import smallest_board
from nmc.chips.description import parse_chip
from nmc.conversion.stats import check_capacity
from nmc.errors import NmcError

from .conftest import ROOT
from .test_verilog import dense_snn, digits_x, icarus, need, seeded, write

BOARD2 = ROOT / "tests" / "chips" / "mini-board2.chip"  # two chips of 3 x 2 mini cores side by side


def one_chip_like(board_file, tmp_path) -> str:
    """The board's mesh as one chip: the same text without the board section."""
    text = board_file.read_text()
    path = tmp_path / "flat.chip"
    path.write_text(text[: text.index("  board {")] + "}\n")
    return str(path)


def test_a_board_is_a_chip_description_with_a_board_section():
    board = load_chip("tianjic256x4")
    assert (board.mesh, board.chips, board.chip_mesh) == ((32, 32), 4, (16, 16))
    assert board.core == load_chip("tianjic256").core  # four tianjic256 chips
    assert [board.chip_of(x, y) for x, y in ((0, 0), (16, 0), (0, 16), (31, 31))] == [0, 1, 2, 3]
    assert load_chip("tianjic256x16").chips == 16
    text = (ROOT / "chips" / "tianjic256x4.chip").read_text().replace("chips_x 2", "chips_x 3")
    with pytest.raises(NmcError, match=r"b\.chip:\d+:\d+: board\.chips_x 3 does not divide the mesh's 32 cores"):
        parse_chip(text, "b.chip")


def test_a_network_too_large_for_one_chip_is_told_the_smallest_board():
    chip = load_chip("tianjic256")
    assert smallest_board(chip, 257) == "tianjic256x4"
    assert smallest_board(chip, 1025) == "tianjic256x16"
    assert smallest_board(chip, 4097) is None
    assert smallest_board(load_chip("mini"), 65) is None  # no board of mini chips ships
    stats = {"populations": 3, "neurons": 700 * 256, "synapses": 1}
    with pytest.raises(NmcError, match=r"needs at least 700 cores .* use the board 'tianjic256x4' of 4 such chips"):
        check_capacity(stats, chip)


@pytest.fixture(scope="module")
def two_chips():
    """dense_snn compiled for the two-chip board (10 cores, 6 per chip)."""
    return nmc.compile(seeded(dense_snn), board=str(BOARD2), calibration=digits_x(), name="two")


def test_two_level_mapping_crosses_chips_less_and_runs_like_one_large_mesh(two_chips, tmp_path):
    x = digits_x()
    board = two_chips
    flat = nmc.compile(seeded(dense_snn), chip=one_chip_like(BOARD2, tmp_path), calibration=x, name="two")
    b = board.report["mapping"]["board"]
    assert b["chips_used"] == 2  # 10 cores, 6 per chip
    assert b["inter_chip_packets_per_tick"] <= b["inter_chip_packets_ignoring_chips"]
    assert b["peak_link_load"] <= b["link_bandwidth"]
    assert b["tick_extra_cycles"] == 50  # one chip hop at link_latency_cycles
    # chip-to-chip latency is cycles inside the tick: the board computes what one large mesh computes
    from nmc.runtime.simulator import Chip as Simulator

    a = Simulator(decode(board.binary)).run(x[:20], trace=True).trace
    c = Simulator(decode(flat.binary)).run(x[:20], trace=True).trace
    assert a["out"].any()
    for key in ("out", "v"):  # every neuron's output at every tick, the final membranes
        np.testing.assert_array_equal(a[key], c[key])
    # the manifest names the image and splits its cores over the chips; nmc.load takes it as the system
    board.save(tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / "two.board.json").read_text())
    assert manifest["image"] == "two.nmc"
    cores = sorted(c for chip in manifest["chips"] for c in chip["cores"])
    assert cores == list(range(board.report["mapping"]["cores_used"]))
    xy = decode(board.binary).a("CORE", "x")
    assert {int(xy[c]) // 3 for c in manifest["chips"][1]["cores"]} == {1}  # chip 1 holds mesh columns 3..5
    np.testing.assert_array_equal(nmc.load(tmp_path / "out" / "two.board.json").run(x[:10]), board.run(x[:10]))


def test_a_chip_to_chip_link_over_its_bandwidth_is_refused(tmp_path):
    text = BOARD2.read_text().replace("link_bandwidth 64", "link_bandwidth 1")
    (tmp_path / "slow.chip").write_text(text)
    x = digits_x()
    with pytest.raises(NmcError, match=r"chip-to-chip link from chip \(\d, 0\) to chip \(\d, 0\) of board 'mini-board2' "
                       r"carries [\d.]+ packets per tick, the board allows 1 \(board\.link_bandwidth\)"):  # fmt: skip
        nmc.compile(seeded(dense_snn), board=str(tmp_path / "slow.chip"), calibration=x)


def test_board_and_chip_options_are_checked():
    x = digits_x()
    with pytest.raises(NmcError, match=r"--board tianjic256: 'tianjic256' is one chip, not a board \(board presets: "):
        nmc.compile(seeded(dense_snn), board="tianjic256", calibration=x)
    with pytest.raises(NmcError, match="--board and --chip both name the hardware"):
        nmc.compile(seeded(dense_snn), board="tianjic256x4", chip="mini", calibration=x)


@pytest.mark.parametrize("style", ["multiplexed", "per-neuron"])
def test_a_two_chip_board_passes_its_board_level_testbench(style, tmp_path):
    need("iverilog")
    x = digits_x()
    compiled = nmc.compile(
        seeded(dense_snn), board=str(BOARD2), calibration=x, name="two", target="verilog", tb_samples=2, timesteps=12,
        verilog_style=style,
    )  # fmt: skip
    rtl = compiled.files["two.v"]
    assert "module two_chip0 (" in rtl
    assert "module two_chip1 (" in rtl
    chips = compiled.report["verilog"]["board_chips"]
    assert sorted(c for cores in chips.values() for c in cores) == list(range(compiled.report["mapping"]["cores_used"]))
    if style == "per-neuron":
        assert "// chip-to-chip" in rtl  # a route between the chips, at board level
    write({k: v for k, v in compiled.files.items() if isinstance(v, str)}, tmp_path)
    out = icarus(tmp_path)
    assert "PASS: 2 samples x 15 ticks" in out, out
