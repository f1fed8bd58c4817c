"""`CompileOptions`: every option of `nmc-compile` and `nmc.compile`, declared once.

The argparse parser of `nmc-compile` is generated from these fields (flag, help, choices,
type), `nmc.compile(model, **options)` takes the same names, and its signature and
docstring are generated from them too, so the CLI and the API cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from typing import Any

from nmc.chips.boards import board_preset_names
from nmc.chips.description import preset_names
from nmc.errors import NmcError

DEFAULT_TICKS = 64
DEFAULT_PERCENTILE = 99.9
DEFAULT_FINETUNE_EPOCHS = 15
TARGETS = ("chip", "mlir", "verilog", "nir", "xylo")
LEVELS = ("snn", "core", "map")
ENCODINGS = ("direct", "rate", "poisson", "spikes")
DECODINGS = ("count", "membrane", "first-spike")
MIN_DECISION_AGREEMENT = 0.9
DEFAULT_MAX_MODEL_BYTES = 4 << 30  # memory for reading a model or IR file (nmc.limits)


def _opt(default: Any, help: str, *, choices: tuple[str, ...] | None = None, kind: str = "", metavar: str | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, "kind": kind, "metavar": metavar})


@dataclass(frozen=True)
class CompileOptions:
    """Options of a compilation (see `nmc-compile --help`); every field has a default."""

    chip: Any = _opt(None, "chip preset name or .chip file (default: tianjic256); the API also takes a parsed Chip")
    board: str | None = _opt(
        None,
        "a board of chips to map across, instead of --chip: a board preset or a .chip file with a board section (docs/boards.md)",
        metavar="FILE|PRESET",
    )
    target: str = _opt(
        "chip",
        "chip: the configuration binary OUTDIR/<model>.nmc; mlir: IR of the lowest level; verilog: structural RTL "
        "with a testbench (docs/verilog.md); nir: the snn level as a NIR graph OUTDIR/<model>.nir (docs/nir.md)",
        choices=TARGETS,
    )
    level: str = _opt("map", "lowest level to lower to for --target mlir", choices=LEVELS)
    timesteps: int | None = _opt(
        None,
        f"ticks per inference (default: the ticks an nmc.nn SNN was trained with, a NIR input's length, else {DEFAULT_TICKS})",
        kind="positive",
    )
    calibration: Any = _opt(None, "calibration inputs [N, *input_shape] (.npy; the API also takes an array)", metavar="X.npy")
    percentile: float = _opt(DEFAULT_PERCENTILE, "activation percentile for ANN threshold balancing", kind="float")
    input_shape: tuple[int, ...] | None = _opt(None, "shape of one input sample, e.g. 1,8,8", kind="shape")
    encoding: str | None = _opt(
        None,
        "input encoder: direct current, rate or Poisson spikes, or spikes (the input is a spike train [N, ticks, "
        "*shape]); default: direct where the chip takes graded inputs, else rate",
        choices=ENCODINGS,
    )
    input_scale: float | None = _opt(None, "encoder gain (default 1, or 1/max(calibration) for spike codes)", kind="float")
    decoding: str | None = _opt(None, "output decoder (default: count for spikes, membrane for currents)", choices=DECODINGS)
    dt: float | None = _opt(None, "seconds per tick (default: a NIR graph's own, else 1e-3)", kind="float")
    approximate_fan_in: bool = _opt(False, "on chips without partial sums, allow relay neurons", kind="flag")
    weight_bits: int | None = _opt(None, "override the chip's weight width", kind="positive")
    disable: tuple[str, ...] = _opt(
        (),
        "skip an optional pass (decompose-fan-in, decompose-fan-out, delay-relays, reduce-precision); the violations are listed",
        kind="append",
        metavar="PASS",
    )
    max_model_bytes: int = _opt(
        DEFAULT_MAX_MODEL_BYTES,
        "memory allowed for reading the model (bytes); a larger declared tensor is refused",
        kind="positive",
    )
    check: bool = _opt(
        True,
        "measure on the calibration data: decision agreement of the quantized network and the chip run (energy, activity)",
        kind="check",
    )
    allow_accuracy_loss: bool = _opt(
        False,
        f"keep a compilation whose quantized network agrees with the unquantized one on fewer than "
        f"{MIN_DECISION_AGREEMENT:.0%} of the calibration decisions (refused otherwise)",
        kind="flag",
    )
    finetune: Any = _opt(
        None,
        "labelled data (.npz with arrays x and y; the API also takes a tuple (x, y)): first fine-tune the model into "
        "the chip's limits (quantization-aware, fan-in blocks without partial sums), writing <model>.finetuned.pt",
        metavar="DATA.npz",
    )
    finetune_epochs: int = _opt(DEFAULT_FINETUNE_EPOCHS, "with --finetune: training epochs", kind="positive")
    device: str = _opt("cpu", "with --finetune: train on this torch device", choices=("cpu", "cuda"))
    partition: str = _opt("auto", "partition-cores strategy", choices=("auto", "tiles", "hypergraph", "metis", "sequential"))
    placement: str = _opt("anneal", "place-cores strategy", choices=("anneal", "sequential"))
    seed: int = _opt(0, "seed of partitioning and placement", kind="natural")
    dump_ir: bool = _opt(False, "also write every level's IR as <model>.<level>.mlir", kind="flag")
    plot: bool = _opt(False, "write a spike raster and a placement heat map (PNG)", kind="flag")
    synth: bool = _opt(False, "with --target verilog: synthesize with yosys (OUTDIR/synth/)", kind="flag")
    tb_samples: int | None = _opt(
        None, "with --target verilog: calibration samples the testbench runs (default 1; for a TNN 64)", kind="positive"
    )
    clock_mhz: float | None = _opt(
        None,
        "with --synth or --forecast: the clock the timing is for (default: the chip file's clock_mhz)",
        kind="positive_float",
    )
    forecast: bool = _opt(
        False,
        "for a TNN: print each column's predicted cells, area, leakage and slack from the stored fit, without Yosys "
        "(docs/tnn-hardware.md)",
        kind="flag",
    )
    verilog_style: str = _opt(
        "multiplexed",
        "with --target verilog: multiplexed: per core one shared neuron datapath, state and synapses in memories "
        "(silicon's way); per-neuron: one register set and datapath per neuron (docs/verilog.md)",
        choices=("multiplexed", "per-neuron"),
    )
    verilog_memories: str = _opt(
        "arrays",
        "with --verilog-style multiplexed: arrays: behavioural memories that simulate and infer; macros: black-box "
        "memories with the documented SRAM port list, for a foundry macro's wrapper",
        choices=("arrays", "macros"),
    )
    verilog_max_synapses: int | None = _opt(None, "largest network --target verilog emits (synapses)", kind="positive")
    verilog_max_neurons: int | None = _opt(None, "largest network --target verilog emits (neurons)", kind="positive")

    def replace(self, **changes: Any) -> CompileOptions:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise NmcError(f"unknown option(s) {', '.join(sorted(unknown))} (known: {', '.join(option_names())})")
        return dataclasses.replace(self, **changes)

    def check_combination(self) -> None:
        """Options that only act with another are refused without it, rather than silently ignored."""
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 1 << 63:
            raise NmcError(f"seed must be an integer from 0 to 2^63 - 1, got {self.seed!r}")

        only = {
            "synth": ("verilog", "synthesizes Verilog"),
            "tb_samples": ("verilog", "sizes the Verilog testbench"),
            "clock_mhz": ("verilog", "sets the clock of the timing analysis after --synth"),
            "verilog_max_synapses": ("verilog", "limits the Verilog output"),
            "verilog_style": ("verilog", "chooses the RTL style"),
            "verilog_memories": ("verilog", "chooses how the RTL's memories are written"),
            "verilog_max_neurons": ("verilog", "limits the Verilog output"),
            "plot": ("chip", "plots the chip run"),
        }
        for name, what in (("finetune_epochs", "sets the fine-tuning epochs"), ("device", "chooses the training device")):
            if getattr(self, name) != getattr(CompileOptions, name) and self.finetune is None:
                raise NmcError(f"--{name.replace('_', '-')} {what}: use it with --finetune DATA.npz")
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        if self.clock_mhz is not None and not 0 < self.clock_mhz < float("inf"):
            raise NmcError(f"--clock-mhz must be a positive number of MHz, got {self.clock_mhz}")
        if self.verilog_memories != "arrays" and self.verilog_style != "multiplexed":
            raise NmcError("--verilog-memories writes the memories of --verilog-style multiplexed; the per-neuron style has none")
        for name, (target, what) in only.items():
            if name == "clock_mhz" and self.forecast:
                continue
            if getattr(self, name) != defaults[name] and self.target != target:
                flag = "--" + name.replace("_", "-")
                raise NmcError(f"{flag} {what}: use it with --target {target} (this run has --target {self.target})")


def option_names() -> list[str]:
    return [f.name for f in dataclasses.fields(CompileOptions)]


def options_doc() -> str:
    """One line per option: name, default, help (for nmc.compile's docstring)."""
    lines = []
    for f in dataclasses.fields(CompileOptions):
        choices = f.metadata["choices"]
        extra = f" (one of {', '.join(choices)})" if choices else ""
        lines.append(f"    {f.name} = {f.default!r}: {f.metadata['help']}{extra}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- argparse


def _shape(text: str) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in text.replace("x", ",").split(",") if d.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a shape like 1,28,28, got {text!r}") from None
    if not dims or any(d <= 0 for d in dims):
        raise argparse.ArgumentTypeError(f"expected positive dimensions, got {text!r}")
    return dims


def positive_int(text: str) -> int:
    """argparse type for a count >= 1 (shared by the tools)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def natural_int(text: str) -> int:
    """argparse type for a seed: an integer in 0 .. 2^63 - 1 (what numpy's generators and the binary hold)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 1 << 63:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to 2^63 - 1, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type for a quantity > 0 (a clock in MHz)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


_TYPES = {
    "positive": positive_int, "natural": natural_int, "int": int, "float": float, "positive_float": positive_float,
    "shape": _shape,
}  # fmt: skip


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One `--flag` per option, with its help, default and choices."""
    for f in dataclasses.fields(CompileOptions):
        meta = f.metadata
        flag = "--" + f.name.replace("_", "-")
        help_text = meta["help"] + ("" if f.default in (None, False, True, ()) else f" (default: {f.default})")
        if f.name == "board":
            help_text += f"; presets: {', '.join(board_preset_names())}"
        if f.name == "chip":
            boards = set(board_preset_names())
            help_text += f"; presets: {', '.join(n for n in preset_names() if n not in boards)}"
        help_text = help_text.replace("%", "%%")  # argparse %-formats help strings ("90 %" would crash --help)
        kind = meta["kind"]
        if kind == "flag":
            parser.add_argument(flag, action="store_true", help=help_text)
        elif kind == "check":  # on by default: the flag turns it off
            no_flag = "--no-" + f.name.replace("_", "-")
            parser.add_argument(no_flag, dest=f.name, action="store_false", help="do not " + meta["help"])
        elif kind == "append":
            parser.add_argument(flag, action="append", default=[], metavar=meta["metavar"], help=help_text)
        else:
            parser.add_argument(
                flag,
                type=_TYPES.get(kind, str),
                choices=meta["choices"],
                default=f.default,
                metavar=meta["metavar"],
                help=help_text,
            )


def from_args(args: argparse.Namespace) -> CompileOptions:
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(CompileOptions)}
    values["disable"] = tuple(values["disable"])
    return CompileOptions(**values)
