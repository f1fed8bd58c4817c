"""The models people bring (tests/model_zoo.py): each compiles within 2 points of float on the chip
simulator, or is refused by one line whose advice, when followed, compiles."""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytest
import torch
from torch import nn

import nmc
from nmc.conversion.layer_rewrites import prepare
from nmc.conversion.layers import evaluate, fold_batchnorm
from nmc.errors import NmcError

from . import model_zoo as zoo
from .conftest import EXAMPLES, run_tool

MAX_LOSS = 0.02


@pytest.fixture(scope="module")
def trained() -> dict[str, nn.Module]:
    """Each zoo architecture trained once (seeded; a few seconds in all)."""
    models: dict[str, nn.Module] = {}
    for entry in zoo.COMPILES.values():
        key = entry.build.__name__
        if key not in models:
            models[key] = zoo.trained(entry)
    return models


def float_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


@pytest.mark.parametrize("name", list(zoo.COMPILES))
def test_zoo_model_compiles_within_two_points_of_float(name, trained, tmp_path):
    entry = zoo.COMPILES[name]
    model = trained[entry.build.__name__]
    xtr, xte, _, yte = zoo.data(entry.view)
    source = zoo.write(model, tmp_path / name, entry.save, entry.view)
    compiled = nmc.compile(source, calibration=xtr[:300])
    ann = float_accuracy(model, xte, yte)
    chip = float((compiled.run(xte).argmax(1) == yte).mean())
    assert ann > 0.9, f"{name}: the float model itself is weak ({ann:.3f})"
    assert chip >= ann - MAX_LOSS, f"{name}: float {ann:.4f}, chip simulator {chip:.4f}"


@pytest.mark.parametrize(
    ("pool", "kernel", "stride", "padding"),
    [(nn.MaxPool2d, 2, 2, 0), (nn.MaxPool2d, 3, 2, 1), (nn.MaxPool2d, 3, 1, 0), (nn.MaxPool1d, 3, 2, 1),
     (nn.AvgPool2d, 3, 1, 1), (nn.AvgPool2d, 3, 2, 1), (nn.AvgPool1d, 3, 2, 1)],
)  # fmt: skip
def test_pool_rewrites_equal_torch_on_the_float_network(pool, kernel, stride, padding):
    """The ReLU tree is the max itself (up to float rounding), for odd windows, overlap and padding; a padded
    average pool (zeros counted, torch's default) is the depthwise convolution with 1/window."""
    torch.manual_seed(0)
    two_d = pool in (nn.MaxPool2d, nn.AvgPool2d)
    conv = nn.Conv2d(2, 3, 3, padding=1) if two_d else nn.Conv1d(2, 3, 3, padding=1)
    model = nn.Sequential(conv, nn.ReLU(), pool(kernel, stride, padding), nn.Flatten()).eval()
    shape = (2, 7, 7) if two_d else (2, 9)
    x = torch.rand(16, *shape)
    from nmc.frontends.torch_import import layer_graph

    graph = prepare(fold_batchnorm(layer_graph(model, shape)))
    (out,), _ = evaluate(graph, x.numpy())
    with torch.no_grad():
        np.testing.assert_allclose(out, model(x).numpy(), atol=1e-5)


def _one_line(tool_run) -> str:
    assert tool_run.returncode == 2  # the model rejected
    lines = [ln for ln in tool_run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, tool_run.stderr
    assert "Traceback" not in tool_run.stderr
    return lines[0]


def _gelu_mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.GELU(), nn.Linear(32, 10))


@pytest.mark.parametrize("suffix", ["pt", "pt2"])
@pytest.mark.parametrize(
    ("act", "pattern"),
    [
        (nn.GELU, r"\(GELU\): GELU is negative for some inputs and not monotone.*retrain with ReLU"),
        (nn.LeakyReLU, r"\(LeakyReLU\): LeakyReLU passes negative values, which spike rates .* replace it with ReLU"),
        (lambda: nn.Hardtanh(-1, 1), r"\(Hardtanh\): lower bound -1 passes negative values.*Hardtanh\(0, c\)"),
        (nn.Tanh, r"\(Tanh\): Tanh is negative for negative inputs.*use Hardtanh\(0, 1\) or ReLU6"),
    ],
)
def test_activation_without_spiking_equivalent_is_refused_alike_from_pt_and_pt2(act, pattern, suffix, tmp_path):
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), act(), nn.Linear(32, 10)).eval()
    path = zoo.write(model, tmp_path / f"m.{suffix}", suffix, (1, 8, 8))
    line = _one_line(run_tool("nmc-compile", str(path), "--input-shape", "1,8,8", "-o", str(tmp_path / "o")))
    assert re.search(rf"m\.{suffix}: layer '2' {pattern}", line), line
    assert not (tmp_path / "o").exists()


def test_advice_for_gelu_works_when_followed(tmp_path):
    """'retrain with ReLU': the same MLP with ReLU, trained the same way, compiles within 2 points."""
    entry = zoo.Entry(lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)), "pt")
    model = zoo.trained(entry)
    xtr, xte, _, yte = zoo.data(entry.view)
    chip = nmc.compile(model, calibration=xtr[:300]).run(xte)
    assert (chip.argmax(1) == yte).mean() >= float_accuracy(model, xte, yte) - MAX_LOSS


def test_torchscript_is_refused_and_the_export_it_advises_compiles(tmp_path, trained):
    model = trained["relu6_mlp"]
    ts = zoo.write(model, tmp_path / "m.pt", "torchscript", (1, 8, 8))
    line = _one_line(run_tool("nmc-compile", str(ts), "-o", str(tmp_path / "o")))
    assert re.search(
        r"m\.pt: a TorchScript archive; nmc does not load TorchScript .* torch\.export\.save\(torch\.export\.export", line
    )
    # following the advice literally
    example_input = torch.zeros(1, 1, 8, 8)
    torch.export.save(torch.export.export(model.eval(), (example_input,)), tmp_path / "model.pt2")
    assert run_tool("nmc-compile", str(tmp_path / "model.pt2"), "-o", str(tmp_path / "o")).returncode == 0


def test_custom_class_pickle_is_refused_and_the_export_it_advises_compiles(tmp_path, trained):
    model = trained["Residual"]
    torch.save(model, tmp_path / "res.pt")
    line = _one_line(run_tool("nmc-compile", str(tmp_path / "res.pt"), "-o", str(tmp_path / "o")))
    assert re.search(r"res\.pt: refused to load 'tests\.model_zoo\.Residual': unpickling a custom class runs its code", line)
    assert "torch.export.save(torch.export.export(model.eval(), (example_input,)), 'model.pt2')" in line
    example_input = torch.zeros(1, 1, 8, 8)
    torch.export.save(torch.export.export(model.eval(), (example_input,)), tmp_path / "model.pt2")
    assert run_tool("nmc-compile", str(tmp_path / "model.pt2"), "-o", str(tmp_path / "o")).returncode == 0


def _snntorch_net(picklable: bool) -> nn.Module:
    snn = pytest.importorskip("snntorch")
    from snntorch import surrogate

    kw = {"spike_grad": surrogate.ATan.apply} if picklable else {}  # snnTorch's default surrogate is a closure
    beta = [torch.full((n,), 0.9) for n in (32, 10)]
    return nn.Sequential(
        nn.Linear(64, 32), snn.Leaky(beta=beta[0], threshold=torch.ones(32), init_hidden=True, **kw),
        nn.Linear(32, 10), snn.Leaky(beta=beta[1], threshold=torch.ones(10), init_hidden=True, output=True, **kw),
    )  # fmt: skip


def test_snntorch_pickle_is_refused_and_the_nir_export_it_advises_compiles(tmp_path):
    torch.save(_snntorch_net(picklable=True), tmp_path / "snn.pt")
    line = _one_line(run_tool("nmc-compile", str(tmp_path / "snn.pt"), "-o", str(tmp_path / "o")))
    assert re.search(r"snn\.pt: a pickled snnTorch model \(Leaky\);.* pass the live model to nmc.compile\(model\)", line), line
    # the advice, literally
    import snntorch
    import snntorch.export_nir

    nir = pytest.importorskip("nir")
    model, sample_input = _snntorch_net(picklable=False), torch.zeros(64)
    nir.write(tmp_path / "model.nir", snntorch.export_nir.export_to_nir(model, sample_input))
    assert run_tool("nmc-compile", str(tmp_path / "model.nir"), "-o", str(tmp_path / "o")).returncode == 0


@pytest.mark.parametrize(
    ("model", "shape", "pattern"),
    [
        (
            lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nmc.nn.IF(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(36, 10)),
            "1,8,8",
            r"layer '2' \(MaxPool2d\) in a spiking model: .* use AvgPool2d in the SNN",
        ),
        (
            lambda: nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(3), nn.Flatten()),
            "1,8,8",
            r"layer '2' \(AdaptiveAvgPool2d\): output 3x3 from a 8x8 map gives windows of unequal size",
        ),
        (
            lambda: nn.Sequential(nn.Flatten(), nn.Linear(64, 10), nn.Softmax(1)),
            "1,8,8",
            r"layer '2' \(Softmax\): Softmax does not change the predicted class .* remove it from the model",
        ),
        (
            lambda: nn.Sequential(nn.Conv2d(1, 4, 3, groups=1, dilation=2), nn.ReLU()),
            "1,8,8",
            r"layer '0' \(Conv2d\): dilation=\[2, 2\] is not supported: use dilation=1",
        ),
        (
            lambda: nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AvgPool2d(3, 1, 1, count_include_pad=False)),
            "1,8,8",
            r"layer '2' \(AvgPool2d\): ceil_mode, divisor_override or count_include_pad=False average border windows .* "
            r"count the padding \(count_include_pad=True, the default\)",
        ),
    ],
)
def test_layers_nmc_cannot_express_are_refused_with_the_alternative(model, shape, pattern, tmp_path):
    torch.save(model(), tmp_path / "m.pt")
    line = _one_line(run_tool("nmc-compile", str(tmp_path / "m.pt"), "--input-shape", shape, "-o", str(tmp_path / "o")))
    assert re.search(pattern, line), line


def test_explain_lists_every_layer_and_every_blocker(tmp_path, capsys):
    model = nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.ReLU6(), nn.MaxPool2d(2), nn.Conv2d(6, 8, 3), nn.GELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10), nn.Softmax(1),
    )  # fmt: skip
    torch.save(model, tmp_path / "m.pt")
    proc = run_tool("nmc-compile", "--explain", str(tmp_path / "m.pt"), "--input-shape", "1,8,8")
    assert proc.returncode == 2
    out = proc.stdout
    assert re.search(r"\n  1 +ReLU6 +6x8x8 +IF neurons.*threshold at most the cap 6", out), out
    assert re.search(r"\n  2 +MaxPool2d +6x4x4 +max tree: 2 levels of IF neurons, 3 pairwise max", out), out
    assert re.search(r"\n  5 +AdaptiveAvgPool2d +8x1x1 ", out), out
    assert "2 blocker(s):" in out
    assert "  - layer '4' (GELU): GELU is negative" in out
    assert "  - layer '8' (Softmax): Softmax does not change the predicted class" in out
    assert not (tmp_path / "m_nmc").exists()


def test_explain_of_a_compilable_model_says_so(trained, tmp_path):
    torch.save(trained["lenet"], tmp_path / "lenet.pt")
    proc = run_tool("nmc-compile", "--explain", str(tmp_path / "lenet.pt"), "--input-shape", "1,8,8")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.rstrip().endswith("no blockers: nmc-compile accepts this model")
    assert re.search(r"\n  11 +Linear +10 +synapses \(all to all\); decoded as the non-spiking readout", proc.stdout)


def test_reshape_with_unresolved_batch_is_refused_by_name():
    class View(nn.Module):
        def forward(self, x):
            return x.view(2, 32)

    with pytest.raises(NmcError, match=r"cannot reshape \[64\] \(64 values per sample\) to \[32\]"):
        nmc.compile(View(), input_shape=(64,))


def test_depthwise_and_grouped_convs_keep_only_their_groups_synapses(trained):
    """A depthwise 3x3 (16 channels) reads one channel: fan-in 9 and, on an 8x8 map with padding 1, 22 x 22
    (position, tap) pairs per channel (8·3 - 2 per axis) → 16 · 484 synapses; the groups=2 3x3 over 24 channels
    reads 12 channels: fan-in 108 and 24 · 12 · 484 synapses. No synapse crosses a group."""
    model = trained[zoo.mobilenet_block.__name__]
    xtr, _, _, _ = zoo.data((1, 8, 8))
    compiled = nmc.compile(model, calibration=xtr[:100], check=False)
    spiking = [g for g in compiled.report["core"]["groups"] if g["mode"] == "spike"]
    depthwise, grouped = spiking[1], spiking[3]
    assert (depthwise["max_fan_in"], depthwise["synapses"]) == (9, 16 * 22 * 22)
    assert (grouped["max_fan_in"], grouped["synapses"]) == (12 * 9, 24 * 12 * 22 * 22)


def test_explain_without_a_shape_lists_the_layers_and_a_tnn_is_explained(tmp_path):
    """The README's `--explain MODEL.pt`: a model that does not state its input size (it starts with a conv)
    still gets its layers listed, shapes marked unknown, and what would show them; a blocker that needs no
    shape (GELU) is still found. A TNN gets its columns, not torch.fx advice."""
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.GELU(), nn.Flatten(), nn.Linear(144, 10))
    torch.save(model, tmp_path / "m.pt")
    proc = run_tool("nmc-compile", "--explain", str(tmp_path / "m.pt"))
    assert proc.returncode == 2
    assert re.search(r"\n  0 +Conv2d +\? +synapses \(convolution unrolled\)", proc.stdout), proc.stdout
    assert "shapes: give --input-shape (e.g. 1,8,8) or --calibration X.npy" in proc.stdout
    assert "  - layer '1' (GELU): GELU is negative" in proc.stdout
    plain = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 10))
    torch.save(plain, tmp_path / "p.pt")
    proc = run_tool("nmc-compile", "--explain", str(tmp_path / "p.pt"))
    assert proc.returncode == 0
    assert proc.stdout.rstrip().endswith("no blockers found without the shapes")
    proc = run_tool("nmc-compile", "--explain", str(EXAMPLES / "cbf_tnn.pt"))
    assert proc.returncode == 0, proc.stderr
    assert "temporal neural network (nmc.tnn), compiled to TNN columns" in proc.stdout
    assert re.search(r"layer0 +1 column\(s\) of 3 neurons x 64 synapses, rnl response", proc.stdout), proc.stdout


class _Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn, self.fc = nn.LSTM(8, 16, batch_first=True), nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        return self.fc(y[:, -1])


class _Selects(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return torch.where(h > 0, h, 0.0)


@pytest.mark.parametrize(
    ("build", "shape", "pattern"),
    [
        (_Recurrent, (5, 8), r"layer 'rnn' \(LSTM\): LSTM is a recurrent layer .* use a 1-D convolution over time"),
        (
            _Selects,
            (8,),
            r"layer 'gt'( at test_zoo\.py:\d+)? \((aten\.)?gt\): gt is a data-dependent condition .*"
            r"where\(x > 0, x, 0\) is relu\(x\)",
        ),
    ],
)
def test_recurrent_layers_and_conditions_are_refused_by_name_with_the_alternative(build, shape, pattern, tmp_path):
    """In memory and as a .pt2 export, the refusal names the op as the user wrote it (never the top-level class)."""
    model = build().eval()
    with pytest.raises(NmcError, match=pattern):
        nmc.compile(model, input_shape=shape, check=False)
    torch.export.save(torch.export.export(model, (torch.zeros(2, *shape),)), tmp_path / "m.pt2")
    with pytest.raises(NmcError, match=pattern) as refused:
        nmc.compile(tmp_path / "m.pt2", check=False)
    if build is _Selects:  # an op of forward itself (no module to name): the line the export recorded
        line = inspect.getsourcelines(_Selects.forward)[1] + 2  # `return torch.where(h > 0, h, 0.0)`
        assert f"layer 'gt' at test_zoo.py:{line} (" in str(refused.value)


class _Branches(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how, self.fc = how, nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        if self.how == "cond":
            return torch.cond(h.sum() > 0, lambda t: torch.relu(t), lambda t: t * 2.0, (h,))
        if h.sum() > 0:  # a Python `if` on a tensor
            return torch.relu(h)
        return h


def test_data_dependent_branches_are_refused_naming_the_line_and_the_alternative(tmp_path):
    """`if` on a tensor (which torch.export itself refuses) and torch.cond, in memory and (cond) from a .pt2."""
    alternative = r"chooses what to compute from a data-dependent condition, and a chip runs one fixed graph .* ReLU forms"
    with pytest.raises(
        NmcError, match=r"_Branches \(test_zoo\.py:\d+ `if h\.sum\(\) > 0:.*`\): a Python `if` on a tensor " + alternative
    ):
        nmc.compile(_Branches("if").eval(), input_shape=(8,), check=False)
    cond = _Branches("cond").eval()
    with pytest.raises(NmcError, match=r"_Branches \(test_zoo\.py:\d+ `return torch\.cond\(.*`\): torch\.cond " + alternative):
        nmc.compile(cond, input_shape=(8,), check=False)
    torch.export.save(torch.export.export(cond, (torch.zeros(2, 8),)), tmp_path / "m.pt2")
    # the cond is named, not the sum its condition computes (which comes first in the graph)
    with pytest.raises(NmcError, match=r"layer 'cond' at test_zoo\.py:\d+ \(torch\.cond\): torch\.cond " + alternative):
        nmc.compile(tmp_path / "m.pt2", check=False)
