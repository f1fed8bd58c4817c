"""Bounded memory while reading untrusted inputs: a hostile few-KB file must not take the machine.

A model file can declare tensors far larger than itself (a pickle that constructs
`nn.Linear(40000, 40000)`, a zero-stride view materialised by numpy, an IR splat of
`tensor<100000x100000xf32>`). Reading happens under an address-space limit of
`--max-model-bytes` above what the process already uses; an allocation past it fails
inside torch/numpy and becomes one line naming the file and the limit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from nmc.errors import NmcError
from nmc.options import DEFAULT_MAX_MODEL_BYTES

__all__ = ["DEFAULT_MAX_MODEL_BYTES", "bounded_memory", "check_declared_tensors"]


def _virtual_bytes() -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _too_big(where: str, limit: int) -> NmcError:
    return NmcError(
        f"{where}: reading it needs more than --max-model-bytes={limit} bytes of memory (a declared tensor is "
        "larger than this limit); raise the limit if the model really is that large"
    )


@contextmanager
def bounded_memory(where: str, limit: int) -> Iterator[None]:
    """Run the block with at most `limit` more bytes of address space (Linux; elsewhere unbounded)."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        yield
        return
    used = _virtual_bytes()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = None if used is None else used + limit
    if cap is not None and hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if cap is not None and (soft == resource.RLIM_INFINITY or cap < soft):
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    else:
        cap = None
    try:
        yield
    except MemoryError:
        raise _too_big(where, limit) from None
    except RuntimeError as e:
        if "allocate" not in str(e):
            raise
        raise _too_big(where, limit) from None
    finally:
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


_TENSOR = re.compile(r"tensor<((?:\d+x)+)(f16|bf16|f32|f64|i1|i8|i16|i32|i64)>")
# xDSL's parser holds a dense literal as a Python list before packing it: about 40 bytes per
# element whatever the element type (measured: a 10^8-element f32 splat peaks above 3.8 GB)
PARSE_BYTES_PER_ELEMENT = 48


def check_declared_tensors(text: str, where: str, limit: int) -> None:
    """Refuse IR text declaring a tensor larger than `limit` bytes, before the parser expands it."""
    for m in _TENSOR.finditer(text):
        elements = 1
        for d in m.group(1).rstrip("x").split("x"):
            elements *= int(d)
        if elements * PARSE_BYTES_PER_ELEMENT > limit:
            line = text.count("\n", 0, m.start()) + 1
            raise NmcError(
                f"{where}:{line}: declares tensor<{m.group(1)}{m.group(2)}> ({elements} elements, about "
                f"{elements * PARSE_BYTES_PER_ELEMENT} bytes to parse), more than --max-model-bytes={limit}; "
                "raise the limit if the model really is that large"
            )
