"""The docs describe the code that exists: every repository path and every `--flag` that README.md and
docs/*.md mention is checked against the tree and against the tools' own --help."""

from __future__ import annotations

import re

import pytest

from .conftest import ROOT, run_tool

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
TOOLS = (("nmc-compile",), ("nmc-run",), ("nmc-opt",), ("nmc-search",), ("nmc-tnn",), ("nmc-tnn", "fit"), ("nmc-tnn", "predict"))
# the repository's top folders (and `nmc/`, the installed package, for compiler/): a path starting with
# one of them names a file of this repository; other paths (archive members, output files) are not checked
TOP = (
    "compiler",
    "chips",
    "dialects",
    "passes",
    "targets",
    "runtime",
    "tests",
    "examples",
    "benchmarks",
    "docs",
    "scripts",
    "nmc",
)
PATH = re.compile(r"(?<![\w/.-])((?:" + "|".join(TOP) + r")/(?:[\w.-]+/)*[\w-]+\.[a-z0-9]+)\b")
# flags of other programs that the docs show in their own command lines
FOREIGN_FLAGS = {"--index-url": "pip", "--no-deps": "pip", "--lint-only": "verilator"}


def mentioned_paths(text: str) -> list[str]:
    return [m.group(1) for m in PATH.finditer(text)]


def resolves(path: str) -> bool:
    if path.startswith("nmc/"):
        rest = path[len("nmc/") :]
        return (ROOT / "compiler" / rest).exists() or (ROOT / rest).exists()
    return (ROOT / path).exists()


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_path_the_docs_name_exists(doc):
    missing = [p for p in mentioned_paths(doc.read_text()) if not resolves(p)]
    assert missing == []


@pytest.fixture(scope="module")
def tool_flags() -> set[str]:
    flags: set[str] = set()
    for tool, *command in TOOLS:
        run = run_tool(tool, *command, "--help")
        assert run.returncode == 0, run.stderr
        flags |= set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", run.stdout))
    return flags


def benchmark_flags() -> set[str]:
    """The options of the benchmark scripts (benchmarks/*.py), which the docs show in their command lines."""
    found: set[str] = set()
    for script in (ROOT / "benchmarks").glob("*.py"):
        found |= set(re.findall(r"add_argument\(\s*\"(--[a-z][\w-]*)\"", script.read_text()))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_flag_the_docs_name_is_a_real_option(doc, tool_flags):
    flags = set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", doc.read_text()))
    assert sorted(flags - tool_flags - benchmark_flags() - set(FOREIGN_FLAGS)) == []


def test_the_check_catches_drift(tmp_path):
    """Planted drift: a renamed module and an option that does not exist."""
    assert [p for p in mentioned_paths("see `passes/no_such_pass.py` and nmc/api.py") if not resolves(p)] == [
        "passes/no_such_pass.py"
    ]
    assert "--partitions" not in run_tool("nmc-compile", "--help").stdout


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_choice_lists_the_docs_show_are_the_tools_choices(doc):
    """`--partition auto|metis|sequential` in a doc must list what nmc-compile accepts (it had lost two)."""
    helps = "\n".join(run_tool(tool, *command, "--help").stdout for tool, *command in TOOLS)
    choices: dict[str, list[set[str]]] = {}  # a flag of several tools (--device) may take other choices in each
    for flag, values in re.findall(r"(--[a-z][\w-]*) \{([\w,-]+)\}", helps):
        choices.setdefault(flag, []).append(set(values.split(",")))
    wrong = [
        (flag, values)
        for flag, values in re.findall(r"\[(--[a-z][\w-]*) ([\w-]+(?:\|[\w-]+)+)\]", doc.read_text())
        if flag in choices and set(values.split("|")) not in choices[flag]
    ]
    assert wrong == []
