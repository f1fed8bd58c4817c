"""The loihi1 preset: Loihi 1's core limits and SANA-FE's per-event energy constants; the bundled models compile,
and report.json's energy is the event counts times the preset's constants, reproducible by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import nmc
from nmc import nn as nmc_nn
from nmc.chips import load_chip
from nmc.chips.binary import decode

from .conftest import EXAMPLES


@pytest.mark.parametrize("model", ["digits_mlp.pt", "digits_cnn.pt"])
def test_bundled_models_compile_and_their_energy_is_events_times_constants(model, digits_calib):
    compiled = nmc.compile(EXAMPLES / model, chip="loihi1", calibration=digits_calib)
    run = compiled.report["chip_run"]
    n = run["events_per_inference"]
    # SANA-FE's Loihi 1 constants (docs/chip-description.md), written out here rather than read from the preset
    by_hand_pj = (n["synaptic_events"] * 35.5 + n["neuron_updates"] * 51.0 + n["spikes"] * 76.8 + n["packet_hops"] * 3.6
                  + n["core_seconds"] * 0.0)  # fmt: skip
    assert run["energy_per_inference_uj"] == pytest.approx(by_hand_pj * 1e-6, rel=1e-5, abs=1e-6)
    assert n["spikes"] > 0
    assert run["energy_breakdown_uj"]["spikes"] == pytest.approx(n["spikes"] * 76.8e-6, abs=1e-6)
    # what the preset made of the ANN: spikes only (rate), reset to zero, and the notes say both
    assert "encoding: rate, as chip 'loihi1' takes no graded inputs" in " ".join(compiled.notes)
    assert "the converted ReLUs' IF neurons reset to zero" in " ".join(compiled.notes)
    assert compiled.report["quantization"]["decision_agreement"] >= 0.9
    # these keep their decisions through the reset to zero (deeper generated ones often do not: docs/frontend.md)
    assert compiled.report["conversion"]["decision_agreement"] >= 0.98


def test_a_lif_population_takes_loihis_12_bit_multiplicative_decay(digits_calib):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 30), nmc_nn.LIF(beta=0.9, reset="zero"), nn.Linear(30, 10),
                          nmc_nn.IF(reset="zero")).eval()  # fmt: skip
    compiled = nmc.compile(model, chip="loihi1", calibration=digits_calib[:40], input_shape=(1, 8, 8), encoding="rate",
                           allow_accuracy_loss=True)  # fmt: skip
    image = decode(compiled.binary)
    lif = image.a("NRN ", "mult") != 1
    assert set(image.a("NRN ", "shift")[lif].tolist()) == {12}
    assert set(image.a("NRN ", "mult")[lif].tolist()) == {410}  # round(0.1 * 4096): beta 0.89990
    (row,) = compiled.report["core"]["leak_rounding"]
    assert row["realised_beta"] == pytest.approx(1 - 410 / 4096)
    assert load_chip("loihi1").cores == 128
    assert np.isfinite(compiled.report["chip_run"]["energy_per_inference_uj"])
