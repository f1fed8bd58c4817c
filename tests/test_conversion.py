"""ANN -> SNN conversion: accuracy on sklearn digits, and the conversion rules on small nets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from nmc.driver import DEFAULT_TICKS, ImportOptions, import_model
from nmc.frontends.torch_import import load_model
from nmc.runtime.snn_interp import run_snn

from .conftest import EXAMPLES


def float_accuracy(path, x, y) -> float:
    model = load_model(path)
    module = model.module() if hasattr(model, "module") else model
    with torch.no_grad():
        return float((module(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def snn_accuracy(path, x, y, calib, **kw) -> float:
    module = import_model(path, ImportOptions(calibration=calib, **kw))
    return float((run_snn(module, x).outputs[0].argmax(1) == y).mean())


@pytest.mark.parametrize(("model", "max_loss"), [("digits_mlp.pt", 0.01), ("digits_cnn.pt", 0.02), ("digits_cnn.pt2", 0.02)])
def test_converted_digits_models_keep_their_accuracy(model, max_loss, digits_test, digits_calib):
    x, y = digits_test
    ann = float_accuracy(EXAMPLES / model, x, y)
    snn = snn_accuracy(EXAMPLES / model, x, y, digits_calib, ticks=DEFAULT_TICKS)
    assert ann > 0.95
    assert snn >= ann - max_loss, f"{model}: float {ann:.4f}, snn {snn:.4f} at {DEFAULT_TICKS} ticks"


def test_rate_encoded_mlp_converts_too(digits_test, digits_calib):
    x, y = digits_test
    ann = float_accuracy(EXAMPLES / "digits_mlp.pt", x, y)
    assert snn_accuracy(EXAMPLES / "digits_mlp.pt", x, y, digits_calib, ticks=64, encoding="rate") >= ann - 0.01


def test_conversion_is_if_with_subtract_reset_and_balanced_threshold():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    calib = np.random.default_rng(0).random((200, 3)).astype(np.float32)
    module = import_model(model, ImportOptions(ticks=8, calibration=calib, percentile=100.0))
    text = str(module)
    assert "snn.if" in text
    assert "reset = subtract" in text
    ifs = [op for op in module.walk() if op.name == "snn.if"]
    with torch.no_grad():
        peak = model[1](model[0](torch.from_numpy(calib))).max().item()
    assert ifs[0].threshold.value.data == pytest.approx(peak, rel=1e-5)


def test_rates_track_relu_activations():
    """Spike rate x threshold approaches the ANN activation as ticks grow."""
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU())
    x = np.random.default_rng(1).random((50, 5)).astype(np.float32)
    module = import_model(model, ImportOptions(ticks=2000, calibration=x, percentile=100.0))
    counts = run_snn(module, x).outputs[0]
    lam = [op for op in module.walk() if op.name == "snn.if"][-1].threshold.value.data
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy()
    assert np.abs(counts / 2000 * lam - ann).max() < 0.02 * lam


def test_residual_ann_converts_with_scaled_skip():
    class Res(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.head = nn.Linear(6, 10), nn.Linear(10, 10), nn.Linear(10, 3)

        def forward(self, x):
            h = torch.relu(self.a(x))
            h = torch.relu(self.b(h) + h)
            return self.head(h)

    torch.manual_seed(1)
    model = Res().eval()
    x = np.random.default_rng(2).random((300, 6)).astype(np.float32)
    module = import_model(model, ImportOptions(ticks=256, calibration=x))
    adds = [op for op in module.walk() if op.name == "snn.add"]
    assert len(adds) == 1
    assert adds[0].scales.get_values()[0] == 1.0
    assert adds[0].scales.get_values()[1] != 1.0
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy()
    out = run_snn(module, x).outputs[0] / 256
    assert np.corrcoef(out.ravel(), ann.ravel())[0, 1] > 0.99


def test_without_calibration_weight_bounds_are_used_and_noted(digits_test):
    x, y = digits_test
    opts = ImportOptions(ticks=256, input_shape=(1, 8, 8))
    module = import_model(EXAMPLES / "digits_mlp.pt", opts)
    assert any("no calibration data" in n for n in opts.notes)
    assert (run_snn(module, x).outputs[0].argmax(1) == y).mean() > 0.9


def test_the_encoding_defaults_to_what_the_chip_takes_and_the_summary_says_so(tmp_path):
    """No --encoding: a chip with graded inputs gets direct current, a spike-only chip (truenorth4, 1-bit inputs)
    rate-coded spikes, with a note naming the reason; report.json records the encoding and who chose it. A given
    --encoding is kept as given."""
    import json

    from .conftest import run_tool

    args = [str(EXAMPLES / "digits_mlp.pt"), "--calibration", str(EXAMPLES / "digits_calib.npy")]
    for chip, encoding, chosen, extra in (("truenorth4", "rate", "by the chip", []), ("tianjic256", "direct", "by the chip", []),
                                          ("tianjic256", "poisson", "given", ["--encoding", "poisson"])):  # fmt: skip
        out = tmp_path / f"{chip}-{encoding}"
        r = run_tool("nmc-compile", *args, "--chip", chip, *extra, "-o", str(out))
        assert r.returncode == 0, r.stderr
        report = json.loads((out / "report.json").read_text())
        assert (report["encoding"], report["encoding_chosen"]) == (encoding, chosen)
        note = "encoding: rate, as chip 'truenorth4' takes no graded inputs (core.input_bits=1)"
        assert (note in r.stderr) == (chip == "truenorth4")


class _Inception(nn.Module):
    """Two branches joined on channels, then a third join along the width (fx and torch.export read both)."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(1, 2, 1), nn.Conv2d(5, 4, 3, padding=1)
        self.head = nn.Linear(4 * 8 * 16, 10)

    def forward(self, x):
        u, v = torch.relu(self.a(x)), torch.relu(self.b(x))
        h = torch.relu(self.c(torch.cat([u, v], 1)))
        return self.head(torch.flatten(torch.cat((h, h), dim=-1), 1))


@pytest.mark.parametrize("road", ["fx", "export"])
def test_concatenation_is_torch_cat_exactly_and_converts(road):
    from nmc.conversion.layer_rewrites import prepare
    from nmc.conversion.layers import evaluate, fold_batchnorm
    from nmc.frontends.torch_import import layer_graph

    torch.manual_seed(0)
    model = _Inception().eval()
    x = np.random.default_rng(0).random((64, 1, 8, 8)).astype(np.float32)
    source = model if road == "fx" else torch.export.export(model, (torch.from_numpy(x[:2]),))
    graph = prepare(fold_batchnorm(layer_graph(source, (1, 8, 8))))
    assert not any(ly.kind == "concat" for ly in graph.layers)  # rewritten into placements and adds
    with torch.no_grad():
        ann = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(evaluate(graph, x)[0][0], ann, atol=1e-5)
    module = import_model(source, ImportOptions(ticks=256, calibration=x))
    out = run_snn(module, x).outputs[0]
    assert (out.argmax(1) == ann.argmax(1)).mean() >= 0.95


def test_concatenation_of_samples_or_mismatched_tensors_is_refused_with_the_layer():
    from nmc.errors import NmcError

    class Bad(nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.dim, self.a, self.b = dim, nn.Linear(4, 3), nn.Linear(4, 5)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], self.dim)

    x = np.random.default_rng(0).random((8, 4)).astype(np.float32)
    with pytest.raises(NmcError, match=r"layer 'cat' \(cat\): dim=0 joins samples of the batch; concatenate features"):
        import_model(Bad(0), ImportOptions(calibration=x))
    assert import_model(Bad(1), ImportOptions(calibration=x)) is not None  # features of different widths join on dim 1

    class Mismatch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Conv2d(1, 3, 3, padding=1), nn.Conv2d(1, 2, 3, stride=2, padding=1)

        def forward(self, x):
            return torch.cat([self.a(x), self.b(x)], 1)

    with pytest.raises(
        NmcError, match=r"layer 'cat' \(cat\) joins tensors that differ off dim 1: \[\[-1, 3, 8, 8\], \[-1, 2, 4, 4"
    ):
        import_model(Mismatch(), ImportOptions(calibration=np.zeros((4, 1, 8, 8), np.float32)))
