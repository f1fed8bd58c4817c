"""Fine-tuning (NEUTRAMS): the quantization-aware model is the chip's arithmetic, the result compiles
with the normal passes and keeps the spike-exact chain, and the fan-in blocks respect the cores."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from nmc.chips import load_chip
from nmc.driver import ImportOptions, import_model
from nmc.errors import NmcError
from nmc.training.fanin_blocks import block_diagonal
from nmc.training.finetuning import finetune, load_finetune_data

from .conftest import EXAMPLES, ROOT, run_tool

WIDE = str(ROOT / "tests" / "chips" / "wide.chip")
NOPS = str(ROOT / "tests" / "chips" / "nops.chip")


@pytest.fixture(scope="module")
def digits_train() -> tuple[np.ndarray, np.ndarray]:
    return load_finetune_data(EXAMPLES / "digits_train.npz")


def core_groups(model, chip: str, calib: np.ndarray, scale: float) -> list:
    """The quantized core groups of `model` as nmc-compile lowers it (no decomposition on the wide chip)."""
    from nmc.dialects import core
    from nmc.dialects.core_ir import read_group
    from nmc.pipeline import lower_to_core

    module = import_model(model, ImportOptions(ticks=8, calibration=calib, input_scale=scale))
    lower_to_core(module, load_chip(chip), chip)
    return [read_group(op) for op in module.walk() if isinstance(op, core.NeuronsOp)]


def dense(g, n_in: int) -> np.ndarray:
    w = np.zeros((n_in, g.size), np.int64)
    w[g.pre, g.post] = g.weight
    return w


@pytest.mark.parametrize("example", ["digits_mlp.pt", "digits_cnn.pt", "digits_snn.pt"])
def test_the_trained_models_integers_are_reduce_precisions(example, digits_train, digits_calib):
    """After training, every weight, bias and threshold the model trained through rounds to equals what
    nmc-compile puts on the chip, neuron by neuron (conv borders and pooling composed by snn-to-core on one
    side, by the identity-batch matrix on the other; an SNN's weights unscaled by thresholds)."""
    x, y = digits_train
    tuned = finetune(EXAMPLES / example, WIDE, x, y, epochs=1, calibration=digits_calib, ticks=8)
    groups = core_groups(tuned.model, WIDE, digits_calib, tuned.input_scale)
    net = tuned.rate_net
    numbers = net.chip_numbers()
    assert len(groups) == len(numbers)
    for g, n in zip(groups, numbers, strict=True):
        assert np.array_equal(dense(g, n["weight"].shape[0]), n["weight"]), g.layer
        assert np.array_equal(g.bias, n["bias"]), g.layer
        if n["threshold"] is not None:
            assert np.array_equal(g.threshold, n["threshold"]), g.layer
        assert np.abs(n["weight"]).max() == 7  # 4-bit signed: the scale fills the range


@pytest.mark.parametrize("example", ["digits_cnn.pt", "digits_snn.pt"])
def test_the_written_snn_is_the_converted_ann(example, digits_calib, digits_test):
    """With no training, the fine-tuned module is the converted ANN (or the SNN) itself: the same spikes in
    the snn interpreter as importing the original model (so compiling it changes nothing but the weights)."""
    from nmc.runtime.snn_interp import run_snn

    x, y = load_finetune_data(EXAMPLES / "digits_train.npz")
    tuned = finetune(EXAMPLES / example, "tianjic256", x, y, epochs=0, calibration=digits_calib, ticks=16)
    xs = digits_test[0][:40]
    original = import_model(str(EXAMPLES / example), ImportOptions(ticks=16, calibration=digits_calib))
    rewritten = import_model(tuned.model, ImportOptions(ticks=16, calibration=digits_calib, input_scale=tuned.input_scale))
    a, b = run_snn(original, xs, record=True), run_snn(rewritten, xs, record=True)
    assert np.array_equal(a.outputs[0], b.outputs[0])
    trains_a, trains_b = list(a.traces.values()), list(b.traces.values())  # layer names differ, order does not
    assert len(trains_a) == len(trains_b) == 2  # the two IF populations
    assert all(np.array_equal(u, v) for u, v in zip(trains_a, trains_b, strict=True))
    assert sum(t.sum() for t in trains_a) > 0


def test_digits_cnn_at_4_bits_comes_within_a_point_of_float(tmp_path, digits_test, digits_train):
    """The issue's target: post-training 4-bit quantization loses 2 points on the bundled CNN (docs/benchmarks.md);
    fine-tuned, the chip simulator is within 1 point of the float model on the test split. The accuracy gate
    compares the chip with the fine-tuned model as it was trained (the same training, rerun here with the same
    seed), not with the float network its latent weights would give."""
    x, y = digits_test
    run = run_tool(
        "nmc-compile", str(EXAMPLES / "digits_cnn.pt"), "--weight-bits", "4",
        "--finetune", str(EXAMPLES / "digits_train.npz"), "--calibration", str(EXAMPLES / "digits_calib.npy"),
        "-o", str(tmp_path / "out"), "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "fine-tuned: 15 epochs" in run.stdout
    import nmc

    model = torch.load(EXAMPLES / "digits_cnn.pt", weights_only=False)
    with torch.no_grad():
        float_acc = float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    chip_acc = float((nmc.load(tmp_path / "out" / "digits_cnn.nmc").run(x).argmax(1) == y).mean())
    assert chip_acc >= float_acc - 0.01, (chip_acc, float_acc)
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    ft = report["finetune"]
    assert ft["accuracy"]["after"] >= ft["accuracy"]["before"]
    assert set(ft["accuracy"]) == {"float", "before", "after", "chip"}
    assert "digits_cnn.finetuned.pt" in report["files"]
    q = report["quantization"]
    assert q["reference"] == "the fine-tuned model as trained (quantization-aware)"
    calib = np.load(EXAMPLES / "digits_calib.npy")[: q["samples"]]
    tuned = finetune(model, "tianjic256", *digits_train, weight_bits=4, calibration=np.load(EXAMPLES / "digits_calib.npy"))
    with torch.no_grad():
        trained = tuned.rate_net(torch.from_numpy(calib)).argmax(1).numpy()
    on_chip = nmc.load(tmp_path / "out" / "digits_cnn.nmc").run(calib).argmax(1)
    assert q["decision_agreement"] == pytest.approx(float(np.mean(trained == on_chip)))
    assert q["decision_agreement"] >= 0.9


def test_no_partial_sums_blocks_fit_the_cores_and_keep_the_chain_exact(tmp_path, digits_train, digits_calib):
    """On a chip without partial sums (32 axons per core) the 64-input layer is cut into blocks: no relays,
    no partial sums, every core within its axons; the fine-tuned file compiles alone to the same binary;
    the core interpreter, the simulator and Icarus agree spike for spike."""
    from nmc.chips.binary import decode
    from nmc.runtime.simulator import Chip

    out = tmp_path / "out"
    run = run_tool(
        "nmc-compile", str(EXAMPLES / "digits_mlp.pt"), "--chip", NOPS, "--finetune", str(EXAMPLES / "digits_train.npz"),
        "--calibration", str(EXAMPLES / "digits_calib.npy"), "--timesteps", "16", "-o", str(out), "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["core"]["relay_groups"] == 0
    assert report["core"]["partial_sum_groups"] == 0
    assert any("diagonal blocks" in c for c in report["finetune"]["constraints"])
    assert report["finetune"]["accuracy"]["chip"] >= 0.85
    assert report["mapping"]["utilisation"]["axons"] <= 1.0
    import nmc

    again = nmc.compile(out / "digits_mlp.finetuned.pt", name="digits_mlp", chip=NOPS, calibration=digits_calib)
    assert again.binary == (out / "digits_mlp.nmc").read_bytes()
    # spike-exact chain: core interpreter == simulator (Icarus in the next test's Verilog run)
    image = decode((out / "digits_mlp.nmc").read_bytes())
    xs = digits_calib[:20]
    sim = Chip(image).run(xs).outputs[0]
    tuned = torch.load(out / "digits_mlp.finetuned.pt", weights_only=False)
    from nmc.pipeline import lower_to_core
    from nmc.runtime.core_interp import run_core

    module = import_model(tuned, ImportOptions(ticks=16, calibration=digits_calib))
    lower_to_core(module, load_chip(NOPS), NOPS)
    assert np.array_equal(run_core(module, xs).outputs[0], sim)


def test_fine_tuned_network_runs_identically_in_icarus(tmp_path):
    import shutil

    from .test_verilog import icarus, need

    need("iverilog")
    out = tmp_path / "rtl"
    run = run_tool(
        "nmc-compile", str(EXAMPLES / "digits_mlp.pt"), "--chip", NOPS, "--finetune", str(EXAMPLES / "digits_train.npz"),
        "--finetune-epochs", "2", "--calibration", str(EXAMPLES / "digits_calib.npy"), "--timesteps", "4",
        "--target", "verilog", "--tb-samples", "3", "-o", str(out), "-q",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert shutil.which("vvp")
    assert "PASS: 3 samples x" in icarus(out)


def test_an_snn_fine_tuned_at_2_bit_weights_beats_rounding_it(digits_train, digits_calib, digits_test):
    """Surrogate-gradient fine-tuning of the bundled nmc.nn SNN through the chip's ternary weights: the chip
    simulator's test accuracy rises above plain post-training rounding (measured: 93.9 -> 96.1 %)."""
    import nmc

    x, y = digits_train
    xt, yt = digits_test
    common = {"weight_bits": 2, "timesteps": 16, "calibration": digits_calib}
    plain = nmc.compile(EXAMPLES / "digits_snn.pt", **common, allow_accuracy_loss=True)
    tuned = nmc.compile(EXAMPLES / "digits_snn.pt", **common, finetune=(x, y), finetune_epochs=3)
    plain_acc = float((plain.run(xt).argmax(1) == yt).mean())
    tuned_acc = float((tuned.run(xt).argmax(1) == yt).mean())
    assert tuned_acc >= plain_acc + 0.01, (plain_acc, tuned_acc)
    written = tuned_model_modules(tuned)  # the same SNN, its LIF leaks kept, its thresholds trained
    assert [type(m).__name__ for m in written] == ["Flatten", "Linear", "LIF", "Linear", "LIF"]
    assert [m.beta for m in written if type(m).__name__ == "LIF"] == [0.9, 0.9]
    assert any(m.threshold != 1.0 for m in written if type(m).__name__ == "LIF")


def tuned_model_modules(compiled) -> list:
    import io

    return list(torch.load(io.BytesIO(compiled.files[f"{compiled.name}.finetuned.pt"]), weights_only=False))


def test_fine_tuning_is_seeded_and_reproducible(digits_train, digits_calib):
    from nmc.training.finetuning import model_bytes

    x, y = digits_train
    a = finetune(EXAMPLES / "digits_mlp.pt", NOPS, x, y, epochs=2, calibration=digits_calib, seed=3)
    b = finetune(EXAMPLES / "digits_mlp.pt", NOPS, x, y, epochs=2, calibration=digits_calib, seed=3)
    c = finetune(EXAMPLES / "digits_mlp.pt", NOPS, x, y, epochs=2, calibration=digits_calib, seed=4)
    assert model_bytes(a.model) == model_bytes(b.model)
    assert a.section == b.section
    assert model_bytes(a.model) != model_bytes(c.model)


def test_block_search_recovers_planted_blocks():
    """A layer whose weights live in 3 hidden diagonal blocks (shuffled, plus small noise) is regrouped into
    exactly those blocks; capacities hold."""
    rng = np.random.default_rng(0)
    n_in, n_out, k = 90, 45, 3
    in_true, out_true = rng.permutation(np.arange(n_in) % k), rng.permutation(np.arange(n_out) % k)
    w = rng.normal(size=(n_out, n_in)) * 0.01
    w[out_true[:, None] == in_true[None, :]] += rng.normal(size=((out_true[:, None] == in_true[None, :]).sum(),))
    b = block_diagonal(w, limit=30, seed=1)
    assert b.groups == 3
    assert np.bincount(b.in_group).max() <= 30
    assert np.bincount(b.out_group).max() <= 15
    assert np.array_equal(b.mask, out_true[:, None] == in_true[None, :])
    assert b.kept > 0.97


def test_block_search_beats_a_random_grouping():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(256, 784)) * rng.random(784)  # inputs of unequal importance
    b = block_diagonal(w, limit=256, seed=0)
    random_kept = np.abs(w)[rng.permutation(np.arange(256) % 4)[:, None] == rng.permutation(np.arange(784) % 4)[None, :]]
    assert b.kept > random_kept.sum() / np.abs(w).sum() + 0.02
    assert np.bincount(b.in_group).max() <= 256


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(64, 64), nn.Linear(64, 10)

    def forward(self, x):
        x = x.flatten(1)
        return self.b(torch.relu(self.a(x)) + x)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--finetune", "missing.npz"], "--finetune missing.npz: no such file"),
        (["--finetune-epochs", "3"], "--finetune-epochs sets the fine-tuning epochs: use it with --finetune DATA.npz"),
        (["--finetune", "{bad_keys}"], "needs arrays 'x' (inputs) and 'y' (labels)"),
        (["--finetune", "{short_y}"], "y must hold one label per sample (30), got shape [29]"),
        (
            ["--finetune", "{train}", "--chip", "truenorth4", "--encoding", "direct"],
            "chip 'truenorth4' takes no graded inputs (core.input_bits=1)",
        ),
        (["--finetune", "{train}", "--device", "cuda"], "--device cuda"),
    ],
)
def test_bad_fine_tuning_input_is_one_line(args, message, tmp_path):
    np.savez(tmp_path / "bad.npz", inputs=np.zeros((30, 64)))
    np.savez(tmp_path / "short.npz", x=np.zeros((30, 1, 8, 8)), y=np.zeros(29, int))
    files = {"{bad_keys}": "bad.npz", "{short_y}": "short.npz", "{train}": str(EXAMPLES / "digits_train.npz")}
    args = [files.get(a, a) for a in args]
    if "--device" in args and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    run = run_tool("nmc-compile", str(EXAMPLES / "digits_mlp.pt"), *args, "-o", str(tmp_path / "out"), cwd=tmp_path)
    assert run.returncode != 0
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert message in lines[0]
    assert not (tmp_path / "out").exists()


def test_models_fine_tuning_cannot_train_are_refused_with_the_reason(digits_train):
    x, y = digits_train
    with pytest.raises(NmcError, match=r"chain of layers .* feeds 2 layers \(a residual connection"):
        finetune(Residual().eval(), "tianjic256", x, y, epochs=1)


def test_the_finetune_section_follows_its_declared_fields(digits_calib):
    import typing

    import nmc
    from nmc import report as schema

    x, y = load_finetune_data(EXAMPLES / "digits_train.npz")
    compiled = nmc.compile(
        EXAMPLES / "digits_mlp.pt", calibration=digits_calib[:20], timesteps=8, finetune=(x, y), finetune_epochs=1
    )
    section = compiled.report["finetune"]
    assert set(section) == set(typing.get_type_hints(schema.FinetuneSection))
    assert set(section["accuracy"]) == set(typing.get_type_hints(schema.FinetuneAccuracy))


def test_fine_tuning_a_grouped_conv_keeps_its_groups(digits_train, digits_calib):
    """Trained into the chip, a depthwise / grouped convolution stays one: the weights between groups are held
    at 0 (they are no synapses), the written SNN holds them as 0, and the rest did train."""
    from . import model_zoo as zoo

    torch.manual_seed(0)
    model = zoo.mobilenet_block().eval()
    x, y = digits_train
    tuned = finetune(model, "tianjic256", x[:400], y[:400], epochs=1, calibration=digits_calib[:100])
    convs = [m for m in tuned.model.modules() if isinstance(m, nn.Conv2d)]
    assert [c.weight.shape[:2] for c in convs] == [(16, 1), (16, 16), (24, 16), (24, 24)]  # dense, as snn-to-core reads
    from nmc.conversion.layers import group_mask

    for conv, groups in ((convs[1], 16), (convs[3], 2)):
        w = conv.weight.detach().numpy()
        outside = ~group_mask(w.shape[0], w.shape[1], groups)
        assert np.all(w[outside] == 0)
        assert np.count_nonzero(w[~outside]) > 0.9 * w[~outside].size
