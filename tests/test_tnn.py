"""Temporal neural networks: STDP by hand, the random source, and torch == snn IR == core IR == chip simulator."""

from __future__ import annotations

import copy
import subprocess
import sys

import numpy as np
import pytest
import torch

from nmc import tnn
from nmc.chips.binary import decode, encode, validate
from nmc.chips.tnn_format import column_state, random_bits, stabiliser_tables, synapse_constants, xorshift32
from nmc.frontends.tnn_import import import_tnn
from nmc.runtime import tnn_ref
from nmc.runtime.tnn_interp import run_tnn
from nmc.runtime.tnn_sim import TnnChip

from .conftest import split_progress

ALWAYS = {"capture": 1024, "minus": 1024, "search": 1024, "backoff": 1024}


def _stdp(x, y, w, probabilities, stabilise=False, state=1, constants=None):
    rule = tnn_ref.Stdp(probabilities, stabilise, 0)
    w = np.array(w)
    consts = np.zeros(w.size, np.uint32) if constants is None else constants
    return tnn_ref.stdp_update(np.array(x), np.array(y), np.array(w), state, consts, rule, 3, 3)[0]


def test_stdp_cases_by_hand():
    # 3 time bits: no spike = 8. Neuron 0 fired at 3, neuron 1 did not. Inputs at 1, 5 and none.
    x, y, w = [1, 5, 8], [3, 8], [[2, 2, 2], [2, 2, 2]]
    # n0: input 1 <= 3 capture +1; input 5 > 3 minus -1; no input, output spiked: backoff -1.
    # n1: inputs 1 and 5 spiked, no output: search +1; no input and no output: unchanged.
    assert _stdp(x, y, w, ALWAYS).tolist() == [[3, 1, 1], [3, 3, 2]]
    for case, cell in (("capture", (0, 0)), ("minus", (0, 1)), ("backoff", (0, 2)), ("search", (1, 0))):
        off = _stdp(x, y, w, {**ALWAYS, case: 0})
        assert off[cell] == 2, case  # a case with probability 0 never fires
    # an input at the output time counts as capture (<=), and weights stay in [0, wmax]
    assert _stdp([3, 4], [3], [[7, 0]], ALWAYS).tolist() == [[7, 0]]


def test_stdp_probability_uses_the_documented_random_bits():
    assert xorshift32(1) == 270369  # Marsaglia's xorshift32 (13, 17, 5) from 1
    consts = np.array([0, 639, 640, 1 << 10], np.uint32)
    state = 1
    r_case, r_stab = random_bits(xorshift32(state), consts)
    s = 270369  # = 264 * 1024 + 33: bits 0..9 = 33, bits 10..19 = 264
    assert (s & 1023, (s >> 10) & 1023) == (33, 264)
    assert r_case.tolist() == [33, 606, 673, 33]
    assert r_stab[3] == 265
    got = _stdp([0, 0, 0, 0], [5], [[3, 3, 3, 3]], {**ALWAYS, "capture": 640}, state=state, constants=consts)
    assert got.tolist() == [[4, 4, 3, 4]]  # capture where the draw is below 640 only


def test_stabiliser_tables_by_hand():
    up, down = stabiliser_tables(3)  # wmax 7: floor(1024 w (14 - w) / 49), floor(1024 (7 - w)(7 + w) / 49)
    assert (up[0], up[1], up[7], down[0], down[1], down[7]) == (0, 271, 1024, 1024, 1003, 0)
    # stabilised: a weight at 0 never increases, one at wmax never decreases
    assert _stdp([1, 8], [3], [[0, 7]], ALWAYS, stabilise=True).tolist() == [[0, 7]]


def test_random_source_is_seeded():
    assert column_state(3, 1) == column_state(3, 1) != column_state(4, 1)
    assert (synapse_constants(3, 1, 8) == synapse_constants(3, 1, 8)).all()
    assert (synapse_constants(3, 1, 8) != synapse_constants(3, 2, 8)).any()


def test_rand_index_matches_sklearn():
    from sklearn.metrics import rand_score

    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, 50), rng.integers(-1, 4, 50)
    assert tnn.rand_index(a, b) == pytest.approx(rand_score(a, b))


def _series(n=40, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, 24)
    y = np.arange(n) % 2
    x = np.where(y[:, None] == 0, np.sin(6 * t), np.sign(np.sin(6 * t))) + 0.3 * rng.normal(size=(n, 24))
    return x, y


def _two_layer(x):
    """4 columns (6 fields x 3 neurons) over the encoded lines, then one SNL column over their 12 outputs."""
    one = tnn.build(x, 3, time_bits=3, encoder="latency", seed=2)
    rng = np.random.default_rng(5)
    lines = one.layers[0].synapses
    fields = torch.from_numpy(rng.permutation(lines)[: 4 * 6].reshape(4, 6))
    l0 = tnn.TNNLayer(fields, torch.from_numpy(rng.integers(0, 8, (4, 3, 6))), torch.full((4, 3), 12), k=1)
    l1 = tnn.TNNLayer(torch.arange(12)[None], torch.from_numpy(rng.integers(0, 8, (1, 2, 12))), torch.full((1, 2), 9), 2, "snl")
    return tnn.TNN(one.encoder, [l0, l1], 3, seed=4)


def _levels(model):
    from nmc.passes.partition_cores import PartitionCoresPass
    from nmc.passes.place_cores import PlaceCoresPass
    from nmc.passes.route import RoutePass
    from nmc.passes.snn_to_core import SnnToCorePass
    from nmc.pipeline import run_passes
    from nmc.targets.tnn_binary import build_tnn_image

    snn_level = import_tnn(model, "t")
    core_level = import_tnn(model, "t")
    run_passes(core_level, [SnnToCorePass(chip="tnn16"), PartitionCoresPass(), PlaceCoresPass(), RoutePass()])
    image = decode(encode(build_tnn_image(core_level)))
    validate(image)
    return snn_level, core_level, image


@pytest.mark.parametrize("shape", ["one column", "two layers"])
def test_torch_snn_core_and_simulator_agree_with_and_without_learning(shape):
    x, _ = _series()
    model = tnn.build(x, 3, time_bits=4, project=10, seed=1) if shape == "one column" else _two_layer(x)
    snn_level, core_level, image = _levels(model)
    with torch.no_grad():
        expected = model(model.encode(x)).numpy()
    assert (expected < 16).any()
    assert len(set(tnn_ref.winners(expected, model.time_bits).tolist())) > 1
    for got in (run_tnn(snn_level, x).outputs, run_tnn(core_level, x).outputs, TnnChip(image).run(x).outputs):
        np.testing.assert_array_equal(got, expected)
    learner = copy.deepcopy(model)
    learned = learner.learn(learner.encode(x)).numpy()
    weights = np.concatenate([m.weight.numpy().ravel() for m in learner.layers])
    assert (weights != np.concatenate([m.weight.numpy().ravel() for m in model.layers])).any()
    sim = TnnChip(image).run(x, learn=True)
    for run in (run_tnn(snn_level, x, learn=True), run_tnn(core_level, x, learn=True)):
        np.testing.assert_array_equal(run.outputs, learned)
        np.testing.assert_array_equal(np.concatenate([w.ravel() for _, w in sorted(run.weights.items())]), weights)
    np.testing.assert_array_equal(sim.outputs, learned)
    np.testing.assert_array_equal(np.concatenate([w.ravel() for w in sim.weights]), weights)


def test_fit_is_seeded_keeps_weights_in_range_and_clusters():
    x, y = _series(60)
    a = tnn.fit(tnn.build(x, 2, seed=3), x, epochs=3, seed=3)
    b = tnn.fit(tnn.build(x, 2, seed=3), x, epochs=3, seed=3)
    assert torch.equal(a.layers[0].weight, b.layers[0].weight)
    w = a.layers[0].weight
    assert w.min() >= 0
    assert w.max() <= 7
    untrained = tnn.rand_index(y, tnn.build(x, 2, seed=3).predict(x))
    learned = tnn.rand_index(y, a.predict(x))
    assert learned > 0.75
    assert learned > untrained + 0.2


def test_nmc_tnn_fit_predict_compile_and_run(tmp_path, capsys):
    from nmc.tools import nmc_compile, nmc_run, nmc_tnn

    x, y = _series(40)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", y)
    nmc_tnn.main(["fit", str(tmp_path / "x.npy"), "--clusters", "2", "--labels", str(tmp_path / "y.npy"), "--epochs", "2",
                  "-o", str(tmp_path / "m.pt")])  # fmt: skip
    assert "Rand index" in capsys.readouterr().out
    nmc_tnn.main(["predict", str(tmp_path / "m.pt"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "c.npy")])
    clusters = np.load(tmp_path / "c.npy")
    nmc_compile.main([str(tmp_path / "m.pt"), "--calibration", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out"), "-q"])
    out = capsys.readouterr().out
    assert "identical spike times on 40 samples" in out
    assert "TNN column cores on chip 'tnn16'" in out
    nmc_run.main([str(tmp_path / "out" / "m.nmc"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "w.npy")])
    np.testing.assert_array_equal(np.load(tmp_path / "w.npy"), clusters)  # the chip's winners == nmc-tnn predict
    nmc_run.main(
        [str(tmp_path / "out" / "m.nmc"), "--input", str(tmp_path / "x.npy"), "--record", "spikes", "-o", str(tmp_path / "s.npy")]
    )
    assert np.load(tmp_path / "s.npy").shape == (40, 2)
    first = (tmp_path / "out" / "m.nmc").read_bytes()
    nmc_compile.main([str(tmp_path / "m.pt"), "-o", str(tmp_path / "again"), "-q"])
    assert (tmp_path / "again" / "m.nmc").read_bytes() == first  # deterministic


def fails_in_one_line(main, argv: list[str], message: str, capsys) -> None:
    """A tool's `main(argv)` exits non-zero with one stderr line holding `message`, and no traceback."""
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code != 0
    err, _progress = split_progress(capsys.readouterr().err)
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_too_large_columns_and_chips_without_tnn_cores_are_refused(tmp_path, capsys):
    from nmc.tools import nmc_compile

    x, _ = _series(20)
    torch.save(tnn.build(x, 3, seed=0), tmp_path / "m.pt")  # 24 values x 8 fields = 192 synapses
    chip = tmp_path / "small.chip"
    chip.write_text('chip "small" {\n  mesh 2 x 2\n  tnn_column {\n    synapses 64\n    neurons 4\n  }\n}\n')
    for args, message in (
        (
            ["--chip", str(chip)],
            "'layer0': 192 synapses per neuron, chip 'small' tnn_column.synapses is 64: use fewer encoder fields or --project",
        ),
        (["--chip", "tianjic256"], "chip 'tianjic256' has no tnn_column core kind, so it cannot run a TNN"),
    ):
        fails_in_one_line(nmc_compile.main, [str(tmp_path / "m.pt"), *args, "-o", str(tmp_path / "out")], message, capsys)
        assert not (tmp_path / "out").exists()


def test_a_chip_built_in_memory_is_used():
    import dataclasses

    import nmc
    from nmc.chips import load_chip

    x, _ = _series(10)
    tnn16 = load_chip("tnn16")
    chip = dataclasses.replace(tnn16, name="mine", tnn_column={**tnn16.tnn_column, "synapses": 64})
    with pytest.raises(nmc.errors.ModelRejected, match=r"192 synapses per neuron, chip 'mine' tnn_column\.synapses is 64"):
        nmc.compile(tnn.build(x, 2, seed=0), chip=chip)
    assert nmc.compile(tnn.build(x, 2, seed=0), chip=dataclasses.replace(tnn16, name="mine")).report["chip"]["name"] == "mine"


def test_bad_tnn_binaries_are_refused():
    x, _ = _series(10)
    image = _levels(tnn.build(x, 2, seed=0))[2]
    image.arrays["COL "]["src_index"] = image.arrays["COL "]["src_index"] + 10_000
    from nmc.chips.binary import BinaryError

    with pytest.raises(BinaryError, match=r"COL\.src_index: a synapse reads a line past"):
        validate(decode(encode(image)))


def test_nmc_tnn_subprocess_smoke(tmp_path):
    x, _ = _series(12)
    np.save(tmp_path / "x.npy", x)
    bad = subprocess.run([sys.executable, "-m", "nmc.tools.nmc_tnn", "fit", str(tmp_path / "x.npy"), "--clusters", "1", "-o",
                          str(tmp_path / "m.pt")], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip() == "nmc-tnn: error: --clusters must be at least 2, got 1"


def test_paa_and_mixed_reductions_by_hand():
    from nmc.runtime.tnn_encode import features, fit_encoder, paa_matrix

    # 2 channels of length 5, 4 values -> 2 segments per channel: samples 0..1 and 2..4
    x = np.array([[[1.0, 3.0, 2.0, 4.0, 6.0], [0.0, 0.0, 3.0, 3.0, 3.0]]])
    assert (x.reshape(1, -1) @ paa_matrix((2, 5), 4)).tolist() == [[2.0, 4.0, 0.0, 3.0]]
    xs = np.random.default_rng(0).normal(size=(30, 40))
    paa = fit_encoder(xs, project=8, reduce="paa")
    assert np.allclose(features(xs, True, paa.projection), features(xs, True, None).reshape(30, 8, 5).mean(-1))
    mixed = fit_encoder(xs, project=8, reduce="mixed", seed=3)
    sparse = fit_encoder(xs, project=4, reduce="sparse", seed=3)
    assert np.array_equal(mixed.projection[:, :4], paa_matrix((40,), 4))  # first half PAA ...
    assert np.array_equal(mixed.projection[:, 4:], sparse.projection)  # ... then the seeded sparse projection


def test_bad_series_files_are_one_line_before_any_work(tmp_path, capsys):
    from nmc.tools import nmc_compile, nmc_run, nmc_tnn

    x, _ = _series(20)
    torch.save(tnn.build(x, 2, seed=0), tmp_path / "m.pt")
    np.savez(tmp_path / "a.npz", x=x)
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    cases = [
        (nmc_tnn.main, ["fit", str(tmp_path / "a.npz"), "--clusters", "2", "-o", str(tmp_path / "o.pt")],
         "a.npz: an .npz archive; series must be one .npy array"),
        (nmc_compile.main, [str(tmp_path / "m.pt"), "--calibration", str(tmp_path / "a.npz"), "-o", str(tmp_path / "out")],
         "a.npz: an .npz archive; calibration series must be one .npy array"),
        (nmc_compile.main, [str(tmp_path / "m.pt"), "--calibration", str(tmp_path / "junk.npy"), "-o", str(tmp_path / "out")],
         "junk.npy: is text, not a .npy array of calibration series"),
        (nmc_run.main, [str(tmp_path / "m.pt"), "--input", str(tmp_path / "none.npy")], "none.npy: no such file"),
    ]  # fmt: skip
    for main, argv, message in cases:
        fails_in_one_line(main, argv, message, capsys)
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "o.pt").exists()


def test_a_long_series_fitted_with_defaults_compiles_for_the_default_chip(tmp_path, capsys):
    """The first TNN of a user with 286-value series: no flag, and the model fits tnn16 (2288 synapses before the rule)."""
    from nmc.tools import nmc_compile, nmc_tnn

    rng = np.random.default_rng(4)
    t = np.linspace(0, 1, 286)
    y = np.arange(60) % 2
    x = np.where(y[:, None] == 0, np.sin(9 * t), np.sign(np.sin(9 * t))) + 0.3 * rng.normal(size=(60, 286))
    np.save(tmp_path / "x.npy", x)
    nmc_tnn.main(["fit", str(tmp_path / "x.npy"), "--clusters", "2", "--epochs", "2", "-o", str(tmp_path / "m.pt")])
    err = capsys.readouterr().err
    # 1024 synapses = 128 values x 8 fields, at tnn16's 5 time bits (32 ticks)
    assert "TNN column 1024 synapses x 2 neurons" in err
    assert "32 ticks per sample, 8 fields per value, 286 values reduced to 128" in err
    nmc_compile.main([str(tmp_path / "m.pt"), "--calibration", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out"), "-q"])
    assert "identical spike times on 60 samples" in capsys.readouterr().out
    # a hand-set design past the chip is refused before learning, naming the limit
    fails_in_one_line(
        nmc_tnn.main,
        ["fit", str(tmp_path / "x.npy"), "--clusters", "2", "--project", "200", "-o", str(tmp_path / "big.pt")],
        "'layer0': 1600 synapses per neuron, chip 'tnn16' tnn_column.synapses is 1024",
        capsys,
    )
    assert not (tmp_path / "big.pt").exists()
    import dataclasses

    from nmc.chips import load_chip

    tnn16 = load_chip("tnn16")
    chip = dataclasses.replace(tnn16, name="narrow", tnn_column={**tnn16.tnn_column, "synapses": 256, "time_bits": 4})
    narrow = tnn.build(x, 2, chip=chip)  # the rule for a narrower column: 256 // 8 = 32 values, 4 time bits
    assert (narrow.layers[0].synapses, narrow.time_bits, narrow.projection.shape[1]) == (256, 4, 32)


def test_series_of_several_channels_get_the_multichannel_rule_and_compile_for_the_default_chip(tmp_path, capsys):
    """docs/tnn.md: several channels -> 16 fields per value, PAA segments per channel, theta fraction 0.4 (the
    rule's multichannel choice, benchmarks/tnn_defaults.py); 6 x 100 values become 10 segment means per channel
    (1024 / 16 = 64 values, 64 // 6 segments each)."""
    from nmc import tnn
    from nmc.chips import load_chip
    from nmc.tools import nmc_compile, nmc_tnn

    column = load_chip("tnn16").tnn_column
    assert tnn.default_design((6, 100), column) == {"time_bits": 5, "fields": 16, "project": 64, "reduce": "paa",
                                                    "threshold_fraction": 0.4}  # fmt: skip
    assert tnn.default_design((286,), column)["fields"] == 8  # one channel: as before
    assert tnn.default_design((100, 20), column)["reduce"] == "sparse"  # more channels than segments: projections
    rng = np.random.default_rng(5)
    y = np.arange(40) % 2
    t = np.linspace(0, 1, 100)
    x = np.stack([np.stack([np.sin((3 + c + 4 * k) * t) for c in range(6)]) for k in y]) + 0.2 * rng.normal(size=(40, 6, 100))
    np.save(tmp_path / "x.npy", x)
    nmc_tnn.main(["fit", str(tmp_path / "x.npy"), "--clusters", "2", "--epochs", "2", "-o", str(tmp_path / "m.pt")])
    assert "16 fields per value, 600 values reduced to 60" in capsys.readouterr().err
    nmc_compile.main([str(tmp_path / "m.pt"), "--calibration", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out"), "-q"])
    assert "identical spike times on 40 samples" in capsys.readouterr().out
