"""The chip configuration binary (docs/binary-format.md): layout, encoder, validating reader, readable dump.

Layout: magic, version, chip-description hash, sections of named little-endian
arrays, CRC-32 of everything before it. This module knows nothing of the IR (numpy
only): the simulator loads binaries through it, and `nmc.targets.chip_binary` builds
the image of a mapped network.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from nmc.chips.binary_error import BinaryError
from nmc.chips.kinds import CoreKind, kind_of_tag

MAGIC = b"NMCBIN\x00\x01"
VERSION = 2  # 2: NRN.cshift, NRN.cmult (current-based neurons)
DTYPES = {0: "<u1", 1: "<i1", 2: "<i2", 3: "<i4", 4: "<i8", 5: "<f4", 6: "<f8"}
CODES = {np.dtype(v): k for k, v in DTYPES.items()}
MAX_SECTIONS = 32


@dataclass
class ChipImage:
    """The decoded content of a binary: metadata and named arrays per section."""

    meta: dict[str, Any]
    arrays: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    chip_digest: bytes = b""

    def a(self, section: str, name: str) -> np.ndarray:
        return self.arrays[section][name]


# --------------------------------------------------------------------------- encoding


def _pack_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    out = [struct.pack("<H", len(arrays))]
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        code = CODES[np.dtype(dt.str.replace("=", "<").replace("|", "<"))]
        key = name.encode()
        out.append(struct.pack("<B", len(key)) + key + struct.pack("<BB", code, arr.ndim))
        out.append(struct.pack(f"<{arr.ndim}Q", *arr.shape))
        out.append(arr.astype(DTYPES[code]).tobytes())
    return b"".join(out)


def encode(image: ChipImage) -> bytes:
    meta = json.dumps(image.meta, sort_keys=True, separators=(",", ":")).encode()
    sections = {"META": {"json": np.frombuffer(meta, np.uint8)}, **image.arrays}
    tags = kind_of(image).facet("chips").sections
    body = [MAGIC, struct.pack("<HH", VERSION, 0), image.chip_digest.ljust(32, b"\0")[:32], struct.pack("<I", len(tags))]
    for tag in tags:
        payload = _pack_arrays(sections[tag])
        body.append(tag.encode() + struct.pack("<Q", len(payload)) + payload)
    data = b"".join(body)
    return data + struct.pack("<I", zlib.crc32(data))


# --------------------------------------------------------------------------- decoding


class _Reader:
    def __init__(self, data: bytes, end: int):
        self.data, self.pos, self.end = data, 0, end

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > self.end:
            raise BinaryError(f"truncated: {what} needs {n} bytes at offset {self.pos}, {self.end - self.pos} left")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str, what: str) -> tuple:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))


def decode(data: bytes) -> ChipImage:
    """Parse and check a binary's framing: magic, version, length, CRC, sections and arrays."""
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise BinaryError("not an nmc chip binary (bad magic number)")
    if len(data) < 48:
        raise BinaryError(f"truncated: {len(data)} bytes, the header alone needs 48")
    (version, _) = struct.unpack("<HH", data[8:12])
    if version != VERSION:
        raise BinaryError(f"format version {version}, this nmc reads version {VERSION}")
    (stored_crc,) = struct.unpack("<I", data[-4:])
    if zlib.crc32(data[:-4]) != stored_crc:
        raise BinaryError("CRC mismatch: the file is corrupt or truncated")
    r = _Reader(data, len(data) - 4)
    r.pos = 12
    digest = r.take(32, "chip hash")
    (count,) = r.unpack("<I", "section count")
    if not 1 <= count <= MAX_SECTIONS:
        raise BinaryError(f"{count} sections (a binary has 1 to {MAX_SECTIONS})")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    tags: list[str] = []
    for _ in range(count):
        tag = r.take(4, "section tag").decode("ascii", "replace")
        if tag in tags:
            raise BinaryError(f"section '{tag}' appears twice")
        tags.append(tag)
        (length,) = r.unpack("<Q", f"section {tag} length")
        end = r.pos + length
        if end > r.end:
            raise BinaryError(f"truncated: section {tag} runs past the end of the file")
        sub = _Reader(data, end)
        sub.pos = r.pos
        arrays[tag] = _read_arrays(sub, tag)
        r.pos = end
    if r.pos != r.end:
        raise BinaryError(f"{r.end - r.pos} unexpected bytes after the last section")
    if tags[0] != "META":
        raise BinaryError(f"section '{tags[0]}' where 'META' was expected first")
    try:
        meta = json.loads(arrays.pop("META")["json"].tobytes())
    except (KeyError, ValueError, RecursionError) as e:
        raise BinaryError(f"unreadable META section ({type(e).__name__}: {str(e)[:100]})") from None
    image = ChipImage(meta, arrays, digest)
    expected = kind_of(image).facet("chips").sections
    if tuple(tags) != expected:
        raise BinaryError(f"sections {', '.join(tags)}; a {kind_of(image).name} binary has {', '.join(expected)}")
    return image


def _read_arrays(r: _Reader, tag: str) -> dict[str, np.ndarray]:
    (n,) = r.unpack("<H", f"{tag} array count")
    out = {}
    for _ in range(n):
        (klen,) = r.unpack("<B", f"{tag} array name")
        name = r.take(klen, f"{tag} array name").decode("ascii", "replace")
        code, ndim = r.unpack("<BB", f"{tag}.{name} header")
        if code not in DTYPES:
            raise BinaryError(f"{tag}.{name}: unknown element type code {code}")
        if ndim > 8:
            raise BinaryError(f"{tag}.{name}: {ndim} dimensions (at most 8)")
        shape = r.unpack(f"<{ndim}Q", f"{tag}.{name} shape")
        size = math.prod(shape) * np.dtype(DTYPES[code]).itemsize  # Python ints: no overflow on a forged shape
        out[name] = np.frombuffer(r.take(size, f"{tag}.{name} data"), DTYPES[code]).reshape(shape)
    if r.pos != r.end:
        raise BinaryError(f"section {tag}: {r.end - r.pos} bytes left over")
    return out


def read_binary(path: str | Path) -> ChipImage:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BinaryError(f"{path}: no such file") from None
    image = decode(data)
    validate(image)
    return image


def kind_of(image: ChipImage) -> CoreKind:
    """The core kind of an image, from META.kind (absent: the kind registered without a tag)."""
    tag = image.meta.get("kind") if isinstance(image.meta, dict) else None
    kind = kind_of_tag(tag)
    if kind is None:
        raise BinaryError(f"META.kind {tag!r} names no core kind this nmc knows")
    return kind


def validate(image: ChipImage) -> None:
    """Check every index and size in the image (by its kind's reader), so the simulator can trust it."""
    kind = kind_of(image)
    expected = kind.facet("chips").sections
    if ("META", *image.arrays) != expected:
        raise BinaryError(f"sections META, {', '.join(image.arrays)}; a {kind.name} binary has {', '.join(expected)}")
    kind.facet("chips").validate(image)


def dump(image: ChipImage, out: IO[str]) -> None:
    """A readable listing of a binary (its kind's), for people and FileCheck."""
    kind_of(image).facet("chips").dump(image, out)
