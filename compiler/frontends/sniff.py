"""What a file is, by its content (never by its name): the words of every "this is not what nmc expected" error.

Every reader nmc has (models, NIR graphs, calibration arrays, chip binaries, IR text) first checks the
file's first bytes against what it takes, so a wrong file gets one sentence naming what it holds instead
of the error its parser would raise on it.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from nmc.chips.binary import MAGIC as CHIP_MAGIC
from nmc.frontends.nir_graph import HDF5_MAGIC

NPY_MAGIC = b"\x93NUMPY"
HEAD = 4096  # bytes read to decide


def kind_of(path: str | Path) -> str:
    """One of: missing, folder, empty, npy, npz, torch-zip, zip, damaged-zip, pickle, hdf5, chip-binary, json, text,
    binary."""
    path = Path(path)
    if not path.exists():
        return "missing"
    if path.is_dir():
        return "folder"
    with path.open("rb") as f:
        head = f.read(HEAD)
    if not head:
        return "empty"
    if head.startswith(NPY_MAGIC):
        return "npy"
    if head.startswith(HDF5_MAGIC):
        return "hdf5"
    if head.startswith(CHIP_MAGIC):
        return "chip-binary"
    if head.startswith(b"PK"):
        return _zip_kind(path)
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:  # pickle protocol 2-5 opcode, then its version
        return "pickle"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        if len(head) == HEAD:  # a multi-byte character cut at the end of the window
            try:
                text = head[:-4].decode("utf-8")
            except UnicodeDecodeError:
                return "binary"
        else:
            return "binary"
    if "\x00" in text:
        return "binary"
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(path.read_text(encoding="utf-8"))
            return "json"
        except (ValueError, UnicodeDecodeError):
            pass
    return "text"


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):  # (an unknown zip version)
        return "damaged-zip"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    if any(n.endswith("data.pkl") or "/archive_format" in n or n.endswith("archive_format") for n in names):
        return "torch-zip"
    return "zip"


PHRASES = {
    "missing": "no such file",
    "folder": "is a folder",
    "empty": "is empty",
    "npy": "is a NumPy array (.npy)",
    "npz": "is an .npz archive of NumPy arrays",
    "torch-zip": "is a torch archive (a model file)",
    "zip": "is a zip archive",
    "damaged-zip": "is a damaged zip archive",
    "pickle": "is a Python pickle",
    "hdf5": "is an HDF5 file (a NIR graph is one)",
    "chip-binary": "is an nmc chip binary (.nmc)",
    "json": "is JSON text",
    "text": "is text",
    "binary": "is binary data of no format nmc reads",
}


def describe(path: str | Path, kind: str | None = None) -> str:
    """`path` and what it holds, e.g. "report.json: is JSON text" (the start of a one-line error)."""
    k = kind or kind_of(path)
    phrase = PHRASES[k]
    if k == "json" and Path(path).name == "report.json":
        phrase = "is JSON text (nmc-compile's report)"
    return f"{path}: {phrase}"
