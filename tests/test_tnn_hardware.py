"""TNN hardware: the generated column RTL in Icarus == the chip simulator, spike for spike and weight for weight."""

from __future__ import annotations

import json
import math
import re
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
import torch

import nmc
from nmc import tnn
from nmc.chips.binary import decode
from nmc.chips.description import parse_chip
from nmc.runtime.tnn_sim import TnnChip
from nmc.tools import nmc_compile

from .conftest import EXAMPLES
from .test_tnn import _series, _two_layer
from .test_verilog import need


def _icarus(folder: Path, top: str) -> str:
    sources = sorted(p.name for p in folder.glob("*.v"))
    subprocess.run(["iverilog", "-g2012", "-o", "tb.vvp", *sources], cwd=folder, check=True, capture_output=True, text=True)
    return subprocess.run(["vvp", "-n", "tb.vvp"], cwd=folder, check=True, capture_output=True, text=True).stdout


def _emit(model, x, folder: Path, **options):
    compiled = nmc.compile(model, target="verilog", calibration=x, **options)
    compiled.save(folder)
    return compiled


def _shapes():
    x, _ = _series(n=60)
    one = tnn.build(x, 3, time_bits=3, fields=4, seed=1)  # 96 x 3 RNL, k = 1
    snl = tnn.build(x, 4, time_bits=4, weight_bits=2, encoder="latency", k=2, response="snl", stabilise=True, seed=3)
    return x, {"rnl 96x3": one, "snl 24x4 k2 stabilised": snl, "two layers": _two_layer(x)}


@pytest.mark.parametrize("shape", ["rnl 96x3", "snl 24x4 k2 stabilised", "two layers"])
def test_icarus_equals_simulator_for_inference_and_learning(tmp_path, shape):
    need("iverilog")
    x, models = _shapes()
    model = models[shape]
    compiled = _emit(model, x, tmp_path, tb_samples=60)
    v = compiled.report["verilog"]
    assert v["testbench_samples"] == 60
    assert v["on_chip_learning"]
    # the stimulus is meaningful: outputs spike, more than one winner, and learning moves weights
    image = decode(_binary(model))
    before = TnnChip(image).run(x).outputs
    assert (before < 1 << model.time_bits).any()
    assert len(set(before.argmin(1).tolist())) > 1
    learned = TnnChip(image).run(x, learn=True).weights
    assert any((w != w0).any() for w, w0 in zip(learned, TnnChip(image).run(x[:1]).weights, strict=True))
    out = _icarus(tmp_path, v["top"])
    assert "PASS: 60 samples of inference and 60 of STDP learning" in out, out


def _binary(model) -> bytes:
    (binary,) = (v for k, v in nmc.compile(model).files.items() if k.endswith(".nmc"))
    return binary


def test_a_flipped_weight_bit_fails_at_the_sample_and_neuron_the_simulator_predicts(tmp_path):
    need("iverilog")
    x, models = _shapes()
    model = models["rnl 96x3"]
    compiled = _emit(model, x, tmp_path, tb_samples=60)
    top = compiled.report["verilog"]["top"]
    image = decode(_binary(model))
    base = TnnChip(image).run(x[:60]).outputs
    # flip the top bit of the weight of neuron j, synapse i where that changes an output, per the simulator
    col = image.arrays["COL "]
    p, wb = int(col["p"][0]), int(image.meta["weight_bits"])
    original = col["weight"].copy()
    for m in range(original.size):
        col["weight"] = original.copy()
        col["weight"][m] ^= 1 << (wb - 1)
        got = TnnChip(image).run(x[:60]).outputs
        if (got != base).any():
            break
    sample = int(np.nonzero((got != base).any(1))[0][0])
    neuron = int(np.nonzero(got[sample] != base[sample])[0][0])
    rtl = (tmp_path / f"{top}.v").read_text()
    hexw = re.search(r"W_INIT = (\d+)'h([0-9a-f]+);", rtl)
    bits, value = int(hexw.group(1)), int(hexw.group(2), 16)
    value ^= 1 << (m * wb + wb - 1)
    (tmp_path / f"{top}.v").write_text(rtl.replace(hexw.group(0), f"W_INIT = {bits}'h{value:0{len(hexw.group(2))}x};"))
    out = _icarus(tmp_path, top)
    assert f"FAIL: inference sample {sample}, output {neuron} (column 0 neuron {neuron})" in out, (out, m // p, m % p)
    assert "PASS" not in out


def test_verilog_without_calibration_and_on_a_chip_without_learning(tmp_path):
    need("iverilog")
    _x, models = _shapes()
    text = resources.files("nmc.chips").joinpath("tnn16.chip").read_text()
    fixed = parse_chip(text.replace("stdp true", "stdp false"))
    compiled = nmc.compile(models["two layers"], target="verilog", chip=fixed, tb_samples=50)
    compiled.save(tmp_path)
    v = compiled.report["verilog"]
    assert not v["on_chip_learning"]
    assert "seeded random" in v["testbench_stimulus"]
    assert "nmc_tnn_stdp #" not in (tmp_path / f"{v['top']}.v").read_text()
    assert "PASS: 50 samples of inference, spike times identical" in _icarus(tmp_path, v["top"])


def test_synthesis_of_a_tnn_column_reports_yosys_and_opensta_numbers_deterministically(tmp_path, capsys):
    """nmc-compile --synth on a saved 16 x 2 column (the bundled 64 x 3 one takes ~40 s a run: benchmarks/tnn_hw.py
    synthesizes it): the netlist, scripts and reports are written, and a second synthesis gives the same netlist."""
    need("yosys")
    need("sta")
    small_x = np.random.default_rng(0).random((20, 8)).astype(np.float32)
    small = tnn.build(small_x, 2, time_bits=3, fields=2, seed=0)
    torch.save(small, tmp_path / "model.pt")
    np.save(tmp_path / "x.npy", small_x)
    out = tmp_path / "rtl"
    argv = [str(tmp_path / "model.pt"), "--target", "verilog", "--synth", "--clock-mhz", "100",
            "--calibration", str(tmp_path / "x.npy")]  # fmt: skip
    nmc_compile.main([*argv, "-o", str(out)])
    printed = capsys.readouterr().out
    assert "timing (OpenSTA at 100 MHz): worst slack" in printed
    a = json.loads((out / "report.json").read_text())
    top = a["verilog"]["top"]
    for name in (f"synth/{top}.netlist.v", f"synth/{top}.ys", f"synth/{top}.sta", f"synth/{top}.sta.txt"):
        assert (out / name).is_file(), name  # written by nmc-compile, with the synth/ folder
    again = nmc.compile(small, target="verilog", synth=True, clock_mhz=100, calibration=small_x)
    assert again.report["verilog"]["top"] == top  # the CLI names it after its file, model.pt, the API "model"
    netlist = again.files[f"synth/{top}.netlist.v"]
    assert (netlist.encode() if isinstance(netlist, str) else netlist) == (out / f"synth/{top}.netlist.v").read_bytes()
    syn = a["synthesis"]
    assert syn["osu018_cells"] > 100
    assert syn["osu018_area_um2"] > 0
    sta = syn["sta"]
    assert sta["clock_mhz"] == 100
    assert -10 < sta["worst_slack_ns"] < 10
    assert 0 < sta["power_leakage_w"] < sta["power_total_w"]
    assert sta["latency_per_sample_ns"] == pytest.approx(a["verilog"]["clock_cycles_per_sample"] * 10)
    assert sta["clock_mhz"] == 100
    assert "1000.0000" not in (out / f"synth/{top}.sta").read_text()


def test_forecast_prints_predictions_from_the_stored_fit_without_yosys(tmp_path, capsys, monkeypatch):
    from nmc.targets.tnn_forecast import forecast_column, load_fit

    stored = load_fit()
    assert stored is not None, "targets/tnn_forecast.json is missing: run benchmarks/tnn_hw.py"
    x, _ = _series(n=20)
    model = tnn.build(x, 3, time_bits=3, fields=4, seed=1)  # 96 x 3
    torch.save(model, tmp_path / "col.pt")
    monkeypatch.setattr("shutil.which", lambda tool: None)  # no EDA tool may be needed
    nmc_compile.main([str(tmp_path / "col.pt"), "--forecast", "--clock-mhz", "50", "-o", str(tmp_path / "o")])
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    col = report["forecast"]["columns"][0]
    assert (col["p"], col["q"]) == (96, 3)
    # the stored fit evaluated by hand: the kept model's features times its coefficients
    entry = stored["metrics"]["area_um2"]
    coef = entry["coefficients"][entry["model"]]
    by_hand = coef[0] + coef[1] * 96 * 3 + (coef[2] * 3 * 7 if entry["model"] == "refined" else 0)
    assert col["area_um2"] == pytest.approx(by_hand)
    assert col == {"p": 96, "q": 3, **forecast_column(stored, 96, 3, 50.0)}
    d = stored["metrics"]["delay_ns"]
    c = d["coefficients"][d["model"]]
    delay = c[0] + c[1] * 288 if d["model"] == "tnngen" else c[0] + c[1] * math.log2(96) + c[2] * math.log2(3)
    assert col["slack_ns"] == pytest.approx(1000.0 / 50 - delay)  # slack at the asked clock
    assert "forecast (OSU 0.18 um, stored fit, no synthesis)" in printed
    assert "held-out error" in printed
    assert report["forecast"]["note"] is None  # 3 time bits, 3-bit weights, learning: as the fit's columns
    other = nmc.compile(tnn.build(x, 3, time_bits=4, fields=4, seed=1), forecast=True).report["forecast"]
    assert "time bits 4 (fit: 3)" in other["note"]


def test_forecast_of_a_crossbar_model_is_refused(tmp_path, capsys):
    model = torch.nn.Sequential(torch.nn.Linear(4, 2))
    torch.save(model, tmp_path / "mlp.pt")
    with pytest.raises(SystemExit) as e:
        nmc_compile.main([str(tmp_path / "mlp.pt"), "--forecast", "--input-shape", "4", "-o", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert e.value.code != 0
    assert "--forecast does not apply to a crossbar network: it predicts the silicon of TNN columns" in err
    assert not (tmp_path / "o").exists()


def test_a_clock_that_is_not_positive_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        nmc_compile.main([str(EXAMPLES / "cbf_tnn.pt"), "--forecast", "--clock-mhz", "-5"])
    assert e.value.code != 0
    assert "--clock-mhz: expected a positive number, got '-5'" in capsys.readouterr().err
    with pytest.raises(nmc.errors.NmcError, match="--clock-mhz must be a positive number of MHz, got 0"):
        nmc.compile(str(EXAMPLES / "cbf_tnn.pt"), forecast=True, clock_mhz=0)
