"""The chip description language: presets, values, and errors that point at file:line:column."""

from __future__ import annotations

import pytest

from nmc.chips import load_chip, parse_chip, preset_names
from nmc.errors import NmcError

from .conftest import EXAMPLES, run_tool

GOOD = """chip "mini" {
  mesh 3 x 2
  core {
    neurons 64
    axons 32
    max_fan_in 32
    weight_bits 4
    reset zero, subtract
    partial_sums false
  }
  timing { clock_mhz 50 cycles_per_tick 500 }  # 10 us per tick
}
"""


def test_presets_parse_with_their_stated_limits():
    assert {"tianjic256", "truenorth4", "tiny"} <= set(preset_names())
    tianjic = load_chip("tianjic256")
    assert (tianjic.core["axons"], tianjic.core["neurons"], tianjic.core["weight_bits"]) == (256, 256, 8)
    assert tianjic.core["partial_sums"] is True
    truenorth = load_chip("truenorth4")
    assert truenorth.core["partial_sums"] is False
    assert truenorth.weight_range == (-7, 7)


def test_values_defaults_and_derived_quantities():
    chip = parse_chip(GOOD, "mini.chip")
    assert chip.mesh == (3, 2)
    assert chip.cores == 6
    assert chip.core["reset"] == ("zero", "subtract")
    assert chip.core["membrane_bits"] == 24  # default
    assert chip.weight_range == (-7, 7)
    assert chip.tick_seconds == pytest.approx(1e-5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'chip "x" {\n  mesh 2 x 2\n  core {\n    axons 0\n  }\n}',
            r"bad.chip:4:11: 'core.axons' = 0 is out of range \[1, 1048576\]",
        ),
        ('chip "x" {\n  mesh 2 x 2\n  core { axon 5 }\n}', r"bad.chip:3:10: unknown key 'core.axon' \(known: neurons, axons"),
        (
            'chip "x" {\n  mesh 2 x 2\n  core { reset zero, sideways }\n}',
            r"bad.chip:3:22: 'core.reset': 'sideways' is not one of zero",
        ),
        ('chip "x" {\n  mesh 2 x 2\n  core { neurons 5', r"bad.chip:3:19: unexpected end of file"),
        ('chip "x" {\n  mesh 2 x 2\n  core { neurons = 5 }\n}', r"bad.chip:3:18: syntax error near '='"),
        ('chip "x" { core { } }', r"bad.chip:1:1: the chip needs a 'mesh W x H' line"),
        ('chip "x" { mesh 2 x 2 core { weight_signed maybe } }', r"bad.chip:1:44: 'core.weight_signed' must be true or false"),
        ('chip "x" { mesh 2 x 2 core { neurons 5.5 } }', r"bad.chip:1:38: 'core.neurons' must be an integer, got 5.5"),
        ('chip "x" { mesh 2 x 2 core { max_fan_in 500 } }', r"bad.chip:1:30: core.max_fan_in 500 exceeds core.axons 256"),
        ('chip "x" { mesh 2 x 2 cache { } }', r"bad.chip:1:23: unknown section 'cache'"),
        ('chip "x" { mesh 2 x 2 core { neurons 3 neurons 4 } }', r"bad.chip:1:40: 'core.neurons' given twice"),
    ],
)
def test_malformed_chip_files_name_line_and_column(text, message):
    with pytest.raises(NmcError, match=message):
        parse_chip(text, "bad.chip")


def test_unknown_preset_lists_the_presets():
    with pytest.raises(NmcError, match=r"unknown chip 'spinnaker9' \(presets: .*tianjic256"):
        load_chip("spinnaker9")
    with pytest.raises(NmcError, match=r"unknown chip 'loihi9' \(did you mean 'loihi1'\? presets: loihi1, "):
        load_chip("loihi9")


def test_nmc_compile_reports_a_bad_chip_file_in_one_line(tmp_path):
    chip = tmp_path / "broken.chip"
    chip.write_text('chip "b" {\n  mesh 2 x 2\n  core {\n    weight_bits 99\n  }\n}\n')
    proc = run_tool(
        "nmc-compile",
        str(EXAMPLES / "digits_mlp.pt"),
        "--chip",
        str(chip),
        "--input-shape",
        "1,8,8",
        "-o",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"nmc-compile: error: {chip}:4:17: 'core.weight_bits' = 99 is out of range [1, 32]"
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("membrane_bits 2", r"core.threshold_bits 16 does not fit the membrane: .* need membrane_bits >= 17, got 2"),
        ("threshold_bits 30", r"core.threshold_bits 30 does not fit the membrane"),
        ("leak_bits 30", r"core.leak_bits 30 exceeds core.membrane_bits 24"),
        ("weight_bits 1", r"core.weight_bits must be >= 2 for signed weights"),
        ("partial_sum_bits 2", r"core.partial_sum_bits 2 cannot hold a full fan-in sum: 256 weights of 8 bits need 16 bits"),
        ("reset zero, zero", r"'core.reset' lists 'zero' twice"),
    ],
)
def test_nonsense_widths_and_duplicates_are_refused_at_their_line(entry, message):
    text = f'chip "c" {{\n  mesh 2 x 2\n  core {{\n    threshold_bits 16\n    {entry}\n  }}\n}}\n'
    if entry.startswith("threshold_bits"):
        text = text.replace("    threshold_bits 16\n", "")
    with pytest.raises(NmcError, match=message) as info:
        parse_chip(text, "c.chip")
    assert str(info.value).startswith("c.chip:")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_non_finite_costs_are_refused(value):
    text = f'chip "c" {{\n  mesh 2 x 2\n  timing {{\n    clock_mhz {value}\n  }}\n}}\n'
    with pytest.raises(NmcError, match=rf"c.chip:4:15: 'timing.clock_mhz' must be a finite number, got {value}"):
        parse_chip(text, "c.chip")


def test_chip_files_that_cannot_be_read_are_one_line(tmp_path):
    with pytest.raises(NmcError, match=rf"^{tmp_path / 'gone.chip'}: no such chip description$"):
        load_chip(str(tmp_path / "gone.chip"))
    (tmp_path / "bin.chip").write_bytes(b"\xff\xfe\x00chip")
    with pytest.raises(NmcError, match=r"bin.chip: not a text chip description$"):
        load_chip(str(tmp_path / "bin.chip"))


def test_a_chip_file_rewritten_in_the_same_process_gives_its_new_description(tmp_path):
    """load_chip used to cache by path string: the second read returned the first file's chip."""
    from importlib import resources

    path = tmp_path / "mine.chip"
    text = resources.files("nmc.chips").joinpath("tiny.chip").read_text()
    path.write_text(text)
    assert load_chip(str(path)).mesh == (4, 4)
    path.write_text(text.replace("mesh 4 x 4", "mesh 6 x 5"))
    assert load_chip(str(path)).mesh == (6, 5)
    path.write_text(text)
    assert load_chip(str(path)).mesh == (4, 4)


@pytest.mark.parametrize(
    ("typed", "meant"), [("tianjic", "tianjic256"), ("Tianjic256", "tianjic256"), ("truenorth", "truenorth4")]
)
def test_a_mistyped_preset_gets_a_did_you_mean(typed, meant):
    with pytest.raises(NmcError, match=rf"unknown chip '{typed}' \(did you mean '{meant}'\? presets: "):
        load_chip(typed)
