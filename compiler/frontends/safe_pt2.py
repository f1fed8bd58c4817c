"""Loading torch.export archives (.pt2) without running code they may carry.

`torch.export.load` is not safe on an untrusted file. In torch 2.13 it reaches code
execution three ways, each closed here:

* pickled tensors (weights/constants with `use_pickle`, `sample_inputs`, legacy blobs)
  go through `torch.load(..., weights_only=False)` or a `weights_only=True` attempt that
  *falls back* to `weights_only=False`. We set `TORCH_FORCE_WEIGHTS_ONLY_LOAD=1` for the
  duration of the load: torch then uses its restricted unpickler on every call, whatever
  the call site asks for, and a payload fails with an `UnpicklingError` naming its global.
* custom objects (`constants/custom_obj_*`, TorchScript's unpickler) and opaque objects
  (`constants/opaque_obj_*`, plain `pickle.loads`) are refused before torch sees the file:
  nmc never needs them (it compiles only parameters and aten ops).
* symbolic shape expressions (`expr_str` in models/*.json) are passed to `sympy.sympify`,
  which evaluates Python; every expression must match a plain arithmetic grammar first.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
import re
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nmc.errors import NmcError

# A symbolic size is arithmetic over size symbols: names, numbers, quoted symbol names,
# operators, and calls of sympy's constructors / torch's sympy functions — nothing else
# (no attribute access, no subscripts, no dunders, no other callables such as open or eval).
_TOKEN = re.compile(
    r"(?P<call>[A-Za-z_][A-Za-z0-9_]*)\s*\(|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|'[A-Za-z_][A-Za-z0-9_]*'"
    r"|[0-9]+(?:\.[0-9]+)?|\*\*|//|[-+*/%(),<>=!&|~ ]"
)
_CALLABLE = frozenset(
    "Symbol Integer Rational Float Max Min Abs Add Mul Pow Mod floor ceiling sqrt Eq Ne Lt Le Gt Ge And Or Not Piecewise "
    "FloorDiv ModularIndexing Where PythonMod CleanDiv CeilToInt FloorToInt CeilDiv LShift RShift PowByNatural FloatPow "
    "FloatTrueDiv IntTrueDiv IsNonOverlappingAndDenseIndicator TruncToFloat TruncToInt RoundToInt RoundDecimal ToFloat "
    "Identity OpaqueUnaryFn_sqrt BitwiseFn_bitwise_and BitwiseFn_bitwise_or".split()
)
_REFUSED_ENTRIES = ("custom_obj_", "opaque_obj_")
# what Python's zipfile raises on a damaged archive (directory, names, versions, compressed data)
ZIP_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError)
_MAX_JSON_BYTES = 256 << 20


def load_exported(path: Path) -> Any:
    """`torch.export.load(path)` with every pickle restricted; NmcError on anything else."""
    import torch

    _check_archive(path)
    try:
        with _weights_only_forced(), _torch_logs_quiet():
            return torch.export.load(str(path))
    except pickle.UnpicklingError as e:
        m = re.search(r"GLOBAL ([\w.]+)", str(e))
        what = f"'{m.group(1)}'" if m else "a non-tensor object"
        raise NmcError(
            f"{path}: refused to load {what} from the archive's pickled data: a .pt2 may only hold tensors; "
            "re-export the model with torch.export.save"
        ) from None
    except (NmcError, MemoryError):
        raise
    except Exception as e:  # torch raises many kinds on a damaged archive
        if "allocate" in str(e):  # torch's allocator refused: the caller's memory bound reports it
            raise MemoryError from None
        raise NmcError(f"{path}: not a readable torch.export archive ({one_line(e)})") from None


def _check_archive(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base.startswith(_REFUSED_ENTRIES):
                    raise NmcError(
                        f"{path}: refused '{info.filename}': custom or opaque objects in a .pt2 are unpickled as code; "
                        "nmc compiles only tensors and aten operations — export a model without them"
                    )
                if info.filename.endswith(".json") and "/models/" in f"/{info.filename}":
                    if info.file_size > _MAX_JSON_BYTES:
                        raise NmcError(f"{path}: '{info.filename}' is {info.file_size} bytes (limit {_MAX_JSON_BYTES})")
                    _check_expressions(path, info.filename, z.read(info))
    except ZIP_ERRORS as e:
        raise NmcError(f"{path}: not a readable torch.export archive ({one_line(e)})") from None


def _check_expressions(path: Path, name: str, data: bytes) -> None:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as e:
        raise NmcError(f"{path}: '{name}' is not valid JSON ({one_line(e)})") from None
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            expr = node.get("expr_str")
            if isinstance(expr, str) and not _safe_expression(expr):
                raise NmcError(
                    f"{path}: refused symbolic expression {expr[:60]!r} in '{name}': only arithmetic on size symbols is allowed"
                )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _safe_expression(expr: str) -> bool:
    pos = 0
    for m in _TOKEN.finditer(expr):
        if m.start() != pos or "__" in m.group(0):
            return False
        if m.group("call") is not None and m.group("call") not in _CALLABLE:
            return False
        pos = m.end()
    return pos == len(expr)


@contextmanager
def _weights_only_forced() -> Iterator[None]:
    old = {k: os.environ.get(k) for k in ("TORCH_FORCE_WEIGHTS_ONLY_LOAD", "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")}
    os.environ["TORCH_FORCE_WEIGHTS_ONLY_LOAD"] = "1"
    os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _torch_logs_quiet() -> Iterator[None]:
    """torch logs its own tracebacks while loading; the user gets nmc's one line instead."""
    logger = logging.getLogger("torch")
    old = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(old)


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
