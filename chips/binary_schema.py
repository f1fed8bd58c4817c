"""What a chip binary's metadata and arrays must look like (a CRC proves integrity, not sense).

`check_meta` and `check_arrays` run before the index checks of `nmc.chips.binary.validate`, so
that no malformed binary reaches the simulator as an IndexError, a hang on a huge `ticks`, or a
silently wrong result. docs/binary-format.md lists the same rules.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from nmc.chips.binary_error import BinaryError

MAX_TICKS = 1 << 20
ENCODINGS = ("direct", "rate", "poisson", "spikes")
OUTPUT_KINDS = ("count", "first_spike", "membrane")
INTEGER_ARRAYS = {
    "CORE": ("x", "y"),
    "NRN ": (
        "core",
        "slot",
        "mode",
        "threshold",
        "bias",
        "v_init",
        "shift",
        "mult",
        "cshift",
        "cmult",
        "reset",
        "compare",
        "start",
    ),
    "AXON": ("offsets", "kind", "src", "delay"),
    "SYN ": ("offsets", "axon", "slot", "weight"),
    "ROUT": ("offsets", "slot", "dest_offsets", "dest"),
}

SAME_LENGTH = {"CORE": ("x", "y"), "AXON": ("kind", "src", "delay"), "SYN ": ("axon", "slot", "weight")}


def _int(meta: dict, key: str, low: int, high: int, where: str = "META") -> int:
    value = meta.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _error(f"{where}.{key} must be an integer in [{low}, {high}], got {value!r}")
    return value


def _error(message: str) -> Exception:
    return BinaryError(message)


def _shape(value: Any, where: str) -> list[int]:
    dims_ok = isinstance(value, list) and all(isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 1 << 24 for d in value)
    if not dims_ok or not 1 <= len(value) <= 8:
        raise _error(f"{where} must be a list of 1 to 8 positive dimensions, got {value!r}")
    if math.prod(value) > 1 << 26:
        raise _error(f"{where} {value} holds more than {1 << 26} values")
    return value


def check_meta(meta: Any) -> None:
    """Types, ranges and required keys of the META section."""
    if not isinstance(meta, dict):
        raise _error(f"META must be a JSON object, got {type(meta).__name__}")
    if not isinstance(meta.get("name"), str):
        raise _error("META.name must be a string")
    _int(meta, "ticks", 1, MAX_TICKS)
    mesh = meta.get("mesh")
    if not (isinstance(mesh, list) and len(mesh) == 2 and all(isinstance(v, int) and 1 <= v <= 4096 for v in mesh)):
        raise _error(f"META.mesh must be [width, height] in 1..4096, got {mesh!r}")
    _int(meta, "neurons_per_core", 1, 1 << 20)
    _int(meta, "axons_per_core", 1, 1 << 20)
    _int(meta, "membrane_bits", 2, 48)
    _int(meta, "partial_sum_bits", 2, 48)
    n_inputs = _int(meta, "n_inputs", 0, 64)
    inputs, outputs = meta.get("inputs"), meta.get("outputs")
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise _error("META.inputs and META.outputs must be lists")
    if not outputs:
        raise _error("META.outputs is empty: the network has no output to decode")
    for i, spec in enumerate(inputs):
        where = f"META.inputs[{i}]"
        if not isinstance(spec, dict):
            raise _error(f"{where} must be an object")
        _int(spec, "arg", 0, max(n_inputs - 1, 0), where)
        _shape(spec.get("shape"), f"{where}.shape")
        if spec.get("encoding") not in ENCODINGS:
            raise _error(f"{where}.encoding must be one of {', '.join(ENCODINGS)}, got {spec.get('encoding')!r}")
        scale = spec.get("scale")
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
            raise _error(f"{where}.scale must be a finite number, got {scale!r}")
        _int(spec, "seed", 0, (1 << 63) - 1, where)  # numpy's generators take no negative seed
        if spec.get("levels") is not None:
            _int(spec, "levels", 1, 1 << 31, where)
    for i, spec in enumerate(outputs):
        where = f"META.outputs[{i}]"
        if not isinstance(spec, dict):
            raise _error(f"{where} must be an object")
        if spec.get("kind") not in OUTPUT_KINDS:
            raise _error(f"{where}.kind must be one of {', '.join(OUTPUT_KINDS)}, got {spec.get('kind')!r}")
        _int(spec, "latency", 0, MAX_TICKS, where)
        _shape(spec.get("shape"), f"{where}.shape")


def check_arrays(arrays: dict[str, dict[str, np.ndarray]], meta: dict) -> None:
    """Element types and shapes: index and parameter arrays are 1-D integers; output scales finite."""
    for tag, names in INTEGER_ARRAYS.items():
        for name in names:
            arr = arrays[tag][name]
            if arr.ndim != 1 or arr.dtype.kind not in "iu":
                raise _error(f"{tag.strip()}.{name} must be a 1-D integer array, got {arr.ndim}-D {arr.dtype}")
    for tag, names in SAME_LENGTH.items():
        lengths = {name: arrays[tag][name].size for name in names}
        if len(set(lengths.values())) > 1:
            raise _error(f"{tag.strip()}: arrays {', '.join(names)} must have one entry each per element, got {lengths}")
    out = arrays["OUT "]
    for i, spec in enumerate(meta["outputs"]):
        ids, scale = out.get(f"neurons{i}"), out.get(f"scale{i}")
        if ids is None or scale is None:
            raise _error(f"OUT lacks neurons{i} or scale{i}")
        if ids.ndim != 1 or ids.dtype.kind not in "iu" or ids.size != math.prod(spec["shape"]):
            raise _error(f"OUT.neurons{i} must list {math.prod(spec['shape'])} neuron ids (the output's shape)")
        if scale.shape != ids.shape or scale.dtype.kind != "f" or not np.isfinite(scale).all():
            raise _error(f"OUT.scale{i} must be {ids.size} finite numbers")


def check_common_meta(meta: Any) -> None:
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str):
        raise _error("META must be a JSON object with a name")
    mesh = meta.get("mesh")
    if not (isinstance(mesh, list) and len(mesh) == 2 and all(isinstance(v, int) and 1 <= v <= 4096 for v in mesh)):
        raise _error(f"META.mesh must be [width, height] in 1..4096, got {mesh!r}")
