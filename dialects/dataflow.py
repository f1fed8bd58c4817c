"""The one ordering rule of network bodies: every value is defined before it is used, except on a back edge.

Network bodies are dataflow graphs listed in block order; the interpreters, the
lowerings and the timing analysis walk them once, front to back. A loop (a
recurrent population) closes through a *back edge*: an operand that reads a value
defined later in the block (or the op's own result) at least one tick late, which
keeps every loop causal. Which operands may be back edges is the dialect's rule
(`snn.delay`'s input; a `core.neurons` operand with a lag). Any other use before the
definition is a verification error here, not a KeyError or a recursion downstream:
an instantaneous cycle is named population by population.
"""

from __future__ import annotations

from collections.abc import Callable

from xdsl.ir import Block, Operation, SSAValue
from xdsl.utils.exceptions import VerifyException

BackEdge = Callable[[Operation, int], bool]
"""Whether operand #i of an op may read a value defined later (one tick late at least)."""


def _label(op: Operation) -> str:
    for prop in ("layer", "sym_name"):
        attr = op.properties.get(prop)
        if attr is not None and hasattr(attr, "data"):
            return f"'{attr.data}'"
    hint = op.results[0].name_hint if op.results and op.results[0].name_hint else None
    return f"{op.name} %{hint}" if hint else op.name


def instantaneous_cycle(start: Operation, value: SSAValue, back_edge: BackEdge) -> list[Operation] | None:
    """The ops of a cycle start -> ... -> value's producer -> start that no back edge breaks, or None."""
    target = value.owner
    if not isinstance(target, Operation):
        return None
    path: list[Operation] = []
    seen: set[int] = set()

    def walk(op: Operation) -> bool:  # follows operands from `target` back to `start`
        if op is start:
            return True
        if id(op) in seen:
            return False
        seen.add(id(op))
        path.append(op)
        for i, v in enumerate(op.operands):
            if not back_edge(op, i) and isinstance(v.owner, Operation) and walk(v.owner):
                return True
        path.pop()
        return False

    return [start, *reversed(path)] if walk(target) else None


def check_dataflow_order(block: Block, back_edge: BackEdge | None = None) -> None:
    defined = set(block.args)
    later = {r for op in block.ops for r in op.results}
    for op in block.ops:
        for i, value in enumerate(op.operands):
            if value in defined or (back_edge is not None and value in later and back_edge(op, i)):
                continue
            cycle = instantaneous_cycle(op, value, back_edge or (lambda o, j: False)) if value in later else None
            if cycle is not None:
                names = [_label(o) for o in cycle]
                raise VerifyException(
                    f"{op.name}: instantaneous cycle {' -> '.join([*names, names[0]])}: nothing in it waits a tick, so "
                    "no tick can compute it; a loop needs a one-tick delay (snn.delay, NIR's recurrent edge into a "
                    "neuron) on one of its edges"
                )
            name = f" (%{value.name_hint})" if value.name_hint else ""
            raise VerifyException(
                f"{op.name}: operand #{i}{name} is used before it is defined "
                "(ops must be listed in dataflow order; a loop closes only through a delayed back edge)"
            )
        defined.update(op.results)
