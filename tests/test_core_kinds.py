"""Core kinds: a new kind is one module set plus one registration (nmc.chips.kinds), and the built-in kinds
(crossbar, TNN column) go through the same generic passes, driver and engine dispatch."""

from __future__ import annotations

import ast
import inspect
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import nmc
from nmc.chips.binary import decode, dump, encode
from nmc.chips.kinds import CoreKind, register_kind, registered, unregister_kind
from nmc.errors import NmcError

from . import copy_kind
from .conftest import EXAMPLES, ROOT, run_tool


@pytest.fixture
def copy_registered():
    register_kind(copy_kind.COPY)
    yield copy_kind.COPY
    unregister_kind("copy")


def test_a_throwaway_kind_compiles_maps_writes_a_binary_and_simulates_from_its_own_module(copy_registered, tmp_path):
    compiled = nmc.compile(copy_kind.CopyNet(6), name="six")
    # mapped by the generic passes, recorded as a pipeline; the kind's report section
    assert compiled.report["pipeline"] == 'snn-to-core{chip="tiny"},partition-cores,place-cores,route'
    assert compiled.report["copy"] == {"width": 6, "core_at": [0, 0]}
    # its binary goes through the generic container: framing, CRC, its sections, its validating reader
    image = decode(compiled.binary)
    assert image.meta["kind"] == "copy"
    assert list(image.arrays) == ["CORE"]
    out = io.StringIO()
    dump(image, out)
    assert out.getvalue() == "copy network six width 6 at (0, 0)\n"
    # simulated by its engine through the one dispatch: Compiled.run, nmc.load
    x = np.arange(12, dtype=np.float32).reshape(2, 6)
    np.testing.assert_array_equal(compiled.run(x), x)
    compiled.save(tmp_path / "out")
    np.testing.assert_array_equal(nmc.load(tmp_path / "out").run(x), x)
    # its options: --seed applies, an option it does not honour is refused in one line naming the kind
    nmc.compile(copy_kind.CopyNet(6), seed=3)
    with pytest.raises(NmcError, match=r"^--timesteps does not apply to a copy network$"):
        nmc.compile(copy_kind.CopyNet(6), timesteps=8)
    # a limit of the kind, from its lowering, in one line
    with pytest.raises(NmcError, match=r"copy network of width 40: chip 'tiny' cores hold 16"):
        nmc.compile(copy_kind.CopyNet(40))


def test_the_throwaway_kind_needed_only_its_own_module(copy_registered):
    """Every facet of the copy kind is defined in tests/copy_kind.py: no generic pass, driver or runtime module
    was edited for it (the list of files a new kind needs is its own)."""
    files = {
        inspect.getsourcefile(type(facet))
        for facet in copy_registered.facets.values()
        if type(facet).__module__ != "nmc.chips.kinds" and type(facet).__module__ != "nmc.runtime.engines"
    }
    files |= {
        inspect.getsourcefile(copy_registered.facets["chips"].validate),
        inspect.getsourcefile(copy_registered.facets["runtime"].simulator),
    }
    assert files == {str(ROOT / "tests" / "copy_kind.py")}
    assert [k.name for k in registered()] == ["crossbar", "tnn_column", "copy"]


def test_a_binary_of_an_unregistered_kind_is_one_line(copy_registered):
    data = encode(decode(nmc.compile(copy_kind.CopyNet(3)).binary))
    unregister_kind("copy")
    with pytest.raises(Exception, match=r"META.kind 'copy' names no core kind this nmc knows"):
        decode(data)
    register_kind(copy_kind.COPY)


def test_registration_is_checked():
    with pytest.raises(NmcError, match=r"core kind 'crossbar' is already registered"):
        register_kind(CoreKind("crossbar", "x", "tiny", ("x.network",)))
    with pytest.raises(NmcError, match=r"binary tag 'tnn' is already taken"):
        register_kind(CoreKind("other", "tnn", "tiny", ("x.network",)))
    with pytest.raises(NmcError, match=r"its passes facet must live in nmc.passes, not nmc.runtime.simulator"):
        register_kind(CoreKind("bad", "bad", "tiny", ("x.network",), {"passes": "nmc.runtime.simulator"}))
    with pytest.raises(NmcError, match=r"its compiler facet must live in the compiler layer, not nmc.passes.route"):
        register_kind(CoreKind("bad", "bad", "tiny", ("x.network",), {"compiler": "nmc.passes.route"}))
    assert "bad" not in [k.name for k in registered()]


def test_generic_modules_name_no_kind():
    """The generic passes, the binary container, the engine dispatch and the driver hold no kind's name."""
    generic = ["passes/snn_to_core.py", "passes/partition_cores.py", "passes/place_cores.py", "passes/route.py",
               "passes/kind_mapping.py", "chips/binary.py", "runtime/engines.py", "compiler/api.py",
               "compiler/kinds/driver.py", "compiler/compiled.py", "compiler/loaded.py", "compiler/tools/nmc_run.py",
               "targets/__init__.py"]  # fmt: skip
    for name in generic:
        tree = ast.parse((ROOT / name).read_text())
        for node in ast.walk(tree):  # docstrings may point to the kinds' modules; code may not name them
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body.pop(0)
            if isinstance(node, ast.keyword) and node.arg == "help":  # --help texts say which kinds an option serves
                node.value = ast.Constant("")
        code = ast.unparse(tree).lower()
        for word in ("tnn", "crossbar", "column"):
            assert word not in code, f"{name} names '{word}'"


def _five_column_tnn():
    """4 columns over the encoded lines, then one SNL column over their 12 outputs (traffic between cores)."""
    from nmc import tnn

    x = np.random.default_rng(0).random((40, 24)).astype(np.float32)
    one = tnn.build(x, 3, time_bits=3, encoder="latency", seed=2)
    rng = np.random.default_rng(5)
    fields = torch.from_numpy(rng.permutation(one.layers[0].synapses)[:24].reshape(4, 6))
    l0 = tnn.TNNLayer(fields, torch.from_numpy(rng.integers(0, 8, (4, 3, 6))), torch.full((4, 3), 12), k=1)
    l1 = tnn.TNNLayer(torch.arange(12)[None], torch.from_numpy(rng.integers(0, 8, (1, 2, 12))), torch.full((1, 2), 9), 2, "snl")
    return tnn.TNN(one.encoder, [l0, l1], 3, seed=4), x


def test_tnn_placement_options_change_the_placement_and_not_the_clusters():
    """--seed and --placement were silently ignored for TNNs; now they place the columns (and the check still
    finds the torch model's spike times on every sample)."""
    model, x = _five_column_tnn()
    placed = {}
    for options in ({}, {"seed": 7}, {"placement": "sequential"}):
        compiled = nmc.compile(model, calibration=x, **options)
        image = decode(compiled.binary)
        placed[str(options)] = list(zip(image.arrays["CORE"]["x"].tolist(), image.arrays["CORE"]["y"].tolist(), strict=True))
        assert compiled.report["check"]["identical_spike_times"]
        np.testing.assert_array_equal(compiled.run(x), model.predict(x))
        mapping = {"{}": "partition-cores,place-cores", "{'seed': 7}": "partition-cores{seed=7},place-cores{seed=7}",
                   "{'placement': 'sequential'}": 'partition-cores,place-cores{strategy="sequential"}'}[str(options)]  # fmt: skip
        assert compiled.report["pipeline"] == f'snn-to-core{{chip="tnn16"}},{mapping},route'
    assert len(set(map(tuple, placed.values()))) == 3, placed
    assert placed["{'placement': 'sequential'}"] == [(0, 0), (1, 0), (2, 0), (3, 0), (3, 1)]


def test_dump_ir_of_a_tnn_writes_every_level(tmp_path):
    compiled = nmc.compile(EXAMPLES / "cbf_tnn.pt", dump_ir=True)
    assert {"cbf_tnn.snn.mlir", "cbf_tnn.core.mlir", "cbf_tnn.map.mlir"} <= set(compiled.files)
    assert "tnn.column" in compiled.files["cbf_tnn.core.mlir"]


def test_the_tnn_pipeline_in_report_json_replays_to_identical_map_ir(tmp_path):
    out = tmp_path / "tnn"
    run = run_tool("nmc-compile", str(EXAMPLES / "cbf_tnn.pt"), "--dump-ir", "-o", str(out))
    assert run.returncode == 0, run.stderr
    pipeline = json.loads((out / "report.json").read_text())["pipeline"]
    assert pipeline == 'snn-to-core{chip="tnn16"},partition-cores,place-cores,route'
    replay = tmp_path / "replay.mlir"
    run = run_tool("nmc-opt", str(out / "cbf_tnn.snn.mlir"), "-p", pipeline, "-o", str(replay))
    assert run.returncode == 0, run.stderr
    assert replay.read_text() == (out / "cbf_tnn.map.mlir").read_text()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timesteps", "8"), ("--encoding", "rate"), ("--weight-bits", "2"), ("--partition", "metis"),
     ("--disable", "reduce-precision"), ("--approximate-fan-in", None), ("--allow-accuracy-loss", None), ("--plot", None)],
)  # fmt: skip
def test_options_a_tnn_does_not_take_are_refused_naming_the_option_and_the_kind(tmp_path, flag, value):
    args = [str(EXAMPLES / "cbf_tnn.pt"), flag, *([value] if value else []), "-o", str(tmp_path / "o")]
    run = run_tool("nmc-compile", *args)
    assert run.returncode != 0
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"nmc-compile: error: {flag} does not apply to a tnn_column network"), lines[0]
    assert not (tmp_path / "o").exists()


def test_the_engine_dispatch_refuses_a_device_the_kind_lacks(tmp_path):
    from nmc.runtime.engines import simulate

    compiled = nmc.compile(EXAMPLES / "cbf_tnn.pt")
    x = np.load(EXAMPLES / "cbf_x.npy")[:4]
    with pytest.raises(NmcError, match=r"--device cpu: the tnn_column simulator runs on numpy"):
        simulate(decode(compiled.binary), x, device="cpu")
    assert compiled.run(x).shape == (4,)  # the winning line per sample, as nmc.load(...).run gives


def test_kinds_import_lazily():
    """Registering the built-in kinds imports none of their facets (nmc-opt stays fast)."""
    code = "import sys, nmc.chips.kinds; print(sorted(m for m in sys.modules if m.startswith('nmc.') and 'kind' in m))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['nmc.chips.kinds']"
    assert torch is not None


def test_one_compile_builds_the_connectivity_view_once(monkeypatch, digits_calib):
    """partition, place, route, the map verifier after every pass, the binary writer, the report and --plot
    read one NetView (it was built 8 times); the binary reads route's tables from the IR."""
    import nmc.dialects.map_layout as layout

    built = []
    original = layout._build_view
    monkeypatch.setattr(layout, "_build_view", lambda net: built.append(net) or original(net))
    compiled = nmc.compile(EXAMPLES / "digits_cnn.pt", calibration=digits_calib[:40], plot=True)
    assert len(built) == 1
    routes = next(op for op in compiled.module.walk() if op.name == "map.routes")
    image = decode(compiled.binary)
    np.testing.assert_array_equal(image.arrays["AXON"]["offsets"], np.asarray(routes.axon_offsets.get_values()))
    assert image.arrays["ROUT"]["dest"].size == len(routes.dests.get_values())
