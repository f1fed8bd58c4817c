"""One real process per tool: the installed entry points start, work, and fail cleanly.

Every other test calls the tools' `main(argv)` in-process (tests/conftest.py: run_tool).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

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
