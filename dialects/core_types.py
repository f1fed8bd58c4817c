"""The types and the chip attribute of the `core` dialect (nmc.dialects.core holds its ops).

`!core.spikes<N>` and `!core.graded<N>` are the flat vectors groups exchange each tick;
`#core.chip<...>` carries the chip description inside the IR so that no pass reads a file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from xdsl.dialects.builtin import IntegerAttr, i64
from xdsl.ir import Attribute, Data, ParametrizedAttribute, TypeAttribute
from xdsl.irdl import irdl_attr_definition
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.utils.exceptions import VerifyException

from nmc.chips import Chip, load_preset, parse_chip
from nmc.chips.errors import NmcError


class FlatType(ParametrizedAttribute, TypeAttribute):
    """Base of types holding one value per element of a flat vector: `<N>` (core spikes/graded, tnn times)."""

    size: IntegerAttr
    UNIT: ClassVar[str] = "neuron"  # what one element is, for the verifier's message

    def __init__(self, size: int):
        super().__init__(IntegerAttr(size, i64))

    @property
    def n(self) -> int:
        return self.size.value.data

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> Sequence[Attribute]:
        with parser.in_angle_brackets():
            return (IntegerAttr(parser.parse_integer(allow_boolean=False, allow_negative=False), i64),)

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_int(self.n)

    def verify(self) -> None:
        if self.n < 1:
            raise VerifyException(f"{self.name} needs at least one {self.UNIT}, got {self.n}")


@irdl_attr_definition
class SpikesType(FlatType):
    """Binary spikes of N neurons in one tick: `!core.spikes<256>`."""

    name = "core.spikes"


@irdl_attr_definition
class GradedType(FlatType):
    """Graded (multi-valued) packets of N sources in one tick: partial sums, direct inputs."""

    name = "core.graded"


Signal = SpikesType | GradedType


@irdl_attr_definition
class ChipAttr(Data[Chip]):
    """The chip a network is compiled for, carried in the IR so no pass reads a file.

    Printed as `#core.chip<"name", "sha256", "canonical description">`; the parser
    re-parses the description and checks the hash. `#core.chip<"tiny">` (a preset
    name alone) is accepted as input, for hand-written IR.
    """

    name = "core.chip"

    @classmethod
    def parse_parameter(cls, parser: AttrParser) -> Chip:

        with parser.in_angle_brackets():
            pos = parser.pos
            name = parser.parse_str_literal("chip name")
            if parser.parse_optional_punctuation(",") is None:
                try:
                    return load_preset(name)
                except NmcError as e:
                    parser.raise_error(f"#core.chip: {e}", pos, parser.pos)
            digest = parser.parse_str_literal("chip digest")
            parser.parse_punctuation(",")
            text = parser.parse_str_literal("chip description")
        try:
            chip = parse_chip(text, f"#core.chip<{name}>")
        except NmcError as e:
            parser.raise_error(f"#core.chip: {e}", pos, parser.pos)
        if chip.digest != digest or chip.name != name:
            got = f"'{chip.name}' hashes to {chip.digest[:12]}"
            parser.raise_error(f"#core.chip: the description of {got}, the IR says '{name}' {digest[:12]}", pos, parser.pos)
        return chip

    def print_parameter(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_string_literal(self.data.name)
            printer.print_string(", ")
            printer.print_string_literal(self.data.digest)
            printer.print_string(", ")
            printer.print_string_literal(self.data.canonical_text())
