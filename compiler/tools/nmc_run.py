"""`nmc-run FILE --input X.npy [-o Y.npy]`: run a compiled network on a batch of inputs.

FILE is a chip binary (.nmc), run by the clock-driven chip simulator, which reads only the
binary; or IR text (.mlir) at the snn or core level, run by that level's reference interpreter. The input is the
array the source model takes (batch first); the output holds the decoded values
(batch first). With several network outputs, `-o` gets an .npz archive.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    from nmc.tools._cli import OneLineParser

    p = OneLineParser(prog="nmc-run", description=__doc__.splitlines()[0])
    p.add_argument(
        "file",
        help="chip binary (.nmc, run by the chip simulator), IR text (.mlir, snn/core level) or a "
        "Xylo configuration (.xylo.json, --target xylo)",
    )
    p.add_argument(
        "--input",
        required=True,
        help="inputs [batch, *shape] (.npy); spike-train inputs (NIR graphs) [batch, ticks, *shape], and the run "
        "lasts as many ticks as they have",
    )
    p.add_argument("-o", "--output", help="where to write the decoded outputs (.npy)")
    p.add_argument("--labels", help="integer labels [batch] (.npy): print the argmax accuracy")
    p.add_argument(
        "--record",
        choices=("counts", "spikes"),
        default="counts",
        help="what -o holds: the decoded outputs (default: spike counts, or membranes for current outputs), or the "
        "output spike trains [samples, ticks, *output_shape] (chip binaries and snn IR)",
    )
    p.add_argument("--float64", action="store_true", help="interpret in double precision")
    p.add_argument(
        "--learn",
        action="store_true",
        help="TNN binaries: learn on the chip (STDP after every sample, in input order) while running",
    )
    p.add_argument(
        "--device",
        default="numpy",
        choices=("numpy", "cpu", "cuda"),
        help="chip simulator backend: numpy (default), or torch on cpu / cuda (identical results)",
    )
    p.add_argument(
        "--engine",
        default="nmc",
        choices=("nmc", "xylosim"),
        help="Xylo configurations: nmc's simulator of the device (default) or SynSense's xylosim (pip install "
        "'nmc[xylo]'); the same spikes",
    )
    return p


def main(argv: Sequence[str] | None = None) -> None:
    from nmc.errors import report_user_errors

    with report_user_errors("nmc-run"):  # Ctrl-C during start-up too
        args = build_parser().parse_args(argv)
        run_cli(args)


def _read_binary(path: Path):
    from nmc.chips.binary import BinaryError, read_binary
    from nmc.errors import NmcError

    try:
        return read_binary(path)
    except BinaryError as e:
        raise NmcError(f"{path}: {e}") from None


def read_module(path: Path):
    from xdsl.context import Context
    from xdsl.dialects.builtin import Builtin
    from xdsl.parser import Parser

    from nmc.chips.errors import read_text_file
    from nmc.dialects import get_all_dialects
    from nmc.limits import DEFAULT_MAX_MODEL_BYTES, bounded_memory, check_declared_tensors

    ctx = Context()
    ctx.load_dialect(Builtin)
    for name, factory in get_all_dialects().items():
        ctx.register_dialect(name, factory)
    text = read_text_file(path, "IR file")
    check_declared_tensors(text, str(path), DEFAULT_MAX_MODEL_BYTES)
    with bounded_memory(str(path), DEFAULT_MAX_MODEL_BYTES):
        module = Parser(ctx, text, str(path)).parse_module()
    module.verify()
    return module


def _check_inputs(x, name: str) -> None:
    """Inputs the simulator can take: a non-empty real array [batch, *shape] with finite values."""
    import numpy as np

    from nmc.errors import NmcError

    if x.dtype.kind not in "biuf":
        raise NmcError(f"{name}: inputs must be real numbers, got dtype {x.dtype}")
    if x.ndim < 2:
        raise NmcError(f"{name}: expected an array [batch, *input_shape], got shape {list(x.shape)}")
    if x.shape[0] == 0:
        raise NmcError(f"{name}: the batch is empty (0 samples)")
    bad = np.nonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0]
    if bad.size:
        raise NmcError(f"{name}: sample {int(bad[0])} holds NaN or infinite values ({bad.size} such samples)")


def run_cli(args: argparse.Namespace) -> None:
    from nmc.driver import load_npy
    from nmc.errors import InputRejected, NmcError
    from nmc.frontends.sniff import describe, kind_of
    from nmc.loaded import binary_in
    from nmc.runtime import engines

    path = Path(args.file)
    if args.output and Path(args.output).is_dir():
        raise NmcError(f"-o {args.output}: is a folder; give a file name such as {Path(args.output) / 'y.npy'}")
    path = binary_in(path)  # the folder nmc-compile wrote, as nmc.load takes it
    x = load_npy(args.input, "inputs")
    _check_inputs(x, args.input)
    what = kind_of(path)
    if what == "missing":
        raise InputRejected(f"{path}: no such file")
    if _xylo_config(path):
        from nmc.xylo_run import run_xylo_command

        return run_xylo_command(path, x, args)
    if args.engine != "nmc":
        raise NmcError(f"--engine {args.engine} runs Xylo configurations (--target xylo); {path} is not one")
    is_binary = what == "chip-binary" or path.suffix == ".nmc"
    if not is_binary and what != "text":  # IR is text; anything else is named for what it is
        raise InputRejected(f"{describe(path, what)}, not a chip binary (.nmc) or IR text (.mlir): give OUTDIR/<model>.nmc")
    loaded = _read_binary(path) if is_binary else read_module(path)  # read once, whichever kind of network it holds
    kind, engine = engines.engine_of_image(loaded) if is_binary else engines.engine_of_module(loaded)
    if args.learn and "learn" not in engine.run_options:
        raise NmcError(f"{path}: --learn runs on-chip learning (STDP); a {kind.name} network has none")
    kind.facet("compiler").run_command(path, loaded, x, args)


def _xylo_config(path: Path) -> bool:
    from nmc.chips.xylo_format import is_config

    try:
        with path.open("rb") as f:
            return is_config(f.read(4096))
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
