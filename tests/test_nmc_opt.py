"""`nmc-opt`: start-up cost, round trips of built IR, and one-line errors."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import redirect_stdout
from io import StringIO
from pathlib import Path

import numpy as np
import pytest

from nmc.conversion.builder import NetworkBuilder
from nmc.tools.nmc_opt import NmcOptMain

from .conftest import run_tool

LIT = Path(__file__).resolve().parent / "lit"


def run_opt(*args: str) -> str:
    out = StringIO()
    with redirect_stdout(out):
        NmcOptMain(args=list(args)).run()
    return out.getvalue()


def test_opt_path_never_imports_torch():
    code = "import sys; from nmc.tools import nmc_opt; nmc_opt.main(['--help'])"
    proc = subprocess.run([sys.executable, "-c", code + ""], capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert "nmc modular optimizer driver" in proc.stdout
    probe = "import sys; from nmc.tools import nmc_opt; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip() == "False"


def test_built_network_round_trips_through_text(tmp_path):
    rng = np.random.default_rng(0)
    b = NetworkBuilder("tiny", [(1, 5, 5)], ticks=3)
    x = b.encode(b.inputs[0], "poisson", seed=4)
    c = b.conv2d(x, rng.normal(size=(3, 1, 2, 2)).astype(np.float32), None, (1, 1), (0, 0), name="conv")
    s = b.neuron(c, threshold=0.7, beta=0.95, reset="zero", name="lif")
    f = b.flatten(b.pool2d(s, "sum", (2, 2), (2, 2)))
    d = b.dense(f, rng.normal(size=(2, 12)).astype(np.float32), rng.normal(size=2).astype(np.float32), name="fc")
    module = b.finish([b.decode(b.neuron(d, threshold=1.0), "first-spike")])
    path = tmp_path / "tiny.mlir"
    path.write_text(str(module))
    printed = run_opt(str(path))
    assert printed.strip() == str(module).strip()
    generic = run_opt(str(path), "--print-op-generic")
    path.write_text(generic)
    assert run_opt(str(path)).strip() == str(module).strip()


def test_invalid_ir_gives_the_verifier_message_on_one_line(tmp_path):
    bad = tmp_path / "bad.mlir"
    bad.write_text(
        "snn.network @n ticks = 2 dt = 1.0e-03 {\n^bb0(%x: tensor<2xf32>):\n"
        "  %i = snn.encode_direct %x scale = 1.0 : tensor<2xf32> -> !snn.current<2>\n"
        "  %s = snn.lif %i beta = 2.0 threshold = 1.0 reset = zero compare = ge v_init = 0.0 "
        ": !snn.current<2> -> !snn.spikes<2>\n  snn.output\n}\n"
    )
    proc = run_tool("nmc-opt", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip() == "nmc-opt: error: snn.lif: 'beta' must be in [0, 1], got 2.0"


def test_syntax_error_names_file_line_and_column(tmp_path):
    bad = tmp_path / "syntax.mlir"
    bad.write_text("snn.network @n ticks = 2 dt = 1.0e-03 {\n^bb0(%x: tensor<2xf32>):\n  snn.output %x,\n}\n")
    proc = run_tool("nmc-opt", str(bad))
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"nmc-opt: error: {bad}:4:1: ")


def test_numbers_too_large_for_their_type_are_one_line(tmp_path):
    from .conftest import ROOT

    src = (ROOT / "tests" / "lit" / "passes" / "Inputs" / "two-groups.mlir").read_text()
    cases = {
        "delays": src.replace("delays = [0]", "delays = [18446744073709551616]", 1),
        "f32": src.replace("threshold = dense<1> : tensor<20xi32>", "threshold = dense<1.0e39> : tensor<20xf32>", 1),
    }
    for name, text in cases.items():
        path = tmp_path / f"{name}.mlir"
        path.write_text(text)
        proc = run_tool("nmc-opt", str(path))
        assert proc.returncode == 1, name
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert lines[0].startswith("nmc-opt: error: a number does not fit its type"), lines[0]


def test_help_lists_nmc_passes_and_targets_only_unless_all():
    proc = run_tool("nmc-opt", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split()).replace("- ", "-")
    assert "snn-to-core,decompose-fan-in,decompose-fan-out,delay-relays,reduce-precision,check-constraints,partition" in text
    assert "canonicalize" not in text
    assert "Available targets are: mlir,chip-dump,verilog" in text
    assert "canonicalize" in run_tool("nmc-opt", "--all", "--help").stdout


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["-p", "route"], r"route works on core IR and this module is at the snn level: run snn-to-core first \(nmc-opt FILE "
         r"-p 'snn-to-core,decompose-fan-in,decompose-fan-out,delay-relays,reduce-precision,partition-cores,place-cores,"
         r"route'\)"),
        (["-p", "reduce-precision"], r"reduce-precision works on core IR .* -p 'snn-to-core,decompose-fan-in,"
         r"decompose-fan-out,delay-relays,reduce-precision'"),
        (["-t", "chip-dump"], r"the chip binary \(chip-dump, verilog\) works on core IR and this module is at the snn level"),
    ],
)  # fmt: skip
def test_passes_and_targets_on_the_wrong_level_say_what_to_run_first(args, pattern):
    snn_ir = LIT / "dialects" / "snn" / "ops.mlir"
    proc = run_tool("nmc-opt", str(snn_ir), "--split-input-file", *args)
    assert proc.returncode == 1
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert re.search(pattern, lines[0]), lines[0]


def test_output_file_is_written_whole_or_left_as_it_was(tmp_path):
    """`-o FILE`: a failing run (here the verifier refuses the input) leaves an existing FILE untouched and no
    hidden staging file behind; a good run replaces it with the whole output, readable like any new file."""
    import stat

    good = LIT / "passes" / "snn-to-core.mlir"
    bad = tmp_path / "bad.mlir"
    bad.write_text(good.read_text().replace("beta = ", "beta = 9", 1))  # a beta past 1: the verifier refuses it
    out = tmp_path / "out.mlir"
    out.write_text("earlier output\n")
    proc = run_tool("nmc-opt", str(bad), "-o", str(out))
    assert proc.returncode != 0
    assert out.read_text() == "earlier output\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mlir", "out.mlir"]
    proc = run_tool("nmc-opt", str(good), "-p", "snn-to-core{chip=tiny}", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    written = out.read_text()
    assert written.startswith("builtin.module")
    assert "core.network" in written
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~_umask()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.mlir", "out.mlir"]


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask
