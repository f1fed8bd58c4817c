"""One real process per tool: the installed entry points start, work, and fail cleanly.

Every other test calls the tools' `main(argv)` in-process (tests/conftest.py: run_tool).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import EXAMPLES


def run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(cmd), capture_output=True, text=True, cwd=cwd, check=False)


def test_the_three_tools_run_as_processes_from_an_unrelated_folder(tmp_path):
    out = tmp_path / "out"
    compiled = run("nmc-compile", str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy"),
                   "--timesteps", "8", "--dump-ir", "-o", str(out), cwd=tmp_path)  # fmt: skip
    assert compiled.returncode == 0, compiled.stderr
    assert f"wrote {out / 'digits_mlp.nmc'}" in compiled.stdout
    ran = run("nmc-run", str(out / "digits_mlp.nmc"), "--input", str(EXAMPLES / "digits_test.npy"),
              "--labels", str(EXAMPLES / "digits_test_labels.npy"), cwd=tmp_path)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "accuracy" in ran.stdout
    verified = run("nmc-opt", str(out / "digits_mlp.map.mlir"), "-t", "chip-dump", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("network digits_mlp ticks 8 chip tianjic256")


def test_a_bad_command_line_is_one_line_and_exit_2(tmp_path):
    proc = run("nmc-compile", str(EXAMPLES / "digits_mlp.pt"), "--timesteps", "zero", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "nmc-compile: error: argument --timesteps: expected a positive integer, got 'zero' (see --help)"
    ]


@pytest.mark.parametrize("tool", ["nmc-compile", "nmc-run", "nmc-opt", "nmc-search", "nmc-tnn"])
def test_help_of_every_tool_prints(tool):
    """argparse %-formats help strings: one stray "%" in an option's help made --help a traceback."""
    from .conftest import run_tool

    proc = run_tool(tool, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:")
    assert "Traceback" not in proc.stderr
    if tool == "nmc-compile":  # the chip presets and the defaults are in the help
        text = " ".join(proc.stdout.split())
        assert "presets: loihi1, mini, tianjic256, tiny, tnn16, truenorth4" in text
        assert "(default: tianjic256)" in text


def test_save_then_load_round_trips_and_run_returns_the_same_type(tmp_path):
    import numpy as np

    import nmc
    from nmc.errors import NmcError

    from .conftest import EXAMPLES

    compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=EXAMPLES / "digits_calib.npy", timesteps=16, check=False)
    x = np.load(EXAMPLES / "digits_test.npy")[:20]
    compiled.save(tmp_path / "out")
    for where in (tmp_path / "out", tmp_path / "out" / "digits_mlp.nmc"):
        loaded = nmc.load(where)
        np.testing.assert_array_equal(loaded.run(x), compiled.run(x))
        assert loaded.simulate(x).synaptic_events > 0
    (tmp_path / "empty").mkdir()
    with pytest.raises(NmcError, match=r"empty: a folder holding 0 chip binaries \(\.nmc\); give the file"):
        nmc.load(tmp_path / "empty")


def test_nmc_run_without_output_says_what_came_out(tmp_path):
    import nmc

    from .conftest import run_tool

    nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=EXAMPLES / "digits_calib.npy", timesteps=16, check=False).save(tmp_path)
    proc = run_tool("nmc-run", str(tmp_path / "digits_mlp.nmc"), "--input", str(EXAMPLES / "digits_test.npy"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ran 540 samples (17 chip ticks, pipeline latency included)")
    assert "output 0: [540, 10], final membrane potentials (for a converted ANN: about ticks x logits)" in proc.stdout
    counts = [
        int(part.split(":")[1])
        for part in proc.stdout.split("predicted classes (argmax of output 0): ")[1].split("\n")[0].split()
    ]
    assert sum(counts) == 540


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plot", "--target", "mlir"], "--plot plots the chip run: use it with --target chip (this run has --target mlir)"),
        (["--tb-samples", "4"], "--tb-samples sizes the Verilog testbench: use it with --target verilog"),
    ],
)
def test_options_that_would_be_ignored_are_refused(args, message, tmp_path):
    from .conftest import run_tool

    proc = run_tool("nmc-compile", str(EXAMPLES / "digits_mlp.pt"), *args, "-o", str(tmp_path / "o"))
    assert proc.returncode == 1
    assert message in proc.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("tool", ["nmc-compile", "nmc-run", "nmc-search"])
def test_version(tool):
    from nmc import __version__

    from .conftest import run_tool

    proc = run_tool(tool, "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"{tool} {__version__}"


def test_progress_in_logs_is_a_timestamped_line_per_step_and_quiet_silences_it(tmp_path):
    import re

    from .conftest import run_tool

    args = [str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy")]
    proc = run_tool("nmc-compile", *args, "-o", str(tmp_path / "a"))  # stdout is not a terminal here
    steps = [ln for ln in proc.progress if re.fullmatch(r"\[\d\d:\d\d:\d\d\] [\w -]+: \d+\.\d\d s", ln)]
    names = [s.split("] ")[1].split(":")[0] for s in steps]
    assert names[:2] == ["import", "snn-to-core"]
    assert {"route", "writing the chip binary", "simulating the binary on calibration data", "writing"} <= set(names)
    assert not any(re.match(r"\[\d\d:\d\d:\d\d\]", ln) for ln in proc.stdout.splitlines())  # progress is not output
    quiet = run_tool("nmc-compile", *args, "-q", "-o", str(tmp_path / "b"))
    assert quiet.stdout.startswith("wrote ")
    assert quiet.stderr == ""


def test_a_compile_piped_into_head_still_writes_everything(tmp_path):
    """`nmc-compile … | head -1` used to die at its first progress line (exit 141, no binary)."""
    out = tmp_path / "o"
    cmd = (f"{sys.executable} -m nmc.tools.nmc_compile {EXAMPLES / 'digits_mlp.pt'} --calibration "
           f"{EXAMPLES / 'digits_calib.npy'} -o {out} | head -1; echo \"rc=${{PIPESTATUS[0]}}\"")  # fmt: skip
    proc = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.stdout.startswith("wrote "), proc.stdout
    assert proc.stdout.strip().splitlines()[-1] in ("rc=0", "rc=141"), proc.stdout
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["digits_mlp.nmc", "report.json"]


def test_plot_of_a_one_core_network_is_a_raster_and_a_note_not_an_empty_map(tmp_path):
    from .conftest import run_tool

    args = [str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy"), "--plot", "-q"]
    proc = run_tool("nmc-compile", *args, "-o", str(tmp_path / "o"))
    assert proc.returncode == 0, proc.stderr
    assert "note: --plot: the network uses one core, so there is no placement map to draw" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["digits_mlp.nmc", "digits_mlp.raster.png", "report.json"]


def test_the_raster_draws_the_models_populations_not_partial_sums_or_relays():
    from nmc.costs import raster_rows

    layers = [("conv1", 3), ("fc/psum0", 4), ("fc", 2), ("fc/relay0", 2), ("out/delay0.0", 1), ("out", 2)]
    row, shown = raster_rows(layers)
    assert shown == [True, False, True, False, False, True]
    # conv1 rows 0-2, fc rows 3-4, out rows 5-6; the psum units, the relays and the delay relay are not drawn
    assert row.tolist() == [0, 1, 2, -1, -1, -1, -1, 3, 4, -1, -1, -1, 5, 6]
