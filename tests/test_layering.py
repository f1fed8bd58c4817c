"""The structure: imports go one way, the chip travels in the IR, the printed pipeline replays exactly."""

from __future__ import annotations

import ast
import dataclasses
import time
from pathlib import Path

import numpy as np
import pytest
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser
from xdsl.utils.exceptions import VerifyException

from .conftest import EXAMPLES, ROOT

# folder -> the nmc layers it may import (compiler/ is the top and may import everything)
LAYERS = {
    "chips": {"chips"},
    "dialects": {"chips", "dialects"},
    "passes": {"chips", "dialects", "passes"},
    "targets": {"chips", "dialects", "passes", "targets"},
    "runtime": {"chips", "dialects", "runtime"},
}
PACKAGE_OF = {
    "nmc.chips": "chips",
    "nmc.dialects": "dialects",
    "nmc.passes": "passes",
    "nmc.targets": "targets",
    "nmc.runtime": "runtime",
}


FOLDER_PACKAGE = {"compiler": "nmc", **{folder: f"nmc.{folder}" for folder in LAYERS}}


def layer_of(module: str) -> str:
    for prefix, layer in PACKAGE_OF.items():
        if module == prefix or module.startswith(prefix + "."):
            return layer
    return "compiler"


def module_name(path: Path, root: Path, package: str) -> str:
    """The dotted name of a source file below `root`, which installs as `package`."""
    parts = [p for p in path.relative_to(root).with_suffix("").parts if p != "__init__"]
    return ".".join([package, *parts])


def imported_names(path: Path, module: str) -> list[tuple[int, str]]:
    """Every nmc module `path` imports at run time, with its line: `import`, `from … import` (relative ones
    resolved by their level), `importlib.import_module("nmc…")` and `__import__("nmc…")` with a constant name,
    function-local ones too; `if TYPE_CHECKING:` blocks are skipped (they never run)."""
    tree = ast.parse(path.read_text())
    skip = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
            for n in ast.walk(block)}  # fmt: skip
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package[: len(package) - node.level + 1], *([base] if base else [])])
            found += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = ast.unparse(node.func)
            if func in ("importlib.import_module", "import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append((node.lineno, node.args[0].value))
    return [(line, name) for line, name in found if name.split(".")[0] == "nmc"]


def upward_imports(folder: Path, allowed: set[str], package: str = "nmc.targets") -> list[str]:
    """Every import of an nmc module from `folder` (installed as `package`) that leaves `allowed`."""
    bad = {}
    for path in sorted(folder.rglob("*.py")):
        for line, name in imported_names(path, module_name(path, folder, package)):
            if name != "nmc" and layer_of(name) not in allowed:
                bad.setdefault(f"{path.name}:{line}", f"{path.name}:{line} imports {name}")  # one per statement
    return list(bad.values())


def source_modules(folders: dict[Path, str]) -> dict[str, Path]:
    """Module name -> source file, for folders installed as packages (compiler/ is `nmc`, without the layers)."""
    sources = {}
    for folder, package in folders.items():
        for path in sorted(folder.rglob("*.py")):
            if package == "nmc" and path.relative_to(folder).parts[0] in LAYERS:
                continue
            sources[module_name(path, folder, package)] = path
    return sources


def import_graph(folders: dict[Path, str]) -> dict[str, set[str]]:
    """Module -> the nmc modules it imports at run time (parent packages excluded: Python imports them first)."""
    sources = source_modules(folders)
    graph: dict[str, set[str]] = {m: set() for m in sources}
    for module, path in sources.items():
        for _, name in imported_names(path, module):
            target = name if name in sources else name.rsplit(".", 1)[0]
            if target in sources and target != module and not module.startswith(target + "."):
                graph[module].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        component.append(top)
                        if top == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return found


@pytest.mark.parametrize("folder", sorted(LAYERS))
def test_imports_go_one_way(folder):
    assert upward_imports(ROOT / folder, LAYERS[folder], FOLDER_PACKAGE[folder]) == []


def test_no_module_cycles():
    """Function-local imports hide cycles from Python's import machinery; this finds them."""
    assert cycles(import_graph({ROOT / folder: package for folder, package in FOLDER_PACKAGE.items()})) == []


def test_a_planted_upward_import_is_caught(tmp_path):
    (tmp_path / "planted.py").write_text("def f():\n    from nmc.runtime.simulator import Chip\n    import nmc.api\n")
    found = upward_imports(tmp_path, LAYERS["targets"])
    assert len(found) == 2
    assert "nmc.runtime.simulator" in found[0]
    assert "nmc.api" in found[1]


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("from ..runtime.simulator import Chip\n", "nmc.runtime.simulator"),  # relative, one level up
        ("from .. import api\n", "nmc.api"),  # relative, to the top package
        ("import importlib\nm = importlib.import_module('nmc.runtime.simulator')\n", "nmc.runtime.simulator"),
        ("m = __import__('nmc.api')\n", "nmc.api"),
    ],
)
def test_relative_and_string_imports_are_caught(tmp_path, source, target):
    folder = tmp_path / "targets"
    folder.mkdir()
    (folder / "planted.py").write_text(source)
    found = upward_imports(folder, LAYERS["targets"], "nmc.targets")
    assert len(found) == 1, found
    assert found[0].endswith(f"imports {target}"), found


def test_a_planted_cycle_is_caught(tmp_path):
    (tmp_path / "a.py").write_text("from nmc.passes import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from nmc.passes.c import g\n")
    (tmp_path / "c.py").write_text("def g():\n    import nmc.passes.a\n")
    (tmp_path / "d.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from nmc.passes import a\n")
    (tmp_path / "e.py").write_text("from nmc.passes import d\n")
    assert cycles(import_graph({tmp_path: "nmc.passes"})) == [["nmc.passes.a", "nmc.passes.b", "nmc.passes.c"]]


def parse(text: str) -> ModuleOp:
    from xdsl.dialects.builtin import Builtin

    from nmc.dialects import get_all_dialects

    ctx = Context()
    ctx.load_dialect(Builtin)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    return Parser(ctx, text).parse_module()


GROUP = (
    'core.neurons "{name}" {mode} ({ins}) delays = [{delays}] pre = dense<[{pre}]> : tensor<{k}xi64>'
    " post = dense<0> : tensor<{k}xi64> weight = dense<1> : tensor<{k}xi32> threshold = dense<1> : tensor<1xi32>"
    " bias = dense<0> : tensor<1xi32> v_init = dense<0> : tensor<1xi32> reset = subtract compare = ge"
    " : ({types}) -> !core.spikes<1>"
)


def chain_ir(groups: int, mode_of_first: str = "spike") -> str:
    """A residual chain: every group reads the previous one and (one tick delayed) the one before it."""
    lines = ['core.network @chain ticks = 2 dt = 1.0e-03 chip = #core.chip<"tiny"> {', "^bb0(%x: tensor<1xf32>):"]
    lines.append("  %in = core.input rate %x scale = 1.0 seed = 0 : tensor<1xf32> -> !core.spikes<1>")
    for i in range(groups):
        ins = ["%in"] if i == 0 else [f"%g{i - 1}"] if i == 1 else [f"%g{i - 1}", f"%g{i - 2}"]
        fields = {
            "name": f"g{i}",
            "mode": mode_of_first if i == 0 else "spike",
            "ins": ", ".join(ins),
            "delays": ", ".join(str(d) for d in range(len(ins))),
            "pre": ", ".join(str(d) for d in range(len(ins))),
            "k": len(ins),
            "types": ", ".join(["!core.spikes<1>"] * len(ins)),
        }
        lines.append(f"  %g{i} = " + GROUP.format(**fields))
    lines.append(f"  %y = core.decode count %g{groups - 1} latency = {groups - 1} : !core.spikes<1> -> tensor<1xf32>")
    lines += ["  core.output %y : tensor<1xf32>", "}"]
    return "\n".join(lines)


def test_a_deep_residual_chain_verifies_fast():
    module = parse(chain_ir(200))
    start = time.perf_counter()
    module.verify()
    assert time.perf_counter() - start < 1.0  # was exponential in depth: 5 s at 26 groups


def test_uses_before_definition_and_cycles_are_verifier_errors():
    text = chain_ir(3).replace("(%in) delays", "(%g2) delays")  # g0 reads g2: a cycle
    with pytest.raises(VerifyException, match=r"core.neurons: instantaneous cycle 'g0' -> 'g1' -> 'g2' -> 'g0': nothing"):
        parse(text).verify()
    use_first = chain_ir(3).replace("%y = core.decode count %g2", "%y = core.decode count %g0")
    lines = use_first.splitlines()  # the decoder moved before its group: a use before the definition, not a cycle
    y = next(i for i, line in enumerate(lines) if "%y = core.decode" in line)
    g0 = next(i for i, line in enumerate(lines) if "%g0 = " in line)
    lines.insert(g0, lines.pop(y))
    with pytest.raises(VerifyException, match=r"core.decode: operand #0 \(%g0\) is used before it is defined"):
        parse("\n".join(lines)).verify()
    snn_cycle = """snn.network @n ticks = 4 dt = 1.0e-03 {
^bb0(%x: tensor<4xf32>):
  %f = snn.dense %s weights = dense<1.0> : tensor<4x4xf32> : !snn.spikes<4> -> !snn.current<4>
  %s = snn.if %f threshold = 1.0 reset = zero compare = ge v_init = 0.0 : !snn.current<4> -> !snn.spikes<4>
  %o = snn.decode_count %s : !snn.spikes<4> -> tensor<4xf32>
  snn.output %o : tensor<4xf32>
}"""
    with pytest.raises(VerifyException, match=r"snn.dense: instantaneous cycle snn.dense %f -> snn.if %s -> snn.dense %f"):
        parse(snn_cycle).verify()


def test_integrate_mode_groups_feed_only_membrane_decoders():
    with pytest.raises(VerifyException, match=r"'g1': reads integrate-mode group 'g0', which never fires"):
        parse(chain_ir(3, mode_of_first="integrate")).verify()


def test_the_chip_travels_in_the_ir_and_round_trips(tmp_path, monkeypatch):
    from nmc.chips import load_chip
    from nmc.dialects.core import NetworkOp

    printed = str(parse(chain_ir(2)))
    monkeypatch.chdir(tmp_path)  # no file is read: the description is inside the IR
    again = parse(printed)
    (net,) = [op for op in again.walk() if isinstance(op, NetworkOp)]
    assert net.chip.data == load_chip("tiny")
    assert str(again) == printed
    with pytest.raises(Exception, match=r"hashes to"):
        parse(printed.replace("neurons 16", "neurons 17", 1))


def test_presets_are_package_data():
    from nmc.chips import preset_names

    assert {"mini", "tiny", "tianjic256", "truenorth4"} <= set(preset_names())


def test_a_chip_built_in_memory_compiles_without_any_file(digits_calib):
    import nmc
    from nmc.chips import load_chip

    chip = dataclasses.replace(load_chip("mini"), name="custom-mesh", mesh=(6, 6))
    compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", chip=chip, calibration=digits_calib[:20], timesteps=8)
    assert compiled.report["chip"]["name"] == "custom-mesh"
    assert "snn-to-core," in compiled.report["pipeline"]
    assert "chip=" not in compiled.report["pipeline"]
    assert compiled.run(digits_calib[:4]).shape == (4, 10)
    reparsed = parse(str(compiled.module))  # the in-memory chip prints with the hash of what it says
    assert next(op for op in reparsed.walk() if op.name == "core.network").chip.data == chip


def test_printed_pipeline_replays_byte_identically(tmp_path, capsys):
    from nmc.tools import nmc_compile, nmc_opt

    out = tmp_path / "out"
    nmc_compile.main(
        [
            str(EXAMPLES / "digits_mlp.pt"),
            "--calibration",
            str(EXAMPLES / "digits_calib.npy"),
            "--timesteps",
            "8",
            "--dump-ir",
            "-o",
            str(out),
        ]
    )
    import json

    pipeline = json.loads((out / "report.json").read_text())["pipeline"]
    assert pipeline.startswith('snn-to-core{chip="tianjic256"},')
    assert "profile-rates{" in pipeline
    capsys.readouterr()
    replay = tmp_path / "replay.mlir"
    nmc_opt.main([str(out / "digits_mlp.snn.mlir"), "-p", pipeline, "-o", str(replay)])
    assert replay.read_text() == (out / "digits_mlp.map.mlir").read_text()


def test_help_of_compile_lists_every_option():
    import nmc
    from nmc.options import option_names

    doc = nmc.compile.__doc__
    import inspect

    params = inspect.signature(nmc.compile).parameters
    for name in option_names():
        assert name in params
        assert f"    {name} = " in doc


def test_unknown_option_is_one_clear_error():
    import nmc
    from nmc.errors import NmcError

    with pytest.raises(NmcError, match=r"unknown option\(s\) timestep \(known: chip, board, target"):
        nmc.compile(EXAMPLES / "digits_mlp.pt", timestep=3)


def test_verify_reads_no_file_for_map_level_ir(tmp_path, monkeypatch):
    """Map-level IR verifies from any folder (the map verifier used to read the chip file)."""
    from nmc.pipeline import lower_to_map

    module = parse(chain_ir(4))
    lower_to_map(module, module.body.block.first_op.chip.data, partition="sequential", placement="sequential")
    text = str(module)
    monkeypatch.chdir(tmp_path)
    parse(text).verify()
    assert np.isfinite(len(text))


def test_report_json_follows_its_declared_sections(digits_calib):
    """Every key of report.json is declared in nmc.report, and every declared field of a section is written."""
    import typing

    import nmc
    from nmc import report as schema

    compiled = nmc.compile(EXAMPLES / "digits_mlp.pt", calibration=digits_calib[:20], timesteps=8)
    tnn = nmc.compile(EXAMPLES / "cbf_tnn.pt", calibration=np.load(EXAMPLES / "cbf_x.npy")[:20], forecast=True)
    declared = typing.get_type_hints(schema.Report)
    for report in (compiled.report, tnn.report):  # both core kinds
        assert set(report) <= set(declared)
        for key, value in report.items():
            kind = declared[key]
            if typing.is_typeddict(kind):  # every field; where a section has required ones, the others where they apply
                fields = set(typing.get_type_hints(kind))
                must = kind.__required_keys__ or fields
                assert must <= set(value) <= fields, key
    for row in compiled.report["core"]["groups"]:  # every required field; the optional ones where they apply
        assert schema.GroupRow.__required_keys__ <= set(row) <= set(typing.get_type_hints(schema.GroupRow))
    for row in tnn.report["tnn"]["layers"]:
        assert set(row) == set(typing.get_type_hints(schema.TnnLayerRow))


# Third-party packages whose import costs start-up time (torch alone ~1.5 s): nmc imports them lazily, and a
# function-local import of an nmc module is justified when it would pull one of them in.
HEAVY = {"torch", "optuna", "ray", "matplotlib", "sklearn", "h5py", "nir", "nirtorch", "snntorch", "scipy", "pymetis",
         "mtkahypar", "rich", "lark", "sympy"}  # fmt: skip
# lazy by design: the registries that tools load dialects, passes and targets from, the package's API
# attributes, and the CLIs (their arguments are checked before the compiler is imported)
LAZY_MODULES = ("nmc", "nmc.dialects", "nmc.passes", "nmc.targets", "nmc.tools")


def function_local_imports_that_could_be_at_top(folders: dict[Path, str]) -> list[str]:
    sources = source_modules(folders)
    trees = {m: ast.parse(p.read_text()) for m, p in sources.items()}

    def resolve(name: str) -> str | None:
        return name if name in sources else name.rsplit(".", 1)[0] if name.rsplit(".", 1)[0] in sources else None

    def top_names(tree: ast.Module) -> list[str]:
        out = []
        for node in tree.body:
            if isinstance(node, ast.Import):
                out += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                out += [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        return out

    heavy: dict[str, set[str]] = {}

    def closure(m: str) -> set[str]:
        if m not in heavy:
            heavy[m] = set()
            parents = [".".join(m.split(".")[:i]) for i in range(1, m.count(".") + 1)]
            found = set().union(*(closure(p) for p in parents if p in sources))
            for name in top_names(trees[m]):
                found |= {name.split(".")[0]} & HEAVY
                if (r := resolve(name)) and r != m:
                    found |= closure(r)
            heavy[m] = found
        return heavy[m]

    hoistable = []
    for m, tree in trees.items():
        if m in LAZY_MODULES or m.startswith("nmc.tools."):
            continue
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]:
            for node in ast.walk(fn):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
                targets = {r for n in names if n.startswith("nmc") and (r := resolve(n))}
                if targets and not set().union(*(closure(t) for t in targets)) - closure(m):
                    hoistable.append(f"{m}:{node.lineno} {ast.unparse(node)}")
    return hoistable


def test_nmc_modules_are_imported_at_module_top_unless_a_heavy_dependency_is_the_reason():
    folders = {ROOT / folder: package for folder, package in FOLDER_PACKAGE.items()}
    assert function_local_imports_that_could_be_at_top(folders) == []


def test_a_needless_function_local_import_is_caught(tmp_path):
    (tmp_path / "light.py").write_text("X = 1\n")
    (tmp_path / "heavy.py").write_text("import torch\n")
    (tmp_path / "user.py").write_text("def f():\n    from nmc.passes.light import X\n    from nmc.passes.heavy import torch\n")
    assert function_local_imports_that_could_be_at_top({tmp_path: "nmc.passes"}) == [
        "nmc.passes.user:2 from nmc.passes.light import X"
    ]
