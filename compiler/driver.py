"""The compile pipeline behind `nmc-compile` and `nmc.compile`."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from nmc.conversion.layer_rewrites import prepare
from nmc.conversion.layers import (
    LayerGraph,
    LoweringOptions,
    calibrate,
    fold_batchnorm,
    infer_shapes,
    lower_to_snn,
    weight_bound_scales,
)
from nmc.errors import InputRejected, ModelRejected, NmcError
from nmc.frontends.nir_graph import HDF5_MAGIC
from nmc.frontends.nir_import import import_nir
from nmc.frontends.sniff import describe, kind_of
from nmc.limits import bounded_memory
from nmc.options import DEFAULT_MAX_MODEL_BYTES, DEFAULT_PERCENTILE, DEFAULT_TICKS


@dataclass
class ImportOptions:
    ticks: int | None = None  # None: the model's own (an nmc.nn SNN's training ticks), else DEFAULT_TICKS
    encoding: str = "direct"
    input_scale: float | None = None
    decoding: str | None = None
    calibration: np.ndarray | None = None
    percentile: float = DEFAULT_PERCENTILE
    input_shape: tuple[int, ...] | None = None
    dt: float = 1e-3
    name: str = "net"
    max_model_bytes: int = DEFAULT_MAX_MODEL_BYTES
    dt_given: float | None = None  # --dt as the user gave it (a NIR graph's own dt wins over the default)
    conversion_reset: str = "subtract"  # how a converted ReLU's IF neurons reset (zero on chips without subtraction)
    ann_graph: Any = None  # a converted ANN's layer graph (report.json neurobench.ann measures it)
    notes: list[str] = field(default_factory=list)


def load_labels(path: str, samples: int) -> np.ndarray:
    """--labels: one integer class per input sample, or one line saying what the file holds instead."""
    labels = load_npy(path, "labels")
    if labels.shape != (samples,) or labels.dtype.kind not in "iu":
        raise NmcError(f"{path}: expected {samples} integer labels (one per input sample), got {labels.dtype} "
                       f"{list(labels.shape)}")  # fmt: skip
    return labels


def load_npy(path: str | Path, what: str = "data") -> np.ndarray:
    """The array of a .npy file, never unpickling; a missing or unreadable file (or an .npz archive) is one line."""
    kind = kind_of(path)
    if kind not in ("npy", "npz", "missing"):  # by content: named for what it is
        raise InputRejected(f"{describe(path, kind)}, not a .npy array of {what}: save the array with np.save(path, x)")
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise InputRejected(f"{path}: no such file") from None
    except (ValueError, OSError) as e:
        raise InputRejected(f"{path}: not a .npy array of {what} ({str(e)[:100]})") from None
    if not isinstance(data, np.ndarray):
        data.close()
        raise InputRejected(f"{path}: an .npz archive; {what} must be one .npy array")
    return data


def load_calibration(path: str | Path) -> np.ndarray:
    path = Path(path)
    data = load_npy(path, "calibration data")
    if not isinstance(data, np.ndarray) or data.ndim < 2 or not np.issubdtype(data.dtype, np.number):
        raise NmcError(f"{path}: calibration data must be a numeric array [samples, *input_shape]")
    return data.astype(np.float32)


def layer_graph(model: Any, opts: ImportOptions) -> LayerGraph:
    """The model (module, ExportedProgram or file path) as a prepared layer graph with batch norms folded."""
    from nmc.frontends import torch_import

    source = str(model) if isinstance(model, str | Path) else None
    shape = opts.input_shape
    if shape is None and opts.calibration is not None:
        shape = tuple(opts.calibration.shape[1:])
    with bounded_memory(source or type(model).__name__, opts.max_model_bytes):
        if source is not None:
            model = torch_import.load_model(model)
        defaulted = opts.ticks is None and getattr(model, "nmc_ticks", None) is None
        if opts.ticks is None:
            trained = getattr(model, "nmc_ticks", None)
            if isinstance(trained, int) and trained > 0:
                opts.notes.append(f"{trained} ticks, as the SNN was trained (nmc.nn.run); --timesteps overrides")
            opts.ticks = trained if isinstance(trained, int) and trained > 0 else DEFAULT_TICKS
        try:
            graph = prepare(fold_batchnorm(torch_import.layer_graph(model, shape)))
            infer_shapes(graph)
        except NmcError as e:
            raise NmcError(f"{source}: {e}" if source else str(e)) from None
        if graph.is_spiking and defaulted and not (opts.encoding == "spikes" and opts.calibration is not None):
            opts.notes.append(
                f"{DEFAULT_TICKS} ticks: the SNN does not record the ticks it was trained with (nmc.nn.run in training "
                "mode records them; this model was saved without); --timesteps sets them"
            )
    if opts.encoding == "spikes":  # spike-train inputs [N, ticks, *shape] (event data, spike-coded tasks)
        if not graph.is_spiking:
            raise NmcError("--encoding spikes feeds spike trains to a spiking model; a converted ANN reads values: use "
                           "direct, rate or poisson")  # fmt: skip
        if opts.calibration is not None:
            if opts.calibration.ndim < 3 or tuple(opts.calibration.shape[2:]) != graph.input_shape:
                raise NmcError(f"calibration data has shape {list(opts.calibration.shape)}; --encoding spikes takes spike "
                               f"trains [samples, ticks, {', '.join(map(str, graph.input_shape))}]")  # fmt: skip
            opts.ticks = int(opts.calibration.shape[1])  # the network runs as long as its input
        return graph
    if opts.calibration is not None and tuple(opts.calibration.shape[1:]) != graph.input_shape:
        raise NmcError(
            f"calibration data has samples of shape {list(opts.calibration.shape[1:])}, the model takes {list(graph.input_shape)}"
        )
    return graph


def import_model(model: Any, opts: ImportOptions) -> ModuleOp:
    """A torch model (module, ExportedProgram or file path) or NIR graph as snn IR; ANNs are converted.

    Every refusal of the model itself is a `ModelRejected` (exit status 2 in the tools).
    """

    try:
        return _import_model(model, opts)
    except ModelRejected:
        raise
    except NmcError as e:
        raise ModelRejected(str(e)) from None


def _import_model(model: Any, opts: ImportOptions) -> ModuleOp:
    if opts.ticks is not None and opts.ticks < 1:
        raise NmcError(f"--timesteps must be at least 1, got {opts.ticks}")
    if is_nir(model):
        return _import_nir(model, opts)
    try:
        return _convert(layer_graph(model, opts), opts)
    except NmcError:
        raise
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as e:
        # parameters of the wrong shape or kind (a 1-D Linear weight, a damaged conv): no traceback
        raise NmcError(f"{opts.name}: a layer's parameters do not fit its kind ({type(e).__name__}: {str(e)[:160]})") from None


def is_nir(model: Any) -> bool:
    """A NIR graph: an `nir.NIRGraph`, or a file named .nir or holding HDF5."""
    if isinstance(model, str | Path):
        path = Path(model)
        if path.suffix == ".nir":
            return True
        try:
            with path.open("rb") as f:
                return f.read(len(HDF5_MAGIC)) == HDF5_MAGIC
        except OSError:
            return False
    return type(model).__name__ == "NIRGraph" and type(model).__module__.startswith("nir")


def _import_nir(model: Any, opts: ImportOptions) -> ModuleOp:

    source = str(model) if isinstance(model, str | Path) else "NIR graph"
    ticks = opts.ticks or DEFAULT_TICKS
    if opts.calibration is not None:
        if opts.calibration.ndim < 3:
            raise NmcError(
                f"calibration data has shape {list(opts.calibration.shape)}; a NIR network takes spike trains "
                "[samples, ticks, *input_shape]"
            )
        ticks = opts.calibration.shape[1]  # the network runs as long as its input
    with bounded_memory(source, opts.max_model_bytes):
        try:
            module = import_nir(model, ticks=ticks, dt=opts.dt_given, name=opts.name, notes=opts.notes)
        except NmcError as e:
            prefixed = source == "NIR graph" or str(e).startswith(source)
            raise NmcError(str(e) if prefixed else f"{source}: {e}") from None
    opts.ticks, opts.encoding = ticks, "spikes"
    return module


def conversion_scales(graph: LayerGraph, opts: ImportOptions) -> tuple[float, dict[int, float] | None]:
    """The encoder gain and, for an ANN, each ReLU's activation scale (its IF threshold)."""
    scale = opts.input_scale
    if scale is None:
        scale = 1.0
        if opts.encoding != "direct" and opts.calibration is not None:
            peak = float(np.max(opts.calibration))
            scale = 1.0 / peak if peak > 0 else 1.0
    relu_scales = None
    if not graph.is_spiking:
        if opts.calibration is not None:
            relu_scales = calibrate(graph, opts.calibration, opts.percentile)
        else:
            relu_scales = weight_bound_scales(graph, 1.0 / scale)
            opts.notes.append(
                "no calibration data: thresholds come from weight bounds (inputs assumed in [0, 1]); "
                "pass --calibration for accurate conversion at fewer ticks"
            )
    return scale, relu_scales


def _convert(graph: LayerGraph, opts: ImportOptions) -> ModuleOp:
    graph = fold_batchnorm(graph)
    scale, relu_scales = conversion_scales(graph, opts)
    if not graph.is_spiking:  # the ANN itself, for NeuroBench's metrics of it beside the SNN's (report.json)
        opts.ann_graph = graph
    if opts.conversion_reset == "zero":
        opts.notes.append(
            "the chip resets neurons to zero only: the converted ReLUs' IF neurons reset to zero (their rates "
            "lose the charge above threshold at any number of timesteps; the conversion check measures it)"
        )
    lowering = LoweringOptions(
        ticks=opts.ticks,
        dt=opts.dt,
        encoding=opts.encoding,
        input_scale=scale,
        decoding=opts.decoding,
        name=opts.name,
        reset=opts.conversion_reset,
    )
    return lower_to_snn(graph, lowering, relu_scales)


def write_atomically(path: Path, write: Callable[[Any], None], mode: str = "w") -> None:
    """Write a file through a temporary sibling so a failure never leaves a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; artefacts are ordinary files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def check_output_dir(outdir: Path) -> Path:
    """An output folder nmc can write: not a file, below no file, in a writable place (checked before any work)."""
    if outdir.exists() and not outdir.is_dir():
        raise NmcError(f"-o {outdir}: is a file, not a folder; give a folder name")
    probe = outdir
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise NmcError(f"-o {outdir}: {probe} is a file, so no folder can be made under it")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise NmcError(f"-o {outdir}: {probe} is not writable")
    return outdir


def print_ir(module: ModuleOp) -> str:
    from io import StringIO

    from xdsl.printer import Printer

    buf = StringIO()
    Printer(stream=buf).print_op(module)
    buf.write("\n\n")  # what nmc-opt (xDSL's mlir target) writes, so dumps and replays compare byte for byte
    return buf.getvalue()
