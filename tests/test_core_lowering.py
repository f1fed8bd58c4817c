"""Differential tests of the core level: snn interpreter vs core interpreter, before vs after each pass."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from xdsl.context import Context

from nmc import nn as nmc_nn
from nmc.chips import load_chip
from nmc.dialects.core_ir import fan_out
from nmc.driver import ImportOptions, import_model
from nmc.errors import NmcError
from nmc.passes.check_constraints import violations
from nmc.passes.decompose_fan_in import DecomposeFanInPass
from nmc.passes.decompose_fan_out import DecomposeFanOutPass
from nmc.passes.reduce_precision import ReducePrecisionPass
from nmc.passes.snn_to_core import SnnToCorePass
from nmc.pipeline import lower_to_core, spike_agreement
from nmc.runtime.compare import assert_same_spikes
from nmc.runtime.core_interp import run_core
from nmc.runtime.snn_interp import run_snn

from .conftest import EXAMPLES, run_tool
from .test_torch_equivalence import MODELS, randomized

CTX = Context()


def assert_same_traces(before, after) -> None:
    assert after.traces, "no spiking group to compare"
    for name, spikes in after.traces.items():
        if name in before.traces:
            assert_same_spikes(before.traces[name].reshape(spikes.shape), spikes, what=f"layer '{name}'")
    for a, b in zip(before.outputs, after.outputs, strict=True):
        assert np.array_equal(a, b)


CORE_MODELS = list(MODELS)


def test_a_chip_without_current_based_neurons_names_the_family_per_layer():
    factory, shape = MODELS["dense-cuba"]
    module = import_model(randomized(factory, seed=1), ImportOptions(ticks=4, input_shape=shape))
    with pytest.raises(NmcError) as e:
        lower_to_core(module, load_chip("tiny"), "tiny")
    assert "neuron families lif (core.neuron), got current-based (cuba) (fix: a chip whose core.neuron lists cuba" in str(
        e.value)  # fmt: skip


@pytest.mark.parametrize("encoding", ["direct", "rate", "poisson"])
@pytest.mark.parametrize("name", CORE_MODELS)
def test_snn_to_core_reproduces_the_snn_spikes(name, encoding):
    factory, shape = MODELS[name]
    module = import_model(randomized(factory, 3), ImportOptions(ticks=20, input_shape=shape, encoding=encoding))
    x = np.random.default_rng(5).random((8, *shape)) * 1.5
    before = run_snn(module, x, dtype=np.float64, record=True)
    SnnToCorePass(chip="tianjic256").apply(CTX, module)
    module.verify()
    after = run_core(module, x, dtype=np.float64, record=True)
    assert sum(int(t.sum()) for t in after.traces.values()) > 0
    assert_same_traces(before, after)


def mnist_sized(encoding: str = "rate") -> tuple:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 300), nmc_nn.IF(threshold=1.0), nn.Linear(300, 10), nmc_nn.LIF(beta=0.9))
    module = import_model(model, ImportOptions(ticks=16, input_shape=(784,), encoding=encoding))
    SnnToCorePass(chip="tianjic256").apply(CTX, module)
    return module, np.random.default_rng(0).random((16, 784))


def test_784_inputs_on_a_256_axon_partial_sum_chip_keep_every_spike():
    module, x = mnist_sized()
    before = run_core(module, x, dtype=np.float64, record=True)
    DecomposeFanInPass().apply(CTX, module)
    module.verify()
    groups = [op for op in module.walk() if op.name == "core.neurons"]
    assert [op.layer.data for op in groups] == ["layer1/psum1", "layer1", "layer3/psum1", "layer3"]
    assert max(int(np.bincount(_post(g)).max()) for g in groups) <= 256
    after = run_core(module, x, dtype=np.float64, record=True)
    assert_same_traces(before, after)
    assert [d.latency.value.data for d in module.walk() if d.name == "core.decode"] == [3]


def _post(op) -> np.ndarray:
    from nmc.dialects.ir_arrays import to_numpy

    return to_numpy(op.post)


def test_integer_partial_sum_trees_are_exact():
    """Quantize, then decompose: the integer sums of the tree equal the undivided integer sum."""
    module, x = mnist_sized("direct")
    ReducePrecisionPass().apply(CTX, module)
    before = run_core(module, x, record=True)
    DecomposeFanInPass(max_fan_in=16).apply(CTX, module)
    module.verify()
    after = run_core(module, x, record=True)
    assert_same_traces(before, after)


def test_fan_out_relays_keep_every_spike():
    module, x = mnist_sized()
    before = run_core(module, x, dtype=np.float64, record=True)
    DecomposeFanOutPass(max_fan_out=8).apply(CTX, module)
    module.verify()
    sources = [op for op in module.walk() if op.name in ("core.neurons", "core.input")]
    assert max(int(fan_out(op.output).max()) for op in sources) <= 8
    after = run_core(module, x, dtype=np.float64, record=True)
    assert_same_traces(before, after)


def test_int8_precision_keeps_digits_decisions_and_accuracy(digits_test, digits_calib):
    x, y = digits_test
    module = import_model(EXAMPLES / "digits_mlp.pt", ImportOptions(ticks=64, calibration=digits_calib))
    SnnToCorePass(chip="tianjic256").apply(CTX, module)
    DecomposeFanInPass().apply(CTX, module)
    float_core = module.clone()
    ReducePrecisionPass().apply(CTX, module)
    agreement = spike_agreement(float_core, module, x[:200])
    assert agreement["decision_agreement"] >= 0.97
    assert agreement["spike_agreement"] >= 0.9
    float_acc = (run_core(float_core, x).outputs[0].argmax(1) == y).mean()
    int_acc = (run_core(module, x).outputs[0].argmax(1) == y).mean()
    assert int_acc >= float_acc - 0.01
    assert not violations(module)


def test_relay_approximation_is_measured_not_exact(digits_test, digits_calib):
    x, _y = digits_test
    module = import_model(EXAMPLES / "digits_mlp.pt", ImportOptions(ticks=64, calibration=digits_calib, encoding="rate"))
    SnnToCorePass(chip="truenorth4").apply(CTX, module)
    exact = module.clone()
    DecomposeFanInPass(max_fan_in=16, approximate=True).apply(CTX, module)
    module.verify()
    agreement = spike_agreement(exact, module, x[:100])
    assert 0.5 < agreement["decision_agreement"] <= 1.0
    assert any(op.attributes.get("approximation") for op in module.walk() if op.name == "core.neurons")


def test_a_model_that_cannot_fit_lists_every_violation(tmp_path):
    proc = run_tool(
        "nmc-compile",
        str(EXAMPLES / "digits_mlp.pt"),
        "--input-shape",
        "1,8,8",
        "--chip",
        "tiny",
        "--disable",
        "reduce-precision",
        "--disable",
        "decompose-fan-in",
        "-o",
        str(tmp_path / "o"),
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines[0] == "nmc-compile: error: the network does not fit chip 'tiny': 7 violation(s)"
    assert "  layer 'layer2': fan-in <= 16 (core.max_fan_in), got 64 on 128 of 128 neurons (fix: decompose-fan-in)" in lines
    assert "  layer 'layer2': 8-bit integer weights, got float weights (fix: reduce-precision)" in lines
    assert "  layer 'layer4': fan-in <= 16 (core.max_fan_in), got 128 on 10 of 10 neurons (fix: decompose-fan-in)" in lines
    assert any(line.startswith("  network 'digits_mlp': 256 neurons (4x4 cores of 16), got ") for line in lines)
    assert not (tmp_path / "o").exists()


def test_nmc_opt_pipeline_yields_ir_that_fits_the_chip(tmp_path):
    module = import_model(
        EXAMPLES / "digits_cnn.pt",
        ImportOptions(ticks=8, input_shape=(1, 8, 8), calibration=np.load(EXAMPLES / "digits_calib.npy")),
    )
    path = tmp_path / "cnn.mlir"
    path.write_text(str(module))
    pipeline = "snn-to-core{chip=tianjic256},decompose-fan-in,reduce-precision,check-constraints"
    proc = run_tool("nmc-opt", str(path), "-p", pipeline)
    assert proc.returncode == 0, proc.stderr
    assert 'chip = #core.chip<"tianjic256", ' in proc.stdout
    assert 'core.neurons "layer5/psum1" psum' in proc.stdout
    assert load_chip("tianjic256").core["max_fan_in"] == 256


def test_effective_synaptic_operations_follow_the_neurobench_example():
    """FACTS.md §5: W = [[1.3,0,-3.2],[0,1.2,-5.1],[-1.1,2.7,0]], x = [0,1.3,-1]: 4 effective, 9 dense."""
    from nmc.conversion.builder import NetworkBuilder
    from nmc.conversion.stats import network_stats

    w = np.array([[1.3, 0, -3.2], [0, 1.2, -5.1], [-1.1, 2.7, 0]], np.float32)
    b = NetworkBuilder("nb", [(3,)], ticks=1)
    module = b.finish([b.decode(b.neuron(b.dense(b.encode(b.inputs[0]), w), threshold=100.0), "count")])
    assert network_stats(module)["synapses"] == 9
    SnnToCorePass(chip="tiny").apply(CTX, module)
    run = run_core(module, np.array([[0.0, 1.3, -1.0]]), dtype=np.float64)
    assert run.synaptic_events == 4


def test_delay_relays_keep_every_spike_and_bring_every_delay_within_the_axons():
    """A residual network's skip path waits on its axons; with axons of no delay it waits in relays instead."""
    from nmc.passes.delay_relays import DelayRelaysPass

    class Block(nn.Module):  # the skip path h is one population shallower than the body's
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c, self.head = nn.Linear(12, 16), nn.Linear(16, 16), nn.Linear(16, 16), nn.Linear(16, 5)

        def forward(self, x):
            h = torch.relu(self.a(x))
            return self.head(torch.relu(self.c(torch.relu(self.b(h))) + h))

    torch.manual_seed(3)
    x = np.random.default_rng(5).random((8, 12))
    module = import_model(Block().eval(), ImportOptions(ticks=20, encoding="rate", calibration=x.astype(np.float32)))
    SnnToCorePass(chip="tianjic256").apply(CTX, module)
    before = run_core(module, x, dtype=np.float64, record=True)
    groups = [op for op in module.walk() if op.name == "core.neurons"]
    assert max(max(op.delays.get_values()) for op in groups) >= 1  # the skip path is delayed on its axons
    DelayRelaysPass(max_axon_delay=0).apply(CTX, module)
    module.verify()
    groups = [op for op in module.walk() if op.name == "core.neurons"]
    assert max(max(op.delays.get_values()) for op in groups) == 0
    assert any("/delay" in op.layer.data for op in groups)
    after = run_core(module, x, dtype=np.float64, record=True)
    assert sum(int(t.sum()) for t in after.traces.values()) > 0
    assert_same_traces(before, after)


def test_a_chip_whose_leak_holds_no_bias_clips_biases_and_keeps_the_weights(digits_calib):
    """leak_bits 1 (signed: only 0 and -1) found by the chip-description fuzzer: the bias bound drove every neuron's
    scale, and with it the weights, to 0 (a division by zero). Now the biases clip to 0 and the weights keep 8 bits."""
    import dataclasses
    import warnings

    import nmc
    from nmc.dialects.ir_arrays import to_numpy

    chip = load_chip("tianjic256")
    chip = dataclasses.replace(chip, name="nobias", core={**chip.core, "leak_bits": 1})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero anywhere
        compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", chip=chip, calibration=digits_calib[:50], allow_accuracy_loss=True)
    groups = [op for op in compiled.module.walk() if op.name == "core.neurons"]
    assert groups
    assert compiled.report["core"]["groups"][0]["weight_error"] < 0.05  # the weights were not scaled away
    assert all(int(np.abs(to_numpy(op.bias)).max()) == 0 for op in groups)


def test_a_graded_input_that_must_wait_on_a_chip_without_delays_or_partial_sums_is_refused_with_the_fix():
    import dataclasses

    import nmc
    from nmc.errors import NmcError

    class Skip(nn.Module):  # the input itself is the residual skip: it arrives two populations early
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.head = nn.Linear(6, 6), nn.Linear(6, 6), nn.Linear(6, 3)

        def forward(self, x):
            return self.head(torch.relu(self.b(torch.relu(self.a(x))) + x))

    tianjic = load_chip("tianjic256")
    chip = dataclasses.replace(tianjic, name="nodelay", core={**tianjic.core, "partial_sums": False, "max_axon_delay": 0})
    x = np.random.default_rng(0).random((30, 6)).astype(np.float32)
    torch.manual_seed(0)
    with pytest.raises(NmcError, match=r"graded input 'input' must wait 1 tick, chip 'nodelay' axons hold 0 and it has no "
                                       r"partial sums to relay graded values; use --encoding rate"):  # fmt: skip
        nmc.compile(Skip().eval(), calibration=x, chip=chip, encoding="direct")
    # with spikes on the skip, relay neurons carry it: the compile goes through
    assert nmc.compile(Skip().eval(), calibration=x, chip=chip, encoding="rate", allow_accuracy_loss=True).binary
