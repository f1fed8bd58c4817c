"""The one ordering rule of network bodies: every value is defined before it is used.

Network bodies are dataflow graphs listed in block order; the interpreters, the
lowerings and the timing analysis walk them once, front to back. A use before
the definition (or a cycle, which has no such order) is a verification error
here, not a KeyError or a recursion somewhere downstream.
"""

from __future__ import annotations

from xdsl.ir import Block
from xdsl.utils.exceptions import VerifyException


def check_dataflow_order(block: Block) -> None:
    defined = set(block.args)
    for op in block.ops:
        for i, value in enumerate(op.operands):
            if value not in defined:
                name = f" (%{value.name_hint})" if value.name_hint else ""
                raise VerifyException(
                    f"{op.name}: operand #{i}{name} is used before it is defined "
                    "(ops must be listed in dataflow order; a cycle has no such order)"
                )
        defined.update(op.results)
