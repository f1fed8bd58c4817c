"""Fuzzing the input boundaries on every run (seeded; 2,000 cases for binaries and chip descriptions, fewer
for the slower IR, model and NIR checks): a clean refusal or a valid result, never a traceback.
benchmarks/fuzz.py runs the same mutators at 10,000+ cases."""

from __future__ import annotations

import numpy as np
import pytest

from . import fuzzing as fz

CASES = 2000
MODEL_CASES = 500  # a model file takes ~6 ms to load; benchmarks/fuzz.py runs 10,000
IR_CASES = 800  # ~9 ms each (parse and verify)
IR_PIPELINE_CASES = 400  # those that verify are lowered on: ~20 ms a case on average
NIR_CASES = 100  # ~70 ms each (import and verify)


@pytest.fixture(scope="module")
def sources() -> dict[str, bytes]:
    return fz.source_binaries()


@pytest.mark.parametrize("source", ["digits_mlp", "digits_cnn", "residual_truenorth4", "tnn"])
def test_mutated_binaries_never_crash_the_reader_or_the_simulator(sources, source):
    """Metadata values and types, index arrays (shuffled, shifted, past the end), raw bytes; CRC recomputed."""
    outcomes = {"ok": 0, "refused": 0}
    n = CASES // 2
    for i, (what, data) in enumerate(fz.binary_cases(seed=1, n=n, source=sources[source])):
        try:
            outcomes[fz.check_binary(data, run=i % 10 == 0)] += 1  # the simulator runs one case in ten
        except Exception as e:
            pytest.fail(f"{source} case {i} ({what}): {type(e).__name__}: {e}")
    assert outcomes["refused"] > n // 4  # the mutators do reach the checks
    assert outcomes["ok"] > 0


def _fuzz(cases, check, n: int = CASES) -> None:
    outcomes = {"ok": 0, "refused": 0}
    for i, (_what, text) in enumerate(cases):
        try:
            outcomes[check(text)] += 1
        except Exception as e:
            pytest.fail(f"case {i}: {type(e).__name__}: {e}\n{text[:2000]}")
    assert outcomes["refused"] > n // 4  # the mutators do reach the checks
    assert outcomes["ok"] > 0


def test_mutated_chip_descriptions_never_crash_the_parser():
    _fuzz(fz.chip_cases(seed=2, n=CASES), fz.check_chip)


def test_mutated_ir_never_crashes_the_parser_or_the_verifiers():
    _fuzz(fz.ir_cases(seed=3, n=IR_CASES), fz.check_ir, IR_CASES)


def test_mutated_model_files_never_crash_the_loader(tmp_path):
    """Pickles and exports with flipped pickle opcodes, edited export JSON, damaged tensors or raw bytes:
    loaded, imported and shape-checked as nmc-compile does, under a 1 GB memory bound."""
    outcomes = {"ok": 0, "refused": 0}
    for i, (what, suffix, data) in enumerate(fz.model_cases(seed=4, n=MODEL_CASES, sources=fz.model_sources())):
        try:
            outcomes[fz.check_model(data, suffix, tmp_path)] += 1
        except Exception as e:
            pytest.fail(f"case {i} ({what}, {suffix}): {type(e).__name__}: {e}")
    assert outcomes["refused"] > MODEL_CASES // 4
    assert outcomes["ok"] > 0


def test_mutated_nir_graphs_never_crash_the_nir_front_end(tmp_path):
    """A trained snnTorch NIR file with node fields replaced (wrong shapes, NaN, empty, zero), edges deleted or
    added (cycles), or raw bytes flipped: a one-line refusal naming the file, or snn IR that verifies."""
    pytest.importorskip("snntorch")
    from . import nir_models

    source = nir_models.mlp_nir(tmp_path / "mlp.nir")
    outcomes = {"ok": 0, "refused": 0}
    for i, (what, data) in enumerate(fz.nir_cases(seed=5, n=NIR_CASES, source=source)):
        try:
            outcomes[fz.check_nir(data, tmp_path)] += 1
        except Exception as e:
            pytest.fail(f"case {i} ({what}): {type(e).__name__}: {e}")
    assert outcomes["refused"] > NIR_CASES // 4
    assert outcomes["ok"] > 0


def test_accepted_chip_descriptions_compile_or_refuse_in_one_line():
    """Mutated presets that parse, used: a compile never ends in a traceback or a numpy warning."""
    from .conftest import EXAMPLES

    calib = np.load(EXAMPLES / "digits_calib.npy")[:20]
    accepted = [text for _what, text in fz.chip_cases(seed=5, n=1500) if fz.check_chip(text) == "ok"]
    outcomes = {"ok": 0, "refused": 0}
    for i, text in enumerate(accepted[::8]):
        try:
            outcomes[fz.check_chip_compile(text, calib)] += 1
        except Exception as e:
            pytest.fail(f"accepted chip {i}: {type(e).__name__}: {e}\n{text}")
    assert outcomes["ok"] > 0


def test_mutated_ir_that_verifies_never_crashes_a_later_pass(tmp_path):
    """IR that parses and verifies, lowered on by nmc-opt (found: a network without one synapse broke partition-cores)."""
    _fuzz(fz.ir_cases(seed=4, n=IR_PIPELINE_CASES), lambda text: fz.check_ir_pipeline(text, tmp_path), IR_PIPELINE_CASES)
