"""Reading model files without running code they carry, and refusals that say what to do instead.

A `torch.save(model)` pickle is loaded by torch's restricted unpickler with an
allow-list of module classes; before anything is unpickled the file is sniffed
(TorchScript archive, NIR/HDF5 file) and, when torch refuses a global, the
pickle's globals are listed (by `pickletools`, which reads without executing) so
that the refusal names the real reason: a snnTorch model, a layer nmc cannot
convert, or a custom class. `.pt2` archives go through `safe_pt2`.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from nmc import nn as nmc_nn
from nmc import tnn as nmc_tnn
from nmc.errors import InputRejected, NmcError
from nmc.frontends.safe_pt2 import ZIP_ERRORS, load_exported, one_line
from nmc.frontends.sniff import PHRASES, kind_of

# Module classes a pickled model may contain: what nmc converts (see docs/frontend.md).
ALLOWED_MODULES: tuple[type, ...] = (
    nn.Sequential,
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.AvgPool1d,
    nn.AvgPool2d,
    nn.MaxPool1d,
    nn.MaxPool2d,
    nn.AdaptiveAvgPool1d,
    nn.AdaptiveAvgPool2d,
    nn.Flatten,
    nn.Unflatten,
    nn.ReLU,
    nn.ReLU6,
    nn.Hardtanh,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.AlphaDropout,
    nn.Identity,
    nmc_nn.IF,
    nmc_nn.LIF,
    nmc_nn.CubaLIF,
    nmc_nn.RLIF,  # its loop is an nn.Linear, itself allowed
    nmc_nn.RCubaLIF,
    nn.ModuleList,
    nmc_tnn.TNN,  # temporal networks (nmc-compile takes them to TNN column cores)
    nmc_tnn.TNNLayer,
)

# Why a layer has no spiking equivalent, and the one thing to do instead. Keys: torch class names;
# aten ops and functions are looked up by their lower-case name (`reason_for`).
_NEGATIVE = "passes negative values, which spike rates (never negative) cannot carry: replace it with ReLU and fine-tune"
_CURVED = (
    "is negative for some inputs and not monotone, so no IF neuron (rate 0 below threshold, linear above) "
    "reproduces it: retrain with ReLU (or ReLU6)"
)
_BOUNDED = (
    "is a smooth curve that is not zero at zero, which an IF neuron's rate does not follow: use ReLU6 or "
    "Hardtanh(0, 1) (also bounded) and fine-tune"
)
_SOFTMAX = (
    "does not change the predicted class and nmc decodes the last layer as logits: remove it from the model "
    "(apply it to nmc's outputs if you need probabilities)"
)
_CONDITION = (
    "is a data-dependent condition (a comparison or a per-element selection), which no synapse or threshold "
    "expresses as such: write it with ReLU (where(x > 0, x, 0) is relu(x); where(x > c, x, c) is c + relu(x - c)) "
    "and retrain"
)
_RECURRENT = (
    "is a recurrent layer (its state feeds back inside the layer), and the snn level runs feed-forward layers of "
    "spiking neurons: use a 1-D convolution over time, or an nmc.nn spiking network whose neurons hold the state, "
    "and retrain"
)
_BRANCH = (
    "chooses what to compute from a data-dependent condition, and a chip runs one fixed graph for every input: "
    "compute both sides and combine them with ReLU forms (where(x > 0, x, 0) is relu(x)), or drop the branch, "
    "and retrain"
)
REASONS: dict[str, str] = {
    "GELU": _CURVED,
    "SiLU": _CURVED,
    "Mish": _CURVED,
    "LeakyReLU": _NEGATIVE,
    "ELU": _NEGATIVE,
    "SELU": _NEGATIVE,
    "CELU": _NEGATIVE,
    "PReLU": _NEGATIVE,
    "Sigmoid": _BOUNDED,
    "Tanh": "is negative for negative inputs, which spike rates cannot carry: use Hardtanh(0, 1) or ReLU6 and fine-tune",
    "Softmax": _SOFTMAX,
    "LogSoftmax": _SOFTMAX,
    **dict.fromkeys(("LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell"), _RECURRENT),
    # functions (no torch class): data-dependent selections and comparisons
    **dict.fromkeys(("where", "gt", "lt", "ge", "le", "eq", "ne", "greater", "less"), _CONDITION),
    # torch's control-flow operators (torch.cond, torch.while_loop, ...) and a Python `if` on a tensor
    **dict.fromkeys(("cond", "while_loop", "if"), _BRANCH),
}
_BY_LOWER = {k.lower(): k for k in REASONS} | {"leaky_relu": "LeakyReLU", "log_softmax": "LogSoftmax", "_softmax": "Softmax"}
_DISPLAY = {"cond": "torch.cond", "while_loop": "torch.while_loop", "if": "a Python `if` on a tensor"}
LOADABLE_UNSUPPORTED: tuple[type, ...] = tuple(getattr(nn, name) for name in REASONS if hasattr(nn, name))

TORCH_EXPORT_HINT = "torch.export.save(torch.export.export(model.eval(), (example_input,)), 'model.pt2')"
SNNTORCH_HINT = (
    "pass the live model to nmc.compile(model) instead (docs/frontend.md: Leaky and Synaptic layers are read from the "
    "object), or export it to NIR (docs/nir.md's recipe) and compile the .nir"
)


def reason_for(name: str) -> tuple[str, str] | None:
    """(display name, reason) for an activation nmc cannot convert, by class, op or function name."""
    key = _BY_LOWER.get(name.split(".")[-1].lower().rstrip("_"))
    return (_DISPLAY.get(key, key), REASONS[key]) if key else None


def load_model(path: str | Path) -> nn.Module | torch.export.ExportedProgram:
    """Load a model file without executing code it may carry; torch's warnings stay quiet."""
    path = Path(path)
    kind = kind_of(path)
    if kind not in ("torch-zip", "zip", "damaged-zip", "pickle", "hdf5"):  # by content: named for what it is
        what = "no such file" if kind == "missing" else f"{PHRASES[kind]}, not a model"
        raise InputRejected(
            f"{path}: {what}" + ("" if kind == "missing" else
                                 ": nmc-compile takes a torch model (a .pt pickle or a .pt2 export) or a NIR graph (.nir)")
        )  # fmt: skip
    _refuse_foreign_formats(path, kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if path.suffix == ".pt2":
            return load_exported(path)
        return _load_pickle(path)


def _refuse_foreign_formats(path: Path, kind: str) -> None:
    """`kind`: the file's content (nmc.frontends.sniff.kind_of)."""
    if kind == "hdf5" or path.suffix == ".nir":
        raise NmcError(f"{path}: a NIR graph, not a torch model: compile it with nmc-compile or nmc.compile (NIR front end)")
    if kind in ("torch-zip", "zip"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except ZIP_ERRORS:
            return  # torch's reader reports the damage
        if any(n.endswith("/constants.pkl") or "/code/__torch__/" in n for n in names):
            raise NmcError(
                f"{path}: a TorchScript archive; nmc does not load TorchScript (loading it runs the archive's code): "
                f"export the model instead with {TORCH_EXPORT_HINT} and compile the .pt2"
            )


def _is_zip(path: Path) -> bool:
    try:
        return zipfile.is_zipfile(path)
    except ZIP_ERRORS:  # is_zipfile itself raises on some damaged end records
        return False


def _load_pickle(path: Path) -> nn.Module:
    try:
        with torch.serialization.safe_globals([*ALLOWED_MODULES, *LOADABLE_UNSUPPORTED]):
            obj = torch.load(str(path), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        refused = re.search(r"GLOBAL ([\w.]+)", str(e))
        if refused is None:
            # torch's paragraph (it suggests weights_only=False, which would run the file's code) is not ours to pass on
            detail = re.search(r"WeightsUnpickler error:\s*(.+?)\s*(?:\n\n|Check the documentation|$)", str(e), re.S)
            why = one_line(detail.group(1)) if detail else "not a torch.save() archive"
            raise NmcError(
                f"{path}: a Python pickle that nmc's safe loader cannot read ({why}); nmc reads models saved "
                "with torch.save(model, 'model.pt'), torch.export archives (.pt2) and NIR graphs (.nir)"
            ) from None
        raise NmcError(f"{path}: {_refusal(refused.group(1), pickle_globals(path))}") from None
    except MemoryError:
        raise
    except Exception as e:  # a damaged pickle makes torch's unpickler fail in many ways (KeyError, TypeError, ...)
        if "allocate" in str(e):  # torch's allocator refused: the caller's memory bound reports it
            raise MemoryError from None
        raise NmcError(f"{path}: not a readable torch file ({one_line(e)})") from None
    if isinstance(obj, dict):
        raise NmcError(
            f"{path}: holds a state_dict (weights only), not a model; save the whole model "
            f"with torch.save(model), or export it with {TORCH_EXPORT_HINT}"
        )
    if not isinstance(obj, nn.Module):
        raise NmcError(f"{path}: holds a {type(obj).__name__}, not a torch model")
    return obj


def pickle_globals(path: Path) -> list[str]:
    """Every global a torch pickle names ('module.Name'), read without unpickling."""
    data = b""
    try:
        if _is_zip(path):
            with zipfile.ZipFile(path) as z:
                pkl = [n for n in z.namelist() if n.endswith("data.pkl")]
                data = z.read(pkl[0]) if pkl else b""
        else:
            data = path.read_bytes()
    except ZIP_ERRORS:
        return []  # a damaged archive: the refusal names the global torch stopped at
    names: list[str] = []
    strings: list[str] = []
    try:
        for op, arg, _ in pickletools.genops(data):
            if op.name == "GLOBAL" and isinstance(arg, str):
                names.append(arg.replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(f"{strings[-2]}.{strings[-1]}")
            elif isinstance(arg, str):
                strings.append(arg)
    except (ValueError, EOFError, pickle.UnpicklingError):
        pass  # a truncated pickle: name what was read
    return list(dict.fromkeys(names))


def _refusal(refused: str, names: list[str]) -> str:
    """The one-line reason a pickle is refused: `refused` is the global torch stopped at, `names` all it names."""
    snn = [n for n in names if n.startswith("snntorch.")]
    if snn:
        return (
            f"a pickled snnTorch model ({snn[0].rsplit('.', 1)[-1]}); nmc does not unpickle snnTorch classes "
            f"(unpickling runs their code) and torch.export cannot capture spiking state: {SNNTORCH_HINT}"
        )
    unsupported = [r for n in names if n.startswith("torch.nn.modules.") and (r := reason_for(n))]
    if unsupported:
        (layer, why), *_ = unsupported
        return f"uses {layer}, which nmc cannot convert: {layer} {why}"
    return (
        f"refused to load '{refused}': unpickling a custom class runs its code, so only models built from "
        f"torch.nn layers that nmc converts are unpickled; export the model instead with {TORCH_EXPORT_HINT} "
        "or pass the module to nmc.compile()"
    )
