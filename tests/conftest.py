from __future__ import annotations

import os
import re

# One intra-op thread per test process (and the processes tests start): the tests' models are small, and a
# second torch/BLAS thread only spins (measured on 2 cores: tests/test_zoo.py 79 -> 42 CPU-s, 51 -> 42 s wall).
# Set before numpy or torch is imported, which read it once.
os.environ.setdefault("OMP_NUM_THREADS", "1")
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"

# Every simulator run takes the compiled neuron update (runtime/sim_fused.py) whatever its size, so the tests that
# check the simulator against the core interpreter, snnTorch and Icarus check that loop; tests/test_sim_fused.py
# holds it equal to the numpy passes that small runs use.
from nmc.runtime import sim_fused  # noqa: E402

sim_fused.FUSED_MIN_UPDATES = 0.0


@pytest.fixture(scope="session")
def digits_test() -> tuple[np.ndarray, np.ndarray]:
    return np.load(EXAMPLES / "digits_test.npy"), np.load(EXAMPLES / "digits_test_labels.npy")


@pytest.fixture(scope="session")
def digits_calib() -> np.ndarray:
    return np.load(EXAMPLES / "digits_calib.npy")


# nmc-compile's progress in logs: one timestamped line on stderr per finished step (a terminal gets a spinner)
PROGRESS_LINE = re.compile(r"\[\d\d:\d\d:\d\d\] [^\n]*: \d+\.\d\d s")


def split_progress(stderr: str) -> tuple[str, list[str]]:
    """stderr without its progress lines, and those lines: errors and notes are what is left."""
    lines = stderr.splitlines(keepends=True)
    progress = [ln.rstrip("\n") for ln in lines if PROGRESS_LINE.fullmatch(ln.rstrip("\n"))]
    return "".join(ln for ln in lines if not PROGRESS_LINE.fullmatch(ln.rstrip("\n"))), progress


@dataclass
class ToolRun:
    """What a tool's in-process run printed and returned (the fields of subprocess.CompletedProcess); stderr's
    progress lines are kept apart in `progress`, so that `stderr` holds the errors, warnings and notes."""

    returncode: int
    stdout: str
    stderr: str
    progress: list[str] = field(default_factory=list)


def run_tool(tool: str, *args: str, cwd: Path | None = None) -> ToolRun:
    """Run `nmc-compile`/`nmc-run`/`nmc-opt` by calling its `main(argv)` in this process (fast);
    tests/test_smoke.py starts each tool once as a real process. Warnings that a terminal would
    show (Python's default filters) are written to stderr as a real run would."""
    import contextlib
    import importlib
    import io
    import os
    import warnings

    main = importlib.import_module(f"nmc.tools.{tool.replace('-', '_')}").main
    out, err = io.StringIO(), io.StringIO()
    old = Path.cwd()
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings(record=True) as shown:
            warnings.resetwarnings()
            warnings.simplefilter("default")
            for hidden in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
                warnings.simplefilter("ignore", hidden)
            try:
                main(list(args))
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        os.chdir(old)
    for w in shown:
        err.write(warnings.formatwarning(w.message, w.category, w.filename, w.lineno))
    rest, progress = split_progress(err.getvalue())
    return ToolRun(code, out.getvalue(), rest, progress)
