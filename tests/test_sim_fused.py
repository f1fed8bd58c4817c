"""The compiled neuron update (runtime/sim_fused.py) gives the numpy passes' spikes and membranes, bit for bit,
on every neuron feature it folds into one loop: both resets, both comparisons, shift and multiply leaks, start
ticks (of neurons and partial-sum units), partial sums, float32 and float64 runs."""

from __future__ import annotations

import numpy as np
import pytest

from nmc.chips.binary import decode, encode
from nmc.chips.formats import RESETS
from nmc.runtime import sim_fused
from nmc.runtime.simulator import Chip
from nmc.targets.chip_binary import build_image

from .test_chip_target import CASES, digits, mapped
from .test_simulator import runs_equal

pytest.importorskip("numba")


@pytest.fixture(scope="module")
def images():
    out = {}
    for case in ("cnn-tianjic-poisson", "cnn-truenorth-no-partial-sums"):
        factory, chip_name, encoding, approximate = CASES[case]
        out[case] = decode(encode(build_image(mapped(factory(), chip_name, encoding, approximate=approximate))))
    return out


def varied(image, seed: int) -> Chip:
    """The chip with its neurons' features redrawn: each stateful neuron takes a random reset (zero, subtract,
    none), comparison, leak shift (0-3) and multiplier, start tick (0-2), initial membrane, and half of them a synaptic
    current (current-based, its own shift and multiplier), so one run meets every branch."""
    chip = Chip(image)
    rng = np.random.default_rng(seed)
    st = chip.stateful
    chip.reset[st] = rng.choice([RESETS.index("zero"), RESETS.index("subtract"), RESETS.index("none")], st.size)
    chip.greater[st] = rng.random(st.size) < 0.5
    chip.shift[st] = rng.integers(0, 4, st.size)
    chip.mult[st] = np.where(chip.shift[st] > 0, rng.integers(1, 9, st.size) % (1 << chip.shift[st]) + 1, 1)  # multiply leaks
    chip.start[st] = np.maximum(chip.start[st], rng.integers(0, 3, st.size))
    chip.v_init[st] = rng.integers(-2, 3, st.size)
    cuba = rng.random(st.size) < 0.5
    chip.cshift[st] = np.where(cuba, rng.integers(0, 4, st.size), 0)
    chip.cmult[st] = np.where(cuba, np.where(chip.cshift[st] > 0, rng.integers(1, 9, st.size) % (1 << chip.cshift[st]) + 1, 1), 0)
    chip.cuba = chip.cmult > 0
    chip.start[chip.psum] = np.maximum(chip.start[chip.psum], rng.integers(0, 3, chip.psum.size))
    return chip


def both(image, seed, monkeypatch, **kw):
    monkeypatch.setattr(sim_fused, "FUSED_MIN_UPDATES", 0.0)
    monkeypatch.setattr(sim_fused, "FUSED", True)
    x = digits()[0][:24]
    fast = varied(image, seed).run(x, record=True, trace=True, **kw)
    monkeypatch.setattr(sim_fused, "FUSED", False)
    plain = varied(image, seed).run(x, record=True, trace=True, **kw)
    return fast, plain


@pytest.mark.parametrize("case", ["cnn-tianjic-poisson", "cnn-truenorth-no-partial-sums"])
@pytest.mark.parametrize("seed", [0, 1])
def test_compiled_update_equals_the_numpy_passes(images, case, seed, monkeypatch):
    fast, plain = both(images[case], seed, monkeypatch)
    assert fast.stats["neuron_update"] == "compiled"
    assert plain.stats["neuron_update"] == "numpy"
    assert fast.spikes.any()
    runs_equal(fast, plain)
    assert np.array_equal(fast.trace["v"], plain.trace["v"])
    assert np.array_equal(fast.trace["out"], plain.trace["out"])


def test_compiled_update_in_a_float64_run_equals_int64(images, monkeypatch):
    """float64 (the wider exact type) and int64 (the numpy passes' integer path) agree through the compiled loop."""
    image = images["cnn-tianjic-poisson"]
    monkeypatch.setattr(sim_fused, "FUSED_MIN_UPDATES", 0.0)
    x = digits()[0][:16]
    monkeypatch.setattr(Chip, "exact_dtype", staticmethod(lambda _bound: np.dtype(np.float64)))
    wide = varied(image, 2).run(x, record=True, trace=True)
    assert (wide.stats["dtype"], wide.stats["neuron_update"]) == ("float64", "compiled")
    monkeypatch.setattr(Chip, "exact_dtype", staticmethod(lambda _bound: np.dtype(np.int64)))
    ints = varied(image, 2).run(x, record=True, trace=True)
    assert ints.stats["neuron_update"] == "numpy"
    runs_equal(wide, ints)
    assert np.array_equal(wide.trace["v"], ints.trace["v"])


def test_a_chip_switches_to_the_compiled_update_once_its_runs_repay_loading_it(images, monkeypatch):
    chip = Chip(images["cnn-tianjic-poisson"])
    x = digits()[0][:8]
    per_run = chip.stateful.size * 8 * (chip.ticks + chip.latency)
    monkeypatch.setattr(sim_fused, "FUSED_MIN_UPDATES", 2.5 * per_run)
    monkeypatch.setattr(sim_fused, "numba_loaded", lambda: False)  # as in a fresh process
    kinds = [chip.run(x).stats["neuron_update"] for _ in range(4)]
    assert kinds == ["numpy", "numpy", "compiled", "compiled"]
