"""The multiply leak (docs/chip-model.md: V -= (V * m) >> b): chosen by reduce-precision where a chip states it,
held by every level, refused by chips without it, reported with the beta it realises."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import nmc
from nmc import nn as nmc_nn
from nmc.chips import load_chip
from nmc.chips.binary import BinaryError, decode, encode, validate
from nmc.passes.reduce_precision import leak_decay, realised_beta
from nmc.runtime.core_interp import run_core
from nmc.runtime.simulator import Chip

from .conftest import ROOT, digits_calib  # noqa: F401  (fixture)

MULTIPLY = str(ROOT / "tests" / "chips" / "mini-multiply.chip")


def lif_net(beta: float) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 30), nmc_nn.LIF(beta=beta), nn.Linear(30, 10), nmc_nn.IF()).eval()


@pytest.mark.parametrize(
    ("beta", "multiply", "shift_only"),
    [
        # 1 - 26/256 = 0.8984 against the shift leak's 0.875 (1 - 2^-3)
        (0.9, (8, 26), (3, None)),
        # 1 - 13/256 = 0.9492 against 0.9375 (1 - 2^-4)
        (0.95, (8, 13), (4, None)),
        # exactly a shift: the multiplier gives the same beta, the shift leak is kept
        (0.875, (3, None), (3, None)),
        (1.0, (0, None), (0, None)),
    ],
)
def test_reduce_precision_takes_the_decay_closest_to_beta(beta, multiply, shift_only):
    assert leak_decay(beta, load_chip(MULTIPLY).core) == multiply
    assert leak_decay(beta, load_chip("mini").core) == shift_only
    assert abs(realised_beta(*multiply) - beta) <= abs(realised_beta(*shift_only) - beta)


def test_a_multiply_leak_chip_holds_beta_closer_and_every_level_agrees(digits_calib, tmp_path, capsys):  # noqa: F811
    """beta 0.9 becomes 0.8984 instead of 0.875; the simulator equals the core interpreter spike for spike, and the
    chip agrees with the float network on more spikes than the shift-leak chip does."""
    from nmc.tools import nmc_compile

    x = digits_calib[:60]
    torch.save(lif_net(0.9), tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", x)
    nmc_compile.main([str(tmp_path / "m.pt"), "--chip", MULTIPLY, "--calibration", str(tmp_path / "x.npy"),
                      "--input-shape", "1,8,8", "-o", str(tmp_path / "o"), "--allow-accuracy-loss"])  # fmt: skip
    assert "leak: the chip's multiply decay rounds beta in 1 population(s): 'layer2' 0.9 -> 0.8984" in capsys.readouterr().out
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    (row,) = report["core"]["leak_rounding"]
    assert (row["decay_shift"], row["decay_mult"], row["realised_beta"]) == (8, 26, 0.8984375)

    shapes = {"calibration": x, "input_shape": (1, 8, 8), "allow_accuracy_loss": True}
    multiply = nmc.compile(lif_net(0.9), chip=MULTIPLY, **shapes)
    shift = nmc.compile(lif_net(0.9), chip="mini", **shapes)
    image = decode(multiply.binary)
    assert set(image.a("NRN ", "mult").tolist()) == {1, 26}
    run = Chip(image).run(x[:20], record=True)
    reference = run_core(multiply.module, x[:20], record=True)
    assert np.array_equal(run.outputs[0], reference.outputs[0])
    assert run.spikes.any()
    closer = multiply.report["quantization"]["spike_agreement"]
    assert closer > shift.report["quantization"]["spike_agreement"]


def test_a_chip_without_a_multiply_leak_refuses_one_in_one_line(digits_calib):  # noqa: F811
    from nmc.passes.check_constraints import report, violations

    compiled = nmc.compile(lif_net(0.9), chip=MULTIPLY, calibration=digits_calib[:8], input_shape=(1, 8, 8),
                           allow_accuracy_loss=True, target="mlir", level="core")  # fmt: skip
    found = violations(compiled.module, load_chip("mini"))
    text = report(found, "mini")
    assert "layer 'layer2': leak kinds linear, shift, got multiply leak (26 >> 8)" in text
    assert "a chip with a multiply leak (core.leak)" in text


def test_a_binary_whose_multiplier_exceeds_its_shift_is_refused(digits_calib):  # noqa: F811
    image = decode(nmc.compile(lif_net(0.9), chip=MULTIPLY, calibration=digits_calib[:8], input_shape=(1, 8, 8),
                               allow_accuracy_loss=True).binary)  # fmt: skip
    n = int(np.nonzero(image.a("NRN ", "mult") == 26)[0][0])
    mult = image.arrays["NRN "]["mult"].copy()
    mult[n] = 300  # > 2^8
    image.arrays["NRN "]["mult"] = mult
    with pytest.raises(BinaryError, match=rf"NRN.mult\[{n}\] = 300 with shift 8: the leak V -= \(V \* mult\) >> shift"):
        validate(decode(encode(image)))
