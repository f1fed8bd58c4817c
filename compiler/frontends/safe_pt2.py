"""Loading torch.export archives (.pt2) without running anything they carry.

`torch.export.load` is not safe on an untrusted file: in torch 2.13 an archive can make it
unpickle objects, `exec` guard code, `sympy.sympify` expressions, `dlopen` AOTInductor
libraries or fall back to a legacy reader that does its own evaluation. nmc therefore never
hands the user's file to torch. It reads the zip with Python's `zipfile`, checks every member
against an allow-list (fail closed: an unknown member, layout, version or field is refused),
and writes a **new** archive in memory holding only what nmc needs, with every string that
torch would evaluate checked first. torch's archive reader then sees only those bytes
(no parser differential between Python's zip reader and torch's), through `load_pt2`
directly (no legacy fallback). The policy is stated in docs/frontend.md ("What a .pt2 may hold").

What is checked, member by member (paths below the archive's one top folder):

* `archive_format` = `pt2`, `archive_version` = torch's current value, `byteorder` = `little`;
  `.data/version` and `.data/serialization_id` (rewritten by torch's writer).
* `models/model.json`: the one program; top-level fields must be the schema's, the schema's
  major version torch's; `guards_code` is dropped (torch `exec`s it in `ep.module()`, nmc
  needs no input guards); every `expr_str` must be arithmetic on size symbols (torch
  `sympify`s it); every operator name (`target`, `as_operator`) must be an aten/prims/
  higher-order op or a plain arithmetic operator (torch resolves them by attribute walk).
* `data/weights/…`, `data/constants/…`: the two configs and exactly the tensor files they
  name. Pickled tensors (`use_pickle`) and `data/sample_inputs/model.pt` are unpickled with
  `TORCH_FORCE_WEIGHTS_ONLY_LOAD=1`, so torch's restricted unpickler handles every call
  (a payload fails naming its global). Custom and opaque objects are refused.
* `extra/…` (free-form user files) is dropped. Anything else — AOTInductor libraries,
  ExecuTorch/MTIA programs, a second program, the torch 2.7 legacy layout, root-level
  files — is refused, naming the member.
"""

from __future__ import annotations

import io
import json
import logging
import os
import pickle
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
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
# Operator names torch resolves by walking attributes of `torch` / `operator` / `math`: only
# kernels (aten, prims, higher-order ops) and side-effect-free arithmetic (never operator.call,
# methodcaller, attrgetter, torch.load, torch.ops.load_library …).
_OP_NAME = re.compile(r"torch\.ops\.(aten|prims|higher_order)\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_PY_OPERATORS = frozenset(
    "getitem add sub mul truediv floordiv mod pow neg pos abs eq ne lt le gt ge and_ or_ xor not_ invert lshift rshift".split()
)
_SYM_FUNCTIONS = frozenset("sym_int sym_float sym_max sym_min sym_not sym_ite sym_sqrt sym_sum _sym_sqrt".split())
_MATH = frozenset("ceil floor sqrt trunc".split())
_REFUSED_ENTRIES = ("custom_obj_", "opaque_obj_")
# what Python's zipfile raises on a damaged archive (directory, names, versions, compressed data)
ZIP_ERRORS = (zipfile.BadZipFile, ValueError, OSError, EOFError, zlib.error, NotImplementedError)
_MAX_JSON_BYTES = 256 << 20
_FIXED = {"archive_format": ("pt2",), "byteorder": ("little",)}
_WRITER_OWNED = (".data/version", ".data/serialization_id")  # torch's writer writes its own
_CONFIGS = {
    "data/weights/model_weights_config.json": "data/weights/",
    "data/constants/model_constants_config.json": "data/constants/",
}
_PROGRAM = "models/model.json"
_SAMPLE_INPUTS = "data/sample_inputs/model.pt"
_LEGACY = ("version", "serialized_exported_program.json", "serialized_state_dict.pt", "serialized_constants.pt")


def load_exported(path: Path) -> Any:
    """The archive's `ExportedProgram`, loaded from a vetted copy; NmcError on anything else."""
    from torch.export.pt2_archive._package import load_pt2

    buffer = vetted_archive(path)
    try:
        with _weights_only_forced(), torch_logs_quiet():
            return load_pt2(buffer).exported_programs["model"]
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


def vetted_archive(path: Path) -> io.BytesIO:
    """A new archive holding only the allowed members of `path`, every one checked (module docstring)."""
    try:
        with zipfile.ZipFile(path) as z:
            members = _members(path, z)
            keep = _vet(path, members, z.read)
    except ZIP_ERRORS as e:
        raise NmcError(f"{path}: not a readable torch.export archive ({one_line(e)})") from None
    return _rewrite(keep)


def _members(path: Path, z: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """Relative member name -> ZipInfo, after the layout checks (one top folder, no tricks)."""
    out: dict[str, zipfile.ZipInfo] = {}
    prefix = None
    for info in z.infolist():
        name = info.filename
        if info.is_dir():
            continue
        if "/" not in name:
            if name in _LEGACY:
                raise NmcError(
                    f"{path}: refused '{name}': the torch 2.7 legacy archive layout is read by a fallback reader that "
                    "evaluates its contents; re-export the model with torch.export.save (torch >= 2.8)"
                )
            raise NmcError(f"{path}: refused '{name}': a .pt2 holds its files in one top folder (unknown layout)")
        top, rel = name.split("/", 1)
        if prefix is None:
            prefix = top
        if top != prefix or "\\" in name or any(p in ("", ".", "..") for p in rel.split("/")):
            raise NmcError(f"{path}: refused '{name}': a .pt2 holds its files in one top folder (unknown layout)")
        if rel in out:
            raise NmcError(f"{path}: refused '{name}': the archive holds it twice")
        if info.file_size > _MAX_JSON_BYTES and rel.endswith(".json"):
            raise NmcError(f"{path}: '{name}' is {info.file_size} bytes (limit {_MAX_JSON_BYTES})")
        out[rel] = info
    if prefix is None:
        raise NmcError(f"{path}: not a readable torch.export archive (empty)")
    return out


def _vet(path: Path, members: dict[str, zipfile.ZipInfo], read: Callable[[str], bytes]) -> dict[str, bytes]:
    """The members to keep (relative name -> bytes), each checked; NmcError naming the first refused one."""
    from torch.export.pt2_archive.constants import ARCHIVE_VERSION_VALUE

    fixed = {**_FIXED, "archive_version": (ARCHIVE_VERSION_VALUE,)}
    keep: dict[str, bytes] = {}
    files: dict[str, str] = {}  # tensor file -> the config that names it
    for rel in members:
        if rel in _WRITER_OWNED or rel.startswith("extra/"):
            continue
        base = rel.rsplit("/", 1)[-1]
        if base.startswith(_REFUSED_ENTRIES):
            raise NmcError(
                f"{path}: refused '{rel}': custom or opaque objects in a .pt2 are unpickled as code; "
                "nmc compiles only tensors and aten operations — export a model without them"
            )
        if rel in fixed:
            value = read(members[rel].filename).decode("utf-8", "replace").strip()
            if value not in fixed[rel]:
                raise NmcError(f"{path}: '{rel}' is {value[:40]!r}, nmc reads {fixed[rel][0]!r} (unknown archive version)")
        elif rel == _PROGRAM:
            keep[rel] = _vet_program(path, rel, read(members[rel].filename))
        elif rel in _CONFIGS:
            keep[rel] = data = read(members[rel].filename)
            for file in _vet_config(path, rel, data):
                files[_CONFIGS[rel] + file] = rel
        elif rel == _SAMPLE_INPUTS:
            keep[rel] = read(members[rel].filename)
        elif rel.startswith(("data/weights/", "data/constants/")):
            pass  # kept below when a config names it
        else:
            raise NmcError(f"{path}: refused '{rel}': {_why_refused(rel)}")
    for rel in fixed:
        if rel not in members:
            raise NmcError(f"{path}: not a torch.export archive (no '{rel}')")
    if _PROGRAM not in keep:
        raise NmcError(f"{path}: not a torch.export archive (no '{_PROGRAM}'); export with torch.export.save")
    for rel in members:
        if rel.startswith(("data/weights/", "data/constants/")) and rel not in _CONFIGS and rel not in files:
            raise NmcError(f"{path}: refused '{rel}': no weights or constants config names it (unknown member)")
    for file, config in files.items():
        if file not in members:
            raise NmcError(f"{path}: '{config}' names '{file}', which the archive lacks")
        keep[file] = read(members[file].filename)
    return keep


def _why_refused(rel: str) -> str:
    from torch.export.pt2_archive.constants import AOTINDUCTOR_DIR

    if rel.startswith(AOTINDUCTOR_DIR):
        return "AOTInductor compiled code (a shared library torch would load and run); nmc reads only the exported graph"
    if rel.startswith("models/"):
        return f"nmc reads one program, '{_PROGRAM}' (unknown member)"
    return "not a member nmc reads from a torch.export archive (unknown member)"


def _vet_program(path: Path, rel: str, data: bytes) -> bytes:
    """model.json with its guard code dropped, after checking every field torch would evaluate."""
    import dataclasses

    from torch._export.serde.schema import SCHEMA_VERSION, ExportedProgram

    doc = _json(path, rel, data)
    if not isinstance(doc, dict):
        raise NmcError(f"{path}: '{rel}' is not a serialized exported program")
    known = {f.name for f in dataclasses.fields(ExportedProgram)}
    unknown = sorted(set(doc) - known)
    if unknown:
        raise NmcError(f"{path}: refused field '{unknown[0]}' in '{rel}': not in torch's schema (unknown version)")
    version = doc.get("schema_version")
    major = version.get("major") if isinstance(version, dict) else None
    if major != SCHEMA_VERSION[0]:
        raise NmcError(
            f"{path}: '{rel}' has schema version {major!r}, torch {SCHEMA_VERSION[0]} reads; re-export with this torch"
        )
    _check_strings(path, rel, doc)
    guards = doc.get("guards_code") or []
    for guard in guards if isinstance(guards, list) else [guards]:
        if not (isinstance(guard, str) and _safe_guard(guard)):
            raise NmcError(
                f"{path}: refused guard code {str(guard)[:60]!r} in '{rel}': torch runs it as Python; "
                "only comparisons of input sizes are allowed"
            )
    doc["guards_code"] = []  # exec'd by ep.module() even when vetted; nmc needs no input guards
    return json.dumps(doc).encode()


def _vet_config(path: Path, rel: str, data: bytes) -> list[str]:
    """The tensor files a weights/constants config names, after checking it."""
    doc = _json(path, rel, data)
    config = doc.get("config") if isinstance(doc, dict) else None
    if not isinstance(config, dict):
        raise NmcError(f"{path}: '{rel}' is not a weights config")
    _check_strings(path, rel, doc)
    files = []
    for entry in config.values():
        name = entry.get("path_name") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.]+", name) or name.startswith("."):
            raise NmcError(f"{path}: '{rel}' names a tensor file {str(name)[:40]!r}, not a plain file name")
        files.append(name)
    return files


def _json(path: Path, rel: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise NmcError(f"{path}: '{rel}' is not valid JSON ({one_line(e)})") from None


def _check_strings(path: Path, rel: str, doc: Any) -> None:
    """Every symbolic expression and operator name in `doc` is one torch may evaluate safely."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "expr_str" and isinstance(value, str) and not _safe_expression(value):
                    raise NmcError(
                        f"{path}: refused symbolic expression {value[:60]!r} in '{rel}': "
                        "only arithmetic on size symbols is allowed"
                    )
                if key in ("target", "as_operator") and isinstance(value, str) and not _safe_operator(value):
                    raise NmcError(
                        f"{path}: refused operator {value[:60]!r} in '{rel}': only aten, prims and higher-order ops "
                        "and arithmetic operators are allowed"
                    )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


# What an input guard written by torch.export may contain: comparisons and arithmetic on
# L['x'].size()[i] / .stride()[i] / .dim() and integer constants; one line.
_GUARD_NODES = (
    "Expression Compare BoolOp UnaryOp BinOp Constant Subscript Name Call Attribute Load And Or Not USub Add Sub Mult "
    "FloorDiv Mod Pow Eq NotEq Lt LtE Gt GtE"
).split()


def _safe_guard(guard: str) -> bool:
    import ast

    if "\n" in guard or "\r" in guard or "__" in guard:
        return False
    try:
        tree = ast.parse(guard, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        kind = type(node).__name__
        if kind not in _GUARD_NODES:
            return False
        if kind == "Name" and node.id != "L":  # type: ignore[attr-defined]
            return False
        if kind == "Attribute" and node.attr not in ("size", "stride", "dim", "storage_offset"):  # type: ignore[attr-defined]
            return False
        if kind == "Call" and (node.args or node.keywords or not isinstance(node.func, ast.Attribute)):  # type: ignore[attr-defined]
            return False
        if kind == "Constant" and not isinstance(node.value, int | str):  # type: ignore[attr-defined]
            return False
    return True


def _safe_operator(name: str) -> bool:
    if _OP_NAME.fullmatch(name):
        return True
    module, _, attr = name.partition(".")
    return (
        (module == "_operator" and attr in _PY_OPERATORS)
        or (module == "torch" and attr in _SYM_FUNCTIONS)
        or (module == "math" and attr in _MATH)
    )


def _safe_expression(expr: str) -> bool:
    pos = 0
    for m in _TOKEN.finditer(expr):
        if m.start() != pos or "__" in m.group(0):
            return False
        if m.group("call") is not None and m.group("call") not in _CALLABLE:
            return False
        pos = m.end()
    return pos == len(expr)


def _rewrite(keep: dict[str, bytes]) -> io.BytesIO:
    """The kept members written by torch's own archive writer (it adds format, version and ids)."""
    from torch.export.pt2_archive._package import PT2ArchiveWriter

    buffer = io.BytesIO()
    with PT2ArchiveWriter(buffer) as writer:
        for rel in sorted(keep):
            writer.write_bytes(rel, keep[rel])
    buffer.seek(0)
    return buffer


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
def torch_logs_quiet() -> Iterator[None]:
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
