"""The only copy of the chip's number formats and enumerations.

Every level that stores or computes a chip quantity (reduce-precision, check-constraints,
the core interpreter, the binary, the simulator, the Verilog) takes its ranges and codes
from here; docs/chip-model.md states the same rules in prose.
"""

from __future__ import annotations

# Codes as stored in the binary (index = code) and named in the IR and chip files.
MODES = ("spike", "psum", "integrate")
RESETS = ("zero", "subtract", "none")
COMPARES = ("ge", "gt")
LEAKS = ("linear", "shift", "multiply")
FAMILIES = ("lif", "cuba")  # one membrane (IF/LIF); a synaptic current with its own decay, then the membrane


def signed_range(bits: int) -> tuple[int, int]:
    """Two's complement range of a `bits`-wide signed field: membranes, partial sums, leaks, inputs."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def unsigned_range(bits: int) -> tuple[int, int]:
    """Range of a `bits`-wide unsigned field: thresholds."""
    return 0, (1 << bits) - 1


def weight_range(bits: int, signed: bool) -> tuple[int, int]:
    """Weights: symmetric when signed (the most negative code is unused, so negation never overflows)."""
    if signed:
        return -(1 << (bits - 1)) + 1, (1 << (bits - 1)) - 1
    return unsigned_range(bits)


def mode_code(name: str) -> int:
    return MODES.index(name)


def reset_code(name: str) -> int:
    return RESETS.index(name)


def compare_code(name: str) -> int:
    return COMPARES.index(name)
