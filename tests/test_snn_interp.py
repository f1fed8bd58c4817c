"""The snn interpreter against hand-worked examples and torch's own conv/pool kernels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nmc.conversion.builder import NetworkBuilder
from nmc.runtime.snn_interp import run_snn


def one_population(ticks: int, current: float, **neuron) -> np.ndarray:
    b = NetworkBuilder("n", [(1,)], ticks=ticks)
    s = b.neuron(b.encode(b.inputs[0], "direct"), name="pop", **neuron)
    module = b.finish([b.decode(s, "count")])
    return run_snn(module, np.array([[current]]), dtype=np.float64, record=True).traces["pop"][:, 0, 0]


def test_if_subtract_fires_at_the_input_rate():
    # v: .4 .8 1.2->fire->.2 .6 1.0->fire->0 .4 .8 1.2->fire
    assert one_population(9, 0.4, threshold=1.0, reset="subtract").tolist() == [0, 0, 1, 0, 1, 0, 0, 1, 0]


def test_if_zero_reset_loses_the_remainder():
    # v: .4 .8 1.2->fire->0 .4 .8 1.2->fire->0 .4 .8
    assert one_population(8, 0.4, threshold=1.0, reset="zero").tolist() == [0, 0, 1, 0, 0, 1, 0, 0]


def test_no_reset_keeps_firing_once_above_threshold():
    assert one_population(5, 0.4, threshold=1.0, reset="none").tolist() == [0, 0, 1, 1, 1]


def test_strict_comparison_waits_for_more_than_threshold():
    assert one_population(3, 0.5, threshold=1.0, reset="zero", compare="ge").tolist() == [0, 1, 0]
    assert one_population(3, 0.5, threshold=1.0, reset="zero", compare="gt").tolist() == [0, 0, 1]


def test_lif_decay_can_keep_a_neuron_silent():
    # v converges to 0.3 / (1 - 0.5) = 0.6 < 1: never fires; IF with the same input fires at tick 3
    assert one_population(20, 0.3, threshold=1.0, beta=0.5).sum() == 0
    assert one_population(4, 0.3, threshold=1.0).tolist() == [0, 0, 0, 1]


def test_v_init_offsets_the_membrane():
    assert one_population(2, 0.5, threshold=1.0, v_init=0.6).tolist() == [1, 0]


def test_rate_encoder_is_a_deterministic_integrate_and_fire():
    b = NetworkBuilder("n", [(3,)], ticks=4)
    s = b.encode(b.inputs[0], "rate", name="enc")
    module = b.finish([b.decode(s, "count")])
    run = run_snn(module, np.array([[0.5, 1.0, 0.0]]), record=True)
    assert run.traces["enc"][:, 0].tolist() == [[0, 1, 0], [1, 1, 0], [0, 1, 0], [1, 1, 0]]
    assert run.outputs[0].tolist() == [[2, 4, 0]]


def test_poisson_encoder_is_seeded_and_tracks_probability():
    def spikes(seed: int) -> np.ndarray:
        b = NetworkBuilder("n", [(2,)], ticks=2000)
        s = b.encode(b.inputs[0], "poisson", seed=seed)
        return run_snn(b.finish([b.decode(s, "count")]), np.array([[0.25, 0.75]])).outputs[0]

    assert np.array_equal(spikes(3), spikes(3))
    assert not np.array_equal(spikes(3), spikes(4))
    assert np.allclose(spikes(3) / 2000, [[0.25, 0.75]], atol=0.04)


def test_first_spike_decoder_reports_tick_or_ticks_when_silent():
    b = NetworkBuilder("n", [(3,)], ticks=6)
    s = b.neuron(b.encode(b.inputs[0], "direct"), threshold=1.0)
    module = b.finish([b.decode(s, "first-spike")])
    # currents 1.0, 0.3, 0: first spike at ticks 0 and 3 (0.3 * 4 = 1.2), never
    assert run_snn(module, np.array([[1.0, 0.3, 0.0]]), dtype=np.float64).outputs[0].tolist() == [[0, 3, 6]]


def test_membrane_decoder_integrates_with_decay():
    b = NetworkBuilder("n", [(1,)], ticks=3)
    module = b.finish([b.decode(b.encode(b.inputs[0], "direct"), "membrane", beta=0.5)])
    # v = 1, 1.5, 1.75
    assert run_snn(module, np.array([[1.0]]), dtype=np.float64).outputs[0].tolist() == [[1.75]]


@pytest.mark.parametrize(("stride", "padding"), [((1, 1), (0, 0)), ((2, 1), (1, 2))])
def test_conv_and_pooling_match_torch(stride, padding):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 3, 3, 2)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    x = rng.normal(size=(5, 3, 9, 8)).astype(np.float32)
    b = NetworkBuilder("n", [x.shape[1:]], ticks=1)
    c = b.conv2d(b.encode(b.inputs[0], "direct"), w, bias, stride, padding)
    avg = b.pool2d(c, "avg", (2, 2), (2, 2))
    tot = b.pool2d(c, "sum", (3, 2), (1, 2))
    module = b.finish([b.decode(c, "membrane"), b.decode(avg, "membrane"), b.decode(tot, "membrane")])
    out = run_snn(module, x, dtype=np.float64).outputs
    ref = F.conv2d(
        torch.from_numpy(x).double(),
        torch.from_numpy(w).double(),
        torch.from_numpy(bias).double(),
        stride=stride,
        padding=padding,
    )
    assert np.allclose(out[0], ref.numpy())
    assert np.allclose(out[1], F.avg_pool2d(ref, 2, 2).numpy())
    assert np.allclose(out[2], (F.avg_pool2d(ref, (3, 2), (1, 2)) * 6).numpy())


def test_dense_and_residual_add():
    b = NetworkBuilder("n", [(2,)], ticks=1)
    x = b.encode(b.inputs[0], "direct")
    d = b.dense(x, np.array([[1.0, 2.0], [3.0, -1.0]], np.float32), np.array([0.5, 0.0], np.float32))
    s = b.add([d, x], [1.0, 2.0])
    module = b.finish([b.decode(s, "membrane")])
    # W x + b = [1 + 4 + .5, 3 - 2] = [5.5, 1]; + 2 x = [7.5, 5]
    assert run_snn(module, np.array([[1.0, 2.0]])).outputs[0].tolist() == [[7.5, 5.0]]


def test_wrong_input_shape_is_a_clear_error():
    from nmc.errors import NmcError

    b = NetworkBuilder("n", [(2,)], ticks=1)
    module = b.finish([b.decode(b.encode(b.inputs[0]), "membrane")])
    with pytest.raises(NmcError, match=r"has shape \[3\] per sample, expected \[2\]"):
        run_snn(module, np.zeros((1, 3)))
