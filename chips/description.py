"""The chip description language: one file states a chip's limits and costs.

```
chip "tianjic-like" {
  mesh 16 x 16
  core {
    neurons 256
    axons 256
    ...
  }
}
```

Parsed with lark; every value is checked against `SCHEMA`, and any error names
file:line:column. The parsed `Chip` is parsed once, then travels inside the IR
(`#core.chip<...>`, printed in its canonical text with its hash): passes, verifiers,
the binary writer and the interpreters read it from there, never from a file.
docs/chip-description.md documents each key.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from nmc.chips.errors import NmcError, read_text_file
from nmc.chips.formats import COMPARES, FAMILIES, LEAKS, RESETS, signed_range, weight_range
from nmc.chips.tnn_format import RESPONSES

GRAMMAR = r"""
start: "chip" STRING "{" item* "}"
item: mesh | section
mesh: "mesh" INT "x" INT
section: NAME "{" entry* "}"
entry: NAME value ("," value)*
value: SIGNED_NUMBER | NAME | STRING
NAME: /[A-Za-z_][A-Za-z0-9_]*/
INT: /[0-9]+/
%import common.ESCAPED_STRING -> STRING
%import common.SIGNED_NUMBER
%import common.WS
COMMENT: /#[^\n]*/
%ignore WS
%ignore COMMENT
"""


@dataclass(frozen=True)
class Key:
    """One allowed key: kind ('int', 'float', 'bool', 'choice', 'choices'), range, default, help."""

    kind: str
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    help: str = ""


SCHEMA: dict[str, dict[str, Key]] = {
    "core": {
        "neurons": Key("int", 256, 1, 1 << 20, help="neurons per core"),
        "axons": Key("int", 256, 1, 1 << 20, help="input axons per core"),
        "max_fan_in": Key("int", 256, 1, 1 << 20, help="synapses into one neuron"),
        "max_fan_out": Key("int", 4096, 1, 1 << 30, help="synapses out of one neuron (all cores)"),
        "synapse_memory": Key("int", 65536, 1, 1 << 34, help="synapses stored per core"),
        "weight_bits": Key("int", 8, 1, 32, help="bits per weight"),
        "weight_signed": Key("bool", True),
        "membrane_bits": Key("int", 24, 2, 48, help="membrane potential width (two's complement)"),
        "threshold_bits": Key("int", 16, 1, 40, help="unsigned threshold width"),
        "leak_bits": Key("int", 16, 1, 40, help="signed per-neuron bias/leak width"),
        "input_bits": Key("int", 8, 1, 32, help="signed width of graded (direct-current) inputs"),
        "leak": Key(
            "choices",
            ("linear", "shift"),
            choices=LEAKS,
            help="linear bias; shift = V -= V >> s decay; multiply = V -= (V * m) >> b decay",
        ),
        "max_decay_shift": Key("int", 15, 0, 40),
        "leak_multiplier_bits": Key("int", 8, 1, 24, help="b of the multiply leak: m in 1 .. 2^b"),
        "neuron": Key(
            "choices",
            ("lif",),
            choices=FAMILIES,
            help="neuron families: lif = one membrane (IF/LIF); cuba = a synaptic current decaying by the same leak "
            "forms, then the membrane (docs/neuron-families.md)",
        ),
        "reset": Key("choices", RESETS, choices=RESETS, help="reset modes the neuron supports"),
        "compare": Key("choice", "ge", choices=COMPARES, help="the threshold comparison the hardware makes"),
        "partial_sums": Key("bool", True, help="neurons may forward graded partial sums"),
        "partial_sum_bits": Key("int", 24, 2, 48),
        "max_axon_delay": Key("int", 0, 0, 255, help="largest programmable axon delay in ticks"),
        "lanes": Key(
            "int", 1, 1, 64, help="neuron-update datapaths of a core in the generated RTL: area for cycles (docs/verilog.md)"
        ),
    },
    "router": {
        "routing": Key("choice", "xy", choices=("xy",)),
        "table_entries": Key("int", 256, 1, 1 << 24, help="multicast routing-table entries per core"),
        "link_bandwidth": Key("int", 1024, 1, 1 << 30, help="packets per link per tick"),
    },
    "timing": {
        "clock_mhz": Key("float", 200.0, 1e-3, 1e5),
        "cycles_per_tick": Key("int", 1024, 1, 1 << 30),
    },
    "cost": {
        "energy_synop_pj": Key("float", 2.0, 0, 1e9),
        "energy_neuron_update_pj": Key("float", 5.0, 0, 1e9),
        "energy_spike_pj": Key("float", 0.0, 0, 1e9, help="per spike a neuron sends (0: folded into the others)"),
        "energy_hop_pj": Key("float", 3.0, 0, 1e9),
        "static_power_mw_per_core": Key("float", 0.2, 0, 1e9),
        "area_mm2_per_core": Key("float", 0.1, 0, 1e9),
    },
    # Optional: a chip whose cores can also be configured as TNN columns (docs/tnn.md, docs/chip-description.md).
    "tnn_column": {
        "synapses": Key("int", 1024, 1, 1 << 16, help="p: synapses per neuron of one column"),
        "neurons": Key("int", 16, 1, 1 << 12, help="q: neurons of one column"),
        "time_bits": Key("int", 5, 1, 8, help="largest b: spike times 0..2^b-1 per gamma cycle"),
        "weight_bits": Key("int", 3, 1, 8, help="unsigned weight width (wmax = 2^bits - 1)"),
        "threshold_bits": Key("int", 16, 1, 31, help="unsigned threshold width"),
        "max_k": Key("int", 16, 1, 1 << 12, help="largest k of k-WTA"),
        "response": Key("choices", RESPONSES, choices=RESPONSES, help="synaptic responses the column supports"),
        "stdp": Key("bool", True, help="on-chip STDP learning"),
    },
    # Optional: a SynSense Xylo SNN core (docs/xylo.md): one reservoir with its own configuration (--target xylo).
    "xylo": {
        "inputs": Key("int", 16, 1, 1 << 12, help="input channels"),
        "hidden": Key("int", 1000, 1, 1 << 16, help="hidden neurons (one recurrent reservoir)"),
        "outputs": Key("int", 8, 1, 1 << 12, help="readout neurons (not recurrent)"),
        "hidden_synapses": Key("int", 2, 1, 8, help="synaptic currents per hidden neuron"),
        "weight_bits": Key("int", 8, 2, 16, help="signed weight width"),
        "max_weight_shift": Key("int", 7, 0, 15, help="largest left shift of a weight matrix"),
        "state_bits": Key("int", 16, 2, 32, help="signed width of currents, membranes and thresholds (saturating)"),
        "dash_bits": Key("int", 4, 1, 8, help="width of a bit-shift decay ('dash')"),
        "input_spikes": Key("int", 15, 1, 255, help="largest spike count of an input channel per tick"),
        "hidden_spikes": Key("int", 31, 1, 255, help="largest spike count of a hidden neuron per tick"),
        "output_spikes": Key("int", 1, 1, 255, help="largest spike count of a readout neuron per tick"),
    },
}
# Optional: a board of identical chips (docs/boards.md). The mesh is then the board's grid of cores (every
# chip's mesh side by side); mapping, binary and simulator see one system, the board section where chips meet.
SCHEMA["board"] = {
    "chips_x": Key("int", 2, 1, 256, help="chips across the board's 2-D grid"),
    "chips_y": Key("int", 2, 1, 256, help="chips down the board's 2-D grid"),
    "link_latency_cycles": Key(
        "int", 100, 0, 1 << 24, help="clock cycles a packet takes over one chip-to-chip link (the tick waits for it)"
    ),
    "link_energy_pj": Key("float", 100.0, 0, 1e9, help="energy per packet per chip-to-chip hop"),
    "link_bandwidth": Key("int", 256, 1, 1 << 30, help="packets per chip-to-chip link per tick, each direction"),
}
OPTIONAL_SECTIONS = ("tnn_column", "xylo", "board")  # absent from a chip file: the chip has no such part


@dataclass(frozen=True)
class Chip:
    """A parsed, validated chip description. Section values are plain attributes: `chip.core['axons']`."""

    name: str
    mesh: tuple[int, int]
    core: dict[str, Any] = field(hash=False)
    router: dict[str, Any] = field(hash=False)
    timing: dict[str, Any] = field(hash=False)
    cost: dict[str, Any] = field(hash=False)
    source: str = field(default="", compare=False)
    tnn_column: dict[str, Any] | None = field(default=None, hash=False)  # the TNN column core kind, if the chip has it
    xylo: dict[str, Any] | None = field(default=None, hash=False)  # a Xylo core (--target xylo), if the chip is one
    board: dict[str, Any] | None = field(default=None, hash=False)  # a board of chips, if the description is one
    digest: str = field(default="", init=False)  # sha256 of canonical_text(), set on construction

    def __post_init__(self) -> None:
        # A chip built or changed in memory (dataclasses.replace) gets the hash of what it now says.
        object.__setattr__(self, "digest", hashlib.sha256(self.canonical_text().encode()).hexdigest())

    @property
    def cores(self) -> int:
        return self.mesh[0] * self.mesh[1]

    @property
    def chips(self) -> int:
        """Chips of a board (1 for a single chip)."""
        return self.board["chips_x"] * self.board["chips_y"] if self.board else 1

    @property
    def chip_mesh(self) -> tuple[int, int]:
        """Cores of one chip across and down: the mesh, or a board's mesh divided by its chip grid."""
        if not self.board:
            return self.mesh
        return self.mesh[0] // self.board["chips_x"], self.mesh[1] // self.board["chips_y"]

    def chip_of(self, x: Any, y: Any) -> Any:
        """The chip (row-major on the board's grid) holding the core at mesh position (x, y); 0 off a board."""
        w, h = self.chip_mesh
        return (y // h) * (self.board["chips_x"] if self.board else 1) + x // w

    @property
    def weight_range(self) -> tuple[int, int]:
        return weight_range(self.core["weight_bits"], self.core["weight_signed"])

    signed_range = staticmethod(signed_range)

    def canonical_text(self) -> str:
        """The description in a normal form (every key, schema order): what the IR prints and the hash covers."""
        lines = [f"chip {_quote(self.name)} {{", f"  mesh {self.mesh[0]} x {self.mesh[1]}"]
        for section, keys in SCHEMA.items():
            values = getattr(self, section)
            if values is None:  # an optional section the chip does not have
                continue
            lines.append(f"  {section} {{")
            lines.extend(f"    {k} {_format(values[k])}" for k in keys)
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    @property
    def default_encoding(self) -> str:
        """The input encoder a compile picks when none is given: direct (graded) current where the cores take
        graded inputs (input_bits >= 2), else rate-coded spikes."""
        if self.xylo is not None:  # Xylo counts input spikes per channel and tick
            return "spikes"
        return "direct" if self.core["input_bits"] >= 2 else "rate"

    @property
    def tick_seconds(self) -> float:
        return self.timing["cycles_per_tick"] / (self.timing["clock_mhz"] * 1e6)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mesh": list(self.mesh),
            "core": _jsonable(self.core),
            "router": self.router,
            "timing": self.timing,
            "cost": self.cost,
            **({"tnn_column": _jsonable(self.tnn_column)} if self.tnn_column is not None else {}),
            **({"xylo": _jsonable(self.xylo)} if self.xylo is not None else {}),
            **({"board": dict(self.board)} if self.board is not None else {}),
            "digest": self.digest,
        }


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


@cache
def _parser() -> Any:
    from lark import Lark

    return Lark(GRAMMAR, parser="lalr", propagate_positions=True)


def parse_chip(text: str, filename: str = "<chip>") -> Chip:
    """Parse and validate a chip description; errors name filename:line:column."""
    from lark import Token, Tree
    from lark.exceptions import UnexpectedInput

    try:
        tree = _parser().parse(text)
    except UnexpectedInput as e:
        got = getattr(e, "token", None) or getattr(e, "char", None)
        if got is None or getattr(got, "type", "") == "$END":
            lines = text.splitlines() or [""]
            raise NmcError(f"{filename}:{len(lines)}:{len(lines[-1]) + 1}: unexpected end of file (missing '}}'?)") from None
        raise NmcError(f"{filename}:{e.line}:{e.column}: syntax error near {str(got)!r}") from None

    def err(tok: Any, msg: str) -> NmcError:
        line, col = (tok.line, tok.column) if isinstance(tok, Token) else (tok.meta.line, tok.meta.column)
        return NmcError(f"{filename}:{line}:{col}: {msg}")

    name_tok = tree.children[0]
    values: dict[str, dict[str, Any]] = {s: {} for s in SCHEMA}
    where: dict[str, Any] = {}
    mesh: tuple[int, int] | None = None
    for item in tree.children[1:]:
        node = item.children[0]
        assert isinstance(node, Tree)
        if node.data == "mesh":
            w, h = int(node.children[0]), int(node.children[1])
            if not (1 <= w <= 4096 and 1 <= h <= 4096):
                raise err(node.children[0], f"mesh {w} x {h} out of range (1..4096 per side)")
            mesh = (w, h)
        elif node.data == "section":
            section = str(node.children[0])
            if section not in SCHEMA:
                raise err(node.children[0], f"unknown section '{section}' (expected one of {', '.join(SCHEMA)})")
            for entry in node.children[1:]:
                key_tok = entry.children[0]
                key = str(key_tok)
                if key in values[section]:
                    raise err(key_tok, f"'{section}.{key}' given twice")
                values[section][key] = _value(section, key_tok, entry, err)
                where[f"{section}.{key}"] = key_tok
    if mesh is None:
        raise NmcError(f"{filename}:1:1: the chip needs a 'mesh W x H' line")
    full = {s: {k: values[s].get(k, spec.default) for k, spec in keys.items()} for s, keys in SCHEMA.items()}
    seen = {str(item.children[0].children[0]) for item in tree.children[1:] if item.children[0].data == "section"}
    core = full["core"]
    if core["max_fan_in"] > core["axons"]:
        tok = where.get("core.max_fan_in") or where.get("core.axons") or name_tok
        raise err(tok, f"core.max_fan_in {core['max_fan_in']} exceeds core.axons {core['axons']}")
    _check_widths(core, lambda key, message: err(where.get(f"core.{key}") or name_tok, message))
    tnn = full["tnn_column"] if "tnn_column" in seen else None
    xylo = full["xylo"] if "xylo" in seen else None
    board = full["board"] if "board" in seen else None
    if board is not None:
        for axis, side in (("chips_x", mesh[0]), ("chips_y", mesh[1])):
            if side % board[axis]:
                raise err(
                    where.get(f"board.{axis}") or name_tok,
                    f"board.{axis} {board[axis]} does not divide the mesh's {side} cores: the mesh is the board's cores, "
                    f"every chip's mesh side by side",
                )
    chip = Chip(_unquote(str(name_tok)), mesh, core, full["router"], full["timing"], full["cost"], filename, tnn_column=tnn,
                xylo=xylo, board=board)  # fmt: skip
    return chip


def _check_widths(core: dict[str, Any], at: Any) -> None:
    """Every width must hold what it is for; `at(key, message)` is the error at that key's file:line:col."""

    def fail(key: str, message: str) -> None:
        raise at(key, message)

    mb = core["membrane_bits"]
    if core["threshold_bits"] > mb - 1:
        fail("threshold_bits", f"core.threshold_bits {core['threshold_bits']} does not fit the membrane: thresholds up to "
             f"2^{core['threshold_bits']}-1 need membrane_bits >= {core['threshold_bits'] + 1}, got {mb}")  # fmt: skip
    if core["leak_bits"] > mb:
        fail("leak_bits", f"core.leak_bits {core['leak_bits']} exceeds core.membrane_bits {mb}")
    if core["weight_signed"] and core["weight_bits"] < 2:
        fail("weight_bits", "core.weight_bits must be >= 2 for signed weights (1 bit holds only 0)")
    magnitude = core["weight_bits"] - (1 if core["weight_signed"] else 0)
    need = magnitude + math.ceil(math.log2(max(core["max_fan_in"], 1))) + 1
    if core["partial_sums"] and core["partial_sum_bits"] < need:
        fail("partial_sum_bits", f"core.partial_sum_bits {core['partial_sum_bits']} cannot hold a full fan-in sum: "
             f"{core['max_fan_in']} weights of {core['weight_bits']} bits need {need} bits")  # fmt: skip


def _unquote(token: str) -> str:
    return token[1:-1].replace('\\"', '"').replace("\\\\", "\\")


def _value(section: str, key_tok: Any, entry: Any, err: Any) -> Any:
    key = str(key_tok)
    spec = SCHEMA[section].get(key)
    if spec is None:
        raise err(key_tok, f"unknown key '{section}.{key}' (known: {', '.join(SCHEMA[section])})")
    toks = [v.children[0] for v in entry.children[1:]]
    if spec.kind == "choices":
        words = tuple(str(t) for t in toks)
        for i, (t, w) in enumerate(zip(toks, words, strict=True)):
            if w not in spec.choices:
                raise err(t, f"'{section}.{key}': '{w}' is not one of {', '.join(spec.choices)}")
            if w in words[:i]:
                raise err(t, f"'{section}.{key}' lists '{w}' twice")
        return words
    if len(toks) != 1:
        raise err(toks[1], f"'{section}.{key}' takes one value")
    tok = toks[0]
    text = str(tok)
    if spec.kind == "bool":
        if text not in ("true", "false"):
            raise err(tok, f"'{section}.{key}' must be true or false, got {text}")
        return text == "true"
    if spec.kind == "choice":
        if text not in spec.choices:
            raise err(tok, f"'{section}.{key}': '{text}' is not one of {', '.join(spec.choices)}")
        return text
    try:
        number: int | float = int(text) if spec.kind == "int" else float(text)
    except ValueError:
        raise err(tok, f"'{section}.{key}' must be {'an integer' if spec.kind == 'int' else 'a number'}, got {text}") from None
    if not math.isfinite(number):
        raise err(tok, f"'{section}.{key}' must be a finite number, got {text}")
    if (spec.low is not None and number < spec.low) or (spec.high is not None and number > spec.high):
        fmt = (lambda v: str(int(v))) if spec.kind == "int" else (lambda v: f"{v:g}")
        raise err(tok, f"'{section}.{key}' = {text} is out of range [{fmt(spec.low)}, {fmt(spec.high)}]")
    return number


DEFAULT_CHIP = "tianjic256"


def preset_names() -> list[str]:
    """The presets shipped as package data of nmc.chips (they survive a plain `pip install .`)."""
    return sorted(p.name[: -len(".chip")] for p in resources.files("nmc.chips").iterdir() if p.name.endswith(".chip"))


@cache
def load_preset(name: str, hint: str = "") -> Chip:
    """A preset shipped with nmc, by name; never a file of the user's."""
    preset = resources.files("nmc.chips").joinpath(f"{name}.chip") if name.isidentifier() else None
    if preset is None or not preset.is_file():
        import difflib

        names = preset_names()
        close = difflib.get_close_matches(name.lower(), names, n=1, cutoff=0.6)
        meant = f"did you mean '{close[0]}'? " if close else ""
        raise NmcError(f"unknown chip '{name}' ({meant}presets: {', '.join(names)}{hint})")
    return parse_chip(preset.read_text(), f"{name}.chip")


def load_chip(name_or_path: str) -> Chip:
    """A preset by name (`tianjic256`) or a chip file by path. Only the compiler's front door calls this.

    A file is read on every call and parsed once per content (a file rewritten in the same process
    gives its new description, not the one parsed before)."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        return load_preset(name_or_path, "; or give a file path")
    return _parse_cached(read_text_file(path, "chip description"), str(path))


@functools.lru_cache(maxsize=64)
def _parse_cached(text: str, source: str) -> Chip:
    return parse_chip(text, source)
